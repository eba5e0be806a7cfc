// The measurement behind operators/gemm.hpp's threshold: the same products timed on BLIS (cblas_dgemm) and on
// OpenBLAS (its own cblas_dgemm), on the kernels ctflow selects, one thread, row-major, B transposed.
//
//   build/bench/bench_small_gemm [m n k ...]
//
// prints, per shape, each library's time per call and GFLOP/s, and which one ctflow::Gemm uses (bench/RESULTS.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"

extern "C" void openblas_set_num_threads(int);

// Best of 3 rounds of repeated calls (about 0.2 s each): seconds per call.
static double SecondsPerCall(ctflow::CblasDgemmFunction gemm, int m, int n, int k) {
  std::vector<double> A((size_t)m * k, 1.1), B((size_t)n * k, 0.7), C((size_t)m * n);
  const int reps = std::max(3, (int)(2e8 / (2.0 * m * n * k + 2e3)));
  double best = 1e300;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, A.data(), k, B.data(), k, 0.0, C.data(), n);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  return best;
}

int main(int argc, char **argv) {
  ctflow::BlasSelectKernels(&argc, &argv);
  openblas_set_num_threads(1);  // BLIS runs one thread unless told otherwise
  std::vector<int> shapes = {5,   96,  32, 5,  5,    8,  17, 96,  32,  17, 17,  8,   64, 64,  64,  160, 96,   32,  64, 64,  128,  128, 128,
                             128, 544, 96, 32, 1088, 96, 32, 256, 256, 64, 512, 256, 64, 256, 256, 256, 2048, 256, 64, 512, 1536, 512};
  if (argc > 1) {
    shapes.resize(argc - 1);
    std::transform(argv + 1, argv + argc, shapes.begin(), [](char *a) { return std::atoi(a); });
  }
  if (!ctflow::OpenblasDgemm() || shapes.size() % 3) return std::fprintf(stderr, "usage: bench_small_gemm [m n k ...] (needs OpenBLAS)\n"), 1;
  std::printf("%s\n\n| m | n | k | BLIS [us] | GFLOP/s | OpenBLAS [us] | GFLOP/s | ctflow::Gemm uses |\n|---|---|---|---|---|---|---|---|\n",
              ctflow::BlasDescription().c_str());
  for (size_t i = 0; i < shapes.size(); i += 3) {
    const int m = shapes[i], n = shapes[i + 1], k = shapes[i + 2];
    const double flops = 2.0 * m * n * k, blis = SecondsPerCall(&cblas_dgemm, m, n, k), openblas = SecondsPerCall(ctflow::OpenblasDgemm(), m, n, k);
    std::printf("| %d | %d | %d | %.2f | %.1f | %.2f | %.1f | %s |\n", m, n, k, blis * 1e6, flops / blis * 1e-9, openblas * 1e6,
                flops / openblas * 1e-9, ctflow::GemmLibraryFor(m, n, k) == &cblas_dgemm ? "BLIS" : "OpenBLAS");
  }
  return 0;
}
