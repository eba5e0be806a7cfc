// ShortSequenceSoftmax: attention's softmax, eq. (6)/(37), its token integral and their transpose, one (sequence, head) at a time.
//
// For a sequence of n tokens and a head of d features, a = s Q Kᵀ (s includes the feature integral's weight; causal:
// the keys η ≤ x only):
//   forward:    μ(x) = max_η a(x, η),   e = exp(a − μ),   sum(x) = Σ_η e(x, η),   O(x) = Σ_η e(x, η) V(η)   (o = O / sum)
//   transpose:  p = e / sum,   Δ = ⟨dO, o⟩,   dV += pᵀ dO,   dS = p ⊙ (dO Vᵀ − Δ),   dQ += s dS K,   dK += s dSᵀ Q
// The streaming paths (operators/attention.cpp, streaming_softmax_transpose.cpp) make library calls per (sequence, head)
// and key tile (two GEMMs forward, five back, and per-row kernels): for the few tokens of a training chunk's samples
// (N_x = 5, d_head = 8) their overhead is nearly all of the time (bench/RESULTS.md, "Short sequences"). Here each
// (sequence, head) is one pass of loops over vectors of 8 doubles, in blocks of 8 queries, one per lane: the block's
// queries transposed (8 × 8 shuffles), each key's scores against them (s K Qᵀ, a vector per key), the softmax's
// exponentials down the columns (vector_exp's column kernels: the tiled path's values, bit for bit, of the same scores
// to round-off), then the products with V, K, Q and dO a token's features at a time. Feature counts 4, 8, 16, 32 and 64
// have their own instances (the compiler unrolls the feature loops); others read their rows once into whole vectors.
// Work space O(n d), besides the callers' arrays.
#pragma once
#include <petscsys.h>

#include <cstdint>
#include <vector>

namespace ctflow {

// Sequences of n tokens stacked in x: token k of sequence q is row q n + k. Queries, o, dO and dQ have rows of heads · d
// (head m at columns m d …); keys, values, dK and dV rows of ld_kv at their pointers (head m at columns m d …); the row
// statistics heads × (sequences · n), head m's from m · sequences · n.
struct ShortSequences {
  PetscInt sequences = 0, n = 0, heads = 0, d = 0, ld_kv = 0;
  PetscReal scale = 1;  // s
  bool causal = false;
};

class ShortSequenceSoftmax {
 public:
  // Work space for sequences of n tokens and heads of d features.
  PetscErrorCode SetUp(PetscInt n, PetscInt d);
  // For every (sequence, head): O ← Σ_η e V (not divided by the sum), max ← μ, sum ← Σ_η e.
  void Forward(const ShortSequences &b, const PetscReal *Q, const PetscReal *K, const PetscReal *V, PetscReal *O, PetscReal *max, PetscReal *sum);
  // For every (sequence, head): dQ, dK, dV += their terms, from the forward's max and sum and o = O / sum.
  void Transpose(const ShortSequences &b, const PetscReal *Q, const PetscReal *K, const PetscReal *V, const PetscReal *o, const PetscReal *dO,
                 const PetscReal *max, const PetscReal *sum, PetscReal *dQ, PetscReal *dK, PetscReal *dV);

 private:
  PetscInt n_ = 0, d_ = 0;
  std::vector<PetscReal> work_;  // transposed query blocks, scores, whole-vector rows (short_sequence_softmax.cpp), 64-byte aligned
  PetscReal *work() { return work_.data() + (64 - reinterpret_cast<std::uintptr_t>(work_.data()) % 64) % 64 / sizeof(PetscReal); }
};

}  // namespace ctflow
