#include "discretization/vit_processing.hpp"

#include <cblas.h>

#include <algorithm>

namespace ctflow {

PetscErrorCode EmbedImage(const Grid &grid, const VitProcessing &vit, const std::vector<PetscReal> &image, Vec u) {
  const PetscInt Ny = grid.Ny(), p = vit.patch, nw = vit.width / p, D = vit.channels * p * p;
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
      const PetscInt i = (token - 1) / nw, j = (token - 1) % nw;
      for (PetscInt c = 0; c < vit.channels; ++c)
        for (PetscInt di = 0; di < p; ++di)
          for (PetscInt dj = 0; dj < p; ++dj) patch[(c * p + di) * p + dj] = image[(c * vit.height + i * p + di) * vit.width + j * p + dj];
      std::copy_n(vit.patch_bias.data(), Ny, row);
      cblas_dgemv(CblasRowMajor, CblasTrans, D, Ny, 1.0, vit.patch_embedding.data(), Ny, patch.data(), 1, 1.0, row, 1);
    }
    for (PetscInt l = 0; l < Ny; ++l) row[l] += vit.position_embedding[token * Ny + l];
  }
  PetscCall(VecRestoreArrayWrite(u, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode ClassTokenLogits(const Grid &grid, const VitProcessing &vit, Vec u, std::vector<PetscReal> *logits) {
  const PetscInt Ny = grid.Ny();
  const PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCallCXX(logits->assign(vit.classes, 0.0));
  if (grid.XStart() == 0) {  // the rank that owns the class token
    PetscCall(VecGetArrayRead(u, &a));
    std::copy(vit.head_bias.begin(), vit.head_bias.end(), logits->begin());
    cblas_dgemv(CblasRowMajor, CblasTrans, Ny, vit.classes, 1.0, vit.head_weight.data(), vit.classes, a, 1, 1.0, logits->data(), 1);
    PetscCall(VecRestoreArrayRead(u, &a));
  }
  PetscCallMPI(MPI_Bcast(logits->data(), (PetscMPIInt)vit.classes, MPIU_REAL, 0, grid.Comm()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
