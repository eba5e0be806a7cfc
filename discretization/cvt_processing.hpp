// The pre- and post-processing of a convolutional vision Transformer (paper §6.2, with §4.2's F and G):
// N^CvT = G ∘ N ∘ F, N the (staged) continuous model.
//
//   F (CvtEmbedImage): the image (C, H, W) → the first stage's tokens, a strided convolution with C input channels and
//     N_x output channels, as torch's Conv2d computes it (a cross-correlation; zero padding p, stride s):
//       u0(x, (i, j)) = b(x) + Σ_c Σ_{a, b < k} E[x][c][a][b] image[c][s i + a − p][s j + b − p]
//     (out of range pixels are 0); the image size gives the first stage's N_y1 × N_y2 = ((H + 2p − k)/s + 1) × (…W…).
//   G (CvtLogits), one of two heads on the last stage's state (the /cvt attribute `head`):
//     class_token  logits = u(x_0, ·, T) B + c, token 0's image read out as the class token of §4.2
//                  (discretization/class_token_head.hpp), B of N_y × classes;
//     pixel_mean   logits = Bᵀ ū + c with ū(x) = (1/|Ω_y|) ∫_Ωy u(x, y, T) dy, the mean over each token's pixels (global
//                  average pooling), B of N_x × classes. As the scheme ends with the layer norm of eq. (22), which sets
//                  every token's pixel mean to σ1, these logits do not depend on the image: kept for the files written
//                  before class_token existed, and refused by `ctflow -train`.
#pragma once
#include <petscvec.h>

#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

enum class CvtHead { kPixelMean, kClassToken };

struct CvtProcessing {
  CvtHead head = CvtHead::kPixelMean;
  PetscInt channels = 0, height = 0, width = 0, kernel = 0, stride = 1, padding = 0, classes = 0;
  std::vector<PetscReal> embedding;    // N_x × C × k × k (the first stage's N_x)
  std::vector<PetscReal> bias;         // N_x
  std::vector<PetscReal> head_weight;  // pixel_mean: N_x × classes; class_token: N_y × classes (the last stage's)
  std::vector<PetscReal> head_bias;    // classes
  // The embedded image's pixels along a side of n pixels.
  PetscInt OutputSize(PetscInt n) const { return (n + 2 * padding - kernel) / stride + 1; }
};

// u ← F(image); image is (C, H, W) row-major, the same on every rank.
PetscErrorCode CvtEmbedImage(const Grid &grid, const CvtProcessing &cvt, const std::vector<PetscReal> &image, Vec u);
// G(u) on every rank.
PetscErrorCode CvtLogits(const Grid &grid, const CvtProcessing &cvt, Vec u, std::vector<PetscReal> *logits);
// Transposes for the discrete adjoint; d gains the gradients of the arrays of CvtProcessing the map uses (this rank's
// share; sized on first use). F^T: dE[x][c][a][b] += Σ_{i,j} λ(x, (i, j)) image[c][s i + a − p][s j + b − p],
// db(x) += Σ_{i,j} λ(x, (i, j)).
PetscErrorCode CvtEmbedImageTranspose(const Grid &grid, const CvtProcessing &cvt, const std::vector<PetscReal> &image, Vec lambda, CvtProcessing *d);
// G^T, pixel_mean: λ(x, y) += (1/N_y) Σ_c B[x][c] dz_c, dB[x][c] += ū(x) dz_c, dc += dz (dz = ∂L/∂z, the same on every
// rank); class_token: that of discretization/class_token_head.hpp.
PetscErrorCode CvtLogitsTranspose(const Grid &grid, const CvtProcessing &cvt, Vec u, const std::vector<PetscReal> &dz, Vec lambda, CvtProcessing *d);

}  // namespace ctflow
