// Convolutional attention, paper §6.1, eq. (42), multi-head through h as in §5 (eq. (40)):
//
//   A(t, u)(x, y) = ∫_Ωh ∫_Ωx γ(x, η, h) V(η, y, h) dη dh,
//   γ(x, η, h) = Softmax_2( s ∫_Ωy Q(x, ξ, h) K(η, ξ, h) dξ ),   s = 1/sqrt(|Ω_y|),                     eq. (42)
//   Q = W^Q(·, h) * u(x, ·),  K = W^K(·, h) * u(x, ·),  V = W^V(·, h) * u(x, ·)   (convolutions over y ∈ Ω_y ⊂ ℝ²)
//
// discretised by the midpoint rule in ξ, y, η and h on a grid with a two-dimensional Ω_y: Q, K, V of every head by
// one im2col GEMM per token (operators/convolution.hpp: zero padding, 'same' size); the η-integral with its softmax by
// StreamingSoftmax (operators/streaming_softmax.hpp: the online softmax and MPI ring the dense attention uses too; Δx
// cancels in γ); F = Σ_m Δh O_m.
// With unit spacing, one head and Δt = 1 the Euler substep is u + softmax(Q Kᵀ/sqrt(N_y)) V with Q, K, V 'same'
// convolutions: the paper's convolutional Transformer (examples/torch_convolution.py).
//
// Transpose (docs/adjoint.md): dO_m = Δh G for every head, the token integral's transpose (dQ, dK, dV; streamed, with the
// MPI ring in reverse: operators/streaming_softmax_transpose.hpp), then the convolutions' transposes per token,
// dU += Σ W^{Q,K,V}ᵀ * d{Q,K,V} (correlations with the same stencils) and dW^{Q,K,V}_m = the correlation of u with
// d{Q,K,V}_m. A recorded Rhs keeps Q, K, V, the rows' statistics and o, so that the transpose at the same state skips the
// convolutions and the first pass.
//
// Options: -conv_attention_tile n (keys per GEMM tile of the streaming softmax; default 256), -conv_attention_fused
// (StreamingSoftmax's fused panels where they apply; default on).
#pragma once
#include <vector>

#include "operators/attention_transpose.hpp"
#include "operators/convolution.hpp"
#include "operators/operator.hpp"
#include "operators/streaming_softmax.hpp"
#include "operators/streaming_softmax_transpose.hpp"

namespace ctflow {

class ConvolutionalAttention : public Operator {
 public:
  explicit ConvolutionalAttention(const OperatorContext &ctx) : Operator(ctx, "conv_attention") {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetFromOptions() override;
  // -conv_attention_tile, -conv_attention_fused (before SetUp).
  void SetTile(PetscInt keys) { tile_ = keys; }
  void SetFused(bool fused) { fused_ = fused ? PETSC_TRUE : PETSC_FALSE; }
  PetscErrorCode SetUp(Vec like) override;
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
  bool SupportsSequences() const override { return false; }
  void RecordNextRhs(PetscInt slot) override { record_slot_ = slot; }
  void ReuseRecord(PetscInt slot) override { reuse_slot_ = slot; }

 private:
  // The stencils at t (kept while Controls::PieceKey is unchanged) and the work space for them.
  PetscErrorCode Prepare(PetscReal t);

  PetscInt tile_ = 256;           // -conv_attention_tile: keys per GEMM tile of the streaming softmax
  PetscBool fused_ = PETSC_TRUE;  // -conv_attention_fused: the softmax's fused panels where they apply
  ConvAttentionKernels kernels_;
  std::vector<PetscReal> W_;    // [W^Q; W^K; W^V]: 3 N_h × k1 k2, the rows of one GEMM per token
  std::vector<PetscReal> QKV_;  // one token's Q, K, V of every head: 3 N_h × N_y
  Convolution2D conv_;
  StreamingSoftmax softmax_;
  StreamingSoftmaxTranspose transpose_;
  std::vector<AttentionRecord> records_;  // by tape slot: Q, [K | V], the rows' statistics and o of a recorded Rhs
  PetscInt record_slot_ = -1, reuse_slot_ = -1;
  PetscInt piece_ = -1;
  PetscObjectState state_ = -1;  // Controls::State of kernels_
  bool ready_ = false;
};

}  // namespace ctflow
