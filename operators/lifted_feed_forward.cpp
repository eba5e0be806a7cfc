#include "operators/lifted_feed_forward.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace ctflow {

static PetscLogEvent MLP_EVENT = 0;

PetscErrorCode LiftedFeedForwardCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  MlpKernels probe;
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'mlp' takes no index");
  PetscCall(ctx.controls->SampleMlp(0, *ctx.grid, &probe));  // the controls define it
  if (!MLP_EVENT) PetscCall(PetscLogEventRegister("LiftedFeedForward", 0, &MLP_EVENT));
  PetscCallCXX(*op = std::make_unique<LiftedFeedForward>(ctx));
  PetscFunctionReturn(0);
}

PetscErrorCode LiftedFeedForward::Rhs(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), Ny = g.Ny();
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(MLP_EVENT, 0, 0, 0, 0));
  const PetscInt piece = ctx_.controls->PieceKey(t);
  if (piece < 0 || piece != piece_) PetscCall(ctx_.controls->SampleMlp(t, g, &kernels_));
  piece_ = piece;
  const PetscInt Fh = kernels_.F;
  PetscCallCXX(hidden_.resize(xm * Fh));
  for (PetscInt k = 0; k < xm; ++k) std::copy_n(kernels_.b1.data(), Fh, &hidden_[k * Fh]);
  PetscCall(VecGetArrayRead(U, &u));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, Fh, Ny, g.dy(), u, Ny, kernels_.W1.data(), Fh, 1.0, hidden_.data(), Fh);
  PetscCall(VecRestoreArrayRead(U, &u));
  if (kernels_.gelu)
    for (PetscReal &z : hidden_) z = 0.5 * z * (1 + std::erf(z * M_SQRT1_2));
  else
    for (PetscReal &z : hidden_) z = std::max<PetscReal>(z, 0);
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) std::copy_n(kernels_.b2.data(), Ny, &f[k * Ny]);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, Ny, Fh, g.dy(), hidden_.data(), Fh, kernels_.W2.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(4.0 * xm * Ny * Fh));
  PetscCall(PetscLogEventEnd(MLP_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
