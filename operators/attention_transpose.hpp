// The transpose of attention (term I-a of eq. (38), operators/attention.hpp) for the discrete adjoint: for the
// output F = c + Σ_m Δh Δz o_m W^O_m with o_m(x) = Σ_η p(x, η) V_m(η), p = softmax_η(s Δz ⟨Q_m(x), K_m(η)⟩), it gives
// dU += (∂F/∂U)^T G and the kernels' gradients dW^{Q,K,V}, dW^O, db^Q, dc. Streamed as FlashAttention-2's backward
// pass (Dao 2023): a first pass over the keys recomputes each row's maximum and sum (and o); a second pass recomputes
// the scores tile by tile, p = exp(a − max)/sum, and accumulates
//   dV += p^T dO,   dS = p ⊙ (dO V^T − ⟨dO, o⟩),   dQ += s Δz dS K,   dK += s Δz dS^T Q.
// The K, V blocks travel around the ranks as in the forward ring, now with their dK, dV, and come home after the
// last stage (operators/streaming_softmax_transpose.hpp). No N_x × N_x matrix is formed; memory per rank
// O(N_h d_head N_x / P + min(N_x/P, 4 tile) · tile).
#pragma once
#include <vector>

#include "operators/operator.hpp"
#include "operators/streaming_softmax_transpose.hpp"

namespace ctflow {

// What a recorded forward evaluation keeps for its transpose: the projections, the rows' shifts and sums of
// exponentials, and o.
struct AttentionRecord {
  std::vector<PetscReal> Q, KV;           // xm × N_h d_head (with b^Q) and xm × 2 N_h d_head: [K | V]
  std::vector<PetscReal> rowmax, rowsum;  // N_h × xm
  std::vector<PetscReal> O;               // xm × N_h d_head: o = Σ_η p V, normalised
};

class AttentionTranspose {
 public:
  // kernels: the attention kernels at t (as the forward sampled them); tile: keys per tile; short_size: sequences of L
  // tokens with L d_head ≤ short_size, on one process, one (sequence, head) at a time; record: the forward's statistics
  // at U, or nullptr (then the first pass computes them).
  PetscErrorCode Apply(const OperatorContext &ctx, const AttentionKernels &kernels, PetscReal t, PetscInt tile, PetscInt short_size, Vec U, Vec G,
                       Vec dU, ControlsArrays *g, const AttentionRecord *record);
  // The second pass fused on BLIS's micro-kernel where it applies (StreamingSoftmaxTranspose::SetFused; default on).
  void SetFused(bool fused) { fused_ = fused; }

 private:
  StreamingSoftmaxTranspose softmax_;  // the token integral's transpose: the two passes and the ring
  std::vector<PetscReal> W_;           // N_y × 3D: [W^Q | W^K | W^V], heads side by side
  std::vector<PetscReal> dW_;          // its gradient, in the same layout
  AttentionKernels gradient_;          // the kernels' gradients, kept between calls
  bool fused_ = true;
};

}  // namespace ctflow
