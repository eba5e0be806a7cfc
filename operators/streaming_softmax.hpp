// StreamingSoftmax: the token integral of attention, eq. (40) / (42), for queries, keys and values already computed,
// by the online softmax and the MPI ring of operators/attention.cpp, as a component:
//
//   O(x, ·, h) = ∫_Ωx γ(x, η, h) V(η, ·, h) dη,   γ = exp(a(x, η, h)) / ∫_Ωx exp(a(x, η', h)) dη',   a = s Σ_r Q(x, r, h) K(η, r, h)
//
// (s includes the quadrature weight of the feature integral; Δx cancels in γ). Each rank fills the queries of its tokens
// and its block [K | V]; Run sends the blocks around the ranks in a ring (communication overlapped with the current
// block's work) and folds tiles of keys into a running maximum and sum per row, so no N_x × N_x matrix is ever formed:
// memory O(N_h N_x d / P + N_x/P · tile) per rank. Causal: the softmax and the integral run over η ≤ x only.
#pragma once
#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

class StreamingSoftmax {
 public:
  // N_h heads of d features each, tile keys per GEMM; allocates for the grid's token layout.
  PetscErrorCode SetUp(const Grid &grid, PetscInt heads, PetscInt d, PetscInt tile);
  // The owned tokens' queries, XLocal × N_h d (head m at columns m d … (m + 1) d), to be filled before Run.
  PetscReal *Queries() { return Q_.data(); }
  // The owned tokens' block [K | V], XLocal × 2 N_h d (K of head m at columns m d …, V at N_h d + m d …), likewise.
  PetscReal *OwnBlock() { return kv_[0].data(); }
  // Collective: O ← ∫ γ V dη for the owned tokens.
  PetscErrorCode Run(PetscReal scale, bool causal);
  // XLocal × N_h d, head m at columns m d … (m + 1) d.
  const PetscReal *Output() const { return O_.data(); }
  // Each row's shift and sum of exponentials after Run, N_h × XLocal (what the transpose recomputes the weights from).
  const std::vector<PetscReal> &RowMax() const { return rowmax_; }
  const std::vector<PetscReal> &RowSum() const { return rowsum_; }

 private:
  // Online-softmax update of head m's rows with one tile of keys/values (nt tokens from global index c0).
  void AccumulateTile(PetscInt m, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V, PetscReal scale, bool causal);

  const Grid *grid_ = nullptr;
  PetscInt heads_ = 0, d_ = 0, tile_ = 256, max_rows_ = 0;
  std::vector<PetscInt> starts_;            // global index of each rank's first token, and N_x
  std::vector<PetscReal> Q_, O_, S_;        // queries, Σ exp(a − rowmax) V, one tile of scores
  std::vector<PetscReal> kv_[2];            // ring buffers: one block's [K | V]
  std::vector<PetscReal> rowmax_, rowsum_;  // N_h × XLocal
};

}  // namespace ctflow
