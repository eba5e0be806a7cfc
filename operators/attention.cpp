#include "operators/attention.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ctflow {

static PetscLogEvent ATTENTION_EVENT = 0, ATTENTION_RING_EVENT = 0;

PetscErrorCode AttentionCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'attention' takes no index");
  if (!ATTENTION_EVENT) {
    PetscCall(PetscLogEventRegister("Attention", 0, &ATTENTION_EVENT));
    PetscCall(PetscLogEventRegister("AttentionRing", 0, &ATTENTION_RING_EVENT));
  }
  PetscCallCXX(*op = std::make_unique<Attention>(ctx));
  PetscFunctionReturn(0);
}

Attention::Attention(const OperatorContext &ctx) : Operator(ctx, "attention") {}

PetscErrorCode Attention::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscOptionsBegin(Comm(), "attention_", "Attention operator", "Attention");
  PetscCall(PetscOptionsInt("-tile", "Keys per GEMM tile of the streaming softmax", "Attention", tile_, &tile_, nullptr));
  PetscOptionsEnd();
  PetscCheck(tile_ >= 1, Comm(), PETSC_ERR_USER_INPUT, "-attention_tile must be at least 1, got %" PetscInt_FMT, tile_);
  PetscFunctionReturn(0);
}

void Attention::AccumulateTile(PetscInt m, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V) {
  const Grid &g = *ctx_.grid;
  const PetscInt xm = g.XLocal(), d = d_, D = D_;
  PetscReal *O = &O_[m * d], *mx = &rowmax_[m * xm], *sum = &rowsum_[m * xm];
  // S = s Δz Q_m K^T: the quadrature of s ⟨Q(x, ·), K(η, ·)⟩.
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, xm, nt, d, score_scale_, &Q_[m * d], D, K, D, 0.0, S_.data(), nt);
  for (PetscInt k = 0; k < xm; ++k) {
    PetscReal *s = &S_[k * nt];
    // Causal: only η ≤ x. The owned block is processed first and starts at η ≤ x, so every row has seen
    // a finite score before any tile that is entirely masked for it.
    const PetscInt valid = kernels_.causal ? std::clamp<PetscInt>(g.XStart() + k - c0 + 1, 0, nt) : nt;
    if (valid == 0) {
      std::fill(s, s + nt, 0.0);
      continue;
    }
    std::fill(s + valid, s + nt, -std::numeric_limits<PetscReal>::infinity());
    const PetscReal new_max = std::max(mx[k], *std::max_element(s, s + valid));
    const PetscReal rescale = std::exp(mx[k] - new_max);  // 0 on the first tile (mx = -inf)
    PetscReal tile_sum = 0;
    for (PetscInt j = 0; j < nt; ++j) tile_sum += (s[j] = std::exp(s[j] - new_max));
    sum[k] = sum[k] * rescale + tile_sum;
    mx[k] = new_max;
    if (rescale != 1) cblas_dscal(d, rescale, &O[k * D], 1);
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, d, nt, 1.0, S_.data(), nt, V, D, 1.0, O, D);
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
  PetscCallMPI(MPI_Comm_size(Comm(), &size));
  PetscCallMPI(MPI_Comm_rank(Comm(), &rank));
  PetscCall(DMDAGetOwnershipRanges(g.Layout(), &ranges, nullptr, nullptr));
  const PetscInt max_rows = *std::max_element(ranges, ranges + size);
  std::vector<PetscInt> starts(size + 1, 0);  // global index of each rank's first token
  for (PetscMPIInt r = 0; r < size; ++r) starts[r + 1] = starts[r] + ranges[r];

  const PetscInt piece = ctx_.controls->PieceKey(t);
  const bool resample = piece < 0 || piece != piece_;
  if (resample) PetscCall(ctx_.controls->SampleAttention(t, g, &kernels_));
  piece_ = piece;
  const PetscInt d = d_ = kernels_.d_head, D = D_ = Nh * d;
  score_scale_ = kernels_.scale * g.dy();
  PetscCallCXX(Q_.resize(xm * D));
  PetscCallCXX(O_.assign(xm * D, 0.0));
  PetscCallCXX(rowmax_.assign(Nh * xm, -std::numeric_limits<PetscReal>::infinity()));
  PetscCallCXX(rowsum_.assign(Nh * xm, 0.0));
  PetscCallCXX(S_.resize(xm * std::min(tile_, max_rows)));
  for (auto &buf : kv_) PetscCallCXX(buf.resize(2 * max_rows * D));

  // [Q | K | V] = Δy u [W^Q | W^K | W^V] (+ b^Q) for the owned tokens, eq. (27), as one GEMM; K and V go
  // to this rank's ring block.
  if (resample) {
    const std::vector<PetscReal> *kernel[3] = {&kernels_.WQ, &kernels_.WK, &kernels_.WV};
    PetscCallCXX(W_.resize(Ny * 3 * D));
    for (PetscInt i = 0; i < Ny; ++i)
      for (int q = 0; q < 3; ++q)
        for (PetscInt m = 0; m < Nh; ++m) std::copy_n(&(*kernel[q])[(m * Ny + i) * d], d, &W_[(i * 3 + q) * D + m * d]);
  }
  PetscCallCXX(QKV_.resize(xm * 3 * D));
  PetscCall(VecGetArrayRead(U, &u));
  const PetscReal dy = g.dy();
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, 3 * D, Ny, dy, u, Ny, W_.data(), 3 * D, 0.0, QKV_.data(), 3 * D);
  PetscCall(VecRestoreArrayRead(U, &u));
  for (PetscInt k = 0; k < xm; ++k) {
    for (PetscInt c = 0; c < D; ++c) Q_[k * D + c] = QKV_[k * 3 * D + c] + (kernels_.bQ.empty() ? 0 : kernels_.bQ[c]);
    std::copy_n(&QKV_[k * 3 * D + D], D, &kv_[0][k * D]);
    std::copy_n(&QKV_[k * 3 * D + 2 * D], D, &kv_[0][(xm + k) * D]);
  }

  // Ring: at stage s this rank holds the block of rank (rank - s) mod P, and forwards it to rank + 1.
  const PetscMPIInt right = (rank + 1) % size, left = (rank + size - 1) % size;
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
      const PetscReal *K = cur + m * d, *V = cur + rows * D + m * d;
      for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
        if (kernels_.causal && first + j0 > g.XStart() + xm - 1) break;  // keys after every owned query
        AccumulateTile(m, first + j0, std::min(tile_, rows - j0), K + j0 * D, V + j0 * D);
      }
    }
    if (s + 1 < size) {
      PetscCall(PetscLogEventBegin(ATTENTION_RING_EVENT, 0, 0, 0, 0));
      PetscCallMPI(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
      PetscCall(PetscLogEventEnd(ATTENTION_RING_EVENT, 0, 0, 0, 0));
    }
  }

  // F = c + Σ_m Δh (O_m / rowsum_m) W^O_m: the h-quadrature of ∫ γ V W^O dz dη, eq. (40)–(41).
  PetscCall(VecGetArrayWrite(F, &f));
  for (PetscInt k = 0; k < xm; ++k) {
    if (kernels_.c.empty()) std::fill_n(&f[k * Ny], Ny, 0.0);
    else std::copy_n(kernels_.c.data(), Ny, &f[k * Ny]);
  }
  for (PetscInt m = 0; m < Nh; ++m)
    for (PetscInt k = 0; k < xm; ++k) cblas_dscal(d, g.dh() / rowsum_[m * xm + k], &O_[k * D + m * d], 1);
  if (kernels_.WO.empty())  // W^O the identity: d_head = N_y, sum over heads
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt m = 0; m < Nh; ++m) cblas_daxpy(Ny, 1.0, &O_[k * D + m * d], 1, &f[k * Ny], 1);
  else  // WO is stored [m][r][l]: the heads' factors stacked, D × N_y
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, Ny, D, dy, O_.data(), D, kernels_.WO.data(), Ny, 1.0, f, Ny);
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(PetscLogFlops(Nh * (6.0 * xm * Ny * d + 4.0 * xm * g.Nx() * d + 3.0 * xm * g.Nx() + (kernels_.WO.empty() ? 0 : 2.0 * xm * d * Ny))));
  PetscCall(PetscLogEventEnd(ATTENTION_EVENT, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
