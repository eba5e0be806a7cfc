// Attention, term I / I-a of the continuous Transformer (paper eq. (7), (38)):
//
//   A(t, u)(x, y) = ∫_Ωh ∫_Ωx γ(x, η, h) V(η, y, h) dη dh,                                     eq. (40)
//   γ(x, η, h) = exp(a(x, η, h)) / ∫_Ωx exp(a(x, η', h)) dη',  a = s ⟨Q(x, ·, h), K(η, ·, h)⟩_Ωy,   eq. (6), (37)
//   Q, K, V = ∫_Ωy W^{Q,K,V}(ξ, y, h) u(x, ξ) dξ,                                               eq. (3)–(5)
//
// discretised by the midpoint rule in ξ, y, η and h; Δx cancels between γ's numerator and denominator,
// so with Δy = Δh = 1 this is eq. (29) (N_h = 1, s = 1) and eq. (41) with the scale of eq. (37).
//
// Generalised exactly as multi-head attention is built in practice (docs/torch-mapping.md): Q, K, V take
// values in a head-feature variable z with d_head points (rank-d_head kernels), the query is affine
// (Q + b^Q; a key bias cancels in the softmax), the output is ∫ γ V(η, z) W^O(z, y) dz dη, summed over
// heads, plus a constant c(y) (the value and output biases: γ integrates to 1). With causal controls the
// kernel is of Volterra type: the softmax and the η-integral run over η ≤ x.
//
// Tokens are distributed: each rank computes Q, K, V for its own tokens, and the K, V blocks travel
// around the ranks in a ring (communication overlapped with the current block's work). The softmax is
// accumulated online (running maximum and sum per row), so no N_x × N_x matrix is ever formed:
// memory per rank is O(N_h N_x N_y / P + N_x/P · tile) (StreamingSoftmax, operators/streaming_softmax.hpp). With -attention_materialise, γ is formed
// instead (AttentionMaps: K and V of all tokens on every rank, tile × N_x rows of γ at a time): the reference path.
//
// A grid of several sequences (Grid::SetSequences: a batch of samples stacked in x) has attention within each sequence:
// token x attends to the keys of its own sequence only (causal: relative to the sequence's start), exactly as separate
// evaluations. Supported by the streaming paths on one rank (the grid on one process); the materialised path and
// several ranks refuse it. Short sequences on one process (L d_head ≤ -attention_short_size: a training chunk's samples)
// skip the tiles: each (sequence, head) in one pass of vector loops (operators/short_sequence_softmax.hpp), forward and
// transpose.
#pragma once
#include <memory>
#include <vector>

#include "operators/attention_maps.hpp"
#include "operators/attention_transpose.hpp"
#include "operators/operator.hpp"
#include "operators/streaming_softmax.hpp"

namespace ctflow {

class Attention : public Operator {
 public:
  explicit Attention(const OperatorContext &ctx);
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetFromOptions() override;
  // -attention_tile, -attention_materialise, -attention_fused (before SetUp), -attention_short_size (for the next
  // evaluations).
  void SetTile(PetscInt keys) { tile_ = keys; }
  void SetShortSize(PetscInt size) { short_size_ = size; }
  void SetMaterialise(bool materialise) { materialise_ = materialise ? PETSC_TRUE : PETSC_FALSE; }
  void SetFused(bool fused) { fused_ = fused ? PETSC_TRUE : PETSC_FALSE; }
  PetscErrorCode SetUp(Vec like) override;
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  // The streaming transpose (operators/attention_transpose.hpp; defined in attention_transpose.cpp). A recorded Rhs
  // keeps its rows' statistics and o, so that the transpose at the same state skips its first pass.
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
  bool SupportsSequences() const override { return !materialise_; }  // the streaming path keeps the sequences apart
  void RecordNextRhs(PetscInt slot) override { record_slot_ = slot; }
  void ReuseRecord(PetscInt slot) override { reuse_slot_ = slot; }

 private:
  // F = A(t, U) from γ formed in blocks of tile_ rows (AttentionMaps::Apply).
  PetscErrorCode RhsMaterialised(PetscReal t, Vec U, Vec F);
  // kernels_ for the piece of t (lent by the controls), W_ packed from them, work space sized for them.
  PetscErrorCode Prepare(PetscReal t);

  PetscInt tile_ = 256;                  // -attention_tile: keys processed per GEMM tile
  PetscBool materialise_ = PETSC_FALSE;  // -attention_materialise: γ formed in row blocks (AttentionMaps)
  PetscBool fused_ = PETSC_TRUE;         // -attention_fused: the softmax's fused panels where they apply
  PetscInt short_size_ = 256;            // -attention_short_size: sequences with L d_head ≤ it, on one process, without tiles
  StreamingSoftmax softmax_;             // the token integral: ring, online softmax, fused panels, short sequences
  std::unique_ptr<AttentionMaps> maps_;
  const AttentionKernels *kernels_ = nullptr;  // lent by the controls, or kernels_storage_
  AttentionKernels kernels_storage_;
  std::vector<PetscReal> W_;     // [W^Q | W^K | W^V]: N_y × 3 N_h d_head, packed from the kernels (heads side by side)
  PetscInt d_ = 0, D_ = 0;       // d_head, N_h d_head
  PetscInt piece_ = -1;          // Controls::PieceKey of kernels_ and W_ (-1: resample)
  PetscObjectState state_ = -1;  // Controls::State of kernels_ and W_
  std::unique_ptr<AttentionTranspose> transpose_;
  PetscInt record_slot_ = -1, reuse_slot_ = -1;
  std::vector<AttentionRecord> records_;  // by tape slot
};

}  // namespace ctflow
