// A convolution as the integral kernel it is (paper §6: a translation-invariant kernel of compact support):
// W(ξ = η_i, y = y_l) = w(y_l − η_i) on the grid's pixels, zero off the stencil. The convolutional controls give their
// stencils this way too, so that the integral-kernel operators (attention, ffn<j>) and the attention maps of
// -traj_attention (operators/attention_maps.hpp) compute the same as the convolutional operators, densely. A dense
// kernel has N_y² values, so images of more than kMaxDensePixels pixels are refused.
#pragma once
#include "discretization/controls.hpp"

namespace ctflow {

constexpr PetscInt kMaxDensePixels = 1024;

// N_h × N_y × N_y kernels (d_head = N_y, no W^O) of the attention with the stencils k.
PetscErrorCode ConvolutionAsIntegralKernels(const ConvAttentionKernels &k, const Grid &grid, AttentionKernels *dense);
// The N_y × N_y kernel and the (owned tokens × N_y) bias b(x) of a convolutional feed-forward layer.
PetscErrorCode ConvolutionAsIntegralKernel(const ConvTokenKernels &k, const Grid &grid, FeedForwardKernel *dense);
// The convolutional controls' SampleAttention and SampleFeedForward: their stencils at t, densified as above.
PetscErrorCode SampleConvAttentionDensely(const Controls &controls, PetscReal t, const Grid &grid, AttentionKernels *dense);
PetscErrorCode SampleConvFeedForwardDensely(const Controls &controls, PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *dense);
// The transposes, for the discrete adjoint: the gradients of the dense kernels (of the stencils of size k) as gradients
// of the stencils, dw(ξ_s) = Σ_{(η_i, y_l): y_l − η_i = ξ_s} dW(η_i, y_l), and of the biases, db(x) = Σ_l db(x, y_l).
PetscErrorCode IntegralKernelsAsConvolutionGradient(const AttentionKernels &dense, const PetscInt k[2], const Grid &grid, ConvAttentionKernels *dk);
PetscErrorCode IntegralKernelAsConvolutionGradient(const FeedForwardKernel &dense, const PetscInt k[2], const Grid &grid, ConvTokenKernels *dk);

}  // namespace ctflow
