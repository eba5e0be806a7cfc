#include "operators/attention_transpose.hpp"

#include <cblas.h>

#include <algorithm>

#include "operators/attention.hpp"
#include "operators/attention_projections.hpp"
#include "operators/gemm.hpp"

namespace ctflow {

PetscErrorCode Attention::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  static PetscLogEvent event = 0;
  AttentionKernels storage;
  const AttentionKernels *kernels = nullptr;
  PetscFunctionBeginUser;
  if (!event) PetscCall(PetscLogEventRegister("AttentionTranspose", 0, &event));
  PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
  PetscCall(ctx_.controls->LendAttention(t, *ctx_.grid, &storage, &kernels));
  if (!transpose_) PetscCallCXX(transpose_ = std::make_unique<AttentionTranspose>());
  const bool recorded = reuse_slot_ >= 0 && reuse_slot_ < (PetscInt)records_.size() && !records_[reuse_slot_].O.empty();
  transpose_->SetFused(fused_);
  PetscCall(transpose_->Apply(ctx_, *kernels, t, tile_, short_size_, U, G, dU, g, recorded ? &records_[reuse_slot_] : nullptr));
  reuse_slot_ = -1;
  PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode AttentionTranspose::Apply(const OperatorContext &ctx, const AttentionKernels &kernels, PetscReal t, PetscInt tile, PetscInt short_size,
                                         Vec U, Vec G, Vec dU, ControlsArrays *g, const AttentionRecord *record) {
  const Grid &grid = *ctx.grid;
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny(), Nh = grid.Nh(), d = kernels.d_head, D = Nh * d;
  const PetscReal dy = grid.dy(), dh = grid.dh(), scale = kernels.scale * dy;
  const PetscScalar *u, *G_;
  PetscScalar *du;
  PetscFunctionBeginUser;
  softmax_.SetShortSize(short_size);
  softmax_.SetFused(fused_);
  PetscCall(softmax_.SetUp(grid, Nh, d, tile));
  PetscCallCXX(PackProjections(kernels, Ny, Nh, &W_));
  PetscReal *Q = softmax_.Queries(), *block = softmax_.OwnBlock(), *O = softmax_.Output(), *dO = softmax_.OutputGradient();

  // Q = Δy u W^Q + b^Q; this rank's block [K | V | 0 | 0] with K, V = Δy u W^{K,V}.
  PetscCall(VecGetArrayRead(U, &u));
  if (record) {
    std::copy(record->Q.begin(), record->Q.end(), Q);
    for (PetscInt k = 0; k < xm; ++k) std::copy_n(&record->KV[k * 2 * D], 2 * D, &block[k * 4 * D]);
  } else {
    for (PetscInt k = 0; k < xm && !kernels.bQ.empty(); ++k) std::copy_n(kernels.bQ.data(), D, &Q[k * D]);
    Gemm(CblasNoTrans, CblasNoTrans, xm, D, Ny, dy, u, Ny, W_.data(), 3 * D, 1.0, Q, D);
    Gemm(CblasNoTrans, CblasNoTrans, xm, 2 * D, Ny, dy, u, Ny, W_.data() + D, 3 * D, 0.0, block, 4 * D);
  }

  // First pass: row statistics and o = Σ p V (kept by a recorded forward evaluation at U).
  if (record) {
    std::copy(record->rowmax.begin(), record->rowmax.end(), softmax_.RowMax());
    std::copy(record->rowsum.begin(), record->rowsum.end(), softmax_.RowSum());
    std::copy(record->O.begin(), record->O.end(), O);
  } else PetscCall(softmax_.Statistics(scale, kernels.causal));

  // dO = Δh G (Δz W^O)^T per head (or Δh G for W^O the identity).
  PetscCall(VecGetArrayRead(G, &G_));
  if (kernels.WO.empty())
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt m = 0; m < Nh; ++m)
        for (PetscInt r = 0; r < d; ++r) dO[k * D + m * d + r] = dh * G_[k * Ny + r];
  else Gemm(CblasNoTrans, CblasTrans, xm, D, Ny, dh * dy, G_, Ny, kernels.WO.data(), Ny, 0.0, dO, D);

  // Second pass: dQ, and dK, dV of every block, which come home with it.
  PetscCall(softmax_.Run(scale, kernels.causal));

  // dU += Δy (dQ (W^Q)^T + dK (W^K)^T + dV (W^V)^T): [dQ | dK | dV] against W_ transposed, in two GEMMs.
  const PetscReal *dQ = softmax_.QueryGradient(), *dKV = softmax_.OwnBlock() + 2 * D;
  PetscCall(VecGetArray(dU, &du));
  Gemm(CblasNoTrans, CblasTrans, xm, Ny, D, dy, dQ, D, W_.data(), 3 * D, 1.0, du, Ny);
  Gemm(CblasNoTrans, CblasTrans, xm, Ny, 2 * D, dy, dKV, 4 * D, W_.data() + D, 3 * D, 1.0, du, Ny);
  PetscCall(VecRestoreArray(dU, &du));
  if (g) {
    AttentionKernels &dk = gradient_;
    PetscCallCXX(dW_.resize(Ny * 3 * D));  // Δy u^T [dQ | dK | dV], heads side by side: every entry written (β = 0)
    Gemm(CblasTrans, CblasNoTrans, Ny, D, xm, dy, u, Ny, dQ, D, 0.0, dW_.data(), 3 * D);
    Gemm(CblasTrans, CblasNoTrans, Ny, 2 * D, xm, dy, u, Ny, dKV, 4 * D, 0.0, dW_.data() + D, 3 * D);
    PetscCallCXX(UnpackProjections(dW_, Ny, Nh, d, &dk));
    dk.bQ.clear(), dk.c.clear();
    if (kernels.WO.empty()) dk.WO.clear();
    else {  // dW^O = Δh Δz o^T G, stacked D × N_y (β = 0)
      PetscCallCXX(dk.WO.resize(D * Ny));
      Gemm(CblasTrans, CblasNoTrans, D, Ny, xm, dh * dy, O, D, G_, Ny, 0.0, dk.WO.data(), Ny);
    }
    if (!kernels.bQ.empty()) {
      PetscCallCXX(dk.bQ.assign(D, 0.0));
      for (PetscInt k = 0; k < xm; ++k)
        for (PetscInt c = 0; c < D; ++c) dk.bQ[c] += dQ[k * D + c];
    }
    if (!kernels.c.empty()) {
      PetscCallCXX(dk.c.assign(Ny, 0.0));
      for (PetscInt k = 0; k < xm; ++k)
        for (PetscInt l = 0; l < Ny; ++l) dk.c[l] += G_[k * Ny + l];
    }
    PetscCall(ctx.controls->AddAttentionGradient(t, grid, dk, g));
  }
  PetscCall(VecRestoreArrayRead(G, &G_));
  PetscCall(VecRestoreArrayRead(U, &u));
  // The projections' products (the softmax's own are logged by softmax_): dU's [dQ | dK | dV]; Q, K, V if not recorded;
  // dO through W^O; with g, dW^{Q,K,V} and dW^O.
  const PetscReal products = 3.0 * (1 + !record + (g != nullptr)) + (kernels.WO.empty() ? 0.0 : 1 + (g != nullptr));
  PetscCall(PetscLogFlops(2.0 * products * xm * Ny * D));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
