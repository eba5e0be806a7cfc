// The pre- and post-processing of a convolutional vision Transformer (paper §6.2, with §4.2's F and G):
// N^CvT = G ∘ N ∘ F, N the (staged) continuous model.
//
//   F (CvtEmbedImage): the image (C, H, W) → the first stage's tokens, a strided convolution with C input channels and
//     N_x output channels, as torch's Conv2d computes it (a cross-correlation; zero padding p, stride s):
//       u0(x, (i, j)) = b(x) + Σ_c Σ_{a, b < k} E[x][c][a][b] image[c][s i + a − p][s j + b − p]
//     (out of range pixels are 0); the image size gives the first stage's N_y1 × N_y2 = ((H + 2p − k)/s + 1) × (…W…).
//   G (CvtLogits): logits = Bᵀ ū + c with ū(x) = (1/|Ω_y|) ∫_Ωy u(x, y, T) dy, the mean over each token's pixels
//     (global average pooling) of the last stage's state.
#pragma once
#include <petscvec.h>

#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

struct CvtProcessing {
  PetscInt channels = 0, height = 0, width = 0, kernel = 0, stride = 1, padding = 0, classes = 0;
  std::vector<PetscReal> embedding;    // N_x × C × k × k (the first stage's N_x)
  std::vector<PetscReal> bias;         // N_x
  std::vector<PetscReal> head_weight;  // N_x × classes (the last stage's N_x)
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
// G^T: λ(x, y) += (1/N_y) Σ_c B[x][c] dz_c, dB[x][c] += ū(x) dz_c, dc += dz (dz = ∂L/∂z, the same on every rank).
PetscErrorCode CvtLogitsTranspose(const Grid &grid, const CvtProcessing &cvt, Vec u, const std::vector<PetscReal> &dz, Vec lambda, CvtProcessing *d);

}  // namespace ctflow
