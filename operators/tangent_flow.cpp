#include "operators/tangent_flow.hpp"

namespace ctflow {

PetscErrorCode TangentFlowCreate(const OperatorContext &ctx, std::unique_ptr<Operator> flow, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(flow->Kind() == OperatorKind::Flow, ctx.grid->Comm(), PETSC_ERR_USER_INPUT,
             "operator 'tangent_%s': '%s' is a projection; tangent_<name> restricts a flow to the layer-norm manifold (-split_projections "
             "manifold keeps the layer norm 'layernorm' as the only projection)",
             flow->Name().c_str(), flow->Name().c_str());
  PetscCallCXX(*op = std::make_unique<TangentFlow>(ctx, std::move(flow)));
  PetscFunctionReturn(0);
}

PetscErrorCode TangentFlow::Rhs(PetscReal t, Vec U, Vec F) {
  const PetscInt xm = ctx_.grid->XLocal(), Ny = ctx_.grid->Ny();
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(flow_->Rhs(t, U, F));
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArray(F, &f));
  for (PetscInt k = 0; k < xm; ++k) {
    const PetscScalar *uk = &u[k * Ny];
    PetscScalar *fk = &f[k * Ny];
    PetscReal u_mean = 0, f_mean = 0, fw = 0, ww = 0;
    for (PetscInt l = 0; l < Ny; ++l) u_mean += uk[l], f_mean += fk[l];
    u_mean /= Ny, f_mean /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) {
      fw += (fk[l] - f_mean) * (uk[l] - u_mean);
      ww += (uk[l] - u_mean) * (uk[l] - u_mean);
    }
    const PetscReal c = ww > 0 ? fw / ww : 0;  // the Δy of both inner products cancels
    for (PetscInt l = 0; l < Ny; ++l) fk[l] -= f_mean + c * (uk[l] - u_mean);
  }
  PetscCall(VecRestoreArray(F, &f));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(8.0 * xm * Ny));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
