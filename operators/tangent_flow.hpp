// A flow restricted to the layer-norm manifold S1(σ1, σ2) of term II of eq. (7): the vector field
//
//   u_t = Π_u A(t, u),   Π_u a = a − ā − (⟨a − ā, w⟩ / ⟨w, w⟩) w,   w = u − ū   (bars: means along y, ⟨·,·⟩ over Ω_y),
//
// per token, the orthogonal projection onto the tangent space at u of {v : v̄ = ū, var_y v = var_y u}, which is
// T_u S1 for u on S1. Every token's mean and variance are invariants of this flow, so the hard model's limit
// u_t = Π_{T_u S1} A(u) (the flow followed by the projection, for Δt → 0) is integrated without leaving S1
// except for the integrator's error, which the projection method of -split_projections manifold removes
// once per step (GNI §IV.4, docs/continuum.md). A token with zero variance keeps only the mean-free part.
// Operator "tangent_<flow>", e.g. tangent_attention, tangent_ffn1.
#pragma once
#include "discretization/base/petsc_handle.hpp"
#include "operators/operator.hpp"

namespace ctflow {

class TangentFlow : public Operator {
 public:
  TangentFlow(const OperatorContext &ctx, std::unique_ptr<Operator> flow) : Operator(ctx, "tangent_" + flow->Name()), flow_(std::move(flow)) {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetUp(Vec like) override { return flow_->SetUp(like); }
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  // Per token, with a = A(u), w = u − ū, c = ⟨a, w⟩/⟨w, w⟩: the flow's transpose at g_a = G − Ḡ − (⟨G, w⟩/⟨w, w⟩) w,
  // plus Π's own dependence on u, dL/dw = −(⟨G, w⟩/⟨w, w⟩) a − c G + 2 c (⟨G, w⟩/⟨w, w⟩) w, made mean-free.
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return flow_->HasTranspose(); }
  bool SupportsSequences() const override { return flow_->SupportsSequences(); }

 private:
  std::unique_ptr<Operator> flow_;
  UniqueVec a_, ga_;  // A(U) and the flow's adjoint input, for the transpose
};

}  // namespace ctflow
