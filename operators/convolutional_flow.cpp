#include "operators/convolutional_flow.hpp"

namespace ctflow {

PetscErrorCode ConvolutionalFlow::SetUp(Vec) {
  PetscFunctionBeginUser;
  PetscCall(Prepare(0));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalFlow::Prepare(PetscReal t) {
  const PetscInt piece = ctx_.controls->PieceKey(t);
  PetscFunctionBeginUser;
  if (ready_ && piece >= 0 && piece == piece_ && ctx_.controls->State() == state_) PetscFunctionReturn(0);
  const PetscInt k_old[2] = {kernels_.k[0], kernels_.k[1]};
  PetscCall(Sample(t, &kernels_));
  piece_ = piece, state_ = ctx_.controls->State();
  if (!ready_ || k_old[0] != kernels_.k[0] || k_old[1] != kernels_.k[1]) PetscCall(conv_.SetUp(ctx_.grid->Image(), kernels_.k[0], kernels_.k[1]));
  if (!kernels_.per_token) PetscCall(conv_.SetKernels(1, kernels_.W.data()));
  ready_ = true;
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalFlow::Rhs(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), Ny = g.Ny();
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(event_, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const PetscInt kk = conv_.StencilSize();
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) {
    std::fill_n(&f[k * Ny], Ny, kernels_.b[k]);
    if (kernels_.per_token) PetscCall(conv_.SetKernels(1, &kernels_.W[k * kk]));
    conv_.Apply(&u[k * Ny], 1.0, &f[k * Ny], Ny);
  }
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(xm * (conv_.Flops() + Ny)));
  PetscCall(PetscLogEventEnd(event_, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalFlow::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  const Grid &grid = *ctx_.grid;
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny();
  const PetscScalar *u = nullptr, *G_;
  PetscScalar *du;
  ConvTokenKernels dk;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(transpose_event_, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const PetscInt kk = conv_.StencilSize();
  if (g) {
    dk.k[0] = kernels_.k[0], dk.k[1] = kernels_.k[1], dk.per_token = kernels_.per_token;
    PetscCallCXX(dk.W.assign(kernels_.W.size(), 0.0));
    PetscCallCXX(dk.b.assign(xm, 0.0));
    PetscCall(VecGetArrayRead(U, &u));
  }
  PetscCall(VecGetArrayRead(G, &G_));
  PetscCall(VecGetArray(dU, &du));
  for (PetscInt k = 0; k < xm; ++k) {
    if (kernels_.per_token) PetscCall(conv_.SetKernels(1, &kernels_.W[k * kk]));
    conv_.ApplyTranspose(g ? &u[k * Ny] : nullptr, &G_[k * Ny], Ny, &du[k * Ny], g ? &dk.W[kernels_.per_token ? k * kk : 0] : nullptr);
    for (PetscInt l = 0; l < Ny && g; ++l) dk.b[k] += G_[k * Ny + l];
  }
  PetscCall(VecRestoreArray(dU, &du));
  PetscCall(VecRestoreArrayRead(G, &G_));
  if (g) {
    PetscCall(VecRestoreArrayRead(U, &u));
    PetscCall(AddGradient(t, dk, g));
  }
  PetscCall(PetscLogFlops(xm * (g ? 2 : 1) * conv_.Flops()));
  PetscCall(PetscLogEventEnd(transpose_event_, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
