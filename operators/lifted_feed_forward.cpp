#include "operators/lifted_feed_forward.hpp"
#include "discretization/base/simd_clones.hpp"
#include "operators/gelu.hpp"
#include "operators/gemm.hpp"

#include <cblas.h>

#include <algorithm>

namespace ctflow {

static PetscLogEvent MLP_EVENT = 0;

namespace {

// z[k][c] ← max(z[k][c] + b[c], 0) for a rows × F block; pre (if not null) ← z + b.
CTFLOW_SIMD_CLONES void ReluBias(PetscInt rows, PetscInt F, const PetscReal *__restrict b, PetscReal *__restrict z, PetscReal *__restrict pre) {
  for (PetscInt k = 0; k < rows; ++k, z += F, pre = pre ? pre + F : pre)
    for (PetscInt c = 0; c < F; ++c) {
      const PetscReal v = z[c] + b[c];
      if (pre) pre[c] = v;
      z[c] = v < 0 ? 0 : v;
    }
}

// z ← max(pre, 0), dz ← 0 where pre ≤ 0; db (if not null) += the column sums of dz, row by row.
CTFLOW_SIMD_CLONES void ReluBackward(PetscInt rows, PetscInt F, const PetscReal *__restrict pre, PetscReal *__restrict z, PetscReal *__restrict dz,
                                     PetscReal *__restrict db) {
  for (PetscInt k = 0; k < rows; ++k, pre += F, z += F, dz += F)
    for (PetscInt c = 0; c < F; ++c) {
      z[c] = pre[c] < 0 ? 0 : pre[c];
      dz[c] = pre[c] <= 0 ? 0 : dz[c];
      if (db) db[c] += dz[c];
    }
}

// sums[c] += Σ_k x[k][c] for a rows × n block, row by row.
CTFLOW_SIMD_CLONES void AddColumnSums(PetscInt rows, PetscInt n, const PetscReal *__restrict x, PetscReal *__restrict sums) {
  for (PetscInt k = 0; k < rows; ++k, x += n)
    for (PetscInt c = 0; c < n; ++c) sums[c] += x[c];
}

}  // namespace

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
  PetscReal *pre = nullptr;  // h = z + b1, recorded for the transpose at this state
  if (record_slot_ >= 0) {
    if ((PetscInt)records_.size() <= record_slot_) PetscCallCXX(records_.resize(record_slot_ + 1));
    PetscCallCXX(records_[record_slot_].resize(xm * Fh));
    pre = records_[record_slot_].data();
    record_slot_ = -1;
  }
  // act(z + b1) in one pass over the hidden layer.
  if (K.gelu) GeluBias(xm, Fh, K.b1.data(), hidden_.data(), pre);
  else ReluBias(xm, Fh, K.b1.data(), hidden_.data(), pre);
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
  // h = Δy u W1 + b1 (recorded by the forward evaluation at U, or computed), dz = Δy G W2^T (dhidden_).
  const PetscReal *pre;
  const bool recorded = reuse_slot_ >= 0 && reuse_slot_ < (PetscInt)records_.size() && records_[reuse_slot_].size() == (size_t)(xm * Fh);
  if (recorded) {
    pre = records_[reuse_slot_].data();
  } else {
    PetscCallCXX(preactivation_.resize(xm * Fh));
    for (PetscInt k = 0; k < xm; ++k) std::copy_n(K.b1.data(), Fh, &preactivation_[k * Fh]);
    Gemm(CblasNoTrans, CblasNoTrans, xm, Fh, Ny, dy, u, Ny, K.W1.data(), Fh, 1.0, preactivation_.data(), Fh);
    pre = preactivation_.data();
  }
  reuse_slot_ = -1;
  Gemm(CblasNoTrans, CblasTrans, xm, Fh, Ny, dy, G_, Ny, K.W2.data(), Ny, 0.0, dhidden_.data(), Fh);
  MlpKernels &dk = gradient_;
  if (g) {
    dk.F = Fh;
    PetscCallCXX(dk.W1.resize(Ny * Fh));  // W1, W2: every entry written by the GEMMs (β = 0)
    PetscCallCXX(dk.b1.assign(Fh, 0.0));
    PetscCallCXX(dk.W2.resize(Fh * Ny));
    PetscCallCXX(dk.b2.assign(Ny, 0.0));
  }
  // hidden_ = act(h), dh = dz act'(h) in place, db1 = Σ_x dh in the same pass.
  if (K.gelu) GeluBackward(xm, Fh, pre, hidden_.data(), dhidden_.data(), g ? dk.b1.data() : nullptr);
  else ReluBackward(xm, Fh, pre, hidden_.data(), dhidden_.data(), g ? dk.b1.data() : nullptr);
  PetscCall(VecGetArray(dU, &du));
  Gemm(CblasNoTrans, CblasTrans, xm, Ny, Fh, dy, dhidden_.data(), Fh, K.W1.data(), Fh, 1.0, du, Ny);
  PetscCall(VecRestoreArray(dU, &du));
  if (g) {
    Gemm(CblasTrans, CblasNoTrans, Ny, Fh, xm, dy, u, Ny, dhidden_.data(), Fh, 0.0, dk.W1.data(), Fh);
    Gemm(CblasTrans, CblasNoTrans, Fh, Ny, xm, dy, hidden_.data(), Fh, G_, Ny, 0.0, dk.W2.data(), Ny);
    AddColumnSums(xm, Ny, G_, dk.b2.data());
    PetscCall(ctx_.controls->AddMlpGradient(t, grid, dk, g));
  }
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops((4.0 + (recorded ? 0 : 2.0) + (g ? 4.0 : 0)) * xm * Ny * Fh));  // dz, dU; h if not recorded; dW1, dW2 with g
  PetscCall(PetscLogEventEnd(MLP_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
