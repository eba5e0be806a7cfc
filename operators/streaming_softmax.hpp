// StreamingSoftmax: the token integral of attention, eq. (40) / (42), for queries, keys and values already computed:
//
//   o(x, ·, h) = ∫_Ωx γ(x, η, h) V(η, ·, h) dη,   γ = exp(a(x, η, h)) / ∫_Ωx exp(a(x, η', h)) dη',   a = s Σ_r Q(x, r, h) K(η, r, h)
//
// (s includes the quadrature weight of the feature integral; Δx cancels in γ). The dense attention
// (operators/attention.cpp) and the convolutional one (operators/convolutional_attention.cpp) are its users; its
// transpose is operators/streaming_softmax_transpose.hpp.
//
// Each rank fills the queries of its tokens and its block [K | V]; Run sends the blocks around the ranks in a ring
// (communication overlapped with the current block's work) and folds tiles of keys into a running shift and sum per
// row (online softmax), so no N_x × N_x matrix is formed: memory O(N_h d N_x / P + N_x/P · tile) per rank. Where it
// applies (one sequence, one BLIS thread, d ≤ 256 a multiple of the micro-kernel's m_r) the scores, softmax and
// γV of a panel of the micro-kernel's n_r queries are fused in L1; otherwise one GEMM per tile. Causal: η ≤ x only.
// A grid of several sequences (Grid::SetSequences, one process only): each sequence's queries against its own keys.
// Short sequences on one process (L d ≤ SetShortSize) skip the tiles: each (sequence, head) in one pass of vector
// loops (operators/short_sequence_softmax.hpp).
#pragma once
#include <string>
#include <vector>

#include "discretization/base/sizes.hpp"
#include "discretization/grid.hpp"
#include "operators/gemm.hpp"
#include "operators/short_sequence_softmax.hpp"

namespace ctflow {

// One tile of keys folded into the online softmax of nr query rows, the step both StreamingSoftmax and the first pass
// of its transpose take: the scores S = s Q_m Kᵀ (work space nr × nt), then for each row its shift μ (moved only when
// the tile's maximum passes it by more than e^64), its sum Σ exp(a − μ) and O = Σ exp(a − μ) V. Q and O (leading
// dimension ld) start at the rows' head m, K and V (leading dimension ldkv) at the tile's; shift and sum at the rows'.
// Causal: row k (global token x0 + k) sees the keys c0 + j ≤ x0 + k only.
struct SoftmaxTile {
  PetscInt nr, nt, d;  // query rows, keys, features
  PetscInt x0, c0;     // global token of the first row and of the first key
  PetscReal scale;     // s, with the feature quadrature's weight
  bool causal;
  const PetscReal *Q, *K, *V;
  PetscInt ld, ldkv;
};
void AccumulateSoftmaxTile(const SoftmaxTile &t, PetscReal *S, PetscReal *O, PetscReal *shift, PetscReal *sum);

class StreamingSoftmax {
 public:
  // Keys per tile (default 256), the short-sequence bound (default 0: never) and the fused path (default on); before SetUp.
  void SetTile(PetscInt keys) { tile_ = keys; }
  void SetShortSize(PetscInt size) { short_size_ = size; }
  void SetFused(bool fused) { fused_ = fused; }
  // Work space for N_h heads of d features on the grid's token layout (cheap when the sizes are unchanged). Before the
  // first allocation of a head size, the work space with the caller's `extra` arrays is checked against the memory
  // (WorkSpaceCheck); errors name the caller (`name`, e.g. "attention") and its tile option (e.g. "-attention_tile").
  PetscErrorCode SetUp(const Grid &grid, PetscInt heads, PetscInt d, const std::string &name, const std::string &tile_option,
                       const std::vector<WorkArray> &extra = {});
  // The owned tokens' queries, XLocal × N_h d (head m at columns m d … (m + 1) d), to be filled before Run.
  PetscReal *Queries() { return Q_.data(); }
  // The owned tokens' block [K | V], XLocal × 2 N_h d (K of head m at columns m d …, V at N_h d + m d …), likewise.
  PetscReal *OwnBlock() { return kv_[0].data(); }
  // Collective: o ← ∫ γ V dη for the owned tokens (the ring event "AttentionRing" times the messages).
  PetscErrorCode Run(PetscReal scale, bool causal);
  // o, XLocal × N_h d, head m at columns m d … (m + 1) d.
  const PetscReal *Output() const { return O_.data(); }
  // Each row's shift and sum of exponentials after Run, N_h × XLocal (what the transpose recomputes the weights from).
  const std::vector<PetscReal> &RowMax() const { return rowmax_; }
  const std::vector<PetscReal> &RowSum() const { return rowsum_; }

 private:
  // AccumulateSoftmaxTile for head m's owned rows r0 … r0 + nr − 1 and one tile of keys/values (nt tokens from global
  // index c0; K, V point at head m's columns of a ring block, leading dimension 2 N_h d).
  void AccumulateTile(PetscInt m, PetscInt r0, PetscInt nr, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V);
  // AccumulateTile for all owned rows and a tile of nt keys from global index c0, fused on BLIS's micro-kernel (ukr_): the
  // rows in panels of ukr_.nr, each panel's scores (nt × ukr_.nr, in L1) written in the layout the γV micro-kernel
  // reads, no S matrix nor packing of it; Q_m packed once per head and ring block (PackQueries), K and V once per tile.
  // Causal: a panel's keys after its last token are skipped, the others after a row's token weigh exp(−∞) = 0.
  void AccumulatePanels(PetscInt m, PetscInt c0, PetscInt nt, const PetscReal *K, const PetscReal *V);
  // Whether this evaluation takes AccumulatePanels (sets ukr_), and its work space (else AccumulateTile's).
  PetscErrorCode SetUpPanels(bool *fused);
  // qp_ ← Q_m in panels of ukr_.nr rows, for AccumulatePanels.
  void PackQueries(PetscInt m);
  // The ring: every rank's block of keys in turn, from the own one.
  PetscErrorCode RunRing(bool fused);

  const Grid *grid_ = nullptr;
  PetscInt tile_ = 256, short_size_ = 0;
  bool fused_ = true;
  PetscInt heads_ = 0, d_ = 0, D_ = 0, max_rows_ = 0;
  size_t checked_d_ = 0;  // the d whose work space was checked
  PetscReal scale_ = 1;   // of the current Run
  bool causal_ = false;
  std::vector<PetscInt> starts_;            // global index of each rank's first token, and N_x
  std::vector<PetscReal> Q_, O_;            // XLocal × N_h d: queries, Σ_η exp(a − μ) V (o after Run)
  std::vector<PetscReal> kv_[2];            // ring buffers: one block's [K | V], rows × 2 N_h d
  std::vector<PetscReal> rowmax_, rowsum_;  // N_h × XLocal: each row's shift μ (within e^64 of its running maximum), Σ exp(a − μ)
  std::vector<PetscReal> S_;                // XLocal × tile scores (AccumulateTile; allocated when it runs)
  ShortSequenceSoftmax short_;
  // AccumulatePanels: the micro-kernel and its work space, 64-byte aligned in panels_: Q of one head in panels of
  // ukr_.nr rows (qp_), a tile's K in panels of ukr_.mr keys (kp_) and V in panels of ukr_.mr columns (vp_), one panel's
  // scores (sp_), a micro-tile of them (micro_), one row's scores when recomputed (column_).
  MicroKernel ukr_;
  std::vector<PetscReal> panels_;
  PetscReal *qp_ = nullptr, *kp_ = nullptr, *vp_ = nullptr, *sp_ = nullptr, *micro_ = nullptr, *column_ = nullptr;
};

}  // namespace ctflow
