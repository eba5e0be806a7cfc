// Layer normalisation, term II of eq. (7): the proximal step u - v ∈ ∂I_{S1(σ1, σ2)}(u), i.e. the
// projection of every token onto S1(σ1, σ2) = {mean σ1, variance σ2² along y} (Theorem 3.1):
//
//   u(x, y) = σ2 (v(x, y) - α(x)) / sqrt(β(x) + ε) + σ1,                          eq. (22), (31)–(32)
//   α(x) = (1/|Ω_y|) ∫ v dy,  β(x) = (1/|Ω_y|) ∫ (v - α)² dy   (midpoint rule: plain means over y).
//
// ε comes from the controls when they give it, else -layernorm_eps (default 0, the paper's exact
// projection). With ε = 0 a token whose variance is zero (to round-off) has no unique projection and is
// reported as an error naming the token. ε > 0 is still an exact projection, onto S1 in the space with
// one extra "ghost" coordinate of size sqrt(N_y ε) (docs/torch-mapping.md); it is torch.nn.LayerNorm's ε.
//
// Operator "layernorm" uses the paper's scalar σ1(t), σ2(t); "layernorm<k>" the k-th layer norm of the
// controls, whose per-feature targets σ1(y), σ2(y) (torch's β, γ) act as the projection onto S1(0, 1)
// followed by the pointwise affine map u ← σ2(y) u + σ1(y); "final_norm" the controls' final layer norm
// (Controls::SampleFinalNorm), which the integrator applies once at t = T (Controls::FinalExpression).
#pragma once
#include "operators/operator.hpp"

namespace ctflow {

class LayerNormProjection : public Operator {
 public:
  // index: 0 the paper's layer norm, k ≥ 1 the k-th named one, kFinal the final one.
  static constexpr PetscInt kFinal = -1;
  LayerNormProjection(const OperatorContext &ctx, PetscInt index)
      : Operator(ctx, index == kFinal ? "final_norm"
                      : index         ? "layernorm" + std::to_string(index)
                                      : "layernorm"),
        index_(index) {}
  OperatorKind Kind() const override { return OperatorKind::Projection; }
  PetscErrorCode SetFromOptions() override;
  PetscErrorCode Project(PetscReal t, Vec U) override;
  // dv = (1/sqrt(β + ε)) (g − mean(g) − x̂ mean(g x̂)) with g = σ2 G and x̂ the normalised token; dσ1 = Σ_y G,
  // dσ2 = Σ_y G x̂ (per feature: dσ1(y) = G, dσ2(y) = G x̂).
  PetscErrorCode ProjectTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }

 private:
  PetscErrorCode SampleTargets(PetscReal t, LayerNormTargets *target) const;
  const PetscInt index_;
  PetscReal eps_ = 0;
};

// The projection of every token of U onto the targets; ε from target.eps, or default_eps when it is < 0.
// Also the final layer norm of a network (Controls::SampleFinalNorm).
PetscErrorCode LayerNormProjectOnto(const Grid &grid, const LayerNormTargets &target, PetscReal default_eps, PetscReal t, Vec U);
// Its transpose at U (the state before the projection): dU += (∂P/∂U)^T G; dk (if given) ← ∂L/∂σ1, ∂L/∂σ2 (this rank's tokens).
PetscErrorCode LayerNormTransposeOnto(const Grid &grid, const LayerNormTargets &target, PetscReal default_eps, Vec U, Vec G, Vec dU,
                                      LayerNormTargets *dk);

}  // namespace ctflow
