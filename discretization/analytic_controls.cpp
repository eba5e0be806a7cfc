#include "discretization/analytic_controls.hpp"

#include "discretization/base/option_checks.hpp"

#include <cmath>
#include <random>

#include "discretization/base/number_format.hpp"

namespace ctflow {

PetscErrorCode AnalyticControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls) {
  PetscFunctionBeginUser;
  PetscCallCXX(*controls = std::make_unique<AnalyticControls>(comm));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticControls::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm_, nullptr, "Analytic controls (used without -controls)", "Controls");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(CtflowOptionsInt("-controls_seed", "Seed of the analytic controls' modes", "AnalyticControls", seed_, &seed_, nullptr));
  PetscCall(CtflowOptionsInt("-controls_modes", "Number of smooth modes P per kernel", "AnalyticControls", modes_, &modes_, nullptr));
  PetscCall(CtflowOptionsInt("-controls_ffn_layers", "Number J of feed-forward layers", "AnalyticControls", J_, &J_, nullptr));
  PetscCall(PetscOptionsReal("-controls_relaxation_rate", "Rate λ of the relaxation flows u_t = λ (P_S(u) - u) (-split_projections relax)",
                             "AnalyticControls", lambda_, &lambda_, nullptr));
  PetscOptionsEnd();
  // Every kernel is sampled as a sum over its modes at every substep, and every layer is an operator of the scheme:
  // beyond these bounds a run would spend its time (or memory) on the test problem's construction.
  PetscCheck(modes_ >= 1 && modes_ <= kMaxModes, comm_, PETSC_ERR_USER_INPUT,
             "-controls_modes must be between 1 and %" PetscInt_FMT ", got %" PetscInt_FMT, kMaxModes, modes_);
  PetscCheck(J_ >= 0 && J_ <= kMaxFeedForward, comm_, PETSC_ERR_USER_INPUT,
             "-controls_ffn_layers must be between 0 and %" PetscInt_FMT " (a larger model belongs in a -controls file), got %" PetscInt_FMT,
             kMaxFeedForward, J_);
  PetscCheck(std::isfinite(lambda_) && lambda_ > 0, comm_, PETSC_ERR_USER_INPUT, "-controls_relaxation_rate must be positive, got %g",
             (double)lambda_);
  PetscFunctionReturn(0);
}

std::string AnalyticControls::Description() const {
  return "analytic (seed " + std::to_string(seed_) + ", " + std::to_string(modes_) + " modes, J = " + std::to_string(J_) +
         (lambda_ != 1 ? ", λ = " + FormatShortest(lambda_) : "") + ")";
}

std::vector<AnalyticControls::Mode> AnalyticControls::Modes(PetscInt kernel) const {
  // seed_seq and mt19937_64 are fixed by the C++ standard and the conversions below are ours, so the
  // modes are the same on every platform.
  std::seed_seq seq{(unsigned long long)seed_, (unsigned long long)kernel};
  std::mt19937_64 rng(seq);
  auto uniform = [&rng](PetscReal lo, PetscReal hi) { return lo + (hi - lo) * (PetscReal)(rng() >> 11) * 0x1.0p-53; };
  std::vector<Mode> modes(modes_);
  for (Mode &m : modes) {
    m.c = uniform(-1, 1);
    m.omega = uniform(0.5, 2);
    m.phi = uniform(0, 2 * PETSC_PI);
    m.a = (PetscInt)(rng() % 4);
    m.b = (PetscInt)(rng() % 4);
    m.d = (PetscInt)(rng() % 2);
  }
  if ((size_t)kernel < coefficients_.size() && !coefficients_[kernel].empty())  // SetParameters
    for (PetscInt p = 0; p < modes_; ++p) modes[p].c = coefficients_[kernel][p];
  return modes;
}

void AnalyticControls::SampleKernel(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, PetscReal h, PetscBool use_h,
                                    PetscReal *W) const {
  const PetscInt Ny = grid.Ny();
  const PetscReal Ly = grid.Ly();
  std::fill(W, W + Ny * Ny, 0.0);
  for (const Mode &m : Modes(kernel)) {
    PetscReal coef = amplitude / Ly * m.c * (1 + 0.5 * std::sin(m.omega * t + m.phi));
    if (use_h) coef *= std::cos(PETSC_PI * m.d * h / grid.Lh());
    for (PetscInt i = 0; i < Ny; ++i) {
      const PetscReal fi = coef * std::cos(PETSC_PI * m.a * grid.y(i) / Ly);
      for (PetscInt l = 0; l < Ny; ++l) W[i * Ny + l] += fi * std::cos(PETSC_PI * m.b * grid.y(l) / Ly);
    }
  }
}

PetscErrorCode AnalyticControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  const PetscInt Ny = grid.Ny(), Nh = grid.Nh(), n = Ny * Ny;
  PetscFunctionBeginUser;
  PetscCallCXX(k->WQ.resize(Nh * n));
  PetscCallCXX(k->WK.resize(Nh * n));
  PetscCallCXX(k->WV.resize(Nh * n));
  for (PetscInt m = 0; m < Nh; ++m) {
    SampleKernel(0, 2.0, t, grid, grid.h(m), PETSC_TRUE, &k->WQ[m * n]);
    SampleKernel(1, 2.0, t, grid, grid.h(m), PETSC_TRUE, &k->WK[m * n]);
    SampleKernel(2, 1.0, t, grid, grid.h(m), PETSC_TRUE, &k->WV[m * n]);
  }
  k->d_head = Ny;
  k->scale = 1 / std::sqrt(grid.Ly());
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCheck(j >= 1 && j <= J_, comm_, PETSC_ERR_ARG_OUTOFRANGE, "feed-forward layer %" PetscInt_FMT " requested, J = %" PetscInt_FMT, j, J_);
  PetscCallCXX(k->W.resize(Ny * Ny));
  PetscCallCXX(k->b.assign(xm * Ny, 0.0));
  SampleKernel(2 + j, 1.0, t, grid, 0, PETSC_FALSE, k->W.data());
  for (const Mode &m : Modes(2 + J_ + j)) {
    const PetscReal coef = 0.5 * m.c * (1 + 0.5 * std::sin(m.omega * t + m.phi));
    for (PetscInt k_ = 0; k_ < xm; ++k_) {
      const PetscReal fx = coef * std::cos(PETSC_PI * m.a * grid.x(xs + k_) / grid.Lx());
      for (PetscInt l = 0; l < Ny; ++l) k->b[k_ * Ny + l] += fx * std::cos(PETSC_PI * m.b * grid.y(l) / grid.Ly());
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticControls::SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const {
  PetscFunctionBeginUser;
  PetscCheck(index == 0, comm_, PETSC_ERR_USER_INPUT, "the analytic controls have one layer norm (operator 'layernorm'), not layernorm%" PetscInt_FMT,
             index);
  s->sigma1 = std::sin(t) / 10;
  s->sigma2 = 1 + std::sin(t / 2 + 1) / 4;
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticControls::SampleRelaxationRate(PetscReal, PetscReal *lambda) const {
  *lambda = lambda_;
  return 0;
}

}  // namespace ctflow
