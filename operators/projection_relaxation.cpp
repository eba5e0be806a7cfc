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

}  // namespace ctflow
