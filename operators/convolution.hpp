// Convolution over a two-dimensional feature domain Ω_y (paper §6.1), the building block of the convolutional
// operators (attention eq. (42), token embedding term IV of eq. (43)–(45), convolutional feed-forward layers):
//
//   (W * v)(y) = ∫_Ωy W(ξ) v(y − ξ) dξ  ≈  Δy1 Δy2 Σ_s W(ξ_s) v(y − ξ_s),   ξ_s = (s1 Δy1, s2 Δy2), |s_a| ≤ c_a,
//
// on a stencil of k1 × k2 = (2 c1 + 1) × (2 c2 + 1) pixel offsets. v is extended by zero outside Ω_y ('same' size,
// zero padding): in the continuum the integral runs over the ξ with y − ξ ∈ Ω_y, i.e. over the pixels η = y − ξ of
// Ω_y; no boundary condition is imposed on u. The sum is the midpoint rule in η over those pixels.
//
// Stencils (discretization/convolution_kernels.hpp) hold point values of W at the offsets, [s1 + c1][s2 + c2]: a true
// convolution, so torch's cross-correlating conv2d takes them flipped in both directions.
//
// Implementation: im2col + GEMM (BLAS). For one image v, the k1 k2 shifted copies P[s][l] = v(y_l − ξ_s) form a
// k1 k2 × N_y matrix; n stencils stacked as the rows of an n × k1 k2 matrix K give all n convolutions as one GEMM
// K P, formed for blocks of pixel rows so that P takes at most kColumnsBlock values whatever the stencil. Chosen over FFTW by bench/bench_convolution
// (bench/RESULTS.md): for the stencils of CvT (3 × 3 to 7 × 7) on 64 × 64 pixels the direct sum costs 2 k1 k2 flops per pixel and kernel against
// FFTW's O(log N) per pixel with transforms of the zero-padded (N + k − 1)² image.
#pragma once
#include <petscsys.h>

#include <vector>

#include "discretization/image_shape.hpp"

namespace ctflow {

class Convolution2D {
 public:
  static constexpr PetscInt kColumnsBlock = 1 << 18;  // 2 MB of P at a time
  // The image shape and the stencil size (odd k1, k2); allocates the work space, P in blocks of at most max_columns values
  // (at least one pixel row; default kColumnsBlock).
  PetscErrorCode SetUp(const ImageShape &shape, PetscInt k1, PetscInt k2, PetscInt max_columns = kColumnsBlock);
  PetscInt StencilSize() const { return k_[0] * k_[1]; }
  // out[r ldo + l] = β out[r ldo + l] + Δy1 Δy2 Σ_s kernels[r k1 k2 + s] v(y_l − ξ_s), r < n, l < N_y, for one image v
  // (N_y1 × N_y2 pixels).
  void Apply(const PetscReal *v, PetscInt n, const PetscReal *kernels, PetscReal beta, PetscReal *out, PetscInt ldo);
  // The flops of one Apply with n stencils.
  PetscReal Flops(PetscInt n) const { return 2.0 * n * k_[0] * k_[1] * shape_.Pixels(); }

 private:
  // Rows [p0, p1) of pixel rows of P for image v, into columns_ (k1 k2 × (p1 − p0) N_y2).
  void Columns(const PetscReal *v, PetscInt p0, PetscInt p1);

  ImageShape shape_;
  PetscInt k_[2] = {0, 0}, rows_ = 0;  // stencil; pixel rows per block of P
  std::vector<PetscReal> columns_;     // a block of P
};

}  // namespace ctflow
