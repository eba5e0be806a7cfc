// ReLU, the activation part of term III of eq. (7): the proximal step u - v ∈ ∂I_{S2}(u), i.e. the
// pointwise projection onto S2 = {u ≥ 0}:  u = max(v, 0),  eq. (24), (35). Transpose: dv += G [v > 0].
#pragma once
#include "operators/operator.hpp"

namespace ctflow {

class ReluProjection : public Operator {
 public:
  explicit ReluProjection(const OperatorContext &ctx) : Operator(ctx, "relu") {}
  OperatorKind Kind() const override { return OperatorKind::Projection; }
  PetscErrorCode Project(PetscReal t, Vec U) override;
  PetscErrorCode ProjectTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
};

}  // namespace ctflow
