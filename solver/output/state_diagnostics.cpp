#include "solver/output/state_diagnostics.hpp"

#include <cmath>

namespace ctflow {

const std::array<const char *, kNumDiagnostics> kDiagnosticNames = {"l2_norm", "max_abs", "mean", "variance"};

PetscErrorCode StateDiagnostics(const Grid &grid, Vec u, std::array<PetscReal, kNumDiagnostics> *values) {
  const PetscScalar *a;
  PetscReal sums[3] = {0, 0, 0}, max_abs = 0;  // Σ u², Σ_k m_k, Σ_k variance_k
  const PetscInt Ny = grid.Ny();
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(u, &a));
  for (PetscInt k = 0; k < grid.XLocal(); ++k) {
    const PetscScalar *row = a + k * Ny;
    PetscReal mean = 0, var = 0;
    for (PetscInt l = 0; l < Ny; ++l) {
      sums[0] += row[l] * row[l];
      max_abs = std::max(max_abs, std::abs(row[l]));
      mean += row[l];
    }
    mean /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) var += (row[l] - mean) * (row[l] - mean);
    sums[1] += mean;
    sums[2] += var / Ny;
  }
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, sums, 3, MPIU_REAL, MPIU_SUM, grid.Comm()));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &max_abs, 1, MPIU_REAL, MPIU_MAX, grid.Comm()));
  *values = {std::sqrt(sums[0] * grid.dx() * grid.dy()), max_abs, sums[1] / grid.Nx(), sums[2] / grid.Nx()};
  PetscFunctionReturn(0);
}

const char kAttentionEntropyName[] = "attention_entropy";

PetscReal AttentionEntropySum(const std::vector<PetscReal> &gamma, PetscInt Nx, PetscReal dx) {
  PetscReal sum = 0;
  for (size_t row = 0; row < gamma.size(); row += Nx) {  // row by row: the round-off does not grow with the block
    PetscReal h = 0;
    for (PetscInt j = 0; j < Nx; ++j)
      if (gamma[row + j] > 0) h -= gamma[row + j] * std::log(gamma[row + j]);
    sum += h * dx;
  }
  return sum;
}

}  // namespace ctflow
