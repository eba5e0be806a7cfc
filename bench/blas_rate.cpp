// The BLAS kernels ctflow selects on this machine and their single-call DGEMM rate, for the benchmark
// scripts (bench/bench_vs_torch.py): the same start-up selection as the ctflow executable, no MPI.
//
//   build/ctflow_blas_rate [n]
//
// prints "kernels: NAME" (BLIS's), "library: PATH" (the shared library ctflow's large GEMMs run in), "BLIS_ARCH_TYPE:
// VALUE" (as selected or set; "unset": BLIS's own choice), "OPENBLAS_CORETYPE: VALUE" (the same for OpenBLAS, which
// runs the small GEMMs), "blas: DESCRIPTION" and "dgemm: RATE GFLOP/s" (BLIS's).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "operators/blas_kernels.hpp"

int main(int argc, char **argv) {
  ctflow::BlasSelectKernels(&argc, &argv);
  const int n = argc > 1 ? std::atoi(argv[1]) : 1024;
  std::vector<double> A((size_t)n * n), B((size_t)n * n), C((size_t)n * n);
  for (size_t i = 0; i < A.size(); ++i) A[i] = B[i] = 1.0 / (1 + i % 17);
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {  // the first call also touches C and the library's buffers
    const auto t0 = std::chrono::steady_clock::now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C.data(), n);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const char *arch = std::getenv("BLIS_ARCH_TYPE"), *core = std::getenv("OPENBLAS_CORETYPE");
  std::printf("kernels: %s\nlibrary: %s\nBLIS_ARCH_TYPE: %s\nOPENBLAS_CORETYPE: %s\nblas: %s\ndgemm: %.1f GFLOP/s\n",
              ctflow::BlasKernelName().c_str(), ctflow::BlasLibraryPath().c_str(), arch ? arch : "unset", core && *core ? core : "unset",
              ctflow::BlasDescription().c_str(), 2.0 * n * n * n / best / 1e9);
  return 0;
}
