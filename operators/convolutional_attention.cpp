#include "operators/convolutional_attention.hpp"

#include <algorithm>

#include "discretization/base/option_checks.hpp"

namespace ctflow {

static PetscLogEvent CONV_ATTENTION_EVENT = 0, CONV_ATTENTION_PROJECT_EVENT = 0;

PetscErrorCode ConvolutionalAttentionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  ConvAttentionKernels probe;
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'conv_attention' takes no index");
  PetscCall(ctx.controls->SampleConvAttention(0, *ctx.grid, &probe));  // the controls define it on this grid
  if (!CONV_ATTENTION_EVENT) {
    PetscCall(PetscLogEventRegister("ConvAttention", 0, &CONV_ATTENTION_EVENT));
    PetscCall(PetscLogEventRegister("ConvAttnConvolve", 0, &CONV_ATTENTION_PROJECT_EVENT));
  }
  PetscCallCXX(*op = std::make_unique<ConvolutionalAttention>(ctx));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionalAttention::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscOptionsBegin(Comm(), "conv_attention_", "Convolutional attention operator, eq. (42)", "ConvolutionalAttention");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsInt("-tile", "Keys per GEMM tile of the streaming softmax", "ConvolutionalAttention", tile_, &tile_, nullptr));
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
  if (ready_ && piece >= 0 && piece == piece_) PetscFunctionReturn(0);
  const PetscInt k_old[2] = {kernels_.k[0], kernels_.k[1]};
  PetscCall(ctx_.controls->SampleConvAttention(t, g, &kernels_));
  piece_ = piece;
  PetscCallCXX(W_.assign(kernels_.WQ.begin(), kernels_.WQ.end()));
  PetscCallCXX(W_.insert(W_.end(), kernels_.WK.begin(), kernels_.WK.end()));
  PetscCallCXX(W_.insert(W_.end(), kernels_.WV.begin(), kernels_.WV.end()));
  PetscCallCXX(QKV_.resize(3 * g.Nh() * g.Ny()));
  if (!ready_ || k_old[0] != kernels_.k[0] || k_old[1] != kernels_.k[1]) PetscCall(conv_.SetUp(g.Image(), kernels_.k[0], kernels_.k[1]));
  PetscCall(conv_.SetKernels(3 * g.Nh(), W_.data()));
  if (!ready_) PetscCall(softmax_.SetUp(g, g.Nh(), g.Ny(), tile_));
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
  PetscCall(PetscLogFlops(xm * conv_.Flops()));
  PetscCall(PetscLogEventEnd(CONV_ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));
  // γ by the streaming softmax of s ∫ Q K dξ (midpoint rule: s Δy1 Δy2 Σ_l), then F = Σ_m Δh ∫ γ V_m dη.
  PetscCall(softmax_.Run(kernels_.scale * g.dy(), false));
  const PetscReal *O = softmax_.Output();
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

}  // namespace ctflow
