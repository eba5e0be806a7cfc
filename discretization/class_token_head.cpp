#include "discretization/class_token_head.hpp"

#include <cblas.h>

#include <algorithm>

namespace ctflow {

void ClassTokenHead(PetscInt Ny, PetscInt classes, const PetscReal *B, const PetscReal *c, const PetscReal *row, PetscReal *z) {
  std::copy_n(c, classes, z);
  cblas_dgemv(CblasRowMajor, CblasTrans, Ny, classes, 1.0, B, classes, row, 1, 1.0, z, 1);
}

void ClassTokenHeadTranspose(PetscInt Ny, PetscInt classes, const PetscReal *B, const PetscReal *row, const PetscReal *dz, PetscReal *lambda_row,
                             PetscReal *dB, PetscReal *dc) {
  cblas_dger(CblasRowMajor, Ny, classes, 1.0, row, 1, dz, 1, dB, classes);
  for (PetscInt k = 0; k < classes; ++k) dc[k] += dz[k];
  cblas_dgemv(CblasRowMajor, CblasNoTrans, Ny, classes, 1.0, B, classes, dz, 1, 1.0, lambda_row, 1);
}

PetscErrorCode ClassTokenHead(const Grid &grid, PetscInt classes, const PetscReal *B, const PetscReal *c, Vec u, std::vector<PetscReal> *z) {
  const PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCallCXX(z->assign(classes, 0.0));
  if (grid.XStart() == 0 && grid.XLocal() > 0) {  // the rank that owns the class token
    PetscCall(VecGetArrayRead(u, &a));
    ClassTokenHead(grid.Ny(), classes, B, c, a, z->data());
    PetscCall(VecRestoreArrayRead(u, &a));
  }
  PetscCallMPI(MPI_Bcast(z->data(), (PetscMPIInt)classes, MPIU_REAL, 0, grid.Comm()));
  PetscFunctionReturn(0);
}

PetscErrorCode ClassTokenHeadTranspose(const Grid &grid, PetscInt classes, const PetscReal *B, Vec u, const PetscReal *dz, Vec lambda, PetscReal *dB,
                                       PetscReal *dc) {
  const PetscScalar *a;
  PetscScalar *l;
  PetscFunctionBeginUser;
  if (grid.XStart() != 0 || grid.XLocal() == 0) PetscFunctionReturn(0);
  PetscCall(VecGetArrayRead(u, &a));
  PetscCall(VecGetArray(lambda, &l));
  ClassTokenHeadTranspose(grid.Ny(), classes, B, a, dz, l, dB, dc);
  PetscCall(VecRestoreArray(lambda, &l));
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
