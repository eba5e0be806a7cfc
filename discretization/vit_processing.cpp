#include "discretization/vit_processing.hpp"

#include <cblas.h>

#include <algorithm>

#include "discretization/class_token_head.hpp"

namespace ctflow {

// The patch (i, j) of the image, flattened in (channel, row, column) order.
static void Patch(const VitProcessing &vit, const std::vector<PetscReal> &image, PetscInt i, PetscInt j, PetscReal *patch) {
  const PetscInt p = vit.patch;
  for (PetscInt c = 0; c < vit.channels; ++c)
    for (PetscInt di = 0; di < p; ++di)
      for (PetscInt dj = 0; dj < p; ++dj) patch[(c * p + di) * p + dj] = image[(c * vit.height + i * p + di) * vit.width + j * p + dj];
}

// Zero arrays of the sizes of `like`'s, where they are still empty.
static PetscErrorCode SizeLike(const std::vector<PetscReal> &like, std::vector<PetscReal> *a) {
  PetscFunctionBeginUser;
  if (a->empty()) PetscCallCXX(a->assign(like.size(), 0.0));
  PetscFunctionReturn(0);
}

PetscErrorCode EmbedImage(const Grid &grid, const VitProcessing &vit, const std::vector<PetscReal> &image, Vec u) {
  const PetscInt Ny = grid.Ny(), nw = vit.width / vit.patch, D = vit.channels * vit.patch * vit.patch;
  std::vector<PetscReal> patch(D);
  PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayWrite(u, &a));
  for (PetscInt r = 0; r < grid.XLocal(); ++r) {
    const PetscInt token = grid.XStart() + r;
    PetscReal *row = &a[r * Ny];
    if (token == 0) {
      std::copy_n(vit.class_token.data(), Ny, row);
    } else {
      Patch(vit, image, (token - 1) / nw, (token - 1) % nw, patch.data());
      std::copy_n(vit.patch_bias.data(), Ny, row);
      cblas_dgemv(CblasRowMajor, CblasTrans, D, Ny, 1.0, vit.patch_embedding.data(), Ny, patch.data(), 1, 1.0, row, 1);
    }
    for (PetscInt l = 0; l < Ny; ++l) row[l] += vit.position_embedding[token * Ny + l];
  }
  PetscCall(VecRestoreArrayWrite(u, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode ClassTokenLogits(const Grid &grid, const VitProcessing &vit, Vec u, std::vector<PetscReal> *logits) {
  return ClassTokenHead(grid, vit.classes, vit.head_weight.data(), vit.head_bias.data(), u, logits);
}

PetscErrorCode EmbedImageTranspose(const Grid &grid, const VitProcessing &vit, const std::vector<PetscReal> &image, Vec lambda, VitProcessing *d) {
  const PetscInt Ny = grid.Ny(), nw = vit.width / vit.patch, D = vit.channels * vit.patch * vit.patch;
  std::vector<PetscReal> patch(D);
  const PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(SizeLike(vit.patch_embedding, &d->patch_embedding));
  PetscCall(SizeLike(vit.patch_bias, &d->patch_bias));
  PetscCall(SizeLike(vit.class_token, &d->class_token));
  PetscCall(SizeLike(vit.position_embedding, &d->position_embedding));
  PetscCall(VecGetArrayRead(lambda, &a));
  for (PetscInt r = 0; r < grid.XLocal(); ++r) {
    const PetscInt token = grid.XStart() + r;
    const PetscReal *row = &a[r * Ny];
    for (PetscInt l = 0; l < Ny; ++l) d->position_embedding[token * Ny + l] += row[l];
    if (token == 0) {
      for (PetscInt l = 0; l < Ny; ++l) d->class_token[l] += row[l];
      continue;
    }
    Patch(vit, image, (token - 1) / nw, (token - 1) % nw, patch.data());
    for (PetscInt l = 0; l < Ny; ++l) d->patch_bias[l] += row[l];
    cblas_dger(CblasRowMajor, D, Ny, 1.0, patch.data(), 1, row, 1, d->patch_embedding.data(), Ny);
  }
  PetscCall(VecRestoreArrayRead(lambda, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode ClassTokenLogitsTranspose(const Grid &grid, const VitProcessing &vit, Vec u, const std::vector<PetscReal> &dz, Vec lambda,
                                         VitProcessing *d) {
  PetscFunctionBeginUser;
  PetscCall(SizeLike(vit.head_weight, &d->head_weight));
  PetscCall(SizeLike(vit.head_bias, &d->head_bias));
  PetscCall(ClassTokenHeadTranspose(grid, vit.classes, vit.head_weight.data(), u, dz.data(), lambda, d->head_weight.data(), d->head_bias.data()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
