// Controls θ(t) = {W^Q, W^K, W^V (per head), W_j, b_j (j = 1..J), σ1, σ2} of the continuous Transformer,
// paper eq. (8), with the multi-head kernels of §5.1. A Controls object is a continuous object: it is
// sampled on whatever Grid it is given, at any time t.
//
// Kernels are returned as point values (not quadrature-weighted); the operators apply the quadrature
// weights Δy, Δx, Δh. Index conventions (row-major):
//   attention  W[m][i][l] = W(ξ = y_i, y = y_l, h = h_m),   i.e. Q(x, y_l, h_m) ≈ Σ_i u(x, y_i) W[m][i][l] Δy
//   FFN        W[i][l]    = W_j(ξ = y_i, y = y_l),         b[k][l] = b_j(x_k, y_l) for the owned tokens k
//
// Sources: ControlsCreateFromOptions picks layered controls when -controls FILE is given (see
// docs/controls-format.md) and the seeded analytic controls otherwise (see analytic_controls.hpp).
#pragma once
#include <petscsys.h>

#include <memory>
#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

struct AttentionKernels {
  std::vector<PetscReal> WQ, WK, WV;  // N_h × N_y × N_y each
  PetscReal scale = 1;                // s in γ = Softmax_2(s ⟨Q, K⟩_Ωy); eq. (6) and (37): 1/sqrt(|Ω_y|)
};

struct FeedForwardKernel {
  std::vector<PetscReal> W;  // N_y × N_y
  std::vector<PetscReal> b;  // XLocal × N_y
};

struct LayerNormTargets {
  PetscReal sigma1 = 0, sigma2 = 1;  // S1(σ1, σ2): mean σ1 and variance σ2² along y, eq. (22)
};

class Controls {
 public:
  virtual ~Controls() = default;
  // J, the number of feed-forward layers.
  virtual PetscInt NumFeedForward() const = 0;
  virtual PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const = 0;
  // j = 1..J
  virtual PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const = 0;
  virtual PetscErrorCode SampleLayerNorm(PetscReal t, LayerNormTargets *s) const = 0;
  // The controls are defined on [0, EndTime()]; the natural run length and step for this source.
  virtual PetscReal EndTime() const = 0;
  virtual PetscReal DefaultFinalTime() const = 0;
  virtual PetscReal DefaultTimeStep() const = 0;
  // Short description for logs and trajectory attributes, e.g. "analytic (seed 0, 4 modes)".
  virtual std::string Description() const = 0;
};

// Reads -controls (layered file) or the analytic controls' options. Fixes the grid sizes that the data
// imposes (N_y, N_h; N_x when a bias is given per token) and sets unit spacing for layered controls.
PetscErrorCode ControlsCreateFromOptions(Grid *grid, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
