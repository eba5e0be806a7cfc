#include "discretization/cvt_processing.hpp"

#include <cblas.h>

#include <algorithm>

namespace ctflow {

PetscErrorCode CvtEmbedImage(const Grid &grid, const CvtProcessing &cvt, const std::vector<PetscReal> &image, Vec u) {
  const PetscInt Ny = grid.Ny(), N1 = grid.Image().N[0], N2 = grid.Image().N[1], k = cvt.kernel, s = cvt.stride, p = cvt.padding;
  PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayWrite(u, &a));
  for (PetscInt r = 0; r < grid.XLocal(); ++r) {
    const PetscInt x = grid.XStart() + r;
    for (PetscInt i = 0; i < N1; ++i)
      for (PetscInt j = 0; j < N2; ++j) {
        PetscReal sum = cvt.bias[x];
        for (PetscInt c = 0; c < cvt.channels; ++c)
          for (PetscInt di = 0; di < k; ++di) {
            const PetscInt row = s * i + di - p;
            if (row < 0 || row >= cvt.height) continue;
            for (PetscInt dj = 0; dj < k; ++dj) {
              const PetscInt col = s * j + dj - p;
              if (col >= 0 && col < cvt.width)
                sum += cvt.embedding[((x * cvt.channels + c) * k + di) * k + dj] * image[(c * cvt.height + row) * cvt.width + col];
            }
          }
        a[r * Ny + i * N2 + j] = sum;
      }
  }
  PetscCall(VecRestoreArrayWrite(u, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode CvtLogits(const Grid &grid, const CvtProcessing &cvt, Vec u, std::vector<PetscReal> *logits) {
  const PetscInt Ny = grid.Ny(), xm = grid.XLocal();
  const PetscScalar *a;
  std::vector<PetscReal> mean(xm);
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(u, &a));
  for (PetscInt r = 0; r < xm; ++r) {
    PetscReal sum = 0;
    for (PetscInt l = 0; l < Ny; ++l) sum += a[r * Ny + l];
    mean[r] = sum / Ny;  // (1/|Ω_y|) Σ_l u Δy
  }
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCallCXX(logits->assign(cvt.classes, 0.0));
  cblas_dgemv(CblasRowMajor, CblasTrans, xm, cvt.classes, 1.0, &cvt.head_weight[grid.XStart() * cvt.classes], cvt.classes, mean.data(), 1, 0.0,
              logits->data(), 1);
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, logits->data(), (PetscMPIInt)cvt.classes, MPIU_REAL, MPIU_SUM, grid.Comm()));
  for (PetscInt c = 0; c < cvt.classes; ++c) (*logits)[c] += cvt.head_bias[c];
  PetscFunctionReturn(0);
}

}  // namespace ctflow
