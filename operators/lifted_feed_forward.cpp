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

PetscErrorCode LiftedFeedForward::SetUp(Vec) {
  PetscFunctionBeginUser;
  PetscCall(Prepare(0));
  PetscFunctionReturn(0);
}

PetscErrorCode LiftedFeedForward::Prepare(PetscReal t) {
  PetscFunctionBeginUser;
  const PetscInt piece = ctx_.controls->PieceKey(t);
  if (piece >= 0 && piece == piece_) PetscFunctionReturn(0);
  PetscCall(ctx_.controls->LendMlp(t, *ctx_.grid, &kernels_storage_, &kernels_));
  piece_ = piece;
  PetscCallCXX(hidden_.resize(ctx_.grid->XLocal() * kernels_->F));
  PetscFunctionReturn(0);
}

PetscErrorCode LiftedFeedForward::Rhs(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), Ny = g.Ny();
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(MLP_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const MlpKernels &K = *kernels_;
  const PetscInt Fh = K.F;
  PetscCall(VecGetArrayRead(U, &u));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, Fh, Ny, g.dy(), u, Ny, K.W1.data(), Fh, 0.0, hidden_.data(), Fh);
  PetscCall(VecRestoreArrayRead(U, &u));
  // act(z + b1) in one pass over the hidden layer.
  for (PetscInt k = 0; k < xm; ++k) {
    PetscReal *z = &hidden_[k * Fh];
    const PetscReal *b1 = K.b1.data();
    if (K.gelu)
      for (PetscInt c = 0; c < Fh; ++c) {
        const PetscReal v = z[c] + b1[c];
        z[c] = 0.5 * v * (1 + std::erf(v * M_SQRT1_2));
      }
    else
      for (PetscInt c = 0; c < Fh; ++c) z[c] = std::max<PetscReal>(z[c] + b1[c], 0);
  }
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) std::copy_n(K.b2.data(), Ny, &f[k * Ny]);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, Ny, Fh, g.dy(), hidden_.data(), Fh, K.W2.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(4.0 * xm * Ny * Fh));
  PetscCall(PetscLogEventEnd(MLP_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
