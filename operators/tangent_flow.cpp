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

PetscErrorCode TangentFlow::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  const PetscInt xm = ctx_.grid->XLocal(), Ny = ctx_.grid->Ny();
  const PetscScalar *u, *G_;
  PetscScalar *a, *ga, *du;
  PetscFunctionBeginUser;
  if (!a_) PetscCall(VecDuplicate(U, a_.Out()));
  if (!ga_) PetscCall(VecDuplicate(U, ga_.Out()));
  PetscCall(flow_->Rhs(t, U, a_));
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayRead(G, &G_));
  PetscCall(VecGetArray(a_, &a));
  PetscCall(VecGetArray(ga_, &ga));
  PetscCall(VecGetArray(dU, &du));
  for (PetscInt k = 0; k < xm; ++k) {
    const PetscScalar *uk = &u[k * Ny], *gk = &G_[k * Ny];
    PetscScalar *ak = &a[k * Ny], *gak = &ga[k * Ny], *duk = &du[k * Ny];
    PetscReal u_mean = 0, g_mean = 0, aw = 0, gw = 0, ww = 0;
    for (PetscInt l = 0; l < Ny; ++l) u_mean += uk[l], g_mean += gk[l];
    u_mean /= Ny, g_mean /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) {
      const PetscReal w = uk[l] - u_mean;
      aw += ak[l] * w, gw += gk[l] * w, ww += w * w;
    }
    const PetscReal c = ww > 0 ? aw / ww : 0, d = ww > 0 ? gw / ww : 0;
    PetscReal mean_dw = 0;
    for (PetscInt l = 0; l < Ny; ++l) {
      const PetscReal w = uk[l] - u_mean;
      gak[l] = gk[l] - g_mean - d * w;
      ak[l] = -d * ak[l] - c * gk[l] + 2 * c * d * w;  // dL/dw, in place of a
      mean_dw += ak[l];
    }
    mean_dw /= Ny;
    for (PetscInt l = 0; l < Ny; ++l) duk[l] += ak[l] - mean_dw;
  }
  PetscCall(VecRestoreArray(dU, &du));
  PetscCall(VecRestoreArray(ga_, &ga));
  PetscCall(VecRestoreArray(a_, &a));
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(flow_->RhsTranspose(t, U, ga_, dU, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
