// The pre- and post-processing of a vision Transformer, paper §4.2: N^ViT = G ∘ N ∘ F.
//
//   F (EmbedImage): the image (C, H, W) is cut into (H/p)(W/p) patches of p × p pixels, flattened in
//     (channel, row, column) order; token 0 is the class token v0, token 1 + i n_w + j the patch (i, j):
//       u0 = [v0; R E + b] + P       (E: patch embedding, b: its bias, P: position embedding)
//   G (ClassTokenLogits): logits = u(x_0, ·) B + c, the read-out of the class token (after the final
//     layer norm, which is the controls' final projection).
#pragma once
#include <petscvec.h>

#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

struct VitProcessing {
  PetscInt channels = 0, height = 0, width = 0, patch = 0, classes = 0;
  std::vector<PetscReal> patch_embedding;     // (C p p) × N_y
  std::vector<PetscReal> patch_bias;          // N_y
  std::vector<PetscReal> class_token;         // N_y
  std::vector<PetscReal> position_embedding;  // N_x × N_y
  std::vector<PetscReal> head_weight;         // N_y × classes
  std::vector<PetscReal> head_bias;           // classes
  PetscInt NumTokens() const { return 1 + (height / patch) * (width / patch); }
};

// u ← F(image); image is (C, H, W) row-major.
PetscErrorCode EmbedImage(const Grid &grid, const VitProcessing &vit, const std::vector<PetscReal> &image, Vec u);
// G(u) on every rank (discretization/class_token_head.hpp).
PetscErrorCode ClassTokenLogits(const Grid &grid, const VitProcessing &vit, Vec u, std::vector<PetscReal> *logits);
// Transposes for the discrete adjoint; d holds the gradients of the arrays of VitProcessing that the map uses (this
// rank's share), sized on first use. F^T: dE += Σ_i patch_i^T λ_i, db += Σ_{i ≥ 1} λ_i, dv0 += λ_0, dP += λ.
PetscErrorCode EmbedImageTranspose(const Grid &grid, const VitProcessing &vit, const std::vector<PetscReal> &image, Vec lambda, VitProcessing *d);
// G^T: λ(x_0, ·) += B dz, dB += u(x_0, ·)^T dz, dc += dz (dz = ∂L/∂z, the same on every rank).
PetscErrorCode ClassTokenLogitsTranspose(const Grid &grid, const VitProcessing &vit, Vec u, const std::vector<PetscReal> &dz, Vec lambda,
                                         VitProcessing *d);

}  // namespace ctflow
