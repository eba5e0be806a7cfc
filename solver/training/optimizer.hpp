// Mini-batch optimisers of the training loop (solver/training/trainer.hpp), by name from a registry (-train_optimizer):
//   sgd    stochastic gradient descent with momentum and optional Nesterov (sgd.cpp; torch.optim.SGD)
//   adam   Adam, Kingma & Ba 2015, Algorithm 1; weight decay as an L2 term of the gradient (adam.cpp; torch.optim.Adam)
//   adamw  AdamW, Loshchilov & Hutter 2019, Algorithm 2: decoupled weight decay (adamw.cpp; torch.optim.AdamW)
// Full-batch problems go to PETSc's TAO instead (-train_optimizer tao, trainer_tao.cpp).
//
// θ is the flat vector of the controls' parameters (Controls::GetParameters, array after array), the same on every
// rank; g the gradient of the mean loss over the batch (already summed over the ranks). Each optimiser reads its
// own options in SetFromOptions (each with a setter), and exposes its state (moments, step count) as named flat
// arrays for checkpoints.
#pragma once
#include <petscsys.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ctflow {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual PetscErrorCode SetFromOptions(MPI_Comm comm) = 0;
  void SetWeightDecay(PetscReal wd) { weight_decay_ = wd; }
  // One step at learning rate lr: θ ← θ − update(g). The state is sized on the first step.
  virtual PetscErrorCode Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) = 0;
  // The state, by name (for checkpoints; a restart overwrites the vectors in place before the next Step).
  virtual std::vector<std::pair<std::string, std::vector<PetscReal> *>> State() = 0;
  virtual std::string Description() const = 0;

 protected:
  PetscReal weight_decay_ = 0;
};

using OptimizerCreator = PetscErrorCode (*)(std::unique_ptr<Optimizer> *optimizer);
PetscErrorCode OptimizerRegister(const char name[], OptimizerCreator create);
PetscErrorCode OptimizerCreate(MPI_Comm comm, const std::string &name, std::unique_ptr<Optimizer> *optimizer);
PetscErrorCode OptimizerOptionsList(PetscFunctionList *list);

PetscErrorCode SgdCreate(std::unique_ptr<Optimizer> *optimizer);
PetscErrorCode AdamCreate(std::unique_ptr<Optimizer> *optimizer);
PetscErrorCode AdamWCreate(std::unique_ptr<Optimizer> *optimizer);

}  // namespace ctflow
