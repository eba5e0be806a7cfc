#include "operators/convolutional_attention.hpp"

#include <algorithm>

#include "discretization/base/option_checks.hpp"

namespace ctflow {

static PetscLogEvent CONV_ATTENTION_EVENT = 0, CONV_ATTENTION_PROJECT_EVENT = 0, CONV_ATTENTION_TRANSPOSE_EVENT = 0;

PetscErrorCode ConvolutionalAttentionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  ConvAttentionKernels probe;
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'conv_attention' takes no index");
  PetscCall(ctx.controls->SampleConvAttention(0, *ctx.grid, &probe));  // the controls define it on this grid
  if (!CONV_ATTENTION_EVENT) {
    PetscCall(PetscLogEventRegister("ConvAttention", 0, &CONV_ATTENTION_EVENT));
    PetscCall(PetscLogEventRegister("ConvAttnConvolve", 0, &CONV_ATTENTION_PROJECT_EVENT));
    PetscCall(PetscLogEventRegister("ConvAttentionTranspose", 0, &CONV_ATTENTION_TRANSPOSE_EVENT));
  }
  PetscCallCXX(*op = std::make_unique<ConvolutionalAttention>(ctx));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalAttention::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscOptionsBegin(Comm(), "conv_attention_", "Convolutional attention operator, eq. (42)", "ConvolutionalAttention");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(CtflowOptionsInt("-tile", "Keys per GEMM tile of the streaming softmax", "ConvolutionalAttention::SetTile", tile_, &tile_, nullptr));
  PetscCall(PetscOptionsBool(
      "-fused", "The streaming softmax's scores, softmax and gamma V, and their transpose, fused on BLIS's micro-kernel where it applies",
      "ConvolutionalAttention::SetFused", fused_, &fused_, nullptr));
  PetscOptionsEnd();
  PetscCheck(tile_ >= 1, Comm(), PETSC_ERR_USER_INPUT, "-conv_attention_tile must be at least 1, got %" PetscInt_FMT, tile_);
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalAttention::SetUp(Vec) {
  PetscFunctionBeginUser;
  PetscCall(Prepare(0));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalAttention::Prepare(PetscReal t) {
  const Grid &g = *ctx_.grid;
  PetscFunctionBeginUser;
  const PetscInt piece = ctx_.controls->PieceKey(t);
  if (ready_ && piece >= 0 && piece == piece_ && ctx_.controls->State() == state_) PetscFunctionReturn(0);
  const PetscInt k_old[2] = {kernels_.k[0], kernels_.k[1]};
  PetscCall(ctx_.controls->SampleConvAttention(t, g, &kernels_));
  piece_ = piece, state_ = ctx_.controls->State();
  PetscCallCXX(W_.assign(kernels_.WQ.begin(), kernels_.WQ.end()));
  PetscCallCXX(W_.insert(W_.end(), kernels_.WK.begin(), kernels_.WK.end()));
  PetscCallCXX(W_.insert(W_.end(), kernels_.WV.begin(), kernels_.WV.end()));
  PetscCallCXX(QKV_.resize(3 * g.Nh() * g.Ny()));
  if (!ready_ || k_old[0] != kernels_.k[0] || k_old[1] != kernels_.k[1]) PetscCall(conv_.SetUp(g.Image(), kernels_.k[0], kernels_.k[1]));
  PetscCall(conv_.SetKernels(3 * g.Nh(), W_.data()));
  if (!ready_) {
    softmax_.SetTile(tile_);
    softmax_.SetFused(fused_);
    PetscCall(softmax_.SetUp(g, g.Nh(), g.Ny(), "convolutional attention", "-conv_attention_tile"));
  }
  ready_ = true;
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalAttention::Rhs(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), Ny = g.Ny(), Nh = g.Nh(), D = Nh * Ny;
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(CONV_ATTENTION_EVENT, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(CONV_ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  // Q, K, V of every head: the convolutions of each owned token's image, written into the queries and the ring block.
  PetscReal *Q = softmax_.Queries(), *KV = softmax_.OwnBlock();
  PetscCall(VecGetArrayRead(U, &u));
  for (PetscInt k = 0; k < xm; ++k) {
    conv_.Apply(&u[k * Ny], 0.0, QKV_.data(), Ny);
    std::copy_n(QKV_.data(), D, &Q[k * D]);
    std::copy_n(QKV_.data() + D, 2 * D, &KV[k * 2 * D]);
  }
  PetscCall(VecRestoreArrayRead(U, &u));
  if (record_slot_ >= 0) {  // the projections, for the transpose at this state
    if ((PetscInt)records_.size() <= record_slot_) PetscCallCXX(records_.resize(record_slot_ + 1));
    PetscCallCXX(records_[record_slot_].Q.assign(Q, Q + xm * D); records_[record_slot_].KV.assign(KV, KV + 2 * xm * D));
  }
  PetscCall(PetscLogFlops(xm * conv_.Flops()));
  PetscCall(PetscLogEventEnd(CONV_ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));
  // γ by the streaming softmax of s ∫ Q K dξ (midpoint rule: s Δy1 Δy2 Σ_l), then F = Σ_m Δh ∫ γ V_m dη.
  PetscCall(softmax_.Run(kernels_.scale * g.dy(), false));
  const PetscReal *O = softmax_.Output();
  if (record_slot_ >= 0) {  // o and the rows' statistics
    AttentionRecord &r = records_[record_slot_];
    PetscCallCXX(r.O.assign(O, O + xm * D); r.rowmax = softmax_.RowMax(); r.rowsum = softmax_.RowSum());
    record_slot_ = -1;
  }
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) {
    std::fill_n(&f[k * Ny], Ny, 0.0);
    for (PetscInt m = 0; m < Nh; ++m)
      for (PetscInt l = 0; l < Ny; ++l) f[k * Ny + l] += g.dh() * O[k * D + m * Ny + l];
  }
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(2.0 * xm * D));
  PetscCall(PetscLogEventEnd(CONV_ATTENTION_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalAttention::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  const Grid &grid = *ctx_.grid;
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny(), Nh = grid.Nh(), D = Nh * Ny;
  const PetscScalar *u, *G_;
  PetscScalar *du;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(CONV_ATTENTION_TRANSPOSE_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const PetscInt kk = conv_.StencilSize();
  const bool recorded = reuse_slot_ >= 0 && reuse_slot_ < (PetscInt)records_.size() && !records_[reuse_slot_].O.empty();
  const AttentionRecord *record = recorded ? &records_[reuse_slot_] : nullptr;
  reuse_slot_ = -1;
  transpose_.SetFused(fused_);
  PetscCall(transpose_.SetUp(grid, Nh, Ny, tile_));
  PetscReal *Q = transpose_.Queries(), *block = transpose_.OwnBlock(), *dO = transpose_.OutputGradient();
  const PetscReal scale = kernels_.scale * grid.dy();
  PetscCall(VecGetArrayRead(U, &u));
  if (record) {
    std::copy(record->Q.begin(), record->Q.end(), Q);
    for (PetscInt k = 0; k < xm; ++k) std::copy_n(&record->KV[k * 2 * D], 2 * D, &block[k * 4 * D]);
    std::copy(record->rowmax.begin(), record->rowmax.end(), transpose_.RowMax());
    std::copy(record->rowsum.begin(), record->rowsum.end(), transpose_.RowSum());
    std::copy(record->O.begin(), record->O.end(), transpose_.Output());
  } else {  // Q, K, V again, and the first pass
    for (PetscInt k = 0; k < xm; ++k) {
      conv_.Apply(&u[k * Ny], 0.0, QKV_.data(), Ny);
      std::copy_n(QKV_.data(), D, &Q[k * D]);
      std::copy_n(QKV_.data() + D, 2 * D, &block[k * 4 * D]);
    }
    PetscCall(PetscLogFlops(xm * conv_.Flops()));
    PetscCall(transpose_.Statistics(scale, false));
  }
  // dO_m = Δh G for every head (F = Σ_m Δh o_m); the second pass gives dQ, and dK, dV of the owned tokens.
  PetscCall(VecGetArrayRead(G, &G_));
  for (PetscInt k = 0; k < xm; ++k)
    for (PetscInt m = 0; m < Nh; ++m)
      for (PetscInt l = 0; l < Ny; ++l) dO[k * D + m * Ny + l] = grid.dh() * G_[k * Ny + l];
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(transpose_.Run(scale, false));
  // The convolutions' transposes, token by token: [dQ; dK; dV] (3 N_h images) against [W^Q; W^K; W^V].
  const PetscReal *dQ = transpose_.QueryGradient(), *dKV = transpose_.OwnBlock() + 2 * D;  // the blocks came home
  std::vector<PetscReal> dW;
  if (g) PetscCallCXX(dW.assign(3 * Nh * kk, 0.0));
  PetscCall(VecGetArray(dU, &du));
  for (PetscInt k = 0; k < xm; ++k) {
    std::copy_n(&dQ[k * D], D, QKV_.data());
    std::copy_n(&dKV[k * 4 * D], 2 * D, QKV_.data() + D);
    conv_.ApplyTranspose(&u[k * Ny], QKV_.data(), Ny, &du[k * Ny], g ? dW.data() : nullptr);
  }
  PetscCall(VecRestoreArray(dU, &du));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscCall(PetscLogFlops(xm * (g ? 2 : 1) * conv_.Flops()));
  if (g) {
    ConvAttentionKernels dk;
    dk.k[0] = kernels_.k[0], dk.k[1] = kernels_.k[1], dk.scale = kernels_.scale;
    PetscCallCXX(dk.WQ.assign(dW.begin(), dW.begin() + Nh * kk));
    PetscCallCXX(dk.WK.assign(dW.begin() + Nh * kk, dW.begin() + 2 * Nh * kk));
    PetscCallCXX(dk.WV.assign(dW.begin() + 2 * Nh * kk, dW.end()));
    PetscCall(ctx_.controls->AddConvAttentionGradient(t, grid, dk, g));
  }
  PetscCall(PetscLogEventEnd(CONV_ATTENTION_TRANSPOSE_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
