#include "operators/streaming_softmax.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "operators/vector_exp.hpp"

namespace ctflow {

static PetscLogEvent RING_EVENT = 0;  // the ring's messages, nested in the caller's events

PetscErrorCode StreamingSoftmax::SetUp(const Grid &grid, PetscInt heads, PetscInt d, const std::string &name, const std::string &tile_option,
                                       const std::vector<WorkArray> &extra) {
  const PetscInt *ranges;
  PetscMPIInt size;
  PetscFunctionBeginUser;
  if (!RING_EVENT) PetscCall(PetscLogEventRegister("AttentionRing", 0, &RING_EVENT));
  PetscCallMPI(MPI_Comm_size(grid.Comm(), &size));
  PetscCheck(!grid.Segmented() || size == 1, grid.Comm(), PETSC_ERR_SUP,
             "%s over a grid of %" PetscInt_FMT " sequences (a batched training chunk) needs the grid on one process; use -train_chunk 1",
             name.c_str(), grid.Sequences());
  PetscCall(DMDAGetOwnershipRanges(grid.Layout(), &ranges, nullptr, nullptr));
  grid_ = &grid, heads_ = heads, d_ = d, D_ = heads * d;
  PetscCallCXX(starts_.assign(size + 1, 0));
  for (PetscMPIInt r = 0; r < size; ++r) starts_[r + 1] = starts_[r] + ranges[r];
  max_rows_ = *std::max_element(ranges, ranges + size);
  // Sizes in size_t, checked (BLAS's int, the nodes' memory) before anything is allocated.
  const size_t rows = grid.XLocal(), D = D_, tile = std::min(tile_, max_rows_), ring = 2 * (size_t)max_rows_;
  if ((size_t)d != checked_d_) {
    std::vector<WorkArray> arrays = {{"Q", {rows, D}},         {"O", {rows, D}},       {"row maxima and sums", {2, (size_t)heads, rows}},
                                     {"scores", {rows, tile}}, {"[K | V]", {ring, D}}, {"[K | V] in flight", {size > 1 ? ring : 0, D}}};
    PetscCallCXX(arrays.insert(arrays.end(), extra.begin(), extra.end()));
    PetscCall(WorkSpaceCheck(grid.Comm(), name + " (" + tile_option + " " + std::to_string(tile_) + ")", arrays));
    checked_d_ = d;
  }
  PetscCallCXX(Q_.resize(rows * D));
  PetscCallCXX(O_.resize(rows * D));
  PetscCallCXX(rowmax_.resize(heads * rows));
  PetscCallCXX(rowsum_.resize(heads * rows));
  PetscCallCXX(kv_[0].resize(ring * D));
  if (size > 1) PetscCallCXX(kv_[1].resize(ring * D));  // the ring's second block
  PetscFunctionReturn(0);
}

void AccumulateSoftmaxTile(const SoftmaxTile &t, PetscReal *S, PetscReal *O, PetscReal *shift, PetscReal *sum) {
  const PetscInt nr = t.nr, nt = t.nt, d = t.d, ld = t.ld;
  // The row's shift μ need not be its exact running maximum: exp(a − μ) / Σ exp(a − μ) is the same for any
  // μ, and floating point is relative, so μ is moved only when a tile's maximum passes it by more than
  // kShiftSlack (entries up to e^64 ≈ 6e27 cannot overflow the sums). Then one pass over the tile finds its
  // maximum, the exponentials and their sum, and O is rarely rescaled.
  constexpr PetscReal kShiftSlack = 64, kExpArgMax = 700;  // the exponential kernel is valid up to 709
  // S = s Q_m K^T: the quadrature of s ⟨Q(x, ·), K(η, ·)⟩.
  Gemm(CblasNoTrans, CblasTrans, nr, nt, d, t.scale, t.Q, ld, t.K, t.ldkv, 0.0, S, nt);
  for (PetscInt k = 0; k < nr; ++k) {
    PetscReal *s = &S[k * nt];
    // Causal: only η ≤ x (masked keys get weight 0). The owned block is processed first and starts at
    // η ≤ x, so every row has seen a finite score before any tile that is entirely masked for it.
    const PetscInt valid = t.causal ? std::clamp<PetscInt>(t.x0 + k - t.c0 + 1, 0, nt) : nt;
    std::fill(s + valid, s + nt, 0.0);
    if (valid == 0) continue;
    if (shift[k] == -std::numeric_limits<PetscReal>::infinity()) {  // the row's first keys (O is still 0)
      shift[k] = MaxOf(valid, s);
      sum[k] = ExpShiftedSum(valid, shift[k], s);
      continue;
    }
    PetscReal tile_max, tile_sum = ExpShiftedSumMax(valid, shift[k], s, &tile_max);
    if (tile_max > shift[k] + kShiftSlack) {  // move the shift to the tile's maximum
      const PetscReal rescale = std::exp(shift[k] - tile_max);
      if (tile_max > shift[k] + kExpArgMax) {  // the pass overflowed: recompute the row's scores
        cblas_dgemv(CblasRowMajor, CblasNoTrans, valid, d, t.scale, t.K, t.ldkv, t.Q + k * ld, 1, 0.0, s, 1);
        tile_sum = ExpShiftedSum(valid, tile_max, s);
      } else {
        for (PetscInt j = 0; j < valid; ++j) s[j] *= rescale;
        tile_sum *= rescale;
      }
      sum[k] *= rescale;
      for (PetscInt r = 0; r < d; ++r) O[k * ld + r] *= rescale;
      shift[k] = tile_max;
    }
    sum[k] += tile_sum;
  }
  Gemm(CblasNoTrans, CblasNoTrans, nr, d, nt, 1.0, S, nt, t.V, t.ldkv, 1.0, O, ld);
}

void StreamingSoftmax::AccumulateTile(PetscInt m, PetscInt r0, PetscInt nr, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = D_;
  const SoftmaxTile t{nr, nt, d, grid_->XStart() + r0, c0, scale_, causal_, &Q_[r0 * D + m * d], K, V, D, 2 * D};
  AccumulateSoftmaxTile(t, S_.data(), &O_[r0 * D + m * d], &rowmax_[m * xm + r0], &rowsum_[m * xm + r0]);
}

PetscErrorCode StreamingSoftmax::SetUpPanels(bool *fused) {
  const PetscInt xm = grid_->XLocal(), d = d_;
  const size_t tile = std::min(tile_, max_rows_);
  PetscFunctionBeginUser;
  ukr_ = fused_ && !grid_->Segmented() && xm > 0 ? GemmMicroKernel() : MicroKernel();
  const size_t mr = ukr_.mr, nr = ukr_.nr;
  *fused = MicroKernelTakesHeads(ukr_, d);
  if (!*fused) {
    PetscCallCXX(S_.resize(xm * tile));  // AccumulateTile's scores
    PetscFunctionReturn(0);
  }
  // Whole cache lines of: Q_m's panels, K's and V's (keys up to a multiple of mr), a panel's scores, a micro-tile, a row's.
  auto up = [](size_t n) { return (n + 7) / 8 * 8; };
  const size_t keys = (tile + mr - 1) / mr * mr, nq = up((xm + nr - 1) / nr * nr * d), nk = up(keys * d), nv = up(tile * d), ns = up(keys * nr);
  PetscCallCXX(panels_.resize(nq + nk + nv + ns + up(tile) + up(mr * nr) + 8));
  qp_ = panels_.data() + (64 - reinterpret_cast<std::uintptr_t>(panels_.data()) % 64) % 64 / sizeof(PetscReal);
  kp_ = qp_ + nq, vp_ = kp_ + nk, sp_ = vp_ + nv, micro_ = sp_ + ns, column_ = micro_ + up(mr * nr);
  PetscFunctionReturn(0);
}

void StreamingSoftmax::PackQueries(PetscInt m) {  // qp_[p][z][i] = Q(p nr + i, m d + z), zero beyond the owned rows
  PackRowPanels(grid_->XLocal(), d_, ukr_.nr, &Q_[m * d_], D_, qp_);
}

void StreamingSoftmax::AccumulatePanels(PetscInt m, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = D_, mr = ukr_.mr, nr = ukr_.nr, P = (xm + nr - 1) / nr;
  constexpr PetscReal kShiftSlack = 64, kExpArgMax = 700;  // as in AccumulateTile
  // K's tile in panels of mr keys, kp_[jp][z][j] = K(jp mr + j, z), zero beyond nt; V's in panels of mr columns,
  // vp_[zp][j][z] = V(j, zp mr + z).
  PackRowPanels(nt, d, mr, K, 2 * D, kp_);
  PackColumnPanels(nt, d, mr, V, 2 * D, vp_, (size_t)nt * mr);
  for (PetscInt p = 0; p < P; ++p) {
    const PetscInt r0 = p * nr, n = std::min(nr, xm - r0);
    PetscReal *O = &O_[r0 * D + m * d], *mx = &rowmax_[m * xm + r0], *sum = &rowsum_[m * xm + r0];
    PetscReal shift[16] = {}, tile_sum[16], tile_max[16];
    // Causal: row i (token x0 + i) sees the tile's first valid(i) keys, the panel its first `seen`; the rest is skipped.
    const PetscInt x0 = grid_->XStart() + r0, seen = causal_ ? std::clamp<PetscInt>(x0 + n - c0, 0, nt) : nt;
    auto valid = [&](PetscInt i) { return causal_ ? std::clamp<PetscInt>(x0 + i - c0 + 1, 0, seen) : seen; };
    if (seen == 0) continue;
    if (n < nr) std::fill_n(sp_, seen * nr, 0.0);  // the lanes of no row stay finite
    // S^T = s K Q_m^T for this panel's rows: sp_[j][i] = a(r0 + i, c0 + j), each micro-tile column-stored (the kernel's
    // fast stores) and transposed into place.
    for (PetscInt jp = 0; jp * mr < seen; ++jp) {
      const PetscInt keys = std::min(mr, nt - jp * mr);
      PetscReal *to = sp_ + jp * mr * nr;
      ukr_(keys, n, d, scale_, kp_ + jp * d * mr, qp_ + (size_t)p * d * nr, 0.0, micro_, 1, mr);
      if (mr == 16 && nr == 14 && keys == mr && n == nr)  // BLIS's skx kernel: fixed trip counts, vectorised
        for (PetscInt j = 0; j < 16; ++j)
          for (PetscInt i = 0; i < 14; ++i) to[j * 14 + i] = micro_[i * 16 + j];
      else
        for (PetscInt j = 0; j < keys; ++j)
          for (PetscInt i = 0; i < n; ++i) to[j * nr + i] = micro_[i * mr + j];
    }
    if (causal_ && c0 + seen - 1 > x0)  // keys after some rows' tokens: weight exp(−∞) = 0
      for (PetscInt j = 0; j < seen; ++j)
        std::fill_n(sp_ + j * nr, std::clamp<PetscInt>(c0 + j - x0, 0, n), -std::numeric_limits<PetscReal>::infinity());
    // The rows' first keys: all rows together, at the first tile of the own block (causal: it holds each row's first key).
    if (mx[0] == -std::numeric_limits<PetscReal>::infinity()) {
      MaxOfColumns(seen, nr, sp_, tile_max);
      std::copy_n(tile_max, n, mx), std::copy_n(tile_max, n, shift);
      ExpShiftedSumMaxColumns(seen, nr, shift, sp_, tile_sum, tile_max);
      std::copy_n(tile_sum, n, sum);
    } else {
      std::copy_n(mx, n, shift);
      ExpShiftedSumMaxColumns(seen, nr, shift, sp_, tile_sum, tile_max);
      for (PetscInt i = 0; i < n; ++i) {
        if (tile_max[i] > mx[i] + kShiftSlack) {  // move row i's shift to the tile's maximum
          const PetscReal rescale = std::exp(mx[i] - tile_max[i]);
          if (tile_max[i] > mx[i] + kExpArgMax) {  // the pass overflowed: recompute the row's scores
            const PetscInt v = valid(i);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, v, d, scale_, K, 2 * D, &Q_[(r0 + i) * D + m * d], 1, 0.0, column_, 1);
            tile_sum[i] = ExpShiftedSum(v, tile_max[i], column_);
            std::fill(column_ + v, column_ + seen, 0.0);
            for (PetscInt j = 0; j < seen; ++j) sp_[j * nr + i] = column_[j];
          } else {
            for (PetscInt j = 0; j < seen; ++j) sp_[j * nr + i] *= rescale;
            tile_sum[i] *= rescale;
          }
          sum[i] *= rescale;
          for (PetscInt r = 0; r < d; ++r) O[i * D + r] *= rescale;
          mx[i] = tile_max[i];
        }
        sum[i] += tile_sum[i];
      }
    }
    // O_m^T += V^T S^T: column-stored micro-tiles of O's rows r0 … r0 + n − 1.
    for (PetscInt zp = 0; zp < d / mr; ++zp) ukr_(mr, n, seen, 1.0, vp_ + zp * nt * mr, sp_, 1.0, O + zp * mr, 1, D);
  }
}

PetscErrorCode StreamingSoftmax::RunRing(bool fused) {
  const MPI_Comm comm = grid_->Comm();
  const PetscInt xm = grid_->XLocal(), d = d_, D = D_;
  PetscMPIInt size, rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  // At stage s this rank holds the block of rank (rank − s) mod P and forwards it to rank + 1.
  const PetscMPIInt right = (rank + 1) % size, left = (rank + size - 1) % size;
  for (PetscMPIInt s = 0; s < size; ++s) {
    const PetscMPIInt owner = (rank - s + size) % size, next_owner = (owner + size - 1) % size;
    const PetscInt rows = starts_[owner + 1] - starts_[owner], next_rows = starts_[next_owner + 1] - starts_[next_owner], first = starts_[owner];
    const PetscReal *cur = kv_[s % 2].data();
    MPI_Request req[2];
    if (s + 1 < size) {
      PetscCall(PetscLogEventBegin(RING_EVENT, 0, 0, 0, 0));
      PetscCallMPI(MPI_Irecv(kv_[(s + 1) % 2].data(), (PetscMPIInt)(2 * next_rows * D), MPIU_REAL, left, 0, comm, &req[0]));
      PetscCallMPI(MPI_Isend(cur, (PetscMPIInt)(2 * rows * D), MPIU_REAL, right, 0, comm, &req[1]));
      PetscCall(PetscLogEventEnd(RING_EVENT, 0, 0, 0, 0));
    }
    for (PetscInt m = 0; m < heads_; ++m) {
      const PetscReal *K = cur + m * d, *V = cur + D + m * d;
      if (fused) PackQueries(m);
      for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
        if (causal_ && first + j0 > grid_->XStart() + xm - 1) break;  // keys after every owned query
        if (fused) AccumulatePanels(m, first + j0, std::min(tile_, rows - j0), K + j0 * 2 * D, V + j0 * 2 * D);
        else AccumulateTile(m, 0, xm, first + j0, std::min(tile_, rows - j0), K + j0 * 2 * D, V + j0 * 2 * D);
      }
    }
    if (s + 1 < size) {
      PetscCall(PetscLogEventBegin(RING_EVENT, 0, 0, 0, 0));
      PetscCallMPI(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
      PetscCall(PetscLogEventEnd(RING_EVENT, 0, 0, 0, 0));
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode StreamingSoftmax::Run(PetscReal scale, bool causal) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), d = d_, D = D_, L = g.SequenceLength();
  PetscMPIInt size;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(g.Comm(), &size));
  scale_ = scale, causal_ = causal;
  std::fill(O_.begin(), O_.end(), 0.0);
  std::fill(rowmax_.begin(), rowmax_.end(), -std::numeric_limits<PetscReal>::infinity());
  std::fill(rowsum_.begin(), rowsum_.end(), 0.0);
  // Short sequences on one process: each (sequence, head) directly. Several sequences (one process, SetUp): each
  // sequence's rows against its own keys. One sequence: the ring, tiles of keys (fused where it applies).
  if (size == 1 && (std::int64_t)L * d <= short_size_) {
    PetscCall(short_.SetUp(L, d));
    short_.Forward({g.Sequences(), L, heads_, d, 2 * D, scale, causal}, Q_.data(), kv_[0].data(), kv_[0].data() + D, O_.data(), rowmax_.data(),
                   rowsum_.data());
  } else {
    bool fused = false;
    PetscCall(SetUpPanels(&fused));
    if (g.Segmented())
      for (PetscInt q = 0; q < g.Sequences(); ++q)
        for (PetscInt m = 0; m < heads_; ++m) {
          const PetscReal *K = kv_[0].data() + q * L * 2 * D + m * d, *V = K + D;
          for (PetscInt j0 = 0; j0 < L; j0 += tile_) AccumulateTile(m, q * L, L, q * L + j0, std::min(tile_, L - j0), K + j0 * 2 * D, V + j0 * 2 * D);
        }
    else PetscCall(RunRing(fused));
  }
  for (PetscInt k = 0; k < xm; ++k)  // o = O / Σ exp(a − μ), row by row: one pass over O
    for (PetscInt m = 0; m < heads_; ++m) {
      const PetscReal w = 1 / rowsum_[m * xm + k];
      for (PetscInt r = 0; r < d; ++r) O_[k * D + m * d + r] *= w;
    }
  // Query-key pairs: all N_x keys per query, or η ≤ x (causal): Σ_k (x_start + k + 1); per sequence if several.
  const PetscReal pairs = g.Segmented() ? g.Sequences() * (causal ? L * (L + 1) / 2.0 : (PetscReal)L * L)
                          : causal      ? xm * (g.XStart() + (xm + 1) / 2.0)
                                        : (PetscReal)xm * g.Nx();
  PetscCall(PetscLogFlops(heads_ * (4.0 * d + 3.0) * pairs));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
