// Analytic convolutional controls (paper §6, registered as "convolutional"; for continuum studies): the analytic
// controls of analytic_controls.hpp (σ1(t), σ2(t), the seeded modes) with smooth convolution kernels of compact support
// [−a1, a1] × [−a2, a2] in the offset ξ, a_a = w L_ya / 2 (w = -controls_conv_width). With B(s) = (1 − s²)² on |s| ≤ 1
// and the modes (c_p, α_p, β_p, d_p, φ_p, g_p(t)) of kernel number n drawn as in analytic_controls.hpp:
//
//   W(ξ, h, t) = A/(a1 a2) B(ξ1/a1) B(ξ2/a2) Σ_p c_p cos(π α_p ξ1/a1 + φ_p) cos(π β_p ξ2/a2) cos(π d_p h/L_h) g_p(t)
//       W^Q, W^K (n = 0, 1; A = 2), W^V (n = 2; A = 1) of eq. (42); W_j (n = 2 + j, A = 1, no h factor);
//   W^C(x, ξ, t) = as W with A = 1/2 and cos(π d_p x/L_x) for the h factor (n = 3 + 2J), term IV of eq. (43);
//   b_j(x, t) (n = 2 + J + j), b^C(x, t) (n = 4 + 2J) = (1/2) Σ_p c_p cos(π α_p x/L_x) g_p(t);
//   attention scale 1/sqrt(|Ω_y|) (eq. (42)).
// Their integral kernels (SampleAttention, SampleFeedForward; operators attention, ffn<j>) are these convolutions as
// dense kernels (discretization/dense_convolution.hpp), not the analytic controls' own.
//
// The phase φ_p makes the kernels asymmetric (a convolution differs from a correlation). B vanishes with its
// derivative at |s| = 1, so the midpoint rule over the pixels is second order in Δy1 and Δy2. On a grid the stencil holds
// the offsets |s_a| Δy_a ≤ a_a: k_a = 2 ⌊a_a/Δy_a⌋ + 1, which grows as the grid is refined (the support is fixed in Ω_y).
// The default operator order is the scheme of §6.2 (ConvolutionalSchemeOrder).
//
// Parameters θ (GetParameters): the coefficients c_p of every kernel, as for the analytic controls ("/attention/WQ/c",
// "/attention/WK/c", "/attention/WV/c", "/ffn<j>/W/c", "/ffn<j>/b/c") and of the token embedding, "/embedding/W/c",
// "/embedding/b/c". Every stencil is linear in them: ∂L/∂c_p = Σ_s ∂L/∂W(ξ_s) W_p(ξ_s), W_p the mode's stencil with c_p = 1.
#pragma once
#include "discretization/analytic_controls.hpp"

namespace ctflow {

class AnalyticConvolutionControls : public AnalyticControls {
 public:
  explicit AnalyticConvolutionControls(MPI_Comm comm) : AnalyticControls(comm) {}
  // The analytic controls' options and -controls_conv_width.
  PetscErrorCode SetFromOptions() override;
  // Setter of -controls_conv_width: the support's width as a fraction of L_y1 and L_y2.
  void SetWidth(PetscReal width) { width_ = width; }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const override;
  PetscErrorCode SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const override;
  PetscErrorCode SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const override;
  std::string DefaultOrder() const override;
  std::string Description() const override;
  PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const override;

 protected:
  std::vector<std::pair<PetscInt, std::string>> Kernels() const override;

 private:
  // The stencil size on grid (an error if the support spans more than the image) and the kernel's values on it.
  PetscErrorCode Stencil(const Grid &grid, PetscInt k[2]) const;
  // A/(a1 a2) B B Σ_p c_p cos(π α_p ξ1/a1 + φ_p) cos(π β_p ξ2/a2) f_p g_p(t) at the stencil offsets, f_p = cos(π d_p z/L).
  void SampleStencil(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, const PetscInt k[2], PetscReal z, PetscReal L,
                     PetscReal *w) const;
  void SampleBias(PetscInt kernel, PetscReal t, const Grid &grid, std::vector<PetscReal> *b) const;
  // w += c × mode m's stencil with c_p = 1.
  void AddModeStencil(const Mode &m, PetscReal c, PetscReal amplitude, PetscReal t, const Grid &grid, const PetscInt k[2], PetscReal z, PetscReal L,
                      PetscReal *w) const;
  // The transposes of SampleStencil and SampleBias: g[name] += (∂w/∂c)ᵀ dw, (∂b/∂c)ᵀ db (db: the owned tokens').
  PetscErrorCode AddStencilGradient(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, const PetscInt k[2], PetscReal z,
                                    PetscReal L, const PetscReal *dw, ControlsArrays *g) const;
  PetscErrorCode AddBiasGradient(PetscInt kernel, PetscReal t, const Grid &grid, const std::vector<PetscReal> &db, ControlsArrays *g) const;
  // The parameter name of kernel number `kernel`.
  std::string KernelName(PetscInt kernel) const;

  PetscReal width_ = 0.1875;
};

// The registered creator of "convolutional".
PetscErrorCode AnalyticConvolutionControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
