#include "operators/layer_norm_projection.hpp"

#include "discretization/base/option_checks.hpp"
#include "discretization/base/simd_clones.hpp"

#include <algorithm>
#include <cmath>

namespace ctflow {

static PetscLogEvent LAYER_NORM_EVENT = 0;

namespace {

// The per-token reductions add in 8 interleaved partial sums (lane i: the entries j ≡ i mod 8), combined pairwise: they
// vectorise, and a token's results depend only on the token (not on its place in the block or the rank count).
inline PetscReal Total(const PetscReal part[8]) { return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])); }

// Tokens are taken kChunk at a time: first their moments, then their 1/sqrt(β + ε) together (vsqrtpd, vdivpd: one
// token's would stall on the latency), then the token passes.
constexpr PetscInt kChunk = 32;

// The mean α of v[0 … n) and n β = Σ (v − α)² (two passes); with kMax also max |v|.
template <bool kMax>
[[gnu::always_inline]] inline void Moments(PetscInt n, const PetscReal *v, PetscReal *alpha, PetscReal *n_beta, PetscReal *vmax) {
  PetscReal s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, q[8] = {0, 0, 0, 0, 0, 0, 0, 0}, m[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) s[i] += v[j + i];
  for (; j < n; ++j) s[j % 8] += v[j];
  const PetscReal mean = Total(s) / n;
  for (j = 0; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) q[i] += (v[j + i] - mean) * (v[j + i] - mean);
  for (; j < n; ++j) q[j % 8] += (v[j] - mean) * (v[j] - mean);
  if (kMax) {
    for (j = 0; j + 8 <= n; j += 8)
      for (int i = 0; i < 8; ++i) m[i] = std::abs(v[j + i]) > m[i] ? std::abs(v[j + i]) : m[i];
    for (; j < n; ++j) m[j % 8] = std::abs(v[j]) > m[j % 8] ? std::abs(v[j]) : m[j % 8];
  }
  *alpha = mean, *n_beta = Total(q);
  if (kMax) *vmax = *std::max_element(m, m + 8);
}

// The same for a token whose Σ v or Σ (v − α)² overflowed (entries beyond about 1e154; under -fp_trap that overflow
// stops the run): on c v with c = 2^−e, |c v| < 2 (exact), so that n β = n_beta_c / c²; α itself is finite.
[[gnu::noinline]] void ScaledMoments(PetscInt n, const PetscReal *v, PetscReal *alpha, PetscReal *n_beta_c, PetscReal *c, PetscReal *vmax) {
  PetscReal s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  *vmax = 0;
  for (PetscInt j = 0; j < n; ++j) *vmax = std::max(*vmax, std::abs(v[j]));
  *c = std::ldexp(1.0, -std::ilogb(*vmax));
  for (PetscInt j = 0; j < n; ++j) s[j % 8] += *c * v[j];
  const PetscReal mean_c = Total(s) / n;
  for (PetscInt j = 0; j < n; ++j) q[j % 8] += (*c * v[j] - mean_c) * (*c * v[j] - mean_c);
  *alpha = mean_c / *c, *n_beta_c = Total(q);
}

// The moments of tokens [k0, k0 + m) of a block of rows of n: mean[k], scale[k] = 1/sqrt(β + ε); with kMax (ε = 0) also
// degenerate[k]: the token's spread is at the level of the mean's rounding error (≈ N_y ulp: a constant token).
template <bool kMax>
[[gnu::always_inline]] inline void ChunkMoments(PetscInt k0, PetscInt m, PetscInt n, PetscReal eps, const PetscReal *u, PetscReal *mean,
                                                PetscReal *scale, bool *degenerate) {
  PetscReal vmax[kChunk], c[kChunk];
  for (PetscInt k = 0; k < m; ++k) {
    Moments<kMax>(n, &u[(k0 + k) * n], &mean[k], &scale[k], &vmax[k]);
    c[k] = 1;
    if (!std::isfinite(scale[k]) || !std::isfinite(mean[k])) ScaledMoments(n, &u[(k0 + k) * n], &mean[k], &scale[k], &c[k], &vmax[k]);
  }
  for (PetscInt k = 0; k < m; ++k) {  // with c: 1/sqrt(β + ε) = c / sqrt(n_beta_c / n + ε c²)
    if (kMax) degenerate[k] = std::sqrt(scale[k] / n) <= 4 * n * PETSC_MACHINE_EPSILON * vmax[k] * c[k];
    scale[k] = c[k] / std::sqrt(scale[k] / n + eps * c[k] * c[k]);
  }
}

// Projects each token (row of n) of a rows × n block onto the targets; returns the first row that is degenerate with
// ε = 0, leaving it and the rows after it as they are (the caller reports the error), or rows if there is none.
CTFLOW_SIMD_CLONES PetscInt ProjectTokens(PetscInt rows, PetscInt n, PetscReal eps, const LayerNormTargets &target, PetscReal *__restrict u) {
  const PetscReal *__restrict s1 = target.sigma1_y.data(), *__restrict s2 = target.sigma2_y.data();
  PetscReal mean[kChunk], scale[kChunk];
  bool degenerate[kChunk] = {};
  for (PetscInt k0 = 0; k0 < rows; k0 += kChunk) {
    const PetscInt m = std::min(kChunk, rows - k0);
    if (eps == 0) ChunkMoments<true>(k0, m, n, eps, u, mean, scale, degenerate);
    else ChunkMoments<false>(k0, m, n, eps, u, mean, scale, degenerate);
    for (PetscInt k = 0; k < m; ++k) {
      if (degenerate[k]) return k0 + k;
      PetscReal *__restrict v = &u[(k0 + k) * n];
      if (s2)
        for (PetscInt l = 0; l < n; ++l) v[l] = (v[l] - mean[k]) * scale[k] * s2[l] + s1[l];
      else
        for (PetscInt l = 0; l < n; ++l) v[l] = (v[l] - mean[k]) * scale[k] * target.sigma2 + target.sigma1;
    }
  }
  return rows;
}

// One token's transpose: dv += (∂P/∂v)^T G with x̂ = (v − α)/sqrt(β + ε), g = σ2 G: dv += (g − mean(g) − x̂ mean(g x̂))
// / sqrt(β + ε); with kGradient also ∂L/∂σ1 += G, ∂L/∂σ2 += G x̂ (per feature: into d1, d2; scalar: into the sums).
template <bool kPerFeature, bool kGradient>
[[gnu::always_inline]] inline void TransposeToken(PetscInt n, PetscReal mean, PetscReal inv_std, const LayerNormTargets &target,
                                                  const PetscReal *__restrict v, const PetscReal *__restrict G, PetscReal *__restrict dv,
                                                  PetscReal *__restrict d1, PetscReal *__restrict d2, PetscReal *sum_g, PetscReal *sum_gx) {
  const PetscReal *__restrict s2 = target.sigma2_y.data();
  const auto xhat = [&](PetscInt l) { return (v[l] - mean) * inv_std; };
  const auto g = [&](PetscInt l) { return G[l] * (kPerFeature ? s2[l] : target.sigma2); };
  PetscReal a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0}, c[8] = {0, 0, 0, 0, 0, 0, 0, 0}, e[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const auto add = [&](int i, PetscInt l) {
    a[i] += g(l), b[i] += g(l) * xhat(l);
    if (kGradient && !kPerFeature) c[i] += G[l], e[i] += G[l] * xhat(l);
  };
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) add(i, j + i);
  for (; j < n; ++j) add(j % 8, j);
  const PetscReal mean_g = Total(a) / n, mean_gx = Total(b) / n;
  for (PetscInt l = 0; l < n; ++l) {
    dv[l] += inv_std * (g(l) - mean_g - xhat(l) * mean_gx);
    if (kGradient && kPerFeature) d1[l] += G[l], d2[l] += G[l] * xhat(l);
  }
  if (kGradient && !kPerFeature) *sum_g += Total(c), *sum_gx += Total(e);
}

// dU += (∂P/∂U)^T G token by token for a rows × n block; dk (if not null) += ∂L/∂σ1, ∂L/∂σ2, tokens in order.
CTFLOW_SIMD_CLONES void TransposeTokens(PetscInt rows, PetscInt n, PetscReal eps, const LayerNormTargets &target, const PetscReal *__restrict u,
                                        const PetscReal *__restrict G, PetscReal *__restrict du, LayerNormTargets *dk) {
  const bool per_feature = !target.sigma2_y.empty();
  PetscReal *d1 = dk && per_feature ? dk->sigma1_y.data() : nullptr, *d2 = dk && per_feature ? dk->sigma2_y.data() : nullptr;
  PetscReal *sum_g = dk ? &dk->sigma1 : nullptr, *sum_gx = dk ? &dk->sigma2 : nullptr, mean[kChunk], scale[kChunk];
  for (PetscInt k0 = 0; k0 < rows; k0 += kChunk) {
    const PetscInt m = std::min(kChunk, rows - k0);
    ChunkMoments<false>(k0, m, n, eps, u, mean, scale, nullptr);
    for (PetscInt k = 0; k < m; ++k) {
      const PetscInt o = (k0 + k) * n;
      if (per_feature && dk) TransposeToken<true, true>(n, mean[k], scale[k], target, &u[o], &G[o], &du[o], d1, d2, sum_g, sum_gx);
      else if (per_feature) TransposeToken<true, false>(n, mean[k], scale[k], target, &u[o], &G[o], &du[o], d1, d2, sum_g, sum_gx);
      else if (dk) TransposeToken<false, true>(n, mean[k], scale[k], target, &u[o], &G[o], &du[o], d1, d2, sum_g, sum_gx);
      else TransposeToken<false, false>(n, mean[k], scale[k], target, &u[o], &G[o], &du[o], d1, d2, sum_g, sum_gx);
    }
  }
}

}  // namespace

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
  const PetscInt first = ProjectTokens(xm, Ny, eps, target, u);
  if (first < xm) degenerate = g.XStart() + first;
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
  TransposeTokens(xm, Ny, eps, target, u, G_, du, dk);
  PetscCall(VecRestoreArray(dU, &du));
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(12.0 * xm * Ny));
  PetscCall(PetscLogEventEnd(LAYER_NORM_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
