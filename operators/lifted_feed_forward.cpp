#include "operators/lifted_feed_forward.hpp"
#include "operators/gemm.hpp"

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
  if (piece >= 0 && piece == piece_ && ctx_.controls->State() == state_) PetscFunctionReturn(0);
  PetscCall(ctx_.controls->LendMlp(t, *ctx_.grid, &kernels_storage_, &kernels_));
  piece_ = piece, state_ = ctx_.controls->State();
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
  Gemm(CblasNoTrans, CblasNoTrans, xm, Fh, Ny, g.dy(), u, Ny, K.W1.data(), Fh, 0.0, hidden_.data(), Fh);
  PetscCall(VecRestoreArrayRead(U, &u));
  if (record_slot_ >= 0) {  // h = z + b1, for the transpose at this state
    if ((PetscInt)records_.size() <= record_slot_) PetscCallCXX(records_.resize(record_slot_ + 1));
    PetscCallCXX(records_[record_slot_].resize(xm * Fh));
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt c = 0; c < Fh; ++c) records_[record_slot_][k * Fh + c] = hidden_[k * Fh + c] + K.b1[c];
    record_slot_ = -1;
  }
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
  Gemm(CblasNoTrans, CblasNoTrans, xm, Ny, Fh, g.dy(), hidden_.data(), Fh, K.W2.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(4.0 * xm * Ny * Fh));
  PetscCall(PetscLogEventEnd(MLP_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode LiftedFeedForward::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  const Grid &grid = *ctx_.grid;
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny();
  const PetscReal dy = grid.dy();
  const PetscScalar *u, *G_;
  PetscScalar *du;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(MLP_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const MlpKernels &K = *kernels_;
  const PetscInt Fh = K.F;
  PetscCallCXX(dhidden_.resize(xm * Fh));
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayRead(G, &G_));
  // h = Δy u W1 + b1 (recorded by the forward evaluation at U, or computed), z = act(h) (hidden_), dz = Δy G W2^T
  // (dhidden_), then dh = dz act'(h) in place.
  const PetscReal *pre;
  if (reuse_slot_ >= 0 && reuse_slot_ < (PetscInt)records_.size() && records_[reuse_slot_].size() == (size_t)(xm * Fh)) {
    pre = records_[reuse_slot_].data();
  } else {
    PetscCallCXX(preactivation_.resize(xm * Fh));
    for (PetscInt k = 0; k < xm; ++k) std::copy_n(K.b1.data(), Fh, &preactivation_[k * Fh]);
    Gemm(CblasNoTrans, CblasNoTrans, xm, Fh, Ny, dy, u, Ny, K.W1.data(), Fh, 1.0, preactivation_.data(), Fh);
    pre = preactivation_.data();
  }
  reuse_slot_ = -1;
  Gemm(CblasNoTrans, CblasTrans, xm, Fh, Ny, dy, G_, Ny, K.W2.data(), Ny, 0.0, dhidden_.data(), Fh);
  for (PetscInt i = 0; i < xm * Fh; ++i) {
    const PetscReal h = pre[i];
    if (K.gelu) {
      const PetscReal Phi = 0.5 * (1 + std::erf(h * M_SQRT1_2)), phi = std::exp(-0.5 * h * h) / std::sqrt(2 * PETSC_PI);
      hidden_[i] = h * Phi;
      dhidden_[i] *= Phi + h * phi;
    } else {
      hidden_[i] = std::max<PetscReal>(h, 0);
      if (h <= 0) dhidden_[i] = 0;
    }
  }
  PetscCall(VecGetArray(dU, &du));
  Gemm(CblasNoTrans, CblasTrans, xm, Ny, Fh, dy, dhidden_.data(), Fh, K.W1.data(), Fh, 1.0, du, Ny);
  PetscCall(VecRestoreArray(dU, &du));
  if (g) {
    MlpKernels &dk = gradient_;
    dk.F = Fh;
    PetscCallCXX(dk.W1.resize(Ny * Fh));  // W1, W2: every entry written by the GEMMs (β = 0)
    PetscCallCXX(dk.b1.assign(Fh, 0.0));
    PetscCallCXX(dk.W2.resize(Fh * Ny));
    PetscCallCXX(dk.b2.assign(Ny, 0.0));
    Gemm(CblasTrans, CblasNoTrans, Ny, Fh, xm, dy, u, Ny, dhidden_.data(), Fh, 0.0, dk.W1.data(), Fh);
    Gemm(CblasTrans, CblasNoTrans, Fh, Ny, xm, dy, hidden_.data(), Fh, G_, Ny, 0.0, dk.W2.data(), Ny);
    for (PetscInt k = 0; k < xm; ++k) {
      for (PetscInt c = 0; c < Fh; ++c) dk.b1[c] += dhidden_[k * Fh + c];
      for (PetscInt l = 0; l < Ny; ++l) dk.b2[l] += G_[k * Ny + l];
    }
    PetscCall(ctx_.controls->AddMlpGradient(t, grid, dk, g));
  }
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(8.0 * xm * Ny * Fh));
  PetscCall(PetscLogEventEnd(MLP_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
