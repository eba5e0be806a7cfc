// Times operators/gelu.hpp's GeluBias and GeluBackward against the scalar loops they replaced (libm's erf and exp per
// entry, as LiftedFeedForward had them), on a hidden layer of rows × F entries drawn from N(0, σ²); also the AVX-512,
// AVX2 and baseline versions of the loops (compiled here from operators/gelu_kernel.hpp) that the CPU can run. Best of
// 7 × 50 calls, nanoseconds per entry (bench/RESULTS.md).
//
//   build/bench/bench_gelu [rows F σ]      (default: 160 64 1.5, the digits ViT's batch of 32 × 5 tokens)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "discretization/base/simd_clones.hpp"
#include "operators/gelu.hpp"
#pragma GCC diagnostic ignored "-Wpsabi"  // see gelu_kernel.hpp
#include "operators/gelu_kernel.hpp"

namespace {

__attribute__((noinline)) void ScalarForward(int rows, int F, const double *b, double *z) {
  for (int k = 0; k < rows; ++k)
    for (int c = 0; c < F; ++c) {
      const double v = z[k * F + c] + b[c];
      z[k * F + c] = 0.5 * v * (1 + std::erf(v * M_SQRT1_2));
    }
}

__attribute__((noinline)) void ScalarBackward(int n, const double *pre, double *z, double *dz) {
  for (int i = 0; i < n; ++i) {
    const double h = pre[i], Phi = 0.5 * (1 + std::erf(h * M_SQRT1_2)), phi = std::exp(-0.5 * h * h) / std::sqrt(2 * M_PI);
    z[i] = h * Phi;
    dz[i] *= Phi + h * phi;
  }
}

#if CTFLOW_HAVE_SIMD_CLONES
using ctflow::gelu_kernel::BackwardLoop;
using ctflow::gelu_kernel::BiasLoop;
__attribute__((target("arch=x86-64-v4"))) void Forward512(int r, int F, const double *b, double *z) {
  BiasLoop<ctflow::Vec8, true>(r, F, b, z, nullptr);
}
__attribute__((target("arch=x86-64-v3"))) void Forward2(int r, int F, const double *b, double *z) {
  BiasLoop<ctflow::Vec4, true>(r, F, b, z, nullptr);
}
void ForwardBase(int r, int F, const double *b, double *z) { BiasLoop<double, false>(r, F, b, z, nullptr); }
__attribute__((target("arch=x86-64-v4"))) void Backward512(int r, int F, const double *h, double *z, double *dz, double *db) {
  BackwardLoop<ctflow::Vec8, true>(r, F, h, z, dz, db);
}
__attribute__((target("arch=x86-64-v3"))) void Backward2(int r, int F, const double *h, double *z, double *dz, double *db) {
  BackwardLoop<ctflow::Vec4, true>(r, F, h, z, dz, db);
}
void BackwardBase(int r, int F, const double *h, double *z, double *dz, double *db) { BackwardLoop<double, false>(r, F, h, z, dz, db); }
#endif

template <class F>
double NanosecondsPerEntry(int n, F f) {
  double best = 1e300;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) f();
    best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / (50.0 * n));
  }
  return best;
}

}  // namespace

int main(int argc, char **argv) {
  const int rows = argc > 2 ? std::atoi(argv[1]) : 160, F = argc > 2 ? std::atoi(argv[2]) : 64, n = rows * F;
  const double sigma = argc > 3 ? std::atof(argv[3]) : 1.5;
  std::vector<double> z0(n), z(n), pre(n), dz(n, 1.0), b(F), db(F);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(0, sigma);
  for (double &x : z0) x = normal(rng);
  for (double &x : pre) x = normal(rng);
  for (double &x : b) x = 0.1 * normal(rng);
  const double copy = NanosecondsPerEntry(n, [&] { z = z0; });
  const double f_old = NanosecondsPerEntry(n, [&] { z = z0, ScalarForward(rows, F, b.data(), z.data()); }) - copy;
  const double f_new = NanosecondsPerEntry(n, [&] { z = z0, ctflow::GeluBias(rows, F, b.data(), z.data(), nullptr); }) - copy;
  const double b_old = NanosecondsPerEntry(n, [&] { ScalarBackward(n, pre.data(), z.data(), dz.data()); });
  const double b_new = NanosecondsPerEntry(n, [&] { ctflow::GeluBackward(rows, F, pre.data(), z.data(), dz.data(), db.data()); });
  std::printf("%d x %d, sigma %g: forward (+ bias) %.2f -> %.2f ns per entry (%.1fx), forward + derivative %.2f -> %.2f (%.1fx)\n", rows, F, sigma,
              f_old, f_new, f_old / f_new, b_old, b_new, b_old / b_new);
#if CTFLOW_HAVE_SIMD_CLONES
  struct {
    const char *name;
    void (*forward)(int, int, const double *, double *);
    void (*backward)(int, int, const double *, double *, double *, double *);
    bool runs;
  } versions[] = {{"AVX-512", Forward512, Backward512, __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")},
                  {"AVX2", Forward2, Backward2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
                  {"baseline", ForwardBase, BackwardBase, true}};
  for (const auto &v : versions) {
    if (!v.runs) continue;
    const double f = NanosecondsPerEntry(n, [&] { z = z0, v.forward(rows, F, b.data(), z.data()); }) - copy;
    const double d = NanosecondsPerEntry(n, [&] { v.backward(rows, F, pre.data(), z.data(), dz.data(), db.data()); });
    std::printf("  %-8s loops: forward %.2f, forward + derivative %.2f ns per entry\n", v.name, f, d);
  }
#endif
  return 0;
}
