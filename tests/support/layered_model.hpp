// A small discrete Transformer (the layered controls of docs/controls-format.md) held in memory, with
// random weights, for tests: written to an HDF5 controls file and evaluated by the dense reference.
#pragma once
#include <petscvec.h>

#include <random>
#include <string>
#include <vector>

#include "discretization/initial_state.hpp"

namespace ctflow_test {

using Matrix = std::vector<double>;  // row-major

struct Layer {
  std::vector<Matrix> WQ, WK, WV;  // per head, N_y × N_y, W[i][l] multiplies u[., i] into output l
  std::vector<Matrix> W, b;        // j = 1..J: N_y × N_y and N_y (b(y)) or N_x × N_y (the paper's b(x), constant in y)
  double sigma1 = 0, sigma2 = 1;
  double scale = -1;            // attention_scale attribute; < 0: not written
  double relaxation_rate = -1;  // relaxation_rate attribute (λ of relax_<projection>); ≤ 0: not written
};

struct LayeredModel {
  int Nx, Ny, Nh, J;
  bool bias_per_token = false;
  std::vector<Layer> layers;
};

// Random model: weights ~ N(0, w_std²), biases ~ N(0, 0.25), σ1 ~ U(-1/2, 1/2), σ2 ~ U(1/2, 2).
LayeredModel RandomModel(int Nx, int Ny, int Nh, int J, int num_layers, double w_std, bool bias_per_token, unsigned seed);
Matrix RandomState(int Nx, int Ny, unsigned seed);

// Solves the model's problem with ctflow on comm (Δt = 1, unit spacing, default Lie scheme, options
// from the options database) from u0 and returns the final state, gathered on every rank.
PetscErrorCode SolveLayered(MPI_Comm comm, const std::string &controls_path, const Matrix &u0, int Nx, Matrix *u);
// The same for the analytic controls and initial state of the options database.
PetscErrorCode SolveAnalytic(MPI_Comm comm, Matrix *u);
// A global vector on the (set-up) grid holding u0, gathered on every rank, or f sampled if u0 is null.
PetscErrorCode CreateState(const ctflow::Grid &grid, const Matrix *u0, const ctflow::InitialState *f, Vec *u);
// Every rank gets the whole of a distributed vector.
PetscErrorCode GatherToAll(Vec v, Matrix *all);
// max |a − reference| / max |reference| over all entries.
double MaxRelativeDifference(const Matrix &a, const Matrix &reference);

// Rank 0 writes the file; collective (ends with a barrier on comm).
PetscErrorCode WriteControlsFile(MPI_Comm comm, const std::string &path, const LayeredModel &model);

// The paper's discrete scheme, eq. (29)–(35) with the multi-head attention of eq. (41), written out with
// loops: one layer per step, Δt = 1, unit spacing. scale: the softmax argument is scale · Q_m K_mᵀ.
Matrix DenseTransformer(const LayeredModel &model, Matrix u);

}  // namespace ctflow_test
