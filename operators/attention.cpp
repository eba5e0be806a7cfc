#include "operators/attention.hpp"
#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/sizes.hpp"
#include "operators/attention_projections.hpp"
#include "operators/gemm.hpp"
#include "operators/vector_exp.hpp"

namespace ctflow {

// Attention and its phases (nested in it): projections, scores/softmax/γV (with the ring), output.
static PetscLogEvent ATTENTION_EVENT = 0, ATTENTION_RING_EVENT = 0, ATTENTION_PROJECT_EVENT = 0, ATTENTION_SOFTMAX_EVENT = 0,
                     ATTENTION_OUTPUT_EVENT = 0;

PetscErrorCode AttentionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'attention' takes no index");
  if (!ATTENTION_EVENT) {
    PetscCall(PetscLogEventRegister("Attention", 0, &ATTENTION_EVENT));
    PetscCall(PetscLogEventRegister("AttentionRing", 0, &ATTENTION_RING_EVENT));
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
  PetscCall(PetscOptionsInt("-tile", "Keys per GEMM tile of the streaming softmax (rows per block when materialised)", "Attention", tile_, &tile_,
                            nullptr));
  PetscCall(PetscOptionsBool("-fused",
                             "Scores, softmax and gamma V fused on BLIS's micro-kernel where it applies (not causal, one sequence, one BLIS thread)",
                             "Attention", fused_, &fused_, nullptr));
  PetscCall(PetscOptionsBool("-materialise", "Form the attention weights in row blocks (all K, V on every rank) instead of streaming", "Attention",
                             materialise_, &materialise_, nullptr));
  PetscCall(PetscOptionsInt(
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
  const PetscInt xm = g.XLocal(), Ny = g.Ny(), Nh = g.Nh();
  const PetscInt *ranges;
  PetscMPIInt size;
  PetscFunctionBeginUser;
  const PetscInt piece = ctx_.controls->PieceKey(t);
  if (piece >= 0 && piece == piece_ && ctx_.controls->State() == state_) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_size(Comm(), &size));
  PetscCheck(!g.Segmented() || size == 1, Comm(), PETSC_ERR_SUP,
             "attention over a grid of %" PetscInt_FMT " sequences (a batched training chunk) needs the grid on one process; use -train_chunk 1",
             g.Sequences());
  PetscCall(ctx_.controls->LendAttention(t, g, &kernels_storage_, &kernels_));
  piece_ = piece, state_ = ctx_.controls->State();
  PetscCall(DMDAGetOwnershipRanges(g.Layout(), &ranges, nullptr, nullptr));
  max_rows_ = *std::max_element(ranges, ranges + size);
  // Sizes in size_t, checked (BLAS's int, the nodes' memory) before anything is allocated.
  const size_t d = kernels_->d_head, D = (size_t)Nh * d, rows = xm, tile = std::min(tile_, max_rows_), ring = 2 * (size_t)max_rows_;
  if (d != checked_d_) {
    PetscCall(WorkSpaceCheck(Comm(), "attention (-attention_tile " + std::to_string(tile_) + ")",
                             {{"Q", {rows, D}},
                              {"O", {rows, D}},
                              {"row maxima and sums", {2, (size_t)Nh, rows}},
                              {"scores", {rows, tile}},
                              {"[K | V]", {ring, D}},
                              {"[K | V] in flight", {size > 1 ? ring : 0, D}},
                              {"[W^Q | W^K | W^V]", {(size_t)Ny, 3, D}}}));
    checked_d_ = d;
  }
  d_ = (PetscInt)d, D_ = (PetscInt)D;
  score_scale_ = kernels_->scale * g.dy();
  PetscCallCXX(Q_.resize(rows * D));
  PetscCallCXX(O_.resize(rows * D));
  PetscCallCXX(rowmax_.resize(Nh * rows));
  PetscCallCXX(rowsum_.resize(Nh * rows));
  PetscCallCXX(kv_[0].resize(ring * D));
  if (size > 1) PetscCallCXX(kv_[1].resize(ring * D));  // the ring's second block
  PetscCallCXX(PackProjections(*kernels_, Ny, Nh, &W_));
  PetscFunctionReturn(0);
}

void Attention::AccumulateTile(PetscInt m, PetscInt r0, PetscInt nr, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), d = d_, D = D_, x0 = g.XStart() + r0;
  // The row's shift μ need not be its exact running maximum: exp(a − μ) / Σ exp(a − μ) is the same for any
  // μ, and floating point is relative, so μ is moved only when a tile's maximum passes it by more than
  // kShiftSlack (entries up to e^64 ≈ 6e27 cannot overflow the sums). Then one pass over the tile finds its
  // maximum, the exponentials and their sum, and O is rarely rescaled.
  constexpr PetscReal kShiftSlack = 64, kExpArgMax = 700;  // the exponential kernel is valid up to 709
  PetscReal *O = &O_[r0 * D + m * d], *mx = &rowmax_[m * xm + r0], *sum = &rowsum_[m * xm + r0];
  const PetscReal *Qm = &Q_[r0 * D + m * d];
  // S = s Δz Q_m K^T: the quadrature of s ⟨Q(x, ·), K(η, ·)⟩.
  Gemm(CblasNoTrans, CblasTrans, nr, nt, d, score_scale_, Qm, D, K, 2 * D, 0.0, S_.data(), nt);
  for (PetscInt k = 0; k < nr; ++k) {
    PetscReal *s = &S_[k * nt];
    // Causal: only η ≤ x (masked keys get weight 0). The owned block is processed first and starts at
    // η ≤ x, so every row has seen a finite score before any tile that is entirely masked for it.
    const PetscInt valid = kernels_->causal ? std::clamp<PetscInt>(x0 + k - c0 + 1, 0, nt) : nt;
    std::fill(s + valid, s + nt, 0.0);
    if (valid == 0) continue;
    if (mx[k] == -std::numeric_limits<PetscReal>::infinity()) {  // the row's first keys (O is still 0)
      mx[k] = MaxOf(valid, s);
      sum[k] = ExpShiftedSum(valid, mx[k], s);
      continue;
    }
    PetscReal tile_max, tile_sum = ExpShiftedSumMax(valid, mx[k], s, &tile_max);
    if (tile_max > mx[k] + kShiftSlack) {  // move the shift to the tile's maximum
      const PetscReal rescale = std::exp(mx[k] - tile_max);
      if (tile_max > mx[k] + kExpArgMax) {  // the pass overflowed: recompute the row's scores
        cblas_dgemv(CblasRowMajor, CblasNoTrans, valid, d, score_scale_, K, 2 * D, Qm + k * D, 1, 0.0, s, 1);
        tile_sum = ExpShiftedSum(valid, tile_max, s);
      } else {
        for (PetscInt j = 0; j < valid; ++j) s[j] *= rescale;
        tile_sum *= rescale;
      }
      sum[k] *= rescale;
      for (PetscInt r = 0; r < d; ++r) O[k * D + r] *= rescale;
      mx[k] = tile_max;
    }
    sum[k] += tile_sum;
  }
  Gemm(CblasNoTrans, CblasNoTrans, nr, d, nt, 1.0, S_.data(), nt, V, 2 * D, 1.0, O, D);
}

PetscErrorCode Attention::SetUpPanels(bool *fused) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), d = d_;
  const size_t tile = std::min(tile_, max_rows_);
  PetscFunctionBeginUser;
  ukr_ = fused_ && !kernels_->causal && !g.Segmented() && xm > 0 ? GemmMicroKernel() : MicroKernel();
  const size_t mr = ukr_.mr, nr = ukr_.nr;
  *fused = mr && d % mr == 0 && nr <= 16;
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

void Attention::PackQueries(PetscInt m) {
  const PetscInt xm = ctx_.grid->XLocal(), d = d_, D = D_, nr = ukr_.nr, P = (xm + nr - 1) / nr;
  for (PetscInt p = 0; p < P; ++p) {  // qp_[p][z][i] = Q(p nr + i, m d + z), zero beyond the owned rows; stores in order
    const PetscInt rows = std::min(nr, xm - p * nr);
    const PetscReal *q = &Q_[(size_t)p * nr * D + m * d];
    PetscReal *to = qp_ + (size_t)p * d * nr;
    for (PetscInt z = 0; z < d; ++z, to += nr) {
      for (PetscInt i = 0; i < rows; ++i) to[i] = q[i * D + z];
      for (PetscInt i = rows; i < nr; ++i) to[i] = 0.0;
    }
  }
}

void Attention::AccumulatePanels(PetscInt m, PetscInt nt, const PetscReal *K, const PetscReal *V) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), d = d_, D = D_, mr = ukr_.mr, nr = ukr_.nr, P = (xm + nr - 1) / nr, kp = (nt + mr - 1) / mr;
  constexpr PetscReal kShiftSlack = 64, kExpArgMax = 700;  // as in AccumulateTile
  // K's tile in panels of mr keys, kp_[jp][z][j] = K(jp mr + j, z), zero beyond nt; V's in panels of mr columns,
  // vp_[zp][j][z] = V(j, zp mr + z).
  for (PetscInt jp = 0; jp < kp; ++jp) {  // the stores in order: they miss L1, the loads stay in it
    const PetscInt keys = std::min(mr, nt - jp * mr);
    const PetscReal *k = K + jp * mr * 2 * D;
    PetscReal *to = kp_ + jp * d * mr;
    for (PetscInt z = 0; z < d; ++z, to += mr) {
      for (PetscInt j = 0; j < keys; ++j) to[j] = k[j * 2 * D + z];
      for (PetscInt j = keys; j < mr; ++j) to[j] = 0.0;
    }
  }
  for (PetscInt j = 0; j < nt; ++j)
    for (PetscInt zp = 0; zp < d / mr; ++zp) std::copy_n(V + j * 2 * D + zp * mr, mr, vp_ + (zp * nt + j) * mr);
  for (PetscInt p = 0; p < P; ++p) {
    const PetscInt r0 = p * nr, n = std::min(nr, xm - r0);
    PetscReal *O = &O_[r0 * D + m * d], *mx = &rowmax_[m * xm + r0], *sum = &rowsum_[m * xm + r0];
    PetscReal shift[16] = {}, tile_sum[16], tile_max[16];
    if (n < nr) std::fill_n(sp_, nt * nr, 0.0);  // the lanes of no row stay finite
    // S^T = s Δz K Q_m^T for this panel's rows: sp_[j][i] = a(r0 + i, c0 + j), each micro-tile column-stored (the
    // kernel's fast stores) and transposed into place.
    for (PetscInt jp = 0; jp < kp; ++jp) {
      const PetscInt keys = std::min(mr, nt - jp * mr);
      PetscReal *to = sp_ + jp * mr * nr;
      ukr_(keys, n, d, score_scale_, kp_ + jp * d * mr, qp_ + (size_t)p * d * nr, 0.0, micro_, 1, mr);
      if (mr == 16 && nr == 14 && keys == mr && n == nr)  // BLIS's skx kernel: fixed trip counts, vectorised
        for (PetscInt j = 0; j < 16; ++j)
          for (PetscInt i = 0; i < 14; ++i) to[j * 14 + i] = micro_[i * 16 + j];
      else
        for (PetscInt j = 0; j < keys; ++j)
          for (PetscInt i = 0; i < n; ++i) to[j * nr + i] = micro_[i * mr + j];
    }
    if (mx[0] == -std::numeric_limits<PetscReal>::infinity()) {  // the rows' first keys (not causal: all rows together)
      MaxOfColumns(nt, nr, sp_, tile_max);
      std::copy_n(tile_max, n, mx), std::copy_n(tile_max, n, shift);
      ExpShiftedSumMaxColumns(nt, nr, shift, sp_, tile_sum, tile_max);
      std::copy_n(tile_sum, n, sum);
    } else {
      std::copy_n(mx, n, shift);
      ExpShiftedSumMaxColumns(nt, nr, shift, sp_, tile_sum, tile_max);
      for (PetscInt i = 0; i < n; ++i) {
        if (tile_max[i] > mx[i] + kShiftSlack) {  // move row i's shift to the tile's maximum
          const PetscReal rescale = std::exp(mx[i] - tile_max[i]);
          if (tile_max[i] > mx[i] + kExpArgMax) {  // the pass overflowed: recompute the row's scores
            cblas_dgemv(CblasRowMajor, CblasNoTrans, nt, d, score_scale_, K, 2 * D, &Q_[(r0 + i) * D + m * d], 1, 0.0, column_, 1);
            tile_sum[i] = ExpShiftedSum(nt, tile_max[i], column_);
            for (PetscInt j = 0; j < nt; ++j) sp_[j * nr + i] = column_[j];
          } else {
            for (PetscInt j = 0; j < nt; ++j) sp_[j * nr + i] *= rescale;
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
    for (PetscInt zp = 0; zp < d / mr; ++zp) ukr_(mr, n, nt, 1.0, vp_ + zp * nt * mr, sp_, 1.0, O + zp * mr, 1, D);
  }
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
  const PetscInt *ranges;
  PetscMPIInt size, rank;
  const PetscScalar *u;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(ATTENTION_EVENT, 0, 0, 0, 0));
  if (materialise_) {
    PetscCall(RhsMaterialised(t, U, F));
    PetscCall(PetscLogEventEnd(ATTENTION_EVENT, 0, 0, 0, 0));
    PetscFunctionReturn(0);
  }
  PetscCallMPI(MPI_Comm_size(Comm(), &size));
  PetscCallMPI(MPI_Comm_rank(Comm(), &rank));
  PetscCall(DMDAGetOwnershipRanges(g.Layout(), &ranges, nullptr, nullptr));
  std::vector<PetscInt> starts(size + 1, 0);  // global index of each rank's first token
  for (PetscMPIInt r = 0; r < size; ++r) starts[r + 1] = starts[r] + ranges[r];

  // Q = Δy u W^Q + b^Q and [K | V] = Δy u [W^K | W^V] for the owned tokens, eq. (27), as two wide GEMMs
  // (heads side by side); [K | V] is written straight into this rank's ring block (rows × 2 N_h d_head).
  PetscCall(PetscLogEventBegin(ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));
  PetscCall(Prepare(t));
  const PetscInt d = d_, D = D_;
  std::fill(O_.begin(), O_.end(), 0.0);
  std::fill(rowmax_.begin(), rowmax_.end(), -std::numeric_limits<PetscReal>::infinity());
  std::fill(rowsum_.begin(), rowsum_.end(), 0.0);
  const PetscReal dy = g.dy();
  for (PetscInt k = 0; k < xm; ++k) {
    if (kernels_->bQ.empty()) std::fill_n(&Q_[k * D], D, 0.0);
    else std::copy_n(kernels_->bQ.data(), D, &Q_[k * D]);
  }
  PetscCall(VecGetArrayRead(U, &u));
  Gemm(CblasNoTrans, CblasNoTrans, xm, D, Ny, dy, u, Ny, W_.data(), 3 * D, 1.0, Q_.data(), D);
  Gemm(CblasNoTrans, CblasNoTrans, xm, 2 * D, Ny, dy, u, Ny, W_.data() + D, 3 * D, 0.0, kv_[0].data(), 2 * D);
  PetscCall(VecRestoreArrayRead(U, &u));
  if (record_slot_ >= 0) {  // the projections, for the transpose at this state
    if ((PetscInt)records_.size() <= record_slot_) PetscCallCXX(records_.resize(record_slot_ + 1));
    PetscCallCXX(records_[record_slot_].Q = Q_; records_[record_slot_].KV.assign(kv_[0].begin(), kv_[0].begin() + 2 * xm * D));
  }
  // Short sequences on one process: each (sequence, head) directly; otherwise tiles of keys (fused where it applies).
  const PetscInt L = g.SequenceLength();
  const bool direct = size == 1 && (std::int64_t)L * d <= short_size_;
  bool fused = false;
  if (direct) PetscCall(short_.SetUp(L, d));
  else PetscCall(SetUpPanels(&fused));
  PetscCall(PetscLogFlops(6.0 * xm * Ny * D));
  PetscCall(PetscLogEventEnd(ATTENTION_PROJECT_EVENT, 0, 0, 0, 0));

  // Several sequences (one rank, Prepare): each sequence's rows against its own keys. One sequence: the ring, at stage s
  // this rank holds the block of rank (rank - s) mod P, and forwards it to rank + 1.
  const PetscMPIInt right = (rank + 1) % size, left = (rank + size - 1) % size;
  PetscCall(PetscLogEventBegin(ATTENTION_SOFTMAX_EVENT, 0, 0, 0, 0));
  if (direct)
    short_.Forward({g.Sequences(), L, Nh, d, 2 * D, score_scale_, kernels_->causal}, Q_.data(), kv_[0].data(), kv_[0].data() + D, O_.data(),
                   rowmax_.data(), rowsum_.data());
  else if (g.Segmented())
    for (PetscInt q = 0; q < g.Sequences(); ++q)
      for (PetscInt m = 0; m < Nh; ++m) {
        const PetscReal *K = kv_[0].data() + q * L * 2 * D + m * d, *V = K + D;
        for (PetscInt j0 = 0; j0 < L; j0 += tile_) AccumulateTile(m, q * L, L, q * L + j0, std::min(tile_, L - j0), K + j0 * 2 * D, V + j0 * 2 * D);
      }
  else
    for (PetscMPIInt s = 0; s < size; ++s) {
      const PetscMPIInt owner = (rank - s + size) % size, next_owner = (owner + size - 1) % size;
      const PetscInt rows = ranges[owner], next_rows = ranges[next_owner], first = starts[owner];
      const PetscReal *cur = kv_[s % 2].data();
      MPI_Request req[2];
      if (s + 1 < size) {
        PetscCall(PetscLogEventBegin(ATTENTION_RING_EVENT, 0, 0, 0, 0));
        PetscCallMPI(MPI_Irecv(kv_[(s + 1) % 2].data(), (PetscMPIInt)(2 * next_rows * D), MPIU_REAL, left, 0, Comm(), &req[0]));
        PetscCallMPI(MPI_Isend(cur, (PetscMPIInt)(2 * rows * D), MPIU_REAL, right, 0, Comm(), &req[1]));
        PetscCall(PetscLogEventEnd(ATTENTION_RING_EVENT, 0, 0, 0, 0));
      }
      for (PetscInt m = 0; m < Nh; ++m) {
        const PetscReal *K = cur + m * d, *V = cur + D + m * d;
        if (fused) PackQueries(m);
        for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
          if (kernels_->causal && first + j0 > g.XStart() + xm - 1) break;  // keys after every owned query
          if (fused) AccumulatePanels(m, std::min(tile_, rows - j0), K + j0 * 2 * D, V + j0 * 2 * D);
          else AccumulateTile(m, 0, xm, first + j0, std::min(tile_, rows - j0), K + j0 * 2 * D, V + j0 * 2 * D);
        }
      }
      if (s + 1 < size) {
        PetscCall(PetscLogEventBegin(ATTENTION_RING_EVENT, 0, 0, 0, 0));
        PetscCallMPI(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
        PetscCall(PetscLogEventEnd(ATTENTION_RING_EVENT, 0, 0, 0, 0));
      }
    }
  // Query-key pairs: all N_x keys per query, or η ≤ x (causal): Σ_k (x_start + k + 1); per sequence if several.
  const PetscReal pairs = g.Segmented()      ? g.Sequences() * (kernels_->causal ? L * (L + 1) / 2.0 : (PetscReal)L * L)
                          : kernels_->causal ? xm * (g.XStart() + (xm + 1) / 2.0)
                                             : (PetscReal)xm * g.Nx();
  PetscCall(PetscLogFlops(Nh * (4.0 * d + 3.0) * pairs));
  PetscCall(PetscLogEventEnd(ATTENTION_SOFTMAX_EVENT, 0, 0, 0, 0));

  // F = c + Σ_m Δh (O_m / rowsum_m) W^O_m: the h-quadrature of ∫ γ V W^O dz dη, eq. (40)–(41).
  PetscCall(PetscLogEventBegin(ATTENTION_OUTPUT_EVENT, 0, 0, 0, 0));
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) {
    if (kernels_->c.empty()) std::fill_n(&f[k * Ny], Ny, 0.0);
    else std::copy_n(kernels_->c.data(), Ny, &f[k * Ny]);
  }
  for (PetscInt k = 0; k < xm; ++k)  // row by row: one pass over O
    for (PetscInt m = 0; m < Nh; ++m) {
      const PetscReal w = g.dh() / rowsum_[m * xm + k];
      for (PetscInt r = 0; r < d; ++r) O_[k * D + m * d + r] *= w;
    }
  if (record_slot_ >= 0) {  // o = O / Δh and the rows' statistics, for the transpose at this state
    AttentionRecord &r = records_[record_slot_];
    PetscCallCXX(r.O = O_; r.rowmax = rowmax_; r.rowsum = rowsum_);
    for (PetscReal &o : r.O) o /= g.dh();
    record_slot_ = -1;
  }
  if (kernels_->WO.empty())  // W^O the identity: d_head = N_y, sum over heads
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt m = 0; m < Nh; ++m) cblas_daxpy(Ny, 1.0, &O_[k * D + m * d], 1, &f[k * Ny], 1);
  else  // WO is stored [m][r][l]: the heads' factors stacked, D × N_y
    Gemm(CblasNoTrans, CblasNoTrans, xm, Ny, D, dy, O_.data(), D, kernels_->WO.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(kernels_->WO.empty() ? Nh * xm * Ny : 2.0 * xm * D * Ny));
  PetscCall(PetscLogEventEnd(ATTENTION_OUTPUT_EVENT, 0, 0, 0, 0));
  PetscCall(PetscLogEventEnd(ATTENTION_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
