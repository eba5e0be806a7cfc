// StateDiagnostics: the scalars saved with every trajectory state (/diagnostics/<name>), with the
// midpoint rule of discretization/grid.hpp and m_k = (1/N_y) Σ_l u_kl the mean of token k along y:
//   l2_norm   ||u||_L2 = (Σ_kl u_kl² Δx Δy)^½
//   max_abs   max_kl |u_kl|
//   mean      (1/N_x) Σ_k m_k                         (mean along y, averaged over tokens)
//   variance  (1/N_x) Σ_k (1/N_y) Σ_l (u_kl − m_k)²   (variance along y, averaged over tokens)
// Collective; independent of the number of ranks up to round-off.
#pragma once
#include <array>

#include "discretization/grid.hpp"

namespace ctflow {

constexpr int kNumDiagnostics = 4;
extern const std::array<const char *, kNumDiagnostics> kDiagnosticNames;

PetscErrorCode StateDiagnostics(const Grid &grid, Vec u, std::array<PetscReal, kNumDiagnostics> *values);

}  // namespace ctflow
