// Convolution kernels of a convolutional model (paper §6), sampled by the controls on a grid with a two-dimensional
// Ω_y (discretization/image_shape.hpp): point values W(ξ) at the stencil offsets ξ_s = (s1 Δy1, s2 Δy2),
// |s_a| ≤ (k_a − 1)/2, stored [s1 + c1][s2 + c2] (operators/convolution.hpp applies them with the weight Δy1 Δy2).
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

// Q, K, V of eq. (42) with heads (§5): W^{Q,K,V}(ξ, h_m) at [m][s].
struct ConvAttentionKernels {
  PetscInt k[2] = {0, 0};             // stencil k1 × k2 (odd)
  std::vector<PetscReal> WQ, WK, WV;  // N_h × k1 k2 each
  PetscReal scale = 1;                // s in γ = Softmax_2(s ∫ Q K dy); eq. (42): 1/sqrt(|Ω_y|)
};

// The convolutional token embedding (term IV of eq. (43)): W^C(x, ξ) * u(x, ·) + b^C(x), a kernel per token; and the
// convolutional feed-forward layers W_j * u(x, ·) + b_j(x) (term III with translation-invariant kernels W_j(ξ, y) =
// w_j(y − ξ)), one kernel for all tokens.
struct ConvTokenKernels {
  PetscInt k[2] = {0, 0};
  bool per_token = false;    // W holds a kernel per owned token
  std::vector<PetscReal> W;  // XLocal × k1 k2 (per_token: the owned tokens' kernels) or k1 k2 (one kernel for all tokens)
  std::vector<PetscReal> b;  // XLocal: b(x_k) of the owned tokens
};

// The operator order of the scheme of §6.2 for J feed-forward layers: the token embedding and its layer norm (eq. (44),
// (45)), then (13)–(17) with the attention of eq. (42) — "conv_embed, layernorm, conv_attention, layernorm, conv_ffn,
// layernorm", where the unit conv_ffn is the block avg(seq(conv_ffn1, relu, …, conv_ffnJ, relu), identity), so one Lie
// step has M = 6 + J substeps. Without the embedding (§6.1) the first two are left out (M = 4 + J); with J = 0 so is
// the block.
std::string ConvolutionalSchemeOrder(PetscInt J, bool embedding);

}  // namespace ctflow
