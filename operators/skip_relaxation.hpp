// Skip relaxation, eq. (16) and (33): u^{(3+J)/M} = (u^{(2+J)/M} + u^{2/M}) / 2, the average of the
// feed-forward branch and the identity branch started from the same state. In general it is the
// averaging step of parallel splitting (appendix C, eq. (59)): u = Σ_k w_k v_k over branch results v_k.
// The splitting composition's avg(...) node calls it; the identity operator is the skip branch.
#pragma once
#include "operators/operator.hpp"

namespace ctflow {

// branches[0] ← Σ_k weights[k] branches[k], k < n.
PetscErrorCode SkipRelaxation(PetscInt n, const PetscReal weights[], Vec branches[]);

// The identity map: the skip branch of avg(..., identity).
class Identity : public Operator {
 public:
  explicit Identity(const OperatorContext &ctx) : Operator(ctx, "identity") {}
  OperatorKind Kind() const override { return OperatorKind::Projection; }
  PetscErrorCode Project(PetscReal, Vec) override { return 0; }
  PetscErrorCode ProjectTranspose(PetscReal, Vec, Vec G, Vec dU, ControlsArrays *) override { return VecAXPY(dU, 1.0, G); }
  bool HasTranspose() const override { return true; }
  bool TransposeNeedsState() const override { return false; }
};

}  // namespace ctflow
