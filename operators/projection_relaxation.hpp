// Relaxation form of a projection term ∂I_S of eq. (7) (layer norm onto S1, ReLU onto S2): the flow
//
//   u_t = λ(t) (P_S(u) − u) = −∇_u (λ/2) dist(u, S)²,
//
// the gradient flow of the Moreau–Yosida regularisation of I_S with parameter 1/λ. λ(t) > 0 is a control
// (Controls::SampleRelaxationRate, default 1). Its explicit Euler step with λΔt = 1 is P_S itself, the paper's
// proximal substep (14), (17), (24); for Δt → 0 the splitting converges to an ODE in which P_S pulls at rate λ
// (docs/continuum.md). Operator "relax_<projection>", e.g. relax_layernorm, relax_relu, relax_layernorm1.
#pragma once
#include "discretization/base/petsc_handle.hpp"
#include "operators/operator.hpp"

namespace ctflow {

class ProjectionRelaxation : public Operator {
 public:
  ProjectionRelaxation(const OperatorContext &ctx, std::unique_ptr<Operator> projection)
      : Operator(ctx, "relax_" + projection->Name()), projection_(std::move(projection)) {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetUp(Vec like) override { return projection_->SetUp(like); }
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  // dU += λ (P'(U)^T G − G); the projection's parameters get λ G; dλ = ⟨G, P(U) − U⟩.
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return projection_->HasTranspose(); }
  bool SupportsSequences() const override { return projection_->SupportsSequences(); }

 private:
  std::unique_ptr<Operator> projection_;
  UniqueVec scaled_, projected_;  // λ G and P(U), for the transpose
};

}  // namespace ctflow
