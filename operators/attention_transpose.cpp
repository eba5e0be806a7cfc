#include "operators/attention_transpose.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "operators/attention.hpp"
#include "operators/vector_exp.hpp"

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
  PetscCall(transpose_->Apply(ctx_, *kernels, t, tile_, U, G, dU, g, recorded ? &records_[reuse_slot_] : nullptr));
  reuse_slot_ = -1;
  PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

template <typename Fn>
PetscErrorCode AttentionTranspose::Ring(bool home, Fn fn) {
  const MPI_Comm comm = grid_->Comm();
  const PetscInt width = 4 * D_;
  PetscMPIInt size, rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  const PetscMPIInt right = (rank + 1) % size, left = (rank + size - 1) % size;
  // At stage s this rank holds the block of rank (rank − s) mod P; the last shift (home) returns it to its owner.
  const PetscMPIInt shifts = home ? size : size - 1;
  for (PetscMPIInt s = 0; s < size || s < shifts; ++s) {
    const PetscMPIInt owner = (rank - s + size) % size, next_owner = (owner + size - 1) % size;
    PetscReal *cur = ring_[s % 2].data();
    if (s < size) fn(starts_[owner], ranges_[owner], cur);
    if (s < shifts) {
      MPI_Request req[2];
      PetscCallMPI(MPI_Irecv(ring_[(s + 1) % 2].data(), (PetscMPIInt)(width * ranges_[next_owner]), MPIU_REAL, left, 1, comm, &req[0]));
      PetscCallMPI(MPI_Isend(cur, (PetscMPIInt)(width * ranges_[owner]), MPIU_REAL, right, 1, comm, &req[1]));
      PetscCallMPI(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
    }
  }
  if (shifts % 2) std::swap(ring_[0], ring_[1]);  // the blocks' final place is ring_[0]
  PetscFunctionReturn(0);
}

// Online maximum and sum of head m's rows over one block, and o = Σ p V (unnormalised until the end).
void AttentionTranspose::Statistics(PetscInt m, PetscInt first, PetscInt rows, const PetscReal *block) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = D_, W = 4 * D;
  PetscReal *O = &O_[m * d], *mx = &rowmax_[m * xm], *sum = &rowsum_[m * xm];
  for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
    const PetscInt nt = std::min(tile_, rows - j0), c0 = first + j0;
    if (k_->causal && c0 > g.XStart() + xm - 1) break;  // keys after every owned query
    const PetscReal *K = block + j0 * W + m * d, *V = block + j0 * W + D + m * d;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, nt, d, score_scale_, &Q_[m * d], D, K, W, 0.0, S_.data(), nt);
    for (PetscInt k = 0; k < xm; ++k) {
      PetscReal *s = &S_[k * nt];
      const PetscInt valid = k_->causal ? std::clamp<PetscInt>(g.XStart() + k - c0 + 1, 0, nt) : nt;
      std::fill(s + valid, s + nt, 0.0);
      if (valid == 0) continue;
      const PetscReal new_max = std::max(mx[k], MaxOf(valid, s)), rescale = std::exp(mx[k] - new_max);
      sum[k] = sum[k] * rescale + ExpShiftedSum(valid, new_max, s);
      mx[k] = new_max;
      if (rescale != 1)
        for (PetscInt r = 0; r < d; ++r) O[k * D + r] *= rescale;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, d, nt, 1.0, S_.data(), nt, V, W, 1.0, O, D);
  }
}

// Head m's contributions of one block: dV, dK of the block, dQ of the owned rows.
void AttentionTranspose::Backward(PetscInt m, PetscInt first, PetscInt rows, PetscReal *block) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = D_, W = 4 * D;
  const PetscReal *mx = &rowmax_[m * xm], *sum = &rowsum_[m * xm], *delta = &delta_[m * xm];
  for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
    const PetscInt nt = std::min(tile_, rows - j0), c0 = first + j0;
    if (k_->causal && c0 > g.XStart() + xm - 1) break;
    PetscReal *K = block + j0 * W + m * d, *V = K + D, *dK = K + 2 * D, *dV = K + 3 * D;
    // P = exp(s Δz Q K^T − max) / sum, masked.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, nt, d, score_scale_, &Q_[m * d], D, K, W, 0.0, P_.data(), nt);
    for (PetscInt k = 0; k < xm; ++k) {
      PetscReal *p = &P_[k * nt];
      const PetscInt valid = k_->causal ? std::clamp<PetscInt>(g.XStart() + k - c0 + 1, 0, nt) : nt;
      if (valid > 0) (void)ExpShiftedSum(valid, mx[k], p);
      for (PetscInt j = 0; j < valid; ++j) p[j] /= sum[k];
      std::fill(p + valid, p + nt, 0.0);
    }
    // dV += P^T dO; dS = P ⊙ (dO V^T − Δ).
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, d, xm, 1.0, P_.data(), nt, &dO_[m * d], D, 1.0, dV, W);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, nt, d, 1.0, &dO_[m * d], D, V, W, 0.0, S_.data(), nt);
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt j = 0; j < nt; ++j) S_[k * nt + j] = P_[k * nt + j] * (S_[k * nt + j] - delta[k]);
    // dQ += s Δz dS K; dK += s Δz dS^T Q.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, d, nt, score_scale_, S_.data(), nt, K, W, 1.0, &dQ_[m * d], D);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nt, d, xm, score_scale_, S_.data(), nt, &Q_[m * d], D, 1.0, dK, W);
  }
}

PetscErrorCode AttentionTranspose::Apply(const OperatorContext &ctx, const AttentionKernels &kernels, PetscReal t, PetscInt tile, Vec U, Vec G,
                                         Vec dU, ControlsArrays *g, const AttentionRecord *record) {
  const Grid &grid = *ctx.grid;
  const PetscInt xm = grid.XLocal(), Ny = grid.Ny(), Nh = grid.Nh(), d = kernels.d_head, D = Nh * d;
  const PetscReal dy = grid.dy(), dh = grid.dh();
  const PetscInt *ranges;
  PetscMPIInt size;
  const PetscScalar *u, *G_;
  PetscScalar *du;
  PetscFunctionBeginUser;
  grid_ = &grid, k_ = &kernels, d_ = d, D_ = D;
  score_scale_ = kernels.scale * dy;
  PetscCallMPI(MPI_Comm_size(grid.Comm(), &size));
  PetscCall(DMDAGetOwnershipRanges(grid.Layout(), &ranges, nullptr, nullptr));
  PetscCallCXX(ranges_.assign(ranges, ranges + size));
  PetscCallCXX(starts_.assign(size + 1, 0));
  for (PetscMPIInt r = 0; r < size; ++r) starts_[r + 1] = starts_[r] + ranges_[r];
  const PetscInt max_rows = *std::max_element(ranges_.begin(), ranges_.end());
  tile_ = std::min(tile, max_rows);
  PetscCallCXX(W_.resize(Ny * 3 * D));
  const std::vector<PetscReal> *kernel[3] = {&kernels.WQ, &kernels.WK, &kernels.WV};
  for (PetscInt i = 0; i < Ny; ++i)
    for (int q = 0; q < 3; ++q)
      for (PetscInt m = 0; m < Nh; ++m) std::copy_n(&(*kernel[q])[(m * Ny + i) * d], d, &W_[(i * 3 + q) * D + m * d]);
  for (auto *v : {&Q_, &O_, &dO_, &dQ_}) PetscCallCXX(v->assign(xm * D, 0.0));
  PetscCallCXX(rowmax_.assign(Nh * xm, -std::numeric_limits<PetscReal>::infinity()));
  PetscCallCXX(rowsum_.assign(Nh * xm, 0.0));
  PetscCallCXX(delta_.assign(Nh * xm, 0.0));
  for (auto &b : ring_) PetscCallCXX(b.assign(4 * max_rows * D, 0.0));
  PetscCallCXX(S_.resize(xm * tile_));
  PetscCallCXX(P_.resize(xm * tile_));

  // Q = Δy u W^Q + b^Q; this rank's block [K | V | 0 | 0] with K, V = Δy u W^{K,V}.
  PetscCall(VecGetArrayRead(U, &u));
  if (record) {
    std::copy(record->Q.begin(), record->Q.end(), Q_.begin());
    for (PetscInt k = 0; k < xm; ++k) std::copy_n(&record->KV[k * 2 * D], 2 * D, &ring_[0][k * 4 * D]);
  } else {
    for (PetscInt k = 0; k < xm && !kernels.bQ.empty(); ++k) std::copy_n(kernels.bQ.data(), D, &Q_[k * D]);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, D, Ny, dy, u, Ny, W_.data(), 3 * D, 1.0, Q_.data(), D);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, 2 * D, Ny, dy, u, Ny, W_.data() + D, 3 * D, 0.0, ring_[0].data(), 4 * D);
  }

  // First pass: row statistics and o = Σ p V (kept by a recorded forward evaluation at U).
  if (record) {
    std::copy(record->rowmax.begin(), record->rowmax.end(), rowmax_.begin());
    std::copy(record->rowsum.begin(), record->rowsum.end(), rowsum_.begin());
    std::copy(record->O.begin(), record->O.end(), O_.begin());
  } else {
    PetscCall(Ring(true, [&](PetscInt first, PetscInt rows, PetscReal *block) {
      for (PetscInt m = 0; m < Nh; ++m) Statistics(m, first, rows, block);
    }));
    for (PetscInt m = 0; m < Nh; ++m)
      for (PetscInt k = 0; k < xm; ++k)
        for (PetscInt r = 0; r < d; ++r) O_[k * D + m * d + r] /= rowsum_[m * xm + k];
  }

  // dO = Δh G (Δz W^O)^T per head (or Δh G for W^O the identity); Δ = ⟨dO, o⟩ per row and head.
  PetscCall(VecGetArrayRead(G, &G_));
  if (kernels.WO.empty())
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt m = 0; m < Nh; ++m)
        for (PetscInt r = 0; r < d; ++r) dO_[k * D + m * d + r] = dh * G_[k * Ny + r];
  else cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, D, Ny, dh * dy, G_, Ny, kernels.WO.data(), Ny, 0.0, dO_.data(), D);
  for (PetscInt m = 0; m < Nh; ++m)
    for (PetscInt k = 0; k < xm; ++k) delta_[m * xm + k] = cblas_ddot(d, &dO_[k * D + m * d], 1, &O_[k * D + m * d], 1);

  // Second pass: dQ, and dK, dV of every block, which come home with it.
  PetscCall(Ring(true, [&](PetscInt first, PetscInt rows, PetscReal *block) {
    for (PetscInt m = 0; m < Nh; ++m) Backward(m, first, rows, block);
  }));

  // dU += Δy (dQ (W^Q)^T + dK (W^K)^T + dV (W^V)^T): [dQ | dK | dV] against W_ transposed, in two GEMMs.
  const PetscReal *dKV = ring_[0].data() + 2 * D;
  PetscCall(VecGetArray(dU, &du));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, Ny, D, dy, dQ_.data(), D, W_.data(), 3 * D, 1.0, du, Ny);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, Ny, 2 * D, dy, dKV, 4 * D, W_.data() + D, 3 * D, 1.0, du, Ny);
  PetscCall(VecRestoreArray(dU, &du));
  if (g) {
    AttentionKernels dk;
    std::vector<PetscReal> dW(Ny * 3 * D, 0.0);  // Δy u^T [dQ | dK | dV], heads side by side
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ny, D, xm, dy, u, Ny, dQ_.data(), D, 0.0, dW.data(), 3 * D);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ny, 2 * D, xm, dy, u, Ny, dKV, 4 * D, 0.0, dW.data() + D, 3 * D);
    std::vector<PetscReal> *out[3] = {&dk.WQ, &dk.WK, &dk.WV};
    for (int q = 0; q < 3; ++q) {
      PetscCallCXX(out[q]->resize(Nh * Ny * d));
      for (PetscInt i = 0; i < Ny; ++i)
        for (PetscInt m = 0; m < Nh; ++m) std::copy_n(&dW[(i * 3 + q) * D + m * d], d, &(*out[q])[(m * Ny + i) * d]);
    }
    if (!kernels.WO.empty()) {  // dW^O = Δh Δz o^T G, stacked D × N_y
      PetscCallCXX(dk.WO.assign(D * Ny, 0.0));
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, Ny, xm, dh * dy, O_.data(), D, G_, Ny, 0.0, dk.WO.data(), Ny);
    }
    if (!kernels.bQ.empty()) {
      PetscCallCXX(dk.bQ.assign(D, 0.0));
      for (PetscInt k = 0; k < xm; ++k)
        for (PetscInt c = 0; c < D; ++c) dk.bQ[c] += dQ_[k * D + c];
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
  PetscFunctionReturn(0);
}

}  // namespace ctflow
