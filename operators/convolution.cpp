#include "operators/convolution.hpp"

#include <cblas.h>

#include <algorithm>

namespace ctflow {

PetscErrorCode Convolution2D::SetUp(const ImageShape &shape, PetscInt k1, PetscInt k2, PetscInt max_columns) {
  PetscFunctionBeginUser;
  PetscCheck(shape.Active(), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "a convolution needs a two-dimensional feature domain");
  PetscCheck(k1 % 2 == 1 && k2 % 2 == 1, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "stencil %" PetscInt_FMT " x %" PetscInt_FMT " is not odd", k1, k2);
  shape_ = shape;
  k_[0] = k1, k_[1] = k2;
  rows_ = std::clamp<PetscInt>(max_columns / (k1 * k2 * shape.N[1]), 1, shape.N[0]);
  PetscCallCXX(columns_.resize(k1 * k2 * rows_ * shape.N[1]));
  PetscFunctionReturn(0);
}

void Convolution2D::Columns(const PetscReal *v, PetscInt p0, PetscInt p1) {
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], c1 = k_[0] / 2, c2 = k_[1] / 2, n = (p1 - p0) * N2;
  // Row (s1, s2) of P is v shifted by the offset, P[s][(p1, p2)] = v(p1 − s1, p2 − s2), zero outside Ω_y.
  for (PetscInt i1 = 0; i1 < k_[0]; ++i1)
    for (PetscInt i2 = 0; i2 < k_[1]; ++i2) {
      const PetscInt s1 = i1 - c1, s2 = i2 - c2;
      PetscReal *row = &columns_[(i1 * k_[1] + i2) * n];
      const PetscInt lo = std::clamp<PetscInt>(s2, 0, N2), hi = std::clamp<PetscInt>(N2 + s2, 0, N2);  // p2 with 0 ≤ p2 − s2 < N2
      for (PetscInt p = p0; p < p1; ++p) {
        PetscReal *dst = row + (p - p0) * N2;
        const PetscInt q = p - s1;
        if (q < 0 || q >= N1 || lo >= hi) {
          std::fill_n(dst, N2, 0.0);
          continue;
        }
        std::fill(dst, dst + lo, 0.0);
        std::copy(v + q * N2 + lo - s2, v + q * N2 + hi - s2, dst + lo);
        std::fill(dst + hi, dst + N2, 0.0);
      }
    }
}

void Convolution2D::Apply(const PetscReal *v, PetscInt n, const PetscReal *kernels, PetscReal beta, PetscReal *out, PetscInt ldo) {
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], kk = k_[0] * k_[1];
  for (PetscInt p0 = 0; p0 < N1; p0 += rows_) {
    const PetscInt p1 = std::min(N1, p0 + rows_), m = (p1 - p0) * N2;
    Columns(v, p0, p1);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, m, kk, shape_.d(0) * shape_.d(1), kernels, kk, columns_.data(), m, beta, out + p0 * N2,
                ldo);
  }
}

}  // namespace ctflow
