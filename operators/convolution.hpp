// Convolution over a two-dimensional feature domain Ω_y (paper §6.1), the building block of the convolutional
// operators (attention eq. (42), token embedding term IV of eq. (43)–(45), convolutional feed-forward layers):
//
//   (W * v)(y) = ∫_Ωy W(ξ) v(y − ξ) dξ  ≈  Δy1 Δy2 Σ_s W(ξ_s) v(y − ξ_s),   ξ_s = (s1 Δy1, s2 Δy2), |s_a| ≤ c_a,
//
// on a stencil of k1 × k2 = (2 c1 + 1) × (2 c2 + 1) pixel offsets. v is extended by zero outside Ω_y ('same' size, zero
// padding): in the continuum the integral runs over the ξ with y − ξ ∈ Ω_y, i.e. over the pixels η = y − ξ of
// Ω_y; no boundary condition is imposed on u. The sum is the midpoint rule in η over those pixels.
//
// Stencils (discretization/convolution_kernels.hpp) hold point values of W at the offsets, [s1 + c1][s2 + c2]: a true
// convolution, so torch's cross-correlating conv2d takes them flipped in both directions.
//
// Two implementations, chosen by the stencil's size from the measurement of bench/bench_convolution (bench/RESULTS.md):
//   im2col + GEMM (BLAS), stencils of fewer than kFftMinStencil pixels (CvT's 3 × 3): the k1 k2 shifted
//     copies P[s][l] = v(y_l − ξ_s) of an image form a k1 k2 × N_y matrix, and n stencils stacked as the rows of an
//     n × k1 k2 matrix K give all n convolutions as one GEMM K P, formed for blocks of pixel rows so that P takes at
//     most kColumnsBlock values whatever the stencil;
//   FFTW, larger stencils: the image zero-padded to at least (N_y1 + k1 − 1) × (N_y2 + k2 − 1) (sizes with no prime
//     factor above 7), one real-to-complex transform,
//     n products with the stencils' spectra (computed by SetKernels) and n inverse transforms; the 'same' window of the
//     linear convolution. Plans are FFTW_ESTIMATE: the same on every rank and run, so results are reproducible.
//
// The transposes (the discrete adjoint, docs/adjoint.md; ApplyTranspose) take the same path. With respect to the image,
// the transpose of a convolution is the correlation with the same stencil: dv(η) = Δy1 Δy2 Σ_r Σ_s W_r(ξ_s) G_r(η + ξ_s)
// (im2col: dP = Kᵀ G, scattered back onto the shifted pixels; FFTW: Σ_r conj(Ŵ_r) Ĝ_r, one inverse transform). With
// respect to the stencil it is the correlation of the image with G: dW_r(ξ_s) = Δy1 Δy2 Σ_l G_r(y_l) v(y_l − ξ_s)
// (im2col: G Pᵀ; FFTW: Ĝ_r conj(v̂), on the stencil's window).
#pragma once
#include <petscsys.h>

#include <memory>
#include <vector>

#include "discretization/image_shape.hpp"

namespace ctflow {

class Convolution2D {
 public:
  enum class Method { Auto, Gemm, Fft };
  static constexpr PetscInt kColumnsBlock = 1 << 18;  // 2 MB of P at a time
  static constexpr PetscInt kFftMinStencil = 25;      // k1 k2 from which FFTW is faster (5 × 5 on 64 × 64 pixels, BLIS)

  Convolution2D();
  ~Convolution2D();
  // The image shape, the stencil size (odd k1, k2) and the method (Auto: by kFftMinStencil); allocates the work space,
  // P in blocks of at most max_columns values (at least one pixel row).
  PetscErrorCode SetUp(const ImageShape &shape, PetscInt k1, PetscInt k2, Method method = Method::Auto, PetscInt max_columns = kColumnsBlock);
  // The n stencils (n × k1 k2; kept by the caller, which must not change them) that Apply uses until the next call.
  PetscErrorCode SetKernels(PetscInt n, const PetscReal *kernels);
  // out[r ldo + l] = β out[r ldo + l] + Δy1 Δy2 Σ_s kernels[r k1 k2 + s] v(y_l − ξ_s), r < n, l < N_y, for one image v
  // (N_y1 × N_y2 pixels).
  void Apply(const PetscReal *v, PetscReal beta, PetscReal *out, PetscInt ldo);
  // The transpose of Apply with respect to v and to the stencils, for n gradients G_r (rows r ldg + l, r < n) of its
  // output: dv[l] += Δy1 Δy2 Σ_r Σ_s kernels[r k1 k2 + s] G_r(y_l + ξ_s) and, if dkernels is not null,
  // dkernels[r k1 k2 + s] += Δy1 Δy2 Σ_l G_r(y_l) v(y_l − ξ_s) (v is read only for it).
  void ApplyTranspose(const PetscReal *v, const PetscReal *G, PetscInt ldg, PetscReal *dv, PetscReal *dkernels);
  PetscInt StencilSize() const { return k_[0] * k_[1]; }
  bool UsesFft() const { return fft_ != nullptr; }
  // The flops of one Apply: 2 n k1 k2 N_y (GEMM), or the transforms' nominal 2.5 M log2 M each and 6 M per product.
  PetscReal Flops() const;

 private:
  struct Fft;
  // Rows [p0, p1) of pixel rows of P for image v, into columns_ (k1 k2 × (p1 − p0) N_y2).
  void Columns(const PetscReal *v, PetscInt p0, PetscInt p1);
  // The transpose of Columns: dv(p − s) += columns_[s][p] for the pixel rows p of [p0, p1).
  void ScatterColumns(PetscInt p0, PetscInt p1, PetscReal *dv) const;
  // FFTW's transposes (ApplyTranspose).
  void FftTranspose(const PetscReal *v, const PetscReal *G, PetscInt ldg, PetscReal *dv, PetscReal *dkernels);

  ImageShape shape_;
  PetscInt k_[2] = {0, 0}, rows_ = 0, n_ = 0;  // stencil; pixel rows per block of P; stencils
  const PetscReal *kernels_ = nullptr;
  std::vector<PetscReal> columns_;  // a block of P
  std::unique_ptr<Fft> fft_;        // FFTW's plans and spectra, when it is the method
};

}  // namespace ctflow
