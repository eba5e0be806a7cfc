// Gemm: ctflow's matrix products, each on the library that is fastest for its size (bench/RESULTS.md, "Small GEMMs").
// BLIS's kernels are the fastest for large products, but every BLIS call costs 2.5–4 µs however small it is (its
// object API); OpenBLAS 0.3.21 answers a 5 × 32 × 32 product in 0.1 µs with its small-matrix kernels. Products with
// m n k below a threshold therefore go to OpenBLAS (which ctflow links anyway, for PETSc's LAPACK), the rest to BLIS.
// The threshold follows the instruction set of OpenBLAS's running kernels (operators/blas_kernels.hpp), or
// -blas_small_gemm; both libraries run on one thread per rank unless their thread variables say otherwise.
#pragma once
#include <cblas.h>
#include <petscsys.h>

#include <string>

namespace ctflow {

using CblasDgemmFunction = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, double, const double *, int, const double *, int,
                                    double, double *, int);
// OpenBLAS's cblas_dgemm, which BLIS's takes the name of at link time (nullptr if OpenBLAS is not loaded).
CblasDgemmFunction OpenblasDgemm();

// Row-major C ← α op(A) op(B) + β C, as cblas_dgemm computes it.
void Gemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, PetscInt m, PetscInt n, PetscInt k, PetscReal alpha, const PetscReal *A, PetscInt lda,
          const PetscReal *B, PetscInt ldb, PetscReal beta, PetscReal *C, PetscInt ldc);

// Products with m n k below `mnk` run on OpenBLAS (0: every product on BLIS).
void GemmSetSmallThreshold(double mnk);
double GemmSmallThreshold();
// The threshold for OpenBLAS kernels `core` (openblas_get_corename): where BLIS's overtake them (bench/RESULTS.md).
double GemmSmallThresholdForCore(const std::string &core);
// The threshold for the running OpenBLAS kernels (0 without OpenBLAS).
double GemmDefaultSmallThreshold();
// The cblas_dgemm that Gemm calls for an m × n × k product (OpenBLAS's or BLIS's).
CblasDgemmFunction GemmLibraryFor(PetscInt m, PetscInt n, PetscInt k);
// BLIS's double-precision GEMM micro-kernel, for products fused with other work (Attention::AccumulatePanels):
// C ← α A B + β C for an m × n block C (m ≤ mr, n ≤ nr; element (i, j) at c[i rs_c + j cs_c]) from packed panels, A
// with mr entries per step of k and B with nr (full panels, zero-padded beyond m and n; 64-byte aligned). mr = 0 when
// there is none to use: BLIS runs several threads, or its kernel prefers rows (the fused products write columns).
struct MicroKernel {
  int mr = 0, nr = 0;
  void *gemm = nullptr, *cntx = nullptr;  // BLIS's dgemm_ukr_ft and its context
  void operator()(PetscInt m, PetscInt n, PetscInt k, PetscReal alpha, const PetscReal *a, const PetscReal *b, PetscReal beta, PetscReal *c,
                  PetscInt rs_c, PetscInt cs_c) const;
};
// The running BLIS's micro-kernel (looked up on every call: the thread count may change).
MicroKernel GemmMicroKernel();
// Whether attention heads of d features run fused on `ukr` (the forward's softmax and its transpose): d in whole panels
// of m_r, n_r ≤ 16, and a panel of queries and one of keys in L2 up to d = 256 (beyond it the GEMMs per tile are faster:
// the convolutional attention's d = N_y, bench/RESULTS.md "One streaming softmax").
bool MicroKernelTakesHeads(const MicroKernel &ukr, PetscInt d);
// A row-major matrix's first `rows` rows (leading dimension ld, d columns) as the micro-kernel's panels of w rows:
// to[p][z][i] = from[(p w + i) ld + z], zero beyond `rows` (whole panels).
void PackRowPanels(PetscInt rows, PetscInt d, PetscInt w, const PetscReal *from, PetscInt ld, PetscReal *to);
// Its d columns (a multiple of w) as panels of w columns, panel zp at to + zp stride: to[zp][i][z] = from[i ld + zp w + z].
void PackColumnPanels(PetscInt rows, PetscInt d, PetscInt w, const PetscReal *from, PetscInt ld, PetscReal *to, size_t stride);
// Reads -blas_small_gemm (once per process).
PetscErrorCode GemmSetFromOptions(MPI_Comm comm);

}  // namespace ctflow
