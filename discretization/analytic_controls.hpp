// Analytic controls: smooth kernels built from a few seeded cosine modes, continuous in every variable.
//
// With P = -controls_modes, c_p ~ U(-1, 1), integer wavenumbers a_p, b_p ∈ {0..3}, d_p ∈ {0, 1},
// ω_p ~ U(1/2, 2), φ_p ~ U(0, 2π) drawn from a std::mt19937_64 stream seeded by (-controls_seed, kernel),
// and g_p(t) = 1 + sin(ω_p t + φ_p)/2:
//
//   W(ξ, y, h, t) = (A / L_y) Σ_p c_p cos(π a_p ξ/L_y) cos(π b_p y/L_y) cos(π d_p h/L_h) g_p(t)
//                   for W^Q, W^K (A = 2), W^V (A = 1) and W_j (A = 1, no h factor);
//   b_j(x, y, t) = (1/2) Σ_p c_p cos(π a_p x/L_x) cos(π b_p y/L_y) g_p(t);
//   σ1(t) = sin(t)/10,  σ2(t) = 1 + sin(t/2 + 1)/4;  attention scale s = 1/sqrt(|Ω_y|) (eq. (6));
//   λ = -controls_relaxation_rate (constant; default 1), the rate of the relaxation flows relax_<projection>.
//
// Parameters θ (GetParameters; analytic_controls_parameters.cpp): the coefficients c_p of every kernel, named
// "/attention/WQ/c", "/attention/WK/c", "/attention/WV/c", "/ffn<j>/W/c", "/ffn<j>/b/c" (P values each); the
// wavenumbers, frequencies and phases stay those of the seed.
//
// The 1/L_y factor keeps ∫ W(ξ, y) u(ξ) dξ of order |u| whatever L_y, so refining or stretching the
// grid changes the quadrature, not the problem. The default seed, 12, gives attention weights that differ from
// uniform by 35% to 59% over the default run (32 × 16 × 2, T = 1); seed 0, the default before, gives weights
// uniform to 1.3% (-controls_seed 0).
#pragma once
#include "discretization/controls.hpp"

namespace ctflow {

class AnalyticControls : public Controls {
 public:
  explicit AnalyticControls(MPI_Comm comm) : comm_(comm) {}
  PetscErrorCode SetFromOptions() override;
  // Setters of -controls_seed, -controls_modes, -controls_ffn_layers, -controls_relaxation_rate.
  void SetSeed(PetscInt seed) { seed_ = seed; }
  void SetModes(PetscInt modes) { modes_ = modes; }
  void SetFeedForwardLayers(PetscInt J) { J_ = J; }
  void SetRelaxationRate(PetscReal lambda) { lambda_ = lambda; }

  PetscInt NumFeedForward() const override { return J_; }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override;
  PetscErrorCode SampleRelaxationRate(PetscReal t, PetscReal *lambda) const override;
  PetscReal EndTime() const override { return PETSC_MAX_REAL; }
  PetscReal DefaultFinalTime() const override { return 1.0; }
  PetscReal DefaultTimeStep() const override { return 0.125; }
  std::string Description() const override;
  PetscErrorCode GetParameters(ControlsArrays *theta) const override;
  PetscErrorCode SetParameters(const ControlsArrays &theta) override;
  PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const override;

 protected:
  struct Mode {
    PetscReal c, omega, phi;
    PetscInt a, b, d;
  };
  // The P modes of kernel number `kernel` (0: Q, 1: K, 2: V, 2 + j: W_j, 2 + J + j: b_j).
  std::vector<Mode> Modes(PetscInt kernel) const;
  // (A/L_y) Σ_p c_p cos(π a_p ξ/L_y) cos(π b_p y/L_y) cos(π d_p h/L_h) g_p(t) on the grid, [i][l].
  void SampleKernel(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, PetscReal h, PetscBool use_h, PetscReal *W) const;

  // The kernel numbers and names of the parameters.
  virtual std::vector<std::pair<PetscInt, std::string>> Kernels() const;
  // The gradient of the coefficients of kernel `kernel` from dW = ∂L/∂W[i][l] sampled on the grid (h: its head, if any).
  void AddKernelGradient(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, PetscReal h, PetscBool use_h, const PetscReal *dW,
                         PetscReal *dc) const;

  MPI_Comm comm_;
  static constexpr PetscInt kMaxModes = 4096, kMaxFeedForward = 1024;  // -controls_modes, -controls_ffn_layers
  PetscInt seed_ = 12, modes_ = 4, J_ = 2;
  PetscReal lambda_ = 1;
  std::vector<std::vector<PetscReal>> coefficients_;  // c_p set by SetParameters, per kernel; empty: the seed's
};

// The registered creator of "analytic".
PetscErrorCode AnalyticControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
