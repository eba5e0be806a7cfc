#include "discretization/cvt_processing.hpp"

#include <cblas.h>

#include <algorithm>

#include "discretization/class_token_head.hpp"

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
  if (cvt.head == CvtHead::kClassToken) {
    PetscCall(ClassTokenHead(grid, cvt.classes, cvt.head_weight.data(), cvt.head_bias.data(), u, logits));
    PetscFunctionReturn(0);
  }
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

PetscErrorCode CvtEmbedImageTranspose(const Grid &grid, const CvtProcessing &cvt, const std::vector<PetscReal> &image, Vec lambda, CvtProcessing *d) {
  const PetscInt Ny = grid.Ny(), N1 = grid.Image().N[0], N2 = grid.Image().N[1], k = cvt.kernel, s = cvt.stride, p = cvt.padding, C = cvt.channels;
  const PetscScalar *l;
  PetscFunctionBeginUser;
  if (d->embedding.empty()) PetscCallCXX(d->embedding.assign(cvt.embedding.size(), 0.0));
  if (d->bias.empty()) PetscCallCXX(d->bias.assign(cvt.bias.size(), 0.0));
  PetscCall(VecGetArrayRead(lambda, &l));
  for (PetscInt r = 0; r < grid.XLocal(); ++r) {
    const PetscInt x = grid.XStart() + r;
    for (PetscInt i = 0; i < N1; ++i)
      for (PetscInt j = 0; j < N2; ++j) {
        const PetscReal g = l[r * Ny + i * N2 + j];
        d->bias[x] += g;
        for (PetscInt c = 0; c < C; ++c)
          for (PetscInt di = 0; di < k; ++di) {
            const PetscInt row = s * i + di - p;
            if (row < 0 || row >= cvt.height) continue;
            for (PetscInt dj = 0; dj < k; ++dj) {
              const PetscInt col = s * j + dj - p;
              if (col >= 0 && col < cvt.width) d->embedding[((x * C + c) * k + di) * k + dj] += g * image[(c * cvt.height + row) * cvt.width + col];
            }
          }
      }
  }
  PetscCall(VecRestoreArrayRead(lambda, &l));
  PetscFunctionReturn(0);
}

PetscErrorCode CvtLogitsTranspose(const Grid &grid, const CvtProcessing &cvt, Vec u, const std::vector<PetscReal> &dz, Vec lambda, CvtProcessing *d) {
  const PetscInt Ny = grid.Ny(), xm = grid.XLocal(), xs = grid.XStart(), C = cvt.classes;
  const PetscScalar *a;
  PetscScalar *l;
  PetscFunctionBeginUser;
  if (d->head_weight.empty()) PetscCallCXX(d->head_weight.assign(cvt.head_weight.size(), 0.0));
  if (d->head_bias.empty()) PetscCallCXX(d->head_bias.assign(C, 0.0));
  if (cvt.head == CvtHead::kClassToken) {
    PetscCall(ClassTokenHeadTranspose(grid, C, cvt.head_weight.data(), u, dz.data(), lambda, d->head_weight.data(), d->head_bias.data()));
    PetscFunctionReturn(0);
  }
  PetscCall(VecGetArrayRead(u, &a));
  PetscCall(VecGetArray(lambda, &l));
  for (PetscInt r = 0; r < xm; ++r) {
    PetscReal mean = 0, dmean = 0;
    for (PetscInt q = 0; q < Ny; ++q) mean += a[r * Ny + q];
    mean /= Ny;
    for (PetscInt c = 0; c < C; ++c) {
      dmean += cvt.head_weight[(xs + r) * C + c] * dz[c];
      d->head_weight[(xs + r) * C + c] += mean * dz[c];
    }
    for (PetscInt q = 0; q < Ny; ++q) l[r * Ny + q] += dmean / Ny;
  }
  PetscCall(VecRestoreArray(lambda, &l));
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscMPIInt rank;
  PetscCallMPI(MPI_Comm_rank(grid.Comm(), &rank));
  if (rank == 0)  // dz is replicated: one rank's share is all of dc
    for (PetscInt c = 0; c < C; ++c) d->head_bias[c] += dz[c];
  PetscFunctionReturn(0);
}

}  // namespace ctflow
