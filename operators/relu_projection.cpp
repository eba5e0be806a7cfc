#include "operators/relu_projection.hpp"

#include <algorithm>

namespace ctflow {

PetscErrorCode ReluProjectionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'relu' takes no index");
  PetscCallCXX(*op = std::make_unique<ReluProjection>(ctx));
  PetscFunctionReturn(0);
}

PetscErrorCode ReluProjection::Project(PetscReal, Vec U) {
  PetscInt n;
  PetscScalar *u;
  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(U, &n));
  PetscCall(VecGetArray(U, &u));
  for (PetscInt i = 0; i < n; ++i) u[i] = std::max<PetscScalar>(u[i], 0);
  PetscCall(VecRestoreArray(U, &u));
  PetscFunctionReturn(0);
}

PetscErrorCode ReluProjection::ProjectTranspose(PetscReal, Vec U, Vec G, Vec dU, ControlsArrays *) {
  PetscInt n;
  const PetscScalar *u, *G_;
  PetscScalar *du;
  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(U, &n));
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayRead(G, &G_));
  PetscCall(VecGetArray(dU, &du));
  for (PetscInt i = 0; i < n; ++i)
    if (u[i] > 0) du[i] += G_[i];
  PetscCall(VecRestoreArray(dU, &du));
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
