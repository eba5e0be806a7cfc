#include "operators/skip_relaxation.hpp"

namespace ctflow {

static PetscLogEvent RELAXATION_EVENT = 0;

PetscErrorCode SkipRelaxation(PetscInt n, const PetscReal weights[], Vec branches[]) {
  PetscFunctionBeginUser;
  if (!RELAXATION_EVENT) PetscCall(PetscLogEventRegister("SkipRelaxation", 0, &RELAXATION_EVENT));
  PetscCall(PetscLogEventBegin(RELAXATION_EVENT, 0, 0, 0, 0));
  PetscCall(VecScale(branches[0], weights[0]));
  PetscCall(VecMAXPY(branches[0], n - 1, weights + 1, branches + 1));
  PetscCall(PetscLogEventEnd(RELAXATION_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode IdentityCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'identity' takes no index");
  PetscCallCXX(*op = std::make_unique<Identity>(ctx));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
