#include "operators/streaming_softmax.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "operators/gemm.hpp"
#include "operators/vector_exp.hpp"

namespace ctflow {

PetscErrorCode StreamingSoftmax::SetUp(const Grid &grid, PetscInt heads, PetscInt d, PetscInt tile) {
  const PetscInt *ranges;
  PetscMPIInt size;
  PetscFunctionBeginUser;
  PetscCheck(!grid.Segmented(), grid.Comm(), PETSC_ERR_SUP,
             "convolutional attention does not support a grid of %" PetscInt_FMT " sequences (a batched training chunk); use -train_chunk 1",
             grid.Sequences());
  grid_ = &grid, heads_ = heads, d_ = d, tile_ = tile;
  const PetscInt xm = grid.XLocal(), D = heads * d;
  PetscCallMPI(MPI_Comm_size(grid.Comm(), &size));
  PetscCall(DMDAGetOwnershipRanges(grid.Layout(), &ranges, nullptr, nullptr));
  PetscCallCXX(starts_.assign(size + 1, 0));
  for (PetscMPIInt r = 0; r < size; ++r) starts_[r + 1] = starts_[r] + ranges[r];
  max_rows_ = *std::max_element(ranges, ranges + size);
  PetscCallCXX(Q_.resize(xm * D));
  PetscCallCXX(O_.resize(xm * D));
  PetscCallCXX(rowmax_.resize(heads * xm));
  PetscCallCXX(rowsum_.resize(heads * xm));
  PetscCallCXX(S_.resize(xm * std::min(tile_, max_rows_)));
  PetscCallCXX(kv_[0].resize(2 * max_rows_ * D));
  if (size > 1) PetscCallCXX(kv_[1].resize(2 * max_rows_ * D));
  PetscFunctionReturn(0);
}

void StreamingSoftmax::AccumulateTile(PetscInt m, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V, PetscReal scale, bool causal) {
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  PetscReal *O = &O_[m * d], *mx = &rowmax_[m * xm], *sum = &rowsum_[m * xm];
  Gemm(CblasNoTrans, CblasTrans, xm, nt, d, scale, &Q_[m * d], D, K, 2 * D, 0.0, S_.data(), nt);
  for (PetscInt k = 0; k < xm; ++k) {
    PetscReal *s = &S_[k * nt];
    // Causal: keys η ≤ x only. The owned block comes first, so every row sees a finite score before a fully masked tile.
    const PetscInt valid = causal ? std::clamp<PetscInt>(grid_->XStart() + k - c0 + 1, 0, nt) : nt;
    std::fill(s + valid, s + nt, 0.0);
    if (valid == 0) continue;
    const PetscReal new_max = std::max(mx[k], MaxOf(valid, s));
    const PetscReal rescale = std::exp(mx[k] - new_max);  // 0 on the first tile (mx = -inf)
    sum[k] = sum[k] * rescale + ExpShiftedSum(valid, new_max, s);
    mx[k] = new_max;
    if (rescale != 1)
      for (PetscInt r = 0; r < d; ++r) O[k * D + r] *= rescale;
  }
  Gemm(CblasNoTrans, CblasNoTrans, xm, d, nt, 1.0, S_.data(), nt, V, 2 * D, 1.0, O, D);
}

PetscErrorCode StreamingSoftmax::Run(PetscReal scale, bool causal) {
  const MPI_Comm comm = grid_->Comm();
  const PetscInt xm = grid_->XLocal(), d = d_, D = heads_ * d_;
  PetscMPIInt size, rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  std::fill(O_.begin(), O_.end(), 0.0);
  std::fill(rowmax_.begin(), rowmax_.end(), -std::numeric_limits<PetscReal>::infinity());
  std::fill(rowsum_.begin(), rowsum_.end(), 0.0);
  // Ring: at stage s this rank holds the block of rank (rank − s) mod P and forwards it to rank + 1.
  const PetscMPIInt right = (rank + 1) % size, left = (rank + size - 1) % size;
  for (PetscMPIInt s = 0; s < size; ++s) {
    const PetscMPIInt owner = (rank - s + size) % size, next_owner = (owner + size - 1) % size;
    const PetscInt rows = starts_[owner + 1] - starts_[owner], next_rows = starts_[next_owner + 1] - starts_[next_owner], first = starts_[owner];
    const PetscReal *cur = kv_[s % 2].data();
    MPI_Request req[2];
    if (s + 1 < size) {
      PetscCallMPI(MPI_Irecv(kv_[(s + 1) % 2].data(), (PetscMPIInt)(2 * next_rows * D), MPIU_REAL, left, 0, comm, &req[0]));
      PetscCallMPI(MPI_Isend(cur, (PetscMPIInt)(2 * rows * D), MPIU_REAL, right, 0, comm, &req[1]));
    }
    for (PetscInt m = 0; m < heads_; ++m)
      for (PetscInt j0 = 0; j0 < rows; j0 += tile_) {
        if (causal && first + j0 > grid_->XStart() + xm - 1) break;  // keys after every owned query
        AccumulateTile(m, first + j0, std::min(tile_, rows - j0), cur + m * d + j0 * 2 * D, cur + D + m * d + j0 * 2 * D, scale, causal);
      }
    if (s + 1 < size) PetscCallMPI(MPI_Waitall(2, req, MPI_STATUSES_IGNORE));
  }
  for (PetscInt m = 0; m < heads_; ++m)
    for (PetscInt k = 0; k < xm; ++k) {
      const PetscReal w = 1 / rowsum_[m * xm + k];
      for (PetscInt r = 0; r < d; ++r) O_[k * D + m * d + r] *= w;
    }
  const PetscReal pairs = causal ? xm * (grid_->XStart() + (xm + 1) / 2.0) : (PetscReal)xm * grid_->Nx();
  PetscCall(PetscLogFlops(heads_ * (4.0 * d + 3.0) * pairs));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
