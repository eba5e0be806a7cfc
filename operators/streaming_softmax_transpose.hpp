// StreamingSoftmaxTranspose: the transpose of the token integral of attention (operators/streaming_softmax.hpp), for the
// discrete adjoint (docs/adjoint.md): for o(x, h) = Σ_η p(x, η, h) V(η, h), p = softmax_η(s ⟨Q(x, h), K(η, h)⟩) and the
// gradient dO of o, it gives dQ, dK and dV, streamed as FlashAttention-2's backward pass (Dao 2023):
//   Δ(x) = ⟨dO(x), o(x)⟩,   dV += pᵀ dO,   dS = p ⊙ (dO Vᵀ − Δ),   dQ += s dS K,   dK += s dSᵀ Q,
// with p recomputed tile by tile from each row's shift and sum of exponentials (kept by the forward pass, or found by a
// first pass over the keys, Statistics). Each rank fills the queries of its tokens and its block [K | V]; the blocks
// travel around the ranks as in the forward ring, now with their dK, dV, and come home after the last stage. No
// N_x × N_x matrix is formed: the second pass runs fused on BLIS's micro-kernel where it applies (one sequence,
// operators/softmax_transpose_panels.hpp), otherwise by blocks of 4 tile queries against tiles of tile keys, five GEMMs
// and P and dS in one pass over the block (ExpScaledProduct); memory per rank O(N_h d N_x / P + min(N_x/P, 4 tile) · tile).
// Causal: the keys η ≤ x only. The dense attention (operators/attention_transpose.cpp) and the convolutional one
// (operators/convolutional_attention.cpp) are its users. A grid of several sequences (Grid::SetSequences, one rank
// only): each sequence's queries against its own keys, as separate evaluations. Short sequences on one process
// (L d ≤ SetShortSize) skip the tiles and the ring: each (sequence, head) in one pass
// (operators/short_sequence_softmax.hpp).
#pragma once
#include <vector>

#include "discretization/grid.hpp"
#include "operators/short_sequence_softmax.hpp"
#include "operators/softmax_transpose_panels.hpp"

namespace ctflow {

class StreamingSoftmaxTranspose {
 public:
  // N_h heads of d features each, tile keys per GEMM (and 4 tile queries per block of the second pass); allocates for the
  // grid's token layout and zeroes the gradients.
  PetscErrorCode SetUp(const Grid &grid, PetscInt heads, PetscInt d, PetscInt tile);
  // Sequences of L tokens with L d ≤ size (default 0: none), on one process, by ShortSequenceSoftmax; before SetUp.
  void SetShortSize(PetscInt size) { short_size_ = size; }
  // The second pass fused on BLIS's micro-kernel where it applies (default on: one sequence, one BLIS thread, d a
  // multiple of its m_r, operators/softmax_transpose_panels.hpp); otherwise five GEMMs per block. Before SetUp.
  void SetFused(bool fused) { fused_ = fused; }
  // The owned tokens' queries, XLocal × N_h d (head m at columns m d …), to be filled before Statistics and Run.
  PetscReal *Queries() { return Q_.data(); }
  // The owned tokens' block, XLocal rows of [K | V | dK | dV] (4 N_h d values; K of head m at columns m d …, V at
  // N_h d + m d …): fill K and V before Statistics and Run; after Run it holds this rank's dK and dV (the ring moves the
  // blocks between two buffers: ask for it again after Statistics and Run).
  PetscReal *OwnBlock() { return ring_[0].data(); }
  PetscInt BlockWidth() const { return 4 * heads_ * d_; }
  // Each row's shift and sum of exponentials (N_h × XLocal) and o = Σ p V (XLocal × N_h d): to be filled from a
  // forward evaluation at the same queries and keys, or computed by Statistics.
  PetscReal *RowMax() { return rowmax_.data(); }
  PetscReal *RowSum() { return rowsum_.data(); }
  PetscReal *Output() { return O_.data(); }
  // Collective: the first pass over the keys, which computes RowMax, RowSum and Output.
  PetscErrorCode Statistics(PetscReal scale, bool causal);
  // dO (XLocal × N_h d), to be filled before Run.
  PetscReal *OutputGradient() { return dO_.data(); }
  // Collective: the second pass; dQ in QueryGradient, dK and dV in OwnBlock.
  PetscErrorCode Run(PetscReal scale, bool causal);
  const PetscReal *QueryGradient() const { return dQ_.data(); }

 private:
  // Head m's first-pass and second-pass work of the owned queries r0 … r0 + nr − 1 on one block of `rows` tokens from
  // global index `first`.
  void StatisticsBlock(PetscInt m, PetscInt r0, PetscInt nr, PetscInt first, PetscInt rows, const PetscReal *block, PetscReal scale, bool causal);
  void BackwardBlock(PetscInt m, PetscInt r0, PetscInt nr, PetscInt first, PetscInt rows, PetscReal *block, PetscReal scale, bool causal);
  // Head m's arrays for the fused pass (panels_) against a block of `rows` keys from global index `first`.
  SoftmaxTransposeHead Head(PetscInt m, PetscInt first, PetscInt rows, PetscReal *block, PetscReal scale, bool causal);
  // The grid's sequences for short_.
  ShortSequences Short(PetscReal scale, bool causal) const;
  // fn(r0, nr, first, rows, block) for every pair of owned queries and block of keys that attend to each other: the
  // whole block for one sequence, each sequence's rows and keys for several.
  template <typename Fn>
  void Pairs(PetscInt first, PetscInt rows, PetscReal *block, Fn fn) const;
  PetscReal QueryKeyPairs(bool causal) const;  // the (query, key) pairs this rank computes: its flops' unit
  // Runs fn(owner's first token, rows, block) on every rank's block in ring order; the blocks end on their owners.
  template <typename Fn>
  PetscErrorCode Ring(Fn fn);

  // Queries per block of the second pass, in tiles: P and dS are row_block_ × tile_, 1024 × 256 (2 MiB each) at the
  // default tile. Fewer rows make the five GEMMs per block smaller and slower, more make P and dS travel further between
  // them (bench/RESULTS.md, "Issue 15: the attention transpose's blocks").
  static constexpr PetscInt kRowTiles = 4;

  const Grid *grid_ = nullptr;
  PetscInt heads_ = 0, d_ = 0, tile_ = 256, row_block_ = kRowTiles * 256, short_size_ = 0;
  bool direct_ = false;  // short sequences on one process: short_ instead of the tiles
  bool fused_ = true;
  MicroKernel ukr_;  // the fused pass's kernel (mr = 0: none, the GEMMs)
  SoftmaxTransposePanels panels_;
  ShortSequenceSoftmax short_;
  std::vector<PetscInt> ranges_, starts_;
  std::vector<PetscReal> Q_, O_, dO_, dQ_;          // XLocal × N_h d
  std::vector<PetscReal> rowmax_, rowsum_, delta_;  // N_h × XLocal
  std::vector<PetscReal> ring_[2];                  // [K | V | dK | dV] blocks
  std::vector<PetscReal> S_, P_;                    // row_block_ × tile_
};

}  // namespace ctflow
