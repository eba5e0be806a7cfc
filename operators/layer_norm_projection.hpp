// Layer normalisation, term II of eq. (7): the proximal step u - v ∈ ∂I_{S1(σ1, σ2)}(u), i.e. the
// projection of every token onto S1(σ1, σ2) = {mean σ1, variance σ2² along y} (Theorem 3.1):
//
//   u(x, y) = σ2 (v(x, y) - α(x)) / sqrt(β(x) + ε) + σ1,                          eq. (22), (31)–(32)
//   α(x) = (1/|Ω_y|) ∫ v dy,  β(x) = (1/|Ω_y|) ∫ (v - α)² dy   (midpoint rule: plain means over y).
//
// ε = -layernorm_eps (default 0, the paper's exact projection). With ε = 0 a token whose variance is
// zero (to round-off) has no unique projection and is reported as an error naming the token; ε > 0
// regularises it as torch.nn.LayerNorm does.
#pragma once
#include "operators/operator.hpp"

namespace ctflow {

class LayerNormProjection : public Operator {
 public:
  explicit LayerNormProjection(const OperatorContext &ctx) : Operator(ctx, "layernorm") {}
  OperatorKind Kind() const override { return OperatorKind::Projection; }
  PetscErrorCode SetFromOptions() override;
  PetscErrorCode Project(PetscReal t, Vec U) override;

 private:
  PetscReal eps_ = 0;
};

}  // namespace ctflow
