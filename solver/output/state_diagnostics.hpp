// StateDiagnostics: the scalars saved with every trajectory state (/diagnostics/<name>), with the
// midpoint rule of discretization/grid.hpp and m_k = (1/N_y) Σ_l u_kl the mean of token k along y:
//   l2_norm   ||u||_L2 = (Σ_kl u_kl² Δx Δy)^½
//   max_abs   max_kl |u_kl|
//   mean      (1/N_x) Σ_k m_k                         (mean along y, averaged over tokens)
//   variance  (1/N_x) Σ_k (1/N_y) Σ_l (u_kl − m_k)²   (variance along y, averaged over tokens)
// Collective; independent of the number of ranks up to round-off.
//
// With an attention leaf in the composition, also (computed by the trajectory writer from the maps
// γ(x, η, h) of eq. (6) / (37), solver/output/trajectory_writer.hpp, row block by row block):
//   attention_entropy  (1/(N_x N_h)) Σ_k Σ_m H(x_k, h_m),  H(x, h) = −∫ γ(x, η, h) log γ(x, η, h) dη
// the differential entropy of the attention density, by the midpoint rule −Σ_j γ_j log γ_j Δx (0 log 0 = 0).
// It equals the discrete entropy −Σ_j p_j log p_j of p_j = γ_j Δx plus log Δx; the differential one is
// stored because it is the continuous model's quantity and converges under refinement (the discrete one
// grows like log N_x). Uniform attention over Ω_x gives log L_x; attention on a single token gives log Δx.
#pragma once
#include <array>
#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

constexpr int kNumDiagnostics = 4;
extern const std::array<const char *, kNumDiagnostics> kDiagnosticNames;

PetscErrorCode StateDiagnostics(const Grid &grid, Vec u, std::array<PetscReal, kNumDiagnostics> *values);

extern const char kAttentionEntropyName[];  // "attention_entropy"
// Σ over the rows of a block of maps (AttentionMaps::Rows: rows of N_x point values) of −Σ_j γ_j log γ_j Δx.
PetscReal AttentionEntropySum(const std::vector<PetscReal> &gamma, PetscInt Nx, PetscReal dx);

}  // namespace ctflow
