#include "solver/timestepping/matrix_exponential.hpp"

#include <petscblaslapack.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ctflow {

// Coefficients b_0 … b_13 of the Padé(13) numerator p(x) = Σ b_k x^k (q(x) = p(-x)), Higham (2005) eq. (2.3).
static const PetscReal kPade13[14] = {64764752532480000.,
                                      32382376266240000.,
                                      7771770303897600.,
                                      1187353796428800.,
                                      129060195264000.,
                                      10559470521600.,
                                      670442572800.,
                                      33522128640.,
                                      1323241920.,
                                      40840800.,
                                      960960.,
                                      16380.,
                                      182.,
                                      1.};
static const PetscReal kTheta13 = 5.371920351148152;

PetscErrorCode MatrixExponential(MPI_Comm comm, PetscInt n, const PetscReal *A, PetscReal *E) {
  PetscBLASInt N, info;
  const PetscReal one = 1, zero = 0;
  PetscFunctionBeginUser;
  PetscCall(PetscBLASIntCast(n, &N));
  const size_t nn = (size_t)n * n;
  auto gemm = [&](const PetscReal *X, const PetscReal *Y, PetscReal *Z) { BLASgemm_("N", "N", &N, &N, &N, &one, X, &N, Y, &N, &zero, Z, &N); };

  // s = max(0, ⌈log2(||A||_1 / θ_13)⌉) (the 1-norm: largest column sum, in column-major terms).
  PetscReal norm = 0;
  for (PetscInt j = 0; j < n; ++j) {
    PetscReal col = 0;
    for (PetscInt i = 0; i < n; ++i) col += std::abs(A[j * n + i]);
    norm = std::max(norm, col);
  }
  PetscCheck(PetscIsNormalReal(norm) || norm == 0, comm, PETSC_ERR_FP, "matrix exponential of a non-finite matrix");
  const int s = norm > kTheta13 ? (int)std::ceil(std::log2(norm / kTheta13)) : 0;
  const PetscReal scale = std::ldexp(1.0, -s);

  std::vector<PetscReal> A1(nn), A2(nn), A4(nn), A6(nn), U(nn), V(nn), T(nn);
  std::vector<PetscBLASInt> pivots(n);
  for (size_t k = 0; k < nn; ++k) A1[k] = scale * A[k];
  gemm(A1.data(), A1.data(), A2.data());
  gemm(A2.data(), A2.data(), A4.data());
  gemm(A4.data(), A2.data(), A6.data());
  const PetscReal *b = kPade13;
  // U = A [A6 (b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I],
  // V = A6 (b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I.
  for (size_t k = 0; k < nn; ++k) T[k] = b[13] * A6[k] + b[11] * A4[k] + b[9] * A2[k];
  gemm(A6.data(), T.data(), U.data());
  for (size_t k = 0; k < nn; ++k) U[k] += b[7] * A6[k] + b[5] * A4[k] + b[3] * A2[k];
  for (PetscInt i = 0; i < n; ++i) U[i * n + i] += b[1];
  gemm(A1.data(), U.data(), T.data());
  U.swap(T);
  for (size_t k = 0; k < nn; ++k) T[k] = b[12] * A6[k] + b[10] * A4[k] + b[8] * A2[k];
  gemm(A6.data(), T.data(), V.data());
  for (size_t k = 0; k < nn; ++k) V[k] += b[6] * A6[k] + b[4] * A4[k] + b[2] * A2[k];
  for (PetscInt i = 0; i < n; ++i) V[i * n + i] += b[0];

  // r_13 = (V − U)^{-1} (V + U), then E = r_13^(2^s).
  for (size_t k = 0; k < nn; ++k) {
    const PetscReal v = V[k], u = U[k];
    V[k] = v - u;
    E[k] = v + u;
  }
  LAPACKgesv_(&N, &N, V.data(), &N, pivots.data(), E, &N, &info);
  PetscCheck(info == 0, comm, PETSC_ERR_LIB, "matrix exponential: LAPACK dgesv failed (info = %d)", (int)info);
  for (int k = 0; k < s; ++k) {
    gemm(E, E, T.data());
    std::copy(T.begin(), T.end(), E);
  }
  PetscCall(PetscLogFlops((6.0 + s) * 2.0 * n * n * n + 2.0 / 3.0 * n * n * n));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
