#include "operators/layer_norm_projection.hpp"

#include "discretization/base/option_checks.hpp"

#include <algorithm>
#include <cmath>

namespace ctflow {

static PetscLogEvent LAYER_NORM_EVENT = 0;

static PetscErrorCode RegisterEvent() {
  PetscFunctionBeginUser;
  if (!LAYER_NORM_EVENT) PetscCall(PetscLogEventRegister("LayerNorm", 0, &LAYER_NORM_EVENT));
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormProjectionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  LayerNormTargets probe;
  PetscFunctionBeginUser;
  PetscCall(RegisterEvent());
  PetscCall(ctx.controls->SampleLayerNorm(std::max<PetscInt>(index, 0), 0, &probe));  // the controls define it
  PetscCallCXX(*op = std::make_unique<LayerNormProjection>(ctx, std::max<PetscInt>(index, 0)));
  PetscFunctionReturn(0);
}

PetscErrorCode FinalLayerNormCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  LayerNormTargets probe;
  bool present;
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'final_norm' takes no index");
  PetscCall(ctx.controls->SampleFinalNorm(&probe, &present));
  PetscCheck(present, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'final_norm': the controls %s have no final layer norm",
             ctx.controls->Description().c_str());
  PetscCall(RegisterEvent());
  PetscCallCXX(*op = std::make_unique<LayerNormProjection>(ctx, LayerNormProjection::kFinal));
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormProjection::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscOptionsBegin(Comm(), "layernorm_", "Layer-norm projection onto S1(σ1, σ2)", "LayerNormProjection");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(
      PetscOptionsReal("-eps", "ε added to the variance (0: the exact projection of Theorem 3.1)", "LayerNormProjection", eps_, &eps_, nullptr));
  PetscOptionsEnd();
  PetscCheck(eps_ >= 0 && std::isfinite(eps_), Comm(), PETSC_ERR_USER_INPUT, "-layernorm_eps must be non-negative, got %g", (double)eps_);
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormProjection::SampleTargets(PetscReal t, LayerNormTargets *target) const {
  bool present = true;
  PetscFunctionBeginUser;
  if (index_ == kFinal) PetscCall(ctx_.controls->SampleFinalNorm(target, &present));
  else PetscCall(ctx_.controls->SampleLayerNorm(index_, t, target));
  PetscCheck(present, Comm(), PETSC_ERR_PLIB, "the controls' final layer norm disappeared");
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormProjection::Project(PetscReal t, Vec U) {
  LayerNormTargets target;
  PetscFunctionBeginUser;
  PetscCall(SampleTargets(t, &target));
  PetscCall(LayerNormProjectOnto(*ctx_.grid, target, eps_, t, U));
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormProjection::ProjectTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  LayerNormTargets target, dk;
  PetscFunctionBeginUser;
  PetscCall(SampleTargets(t, &target));
  PetscCall(LayerNormTransposeOnto(*ctx_.grid, target, eps_, U, G, dU, g ? &dk : nullptr));
  if (g && index_ == kFinal) PetscCall(ctx_.controls->AddFinalNormGradient(dk, g));
  else if (g) PetscCall(ctx_.controls->AddLayerNormGradient(index_, t, dk, g));
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormProjectOnto(const Grid &g, const LayerNormTargets &target, PetscReal default_eps, PetscReal t, Vec U) {
  const MPI_Comm comm = g.Comm();
  const PetscInt xm = g.XLocal(), Ny = g.Ny();
  const PetscReal eps = target.eps >= 0 ? target.eps : default_eps;
  const bool per_feature = !target.sigma2_y.empty();
  PetscInt degenerate = PETSC_MAX_INT;  // global index of the first token with zero variance
  PetscScalar *u;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(LAYER_NORM_EVENT, 0, 0, 0, 0));
  PetscCheck(per_feature || target.sigma2 > 0, comm, PETSC_ERR_USER_INPUT, "layer norm at t = %g: σ2 = %g must be positive", (double)t,
             (double)target.sigma2);
  PetscCall(VecGetArray(U, &u));
  for (PetscInt k = 0; k < xm; ++k) {
    PetscScalar *v = &u[k * Ny];
    PetscReal mean = 0, var = 0, vmax = 0;
    for (PetscInt l = 0; l < Ny; ++l) mean += v[l];
    mean /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) {
      var += (v[l] - mean) * (v[l] - mean);
      vmax = std::max(vmax, std::abs(v[l]));
    }
    var /= Ny;
    // With ε = 0, a spread at the level of the mean's rounding error (≈ N_y ulp) is a constant token.
    if (eps == 0 && std::sqrt(var) <= 4 * Ny * PETSC_MACHINE_EPSILON * vmax) {
      degenerate = std::min(degenerate, g.XStart() + k);
      continue;
    }
    const PetscReal inv_std = 1 / std::sqrt(var + eps);
    if (per_feature)
      for (PetscInt l = 0; l < Ny; ++l) v[l] = (v[l] - mean) * inv_std * target.sigma2_y[l] + target.sigma1_y[l];
    else
      for (PetscInt l = 0; l < Ny; ++l) v[l] = (v[l] - mean) * inv_std * target.sigma2 + target.sigma1;
  }
  PetscCall(VecRestoreArray(U, &u));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &degenerate, 1, MPIU_INT, MPI_MIN, comm));
  PetscCheck(degenerate == PETSC_MAX_INT, comm, PETSC_ERR_USER_INPUT,
             "layer norm at t = %g: token %" PetscInt_FMT
             " (x = %g) has zero variance along y, so its projection onto "
             "S1(σ1, σ2) is not unique; pass -layernorm_eps <ε> (ε > 0 is added to the variance, as in torch.nn.LayerNorm)",
             (double)t, degenerate, (double)g.x(degenerate));
  PetscCall(PetscLogFlops(5.0 * xm * Ny));
  PetscCall(PetscLogEventEnd(LAYER_NORM_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode LayerNormTransposeOnto(const Grid &grid, const LayerNormTargets &target, PetscReal default_eps, Vec U, Vec G, Vec dU,
                                      LayerNormTargets *dk) {
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny();
  const PetscReal eps = target.eps >= 0 ? target.eps : default_eps;
  const bool per_feature = !target.sigma2_y.empty();
  const PetscScalar *u, *G_;
  PetscScalar *du;
  std::vector<PetscReal> xhat(Ny), gx(Ny);
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(LAYER_NORM_EVENT, 0, 0, 0, 0));
  if (dk) {
    *dk = LayerNormTargets();
    dk->sigma1 = dk->sigma2 = 0;
    if (per_feature) PetscCallCXX(dk->sigma1_y.assign(Ny, 0.0); dk->sigma2_y.assign(Ny, 0.0));
  }
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayRead(G, &G_));
  PetscCall(VecGetArray(dU, &du));
  for (PetscInt k = 0; k < xm; ++k) {
    const PetscScalar *v = &u[k * Ny], *gk = &G_[k * Ny];
    PetscReal mean = 0, var = 0;
    for (PetscInt l = 0; l < Ny; ++l) mean += v[l];
    mean /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) var += (v[l] - mean) * (v[l] - mean);
    var /= Ny;
    const PetscReal inv_std = 1 / std::sqrt(var + eps);
    PetscReal mean_g = 0, mean_gx = 0;
    for (PetscInt l = 0; l < Ny; ++l) {
      xhat[l] = (v[l] - mean) * inv_std;
      gx[l] = gk[l] * (per_feature ? target.sigma2_y[l] : target.sigma2);
      mean_g += gx[l];
      mean_gx += gx[l] * xhat[l];
    }
    mean_g /= Ny, mean_gx /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) du[k * Ny + l] += inv_std * (gx[l] - mean_g - xhat[l] * mean_gx);
    if (!dk) continue;
    for (PetscInt l = 0; l < Ny; ++l) {
      if (per_feature) dk->sigma1_y[l] += gk[l], dk->sigma2_y[l] += gk[l] * xhat[l];
      else dk->sigma1 += gk[l], dk->sigma2 += gk[l] * xhat[l];
    }
  }
  PetscCall(VecRestoreArray(dU, &du));
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(12.0 * xm * Ny));
  PetscCall(PetscLogEventEnd(LAYER_NORM_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
