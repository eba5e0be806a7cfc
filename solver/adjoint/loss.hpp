// Loss functionals ℓ(N_θ(u), v) of the control problem, eq. (10)–(12) (and (36) for a vision Transformer), by
// name from a registry (-loss NAME):
//   mse            ½ ∫∫ (u(x, y, T) − v(x, y))² dx dy by the grid's midpoint rule, ½ Σ (u − v)² Δx Δy (the plain
//                  sum at unit spacing); the target v is the dataset /target, shape (N_x, N_y), of -target FILE
//                  (mean_squared_error.cpp);
//   cross_entropy  −log softmax(z)_k of the logits z = G(u(T)) of a classification head (ViT's, §4.2) for the class
//                  k = -label (cross_entropy.cpp).
// A loss gives its value and its derivatives with respect to u(T) and to the logits; the discrete adjoint
// (docs/adjoint.md) takes it from there.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "discretization/controls.hpp"

namespace ctflow {

class Loss {
 public:
  virtual ~Loss() = default;
  // The loss's own options (-target, -label).
  virtual PetscErrorCode SetFromOptions() { return 0; }
  // The file the loss reads (-target), or "".
  virtual std::string InputFile() const { return ""; }
  // Checks the loss against the problem (the target's shape, the label's range, a classification head) and reads its data.
  virtual PetscErrorCode SetUp(const Grid &grid, const Controls &controls) = 0;
  // The value at the final state u and the logits z (empty without a head); dLdu ← ∂L/∂u, *dLdz ← ∂L/∂z.
  virtual PetscErrorCode Evaluate(Vec u, const std::vector<PetscReal> &z, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) = 0;
  virtual std::string Description() const = 0;
};

using LossCreator = PetscErrorCode (*)(MPI_Comm comm, std::unique_ptr<Loss> *loss);
PetscErrorCode LossRegister(const char name[], LossCreator create);
PetscErrorCode LossCreate(MPI_Comm comm, const std::string &name, std::unique_ptr<Loss> *loss);
PetscErrorCode LossOptionsList(PetscFunctionList *list);

// The registered creators.
PetscErrorCode MeanSquaredErrorCreate(MPI_Comm comm, std::unique_ptr<Loss> *loss);
PetscErrorCode CrossEntropyCreate(MPI_Comm comm, std::unique_ptr<Loss> *loss);

}  // namespace ctflow
