// Matrix exponential of a dense n × n matrix by scaling and squaring with the diagonal Padé(13)
// approximant: N. J. Higham, "The scaling and squaring method for the matrix exponential revisited",
// SIAM J. Matrix Anal. Appl. 26(4), 1179–1193 (2005), Algorithm 2.3 with m = 13 only: A is scaled by 2^-s
// so that ||A/2^s||_1 ≤ θ_13 = 5.37, r_13(A/2^s) = q^{-1} p is formed with 6 matrix products and one
// LU solve (BLAS dgemm, LAPACK dgesv), and squared s times; its backward error bound is the unit round-off.
//
// A and E are stored in the same order (row- or column-major: exp commutes with transposition).
#pragma once
#include <petscsys.h>

namespace ctflow {

// E = exp(A); A and E are n × n, n ≥ 1, and may not alias.
PetscErrorCode MatrixExponential(MPI_Comm comm, PetscInt n, const PetscReal *A, PetscReal *E);

}  // namespace ctflow
