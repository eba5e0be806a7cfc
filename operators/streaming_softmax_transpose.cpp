#include "operators/streaming_softmax_transpose.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "operators/gemm.hpp"
#include "operators/streaming_softmax.hpp"
#include "operators/vector_exp.hpp"

namespace ctflow {

PetscErrorCode StreamingSoftmaxTranspose::SetUp(const Grid &grid, PetscInt heads, PetscInt d, PetscInt tile) {
  const PetscInt *ranges;
  PetscMPIInt size;
  PetscFunctionBeginUser;
  grid_ = &grid, heads_ = heads, d_ = d;
  const PetscInt xm = grid.XLocal(), D = heads * d;
  PetscCallMPI(MPI_Comm_size(grid.Comm(), &size));
  PetscCheck(!grid.Segmented() || size == 1, grid.Comm(), PETSC_ERR_SUP,
             "the attention transpose over a grid of %" PetscInt_FMT " sequences needs the grid on one process", grid.Sequences());
  PetscCall(DMDAGetOwnershipRanges(grid.Layout(), &ranges, nullptr, nullptr));
  PetscCallCXX(ranges_.assign(ranges, ranges + size));
  PetscCallCXX(starts_.assign(size + 1, 0));
  for (PetscMPIInt r = 0; r < size; ++r) starts_[r + 1] = starts_[r] + ranges_[r];
  const PetscInt max_rows = *std::max_element(ranges_.begin(), ranges_.end());
  tile_ = std::min(tile, max_rows);
  row_block_ = std::min(kRowTiles * tile_, std::max<PetscInt>(xm, 1));
  direct_ = size == 1 && (std::int64_t)grid.SequenceLength() * d <= short_size_;
  ukr_ = fused_ && !direct_ && !grid.Segmented() && xm > 0 ? GemmMicroKernel() : MicroKernel();
  if (!MicroKernelTakesHeads(ukr_, d)) ukr_ = MicroKernel();
  // Q, O and dQ start at 0 (Statistics adds to O); dO, delta and the blocks' K, V are filled before they are read.
  for (auto *v : {&Q_, &O_, &dQ_}) PetscCallCXX(v->assign(xm * D, 0.0));
  PetscCallCXX(dO_.resize(xm * D));
  PetscCallCXX(rowmax_.assign(heads * xm, -std::numeric_limits<PetscReal>::infinity()));
  PetscCallCXX(rowsum_.assign(heads * xm, 0.0));
  PetscCallCXX(delta_.resize(heads * xm));
  // The own block's dK, dV start at 0; the second buffer only receives, on several processes.
  PetscCallCXX(ring_[0].resize(4 * max_rows * D));
  for (PetscInt k = 0; k < max_rows; ++k) std::fill_n(&ring_[0][k * 4 * D + 2 * D], 2 * D, 0.0);
  if (size > 1) PetscCallCXX(ring_[1].resize(4 * max_rows * D));
  if (direct_) PetscCall(short_.SetUp(grid.SequenceLength(), d));
  else PetscCallCXX(S_.resize(row_block_ * tile_));  // P_ and the panels when Run needs them
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

ShortSequences StreamingSoftmaxTranspose::Short(PetscReal scale, bool causal) const {
  return {grid_->Sequences(), grid_->SequenceLength(), heads_, d_, BlockWidth(), scale, causal};
}

template <typename Fn>
void StreamingSoftmaxTranspose::Pairs(PetscInt first, PetscInt rows, PetscReal *block, Fn fn) const {
  const Grid &g = *grid_;
  if (!g.Segmented()) return fn(0, g.XLocal(), first, rows, block);
  const PetscInt L = g.SequenceLength(), W = 4 * heads_ * d_;  // one rank (SetUp): first = 0, rows = N_x
  for (PetscInt q = 0; q < g.Sequences(); ++q) fn(q * L, L, q * L, L, block + q * L * W);
}

// Head m's rows' shifts, sums and o = Σ exp(a − μ) V (divided by the sums at the end) over one block, tile by tile.
void StreamingSoftmaxTranspose::StatisticsBlock(PetscInt m, PetscInt r0, PetscInt nr, PetscInt first, PetscInt rows, const PetscReal *block,
                                                PetscReal scale, bool causal) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = heads_ * d_, W = 4 * D, x0 = g.XStart() + r0;
  for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
    const PetscInt nt = std::min(tile_, rows - j0), c0 = first + j0;
    if (causal && c0 > x0 + nr - 1) break;  // keys after every query
    const PetscReal *K = block + j0 * W + m * d;
    const SoftmaxTile t{nr, nt, d, x0, c0, scale, causal, &Q_[r0 * D + m * d], K, K + D, D, W};
    AccumulateSoftmaxTile(t, S_.data(), &O_[r0 * D + m * d], &rowmax_[m * xm + r0], &rowsum_[m * xm + r0]);
  }
}

// Head m's contributions of one block: dV, dK of the block, dQ of the owned rows, by query blocks of at most row_block_
// rows against key tiles of tile_ keys (P and dS: row_block_ × tile_).
void StreamingSoftmaxTranspose::BackwardBlock(PetscInt m, PetscInt r0, PetscInt nr, PetscInt first, PetscInt rows, PetscReal *block, PetscReal scale,
                                              bool causal) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = heads_ * d_, W = 4 * D;
  for (PetscInt b0 = r0; b0 < r0 + nr; b0 += row_block_) {
    const PetscInt nb = std::min(row_block_, r0 + nr - b0), x0 = g.XStart() + b0;
    const PetscReal *mx = &rowmax_[m * xm + b0], *sum = &rowsum_[m * xm + b0], *delta = &delta_[m * xm + b0];
    const PetscReal *Qm = &Q_[b0 * D + m * d], *dOm = &dO_[b0 * D + m * d];
    PetscReal *dQm = &dQ_[b0 * D + m * d];
    for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
      const PetscInt nt = std::min(tile_, rows - j0), c0 = first + j0;
      if (causal && c0 > x0 + nb - 1) break;  // keys after every query of the block
      PetscReal *K = block + j0 * W + m * d, *V = K + D, *dK = K + 2 * D, *dV = K + 3 * D;
      // P = exp(s Q Kᵀ − max) / sum and dS = P ⊙ (dO Vᵀ − Δ), masked, in one pass over the two tiles.
      Gemm(CblasNoTrans, CblasTrans, nb, nt, d, scale, Qm, D, K, W, 0.0, P_.data(), nt);
      Gemm(CblasNoTrans, CblasTrans, nb, nt, d, 1.0, dOm, D, V, W, 0.0, S_.data(), nt);
      for (PetscInt k = 0; k < nb; ++k) {
        PetscReal *p = &P_[k * nt], *ds = &S_[k * nt];
        const PetscInt valid = causal ? std::clamp<PetscInt>(x0 + k - c0 + 1, 0, nt) : nt;
        ExpScaledProduct(valid, mx[k], 1 / sum[k], delta[k], p, ds);
        std::fill(p + valid, p + nt, 0.0);
        std::fill(ds + valid, ds + nt, 0.0);
      }
      // dV += Pᵀ dO; dQ += s dS K; dK += s dSᵀ Q.
      Gemm(CblasTrans, CblasNoTrans, nt, d, nb, 1.0, P_.data(), nt, dOm, D, 1.0, dV, W);
      Gemm(CblasNoTrans, CblasNoTrans, nb, d, nt, scale, S_.data(), nt, K, W, 1.0, dQm, D);
      Gemm(CblasTrans, CblasNoTrans, nt, d, nb, scale, S_.data(), nt, Qm, D, 1.0, dK, W);
    }
  }
}

SoftmaxTransposeHead StreamingSoftmaxTranspose::Head(PetscInt m, PetscInt first, PetscInt rows, PetscReal *block, PetscReal scale, bool causal) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  SoftmaxTransposeHead h;
  h.xm = xm, h.rows = rows, h.d = d, h.ld = D, h.ldkv = 4 * D, h.x0 = grid_->XStart(), h.c0 = first, h.scale = scale, h.causal = causal;
  h.Q = &Q_[m * d], h.dO = &dO_[m * d], h.dQ = &dQ_[m * d];
  h.shift = &rowmax_[m * xm], h.sum = &rowsum_[m * xm], h.delta = &delta_[m * xm];
  h.K = block + m * d, h.V = block + D + m * d, h.dK = block + 2 * D + m * d, h.dV = block + 3 * D + m * d;
  return h;
}

PetscErrorCode StreamingSoftmaxTranspose::Statistics(PetscReal scale, bool causal) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  PetscFunctionBeginUser;
  if (direct_) short_.Forward(Short(scale, causal), Q_.data(), ring_[0].data(), ring_[0].data() + D, O_.data(), rowmax_.data(), rowsum_.data());
  else
    PetscCall(Ring([&](PetscInt first, PetscInt rows, PetscReal *block) {
      Pairs(first, rows, block, [&](PetscInt r0, PetscInt nr, PetscInt c0, PetscInt nc, PetscReal *b) {
        for (PetscInt b0 = r0; b0 < r0 + nr; b0 += row_block_)
          for (PetscInt m = 0; m < heads_; ++m) StatisticsBlock(m, b0, std::min(row_block_, r0 + nr - b0), c0, nc, b, scale, causal);
      });
    }));
  for (PetscInt m = 0; m < heads_; ++m)
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt r = 0; r < d; ++r) O_[k * D + m * d + r] /= rowsum_[m * xm + k];
  PetscCall(PetscLogFlops(heads_ * (4.0 * d + 3.0) * QueryKeyPairs(causal)));  // as the forward: S, exp, o = Σ p V
  PetscFunctionReturn(0);
}

PetscErrorCode StreamingSoftmaxTranspose::Run(PetscReal scale, bool causal) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  PetscFunctionBeginUser;
  if (direct_) {
    PetscReal *block = ring_[0].data();
    short_.Transpose(Short(scale, causal), Q_.data(), block, block + D, O_.data(), dO_.data(), rowmax_.data(), rowsum_.data(), dQ_.data(),
                     block + 2 * D, block + 3 * D);
  } else {
    for (PetscInt m = 0; m < heads_; ++m)
      for (PetscInt k = 0; k < xm; ++k) delta_[m * xm + k] = cblas_ddot(d, &dO_[k * D + m * d], 1, &O_[k * D + m * d], 1);
    const bool fused = ukr_.mr;  // one sequence (SetUp): Pairs passes all owned rows and the whole block
    if (fused) PetscCall(panels_.SetUp(ukr_, xm, d, tile_, SoftmaxTransposePanels::DefaultBlock(tile_)));
    else PetscCallCXX(P_.resize(row_block_ * tile_));
    PetscCall(Ring([&](PetscInt first, PetscInt rows, PetscReal *block) {
      Pairs(first, rows, block, [&](PetscInt r0, PetscInt nr, PetscInt c0, PetscInt nc, PetscReal *b) {
        for (PetscInt m = 0; m < heads_; ++m)
          if (fused) {
            const SoftmaxTransposeHead h = Head(m, c0, nc, b, scale, causal);
            panels_.PackQueries(h);
            panels_.Run(h);
          } else BackwardBlock(m, r0, nr, c0, nc, b, scale, causal);
      });
    }));
  }
  PetscCall(PetscLogFlops(heads_ * (10.0 * d + 4.0) * QueryKeyPairs(causal)));  // S again, dP, dV, dQ, dK; p and dS
  PetscFunctionReturn(0);
}

PetscReal StreamingSoftmaxTranspose::QueryKeyPairs(bool causal) const {
  const PetscInt xm = grid_->XLocal(), L = grid_->SequenceLength();
  return grid_->Segmented() ? grid_->Sequences() * (causal ? L * (L + 1.0) / 2 : (PetscReal)L * L)
         : causal           ? xm * (grid_->XStart() + (xm + 1) / 2.0)
                            : (PetscReal)xm * grid_->Nx();
}

}  // namespace ctflow
