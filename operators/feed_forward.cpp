#include "operators/feed_forward.hpp"

#include <cblas.h>

#include <algorithm>

#include "operators/gemm.hpp"

namespace ctflow {

static PetscLogEvent FEED_FORWARD_EVENT = 0;

PetscErrorCode FeedForwardCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  const PetscInt J = ctx.controls->NumFeedForward();
  PetscFunctionBeginUser;
  PetscCheck(index >= 1 && index <= J, ctx.grid->Comm(), PETSC_ERR_USER_INPUT,
             "operator 'ffn' needs a layer index 1..J = %" PetscInt_FMT " (e.g. ffn1); got %s", J,
             index < 0 ? "none" : std::to_string(index).c_str());
  if (!FEED_FORWARD_EVENT) PetscCall(PetscLogEventRegister("FeedForward", 0, &FEED_FORWARD_EVENT));
  PetscCallCXX(*op = std::make_unique<FeedForward>(ctx, index));
  PetscFunctionReturn(0);
}

PetscErrorCode FeedForward::Prepare(PetscReal t) {
  PetscFunctionBeginUser;
  const PetscInt piece = ctx_.controls->PieceKey(t);
  if (piece >= 0 && piece == piece_ && ctx_.controls->State() == state_) PetscFunctionReturn(0);
  PetscCall(ctx_.controls->SampleFeedForward(j_, t, *ctx_.grid, &kernel_));
  piece_ = piece, state_ = ctx_.controls->State();
  PetscFunctionReturn(0);
}

PetscErrorCode FeedForward::Rhs(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), Ny = g.Ny();
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(FEED_FORWARD_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayWrite(F, &f));
  std::copy(kernel_.b.begin(), kernel_.b.end(), f);
  Gemm(CblasNoTrans, CblasNoTrans, xm, Ny, Ny, g.dy(), u, Ny, kernel_.W.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(2.0 * xm * Ny * Ny));
  PetscCall(PetscLogEventEnd(FEED_FORWARD_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode FeedForward::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  const Grid &grid = *ctx_.grid;
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny();
  const PetscScalar *u, *G_;
  PetscScalar *du;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(FEED_FORWARD_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  PetscCall(VecGetArrayRead(G, &G_));
  PetscCall(VecGetArray(dU, &du));
  Gemm(CblasNoTrans, CblasTrans, xm, Ny, Ny, grid.dy(), G_, Ny, kernel_.W.data(), Ny, 1.0, du, Ny);
  PetscCall(VecRestoreArray(dU, &du));
  if (g) {
    FeedForwardKernel dk;
    PetscCallCXX(dk.W.assign(Ny * Ny, 0.0));
    PetscCallCXX(dk.b.assign(G_, G_ + xm * Ny));
    PetscCall(VecGetArrayRead(U, &u));
    Gemm(CblasTrans, CblasNoTrans, Ny, Ny, xm, grid.dy(), u, Ny, G_, Ny, 0.0, dk.W.data(), Ny);
    PetscCall(VecRestoreArrayRead(U, &u));
    PetscCall(ctx_.controls->AddFeedForwardGradient(j_, t, grid, dk, g));
  }
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(PetscLogFlops((g ? 4.0 : 2.0) * xm * Ny * Ny));  // dU, and dW with g
  PetscCall(PetscLogEventEnd(FEED_FORWARD_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode FeedForward::AffineParts(PetscReal t, std::vector<PetscReal> *M, std::vector<PetscReal> *b) {
  const PetscReal dy = ctx_.grid->dy();
  PetscFunctionBeginUser;
  PetscCall(Prepare(t));
  PetscCallCXX(M->resize(kernel_.W.size()));
  std::transform(kernel_.W.begin(), kernel_.W.end(), M->begin(), [dy](PetscReal w) { return dy * w; });
  PetscCallCXX(*b = kernel_.b);
  PetscFunctionReturn(0);
}

PetscErrorCode FeedForward::AffinePartsTranspose(PetscReal t, const std::vector<PetscReal> &dM, const std::vector<PetscReal> &db, ControlsArrays *g) {
  const PetscReal dy = ctx_.grid->dy();
  FeedForwardKernel dk;
  PetscFunctionBeginUser;
  if (!g) PetscFunctionReturn(0);
  PetscCallCXX(dk.W.resize(dM.size()));
  std::transform(dM.begin(), dM.end(), dk.W.begin(), [dy](PetscReal w) { return dy * w; });
  PetscCallCXX(dk.b = db);
  PetscCall(ctx_.controls->AddFeedForwardGradient(j_, t, *ctx_.grid, dk, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
