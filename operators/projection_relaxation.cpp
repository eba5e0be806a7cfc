#include "operators/projection_relaxation.hpp"

namespace ctflow {

PetscErrorCode ProjectionRelaxationCreate(const OperatorContext &ctx, std::unique_ptr<Operator> projection, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(projection->Kind() == OperatorKind::Projection, ctx.grid->Comm(), PETSC_ERR_USER_INPUT,
             "operator 'relax_%s': '%s' is a flow; relax_<name> relaxes a projection (layernorm, relu, ...)", projection->Name().c_str(),
             projection->Name().c_str());
  PetscCallCXX(*op = std::make_unique<ProjectionRelaxation>(ctx, std::move(projection)));
  PetscFunctionReturn(0);
}

PetscErrorCode ProjectionRelaxation::Rhs(PetscReal t, Vec U, Vec F) {
  PetscReal lambda;
  PetscFunctionBeginUser;
  PetscCall(ctx_.controls->SampleRelaxationRate(t, &lambda));
  PetscCall(VecCopy(U, F));
  PetscCall(projection_->Project(t, F));
  PetscCall(VecAXPBY(F, -lambda, lambda, U));  // λ (P_S(u) − u)
  PetscFunctionReturn(0);
}

PetscErrorCode ProjectionRelaxation::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  PetscReal lambda, dlambda;
  PetscFunctionBeginUser;
  PetscCall(ctx_.controls->SampleRelaxationRate(t, &lambda));
  if (!scaled_) PetscCall(VecDuplicate(U, scaled_.Out()));
  if (!projected_) PetscCall(VecDuplicate(U, projected_.Out()));
  PetscCall(VecCopy(G, scaled_));
  PetscCall(VecScale(scaled_, lambda));
  PetscCall(projection_->ProjectTranspose(t, U, scaled_, dU, g));
  PetscCall(VecAXPY(dU, -lambda, G));
  if (g) {
    PetscCall(VecCopy(U, projected_));
    PetscCall(projection_->Project(t, projected_));
    PetscCall(VecAXPY(projected_, -1.0, U));
    // This rank's share of ⟨G, P(U) − U⟩: the sum over the ranks comes with the gradient's.
    const PetscScalar *a, *b;
    PetscInt n;
    PetscCall(VecGetLocalSize(G, &n));
    PetscCall(VecGetArrayRead(G, &a));
    PetscCall(VecGetArrayRead(projected_, &b));
    dlambda = 0;
    for (PetscInt i = 0; i < n; ++i) dlambda += a[i] * b[i];
    PetscCall(VecRestoreArrayRead(projected_, &b));
    PetscCall(VecRestoreArrayRead(G, &a));
    PetscCall(ctx_.controls->AddRelaxationRateGradient(t, dlambda, g));
  }
  PetscFunctionReturn(0);
}

}  // namespace ctflow
