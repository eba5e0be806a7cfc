#include "operators/streaming_softmax_transpose.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "operators/gemm.hpp"
#include "operators/vector_exp.hpp"

namespace ctflow {

PetscErrorCode StreamingSoftmaxTranspose::SetUp(const Grid &grid, PetscInt heads, PetscInt d, PetscInt tile) {
  const PetscInt *ranges;
  PetscMPIInt size;
  PetscFunctionBeginUser;
  grid_ = &grid, heads_ = heads, d_ = d;
  const PetscInt xm = grid.XLocal(), D = heads * d;
  PetscCallMPI(MPI_Comm_size(grid.Comm(), &size));
  PetscCall(DMDAGetOwnershipRanges(grid.Layout(), &ranges, nullptr, nullptr));
  PetscCallCXX(ranges_.assign(ranges, ranges + size));
  PetscCallCXX(starts_.assign(size + 1, 0));
  for (PetscMPIInt r = 0; r < size; ++r) starts_[r + 1] = starts_[r] + ranges_[r];
  const PetscInt max_rows = *std::max_element(ranges_.begin(), ranges_.end());
  tile_ = std::min(tile, max_rows);
  for (auto *v : {&Q_, &O_, &dO_, &dQ_}) PetscCallCXX(v->assign(xm * D, 0.0));
  PetscCallCXX(rowmax_.assign(heads * xm, -std::numeric_limits<PetscReal>::infinity()));
  PetscCallCXX(rowsum_.assign(heads * xm, 0.0));
  PetscCallCXX(delta_.assign(heads * xm, 0.0));
  for (auto &b : ring_) PetscCallCXX(b.assign(4 * max_rows * D, 0.0));
  PetscCallCXX(S_.resize(xm * tile_));
  PetscCallCXX(P_.resize(xm * tile_));
  PetscFunctionReturn(0);
}

template <typename Fn>
PetscErrorCode StreamingSoftmaxTranspose::Ring(Fn fn) {
  const MPI_Comm comm = grid_->Comm();
  const PetscInt width = BlockWidth();
  PetscMPIInt size, rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  const PetscMPIInt right = (rank + 1) % size, left = (rank + size - 1) % size;
  // At stage s this rank holds the block of rank (rank − s) mod P; the last shift returns it to its owner.
  for (PetscMPIInt s = 0; s < size; ++s) {
    const PetscMPIInt owner = (rank - s + size) % size, next_owner = (owner + size - 1) % size;
    PetscReal *cur = ring_[s % 2].data();
    fn(starts_[owner], ranges_[owner], cur);
    if (size == 1) break;
    MPI_Request req[2];
    PetscCallMPI(MPI_Irecv(ring_[(s + 1) % 2].data(), (PetscMPIInt)(width * ranges_[next_owner]), MPIU_REAL, left, 1, comm, &req[0]));
    PetscCallMPI(MPI_Isend(cur, (PetscMPIInt)(width * ranges_[owner]), MPIU_REAL, right, 1, comm, &req[1]));
    PetscCallMPI(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
  }
  if (size > 1 && size % 2) std::swap(ring_[0], ring_[1]);  // the blocks' final place is ring_[0]
  PetscFunctionReturn(0);
}

// Online maximum and sum of head m's rows over one block, and o = Σ p V (unnormalised until the end).
void StreamingSoftmaxTranspose::StatisticsBlock(PetscInt m, PetscInt first, PetscInt rows, const PetscReal *block, PetscReal scale, bool causal) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = heads_ * d_, W = 4 * D;
  PetscReal *O = &O_[m * d], *mx = &rowmax_[m * xm], *sum = &rowsum_[m * xm];
  for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
    const PetscInt nt = std::min(tile_, rows - j0), c0 = first + j0;
    if (causal && c0 > g.XStart() + xm - 1) break;  // keys after every owned query
    const PetscReal *K = block + j0 * W + m * d, *V = block + j0 * W + D + m * d;
    Gemm(CblasNoTrans, CblasTrans, xm, nt, d, scale, &Q_[m * d], D, K, W, 0.0, S_.data(), nt);
    for (PetscInt k = 0; k < xm; ++k) {
      PetscReal *s = &S_[k * nt];
      const PetscInt valid = causal ? std::clamp<PetscInt>(g.XStart() + k - c0 + 1, 0, nt) : nt;
      std::fill(s + valid, s + nt, 0.0);
      if (valid == 0) continue;
      const PetscReal new_max = std::max(mx[k], MaxOf(valid, s)), rescale = std::exp(mx[k] - new_max);
      sum[k] = sum[k] * rescale + ExpShiftedSum(valid, new_max, s);
      mx[k] = new_max;
      if (rescale != 1)
        for (PetscInt r = 0; r < d; ++r) O[k * D + r] *= rescale;
    }
    Gemm(CblasNoTrans, CblasNoTrans, xm, d, nt, 1.0, S_.data(), nt, V, W, 1.0, O, D);
  }
}

// Head m's contributions of one block: dV, dK of the block, dQ of the owned rows.
void StreamingSoftmaxTranspose::BackwardBlock(PetscInt m, PetscInt first, PetscInt rows, PetscReal *block, PetscReal scale, bool causal) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = heads_ * d_, W = 4 * D;
  const PetscReal *mx = &rowmax_[m * xm], *sum = &rowsum_[m * xm], *delta = &delta_[m * xm];
  for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
    const PetscInt nt = std::min(tile_, rows - j0), c0 = first + j0;
    if (causal && c0 > g.XStart() + xm - 1) break;
    PetscReal *K = block + j0 * W + m * d, *V = K + D, *dK = K + 2 * D, *dV = K + 3 * D;
    // P = exp(s Q Kᵀ − max) / sum, masked.
    Gemm(CblasNoTrans, CblasTrans, xm, nt, d, scale, &Q_[m * d], D, K, W, 0.0, P_.data(), nt);
    for (PetscInt k = 0; k < xm; ++k) {
      PetscReal *p = &P_[k * nt];
      const PetscInt valid = causal ? std::clamp<PetscInt>(g.XStart() + k - c0 + 1, 0, nt) : nt;
      if (valid > 0) (void)ExpShiftedSum(valid, mx[k], p);
      for (PetscInt j = 0; j < valid; ++j) p[j] /= sum[k];
      std::fill(p + valid, p + nt, 0.0);
    }
    // dV += Pᵀ dO; dS = P ⊙ (dO Vᵀ − Δ).
    Gemm(CblasTrans, CblasNoTrans, nt, d, xm, 1.0, P_.data(), nt, &dO_[m * d], D, 1.0, dV, W);
    Gemm(CblasNoTrans, CblasTrans, xm, nt, d, 1.0, &dO_[m * d], D, V, W, 0.0, S_.data(), nt);
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt j = 0; j < nt; ++j) S_[k * nt + j] = P_[k * nt + j] * (S_[k * nt + j] - delta[k]);
    // dQ += s dS K; dK += s dSᵀ Q.
    Gemm(CblasNoTrans, CblasNoTrans, xm, d, nt, scale, S_.data(), nt, K, W, 1.0, &dQ_[m * d], D);
    Gemm(CblasTrans, CblasNoTrans, nt, d, xm, scale, S_.data(), nt, &Q_[m * d], D, 1.0, dK, W);
  }
}

PetscErrorCode StreamingSoftmaxTranspose::Statistics(PetscReal scale, bool causal) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  PetscFunctionBeginUser;
  PetscCall(Ring([&](PetscInt first, PetscInt rows, PetscReal *block) {
    for (PetscInt m = 0; m < heads_; ++m) StatisticsBlock(m, first, rows, block, scale, causal);
  }));
  for (PetscInt m = 0; m < heads_; ++m)
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt r = 0; r < d; ++r) O_[k * D + m * d + r] /= rowsum_[m * xm + k];
  PetscFunctionReturn(0);
}

PetscErrorCode StreamingSoftmaxTranspose::Run(PetscReal scale, bool causal) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  PetscFunctionBeginUser;
  for (PetscInt m = 0; m < heads_; ++m)
    for (PetscInt k = 0; k < xm; ++k) delta_[m * xm + k] = cblas_ddot(d, &dO_[k * D + m * d], 1, &O_[k * D + m * d], 1);
  PetscCall(Ring([&](PetscInt first, PetscInt rows, PetscReal *block) {
    for (PetscInt m = 0; m < heads_; ++m) BackwardBlock(m, first, rows, block, scale, causal);
  }));
  const PetscReal pairs = causal ? xm * (grid_->XStart() + (xm + 1) / 2.0) : (PetscReal)xm * grid_->Nx();
  PetscCall(PetscLogFlops(heads_ * (8.0 * d + 4.0) * pairs));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
