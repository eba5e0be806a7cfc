#include "operators/attention.hpp"
#include <cblas.h>

#include <algorithm>

#include "discretization/base/option_checks.hpp"
#include "operators/attention_projections.hpp"
#include "operators/gemm.hpp"

namespace ctflow {

// Attention and its phases (nested in it): projections, scores/softmax/γV (with the ring: StreamingSoftmax), output.
static PetscLogEvent ATTENTION_EVENT = 0, ATTENTION_PROJECT_EVENT = 0, ATTENTION_SOFTMAX_EVENT = 0, ATTENTION_OUTPUT_EVENT = 0;

PetscErrorCode AttentionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'attention' takes no index");
  if (!ATTENTION_EVENT) {
    PetscCall(PetscLogEventRegister("Attention", 0, &ATTENTION_EVENT));
    PetscCall(PetscLogEventRegister("AttnProjections", 0, &ATTENTION_PROJECT_EVENT));
    PetscCall(PetscLogEventRegister("AttnScoreSoftmax", 0, &ATTENTION_SOFTMAX_EVENT));
    PetscCall(PetscLogEventRegister("AttnOutput", 0, &ATTENTION_OUTPUT_EVENT));
  }
  PetscCallCXX(*op = std::make_unique<Attention>(ctx));
  PetscFunctionReturn(0);
}

Attention::Attention(const OperatorContext &ctx) : Operator(ctx, "attention") {}

PetscErrorCode Attention::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscOptionsBegin(Comm(), "attention_", "Attention operator", "Attention");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(CtflowOptionsInt("-tile", "Keys per GEMM tile of the streaming softmax (rows per block when materialised)", "Attention", tile_, &tile_,
                             nullptr));
  PetscCall(PetscOptionsBool(
      "-fused", "Scores, softmax and gamma V, and their transpose, fused on BLIS's micro-kernel where it applies (one sequence, one BLIS thread)",
      "Attention", fused_, &fused_, nullptr));
  PetscCall(PetscOptionsBool("-materialise", "Form the attention weights in row blocks (all K, V on every rank) instead of streaming", "Attention",
                             materialise_, &materialise_, nullptr));
  PetscCall(CtflowOptionsInt(
      "-short_size", "Sequences of L tokens with L d_head at most this, on one process: one (sequence, head) at a time without tiles (0: never)",
      "Attention", short_size_, &short_size_, nullptr));
  PetscOptionsEnd();
  PetscCheck(tile_ >= 1, Comm(), PETSC_ERR_USER_INPUT, "-attention_tile must be at least 1, got %" PetscInt_FMT, tile_);
  PetscCheck(short_size_ >= 0, Comm(), PETSC_ERR_USER_INPUT, "-attention_short_size must be at least 0, got %" PetscInt_FMT, short_size_);
  PetscFunctionReturn(0);
}

PetscErrorCode Attention::SetUp(Vec) {
  PetscFunctionBeginUser;
  if (!materialise_) PetscCall(Prepare(0));
  PetscFunctionReturn(0);
}

PetscErrorCode Attention::Prepare(PetscReal t) {
  const Grid &g = *ctx_.grid;
  PetscFunctionBeginUser;
  const PetscInt piece = ctx_.controls->PieceKey(t);
  if (piece >= 0 && piece == piece_ && ctx_.controls->State() == state_) PetscFunctionReturn(0);
  PetscCall(ctx_.controls->LendAttention(t, g, &kernels_storage_, &kernels_));
  piece_ = piece, state_ = ctx_.controls->State();
  d_ = kernels_->d_head, D_ = g.Nh() * d_;
  softmax_.SetTile(tile_);
  softmax_.SetFused(fused_);
  PetscCall(softmax_.SetUp(g, g.Nh(), d_, "attention", "-attention_tile", {{"[W^Q | W^K | W^V]", {(size_t)g.Ny(), 3, (size_t)D_}}}));
  PetscCallCXX(PackProjections(*kernels_, g.Ny(), g.Nh(), &W_));
  PetscFunctionReturn(0);
}

PetscErrorCode Attention::RhsMaterialised(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  PetscScalar *f;
  PetscFunctionBeginUser;
  if (!maps_) PetscCallCXX(maps_ = std::make_unique<AttentionMaps>(g, *ctx_.controls));
  PetscCall(maps_->SetUp(t, U, tile_));
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k0 = 0; k0 < g.XLocal(); k0 += tile_) PetscCall(maps_->Apply(k0, std::min(tile_, g.XLocal() - k0), &f[k0 * g.Ny()]));
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscFunctionReturn(0);
}

PetscErrorCode Attention::Rhs(PetscReal t, Vec U, Vec F) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), Ny = g.Ny(), Nh = g.Nh();
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(ATTENTION_EVENT, 0, 0, 0, 0));
  if (materialise_) {
    PetscCall(RhsMaterialised(t, U, F));
    PetscCall(PetscLogEventEnd(ATTENTION_EVENT, 0, 0, 0, 0));
    PetscFunctionReturn(0);
  }
  // Q = Δy u W^Q + b^Q and [K | V] = Δy u [W^K | W^V] for the owned tokens, eq. (27), as two wide GEMMs
  // (heads side by side); [K | V] is written straight into this rank's ring block (rows × 2 N_h d_head).
  PetscCall(PetscLogEventBegin(ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const PetscInt D = D_;
  PetscReal *Q = softmax_.Queries(), *KV = softmax_.OwnBlock();
  const PetscReal dy = g.dy();
  for (PetscInt k = 0; k < xm; ++k) {
    if (kernels_->bQ.empty()) std::fill_n(&Q[k * D], D, 0.0);
    else std::copy_n(kernels_->bQ.data(), D, &Q[k * D]);
  }
  PetscCall(VecGetArrayRead(U, &u));
  Gemm(CblasNoTrans, CblasNoTrans, xm, D, Ny, dy, u, Ny, W_.data(), 3 * D, 1.0, Q, D);
  Gemm(CblasNoTrans, CblasNoTrans, xm, 2 * D, Ny, dy, u, Ny, W_.data() + D, 3 * D, 0.0, KV, 2 * D);
  PetscCall(VecRestoreArrayRead(U, &u));
  if (record_slot_ >= 0) {  // the projections, for the transpose at this state
    if ((PetscInt)records_.size() <= record_slot_) PetscCallCXX(records_.resize(record_slot_ + 1));
    PetscCallCXX(records_[record_slot_].Q.assign(Q, Q + xm * D); records_[record_slot_].KV.assign(KV, KV + 2 * xm * D));
  }
  PetscCall(PetscLogFlops(6.0 * xm * Ny * D));
  PetscCall(PetscLogEventEnd(ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));

  // o = ∫ γ V dη of every head: the streaming softmax of s Δz ⟨Q, K⟩ (the quadrature of s ⟨Q(x, ·), K(η, ·)⟩).
  PetscCall(PetscLogEventBegin(ATTENTION_SOFTMAX_EVENT, 0, 0, 0, 0));
  softmax_.SetShortSize(short_size_);
  PetscCall(softmax_.Run(kernels_->scale * dy, kernels_->causal));
  PetscCall(PetscLogEventEnd(ATTENTION_SOFTMAX_EVENT, 0, 0, 0, 0));

  // F = c + Σ_m Δh o_m W^O_m: the h-quadrature of ∫ γ V W^O dz dη, eq. (40)–(41).
  PetscCall(PetscLogEventBegin(ATTENTION_OUTPUT_EVENT, 0, 0, 0, 0));
  const PetscReal *o = softmax_.Output();
  if (record_slot_ >= 0) {  // o and the rows' statistics, for the transpose at this state
    AttentionRecord &r = records_[record_slot_];
    PetscCallCXX(r.O.assign(o, o + xm * D); r.rowmax = softmax_.RowMax(); r.rowsum = softmax_.RowSum());
    record_slot_ = -1;
  }
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) {
    if (kernels_->c.empty()) std::fill_n(&f[k * Ny], Ny, 0.0);
    else std::copy_n(kernels_->c.data(), Ny, &f[k * Ny]);
  }
  if (kernels_->WO.empty())  // W^O the identity: d_head = N_y, sum over heads
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt m = 0; m < Nh; ++m) cblas_daxpy(Ny, g.dh(), &o[k * D + m * d_], 1, &f[k * Ny], 1);
  else  // WO is stored [m][r][l]: the heads' factors stacked, D × N_y
    Gemm(CblasNoTrans, CblasNoTrans, xm, Ny, D, dy * g.dh(), o, D, kernels_->WO.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(kernels_->WO.empty() ? 2.0 * Nh * xm * Ny : 2.0 * xm * D * Ny));
  PetscCall(PetscLogEventEnd(ATTENTION_OUTPUT_EVENT, 0, 0, 0, 0));
  PetscCall(PetscLogEventEnd(ATTENTION_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
