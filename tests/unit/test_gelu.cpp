// The GELU kernels of operators/gelu.hpp against long-double references: GELU(h) = h Φ(h) in ulps and its derivative
// Φ(h) + h φ(h) relative to |Φ| + |h φ|, over dense sweeps of [−38, 38], random arguments and the pieces' boundaries; the
// special values; every block width 0 … 17 (the vector loops' tails) with the bias, the recorded pre-activation and the
// bias gradient; and the AVX-512, AVX2/FMA and baseline versions (compiled here from operators/gelu_kernel.hpp, each
// run where the CPU has it) against each other and against the version the library dispatches to.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "discretization/base/simd_clones.hpp"
#include "operators/gelu.hpp"
#pragma GCC diagnostic ignored "-Wpsabi"  // see gelu_kernel.hpp
#include "operators/gelu_kernel.hpp"

namespace {

using ctflow::gelu_kernel::BackwardLoop;
using ctflow::gelu_kernel::BiasLoop;
using ctflow::gelu_kernel::Gelu;

// The block loops of each instruction set (as operators/gelu.cpp compiles them), and one entry by the scalar kernel.
typedef void (*Backward)(PetscInt, PetscInt, const PetscReal *, PetscReal *, PetscReal *, PetscReal *);
typedef void (*Forward)(PetscInt, PetscInt, const PetscReal *, PetscReal *, PetscReal *);
typedef void (*Scalar)(double, double &, double &);
struct Version {
  const char *name;
  Backward backward;
  Forward forward;
  Scalar scalar;
  bool fma, runs;
};
#if CTFLOW_HAVE_SIMD_CLONES
__attribute__((target("arch=x86-64-v4"))) void Backward512(PetscInt r, PetscInt F, const PetscReal *h, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<ctflow::Vec8, true>(r, F, h, z, dz, db);
}
__attribute__((target("arch=x86-64-v3"))) void Backward2(PetscInt r, PetscInt F, const PetscReal *h, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<ctflow::Vec4, true>(r, F, h, z, dz, db);
}
void BackwardBase(PetscInt r, PetscInt F, const PetscReal *h, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<double, false>(r, F, h, z, dz, db);
}
__attribute__((target("arch=x86-64-v4"))) void Forward512(PetscInt r, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  BiasLoop<ctflow::Vec8, true>(r, F, b, z, pre);
}
__attribute__((target("arch=x86-64-v3"))) void Forward2(PetscInt r, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  BiasLoop<ctflow::Vec4, true>(r, F, b, z, pre);
}
void ForwardBase(PetscInt r, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) { BiasLoop<double, false>(r, F, b, z, pre); }
__attribute__((target("arch=x86-64-v3"))) void ScalarFma(double h, double &g, double &d) { Gelu<double, true, true>(h, g, d); }
void ScalarBase(double h, double &g, double &d) { Gelu<double, false, true>(h, g, d); }

bool HasAvx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
std::vector<Version> Versions() {
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return {{"AVX-512", Backward512, Forward512, ScalarFma, true, avx512},
          {"AVX2", Backward2, Forward2, ScalarFma, true, HasAvx2()},
          {"baseline", BackwardBase, ForwardBase, ScalarBase, false, true}};
}
// The scalar kernel that gives the bits of the version the library dispatches to.
void Dispatched(double h, double &g, double &d) { HasAvx2() ? ScalarFma(h, g, d) : ScalarBase(h, g, d); }
#else
using ctflow::gelu_kernel::kNativeFma;
void BackwardNative(PetscInt r, PetscInt F, const PetscReal *h, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<double, kNativeFma>(r, F, h, z, dz, db);
}
void ForwardNative(PetscInt r, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) { BiasLoop<double, kNativeFma>(r, F, b, z, pre); }
void Dispatched(double h, double &g, double &d) { Gelu<double, kNativeFma, true>(h, g, d); }
std::vector<Version> Versions() { return {{"portable", BackwardNative, ForwardNative, Dispatched, kNativeFma, true}}; }
#endif

// e^a, a reduced by k ln 2 with ln 2 in three parts (k ln 2 to 2^-120), so that expl meets only |r| ≤ ln2/2.
long double ExpL(long double a) {
  const long double A = 0xb17217f8p-32L, B = -0xb8c21951p-66L, C = 0x9e3b39803f2f6af4p-132L;
  const long double k = nearbyintl(a / (A + B));
  return ldexpl(expl(((a - k * A) - k * B) - k * C), (int)k);
}
// e^(−t²/2) with t² = th² + 2 th tl + tl² (th: t's top 26 bits), each term exact in long double.
long double ExpHalfSquareL(double t) {
  std::uint64_t bits;
  std::memcpy(&bits, &t, sizeof t);
  bits &= ~((std::uint64_t(1) << 27) - 1);
  double th;
  std::memcpy(&th, &bits, sizeof th);
  const long double tl = t - th;
  return ExpL(-0.5L * th * th) * ExpL(-th * tl) * ExpL(-0.5L * tl * tl);
}
// e^(t²/2) Φ(−t), t ≥ 0: erfcl (t < 5) or Laplace's continued fraction 1/(t + 1/(t + 2/(t + …))) (200 terms: 1e-20).
long double MillsL(double t) {
  if (t < 5) {
    const long double x = t * 0.707106781186547524400844362104849039L, xh = (float)x, xl = x - xh;
    return 0.5L * erfcl(x) * ExpL(xh * xh) * ExpL(2 * xh * xl) * ExpL(xl * xl);
  }
  long double f = t;
  for (int n = 200; n >= 1; --n) f = t + n / f;
  return 0.398942280401432677939946059934381868L / f;
}
long double PhiL(double h) { return h < 0 ? MillsL(-h) * ExpHalfSquareL(-h) : 1 - MillsL(h) * ExpHalfSquareL(h); }
long double DensityL(double h) { return 0.398942280401432677939946059934381868L * ExpHalfSquareL(std::fabs(h)); }

double Ulps(double y, long double exact) {
  int e;
  std::frexp((double)exact, &e);
  return (double)(fabsl(y - exact) / std::ldexp(1.0, std::max(e - 53, -1074)));
}

// Dense sweep of [−38, 38] (off the grid by 1e-9), normal random arguments, both sides of every piece boundary
// 2^e (1 + j/4) and of |h| = 1/2 and 37.6.
std::vector<double> Arguments() {
  std::vector<double> h;
  for (double v = -38; v <= 38; v += 1.0 / 2048) h.push_back(v + 1e-9);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(0, 2);
  for (int i = 0; i < 300000; ++i) h.push_back(normal(rng));
  std::vector<double> boundaries = {0.5, 37.6};
  for (int e = -1; e <= 5; ++e)
    for (int j = 0; j < 4; ++j) boundaries.push_back(std::ldexp(1 + j / 4.0, e));
  for (double b : boundaries)
    for (double sign : {-1.0, 1.0}) {
      double below = sign * b, above = sign * b;
      h.push_back(below);
      for (int k = 0; k < 3; ++k) h.push_back(below = std::nextafter(below, 0.0)), h.push_back(above = std::nextafter(above, 2 * above));
    }
  return h;
}

struct Errors {
  double gelu = 0, gelu_at = 0, derivative = 0, derivative_at = 0;
};
// The worst errors of a version: GELU in ulps where |GELU| ≥ 1e-290 (below, the kernel's exact products lose bits to
// the subnormal range), the derivative in units of 2^-53 (|Φ| + |h φ|) where h ≥ −37.6.
Errors Measure(Backward backward, const std::vector<double> &h) {
  std::vector<double> z(h.size()), dz(h.size(), 1.0);
  backward(1, (PetscInt)h.size(), h.data(), z.data(), dz.data(), nullptr);
  Errors e;
  for (size_t i = 0; i < h.size(); ++i) {
    const long double phi = PhiL(h[i]), density = DensityL(h[i]), gelu = h[i] * phi;
    if (fabsl(gelu) >= 1e-290L && Ulps(z[i], gelu) > e.gelu) e.gelu = Ulps(z[i], gelu), e.gelu_at = h[i];
    const double d = (double)(fabsl(dz[i] - (phi + h[i] * density)) / (phi + fabsl(h[i] * density)) / 0x1p-53L);
    if (h[i] >= -37.6 && d > e.derivative) e.derivative = d, e.derivative_at = h[i];
  }
  return e;
}

// Measured here: 1.14 ulp and 2.54 with FMA, 1.34 and 3.14 without; on a sweep 8 times denser and 3 million normal
// arguments: 1.25 and 2.80, 1.45 and 3.23.
TEST(Gelu, AccurateAgainstLongDouble) {
  ASSERT_GT(LDBL_MANT_DIG, DBL_MANT_DIG) << "the references need an extended long double";
  const std::vector<double> h = Arguments();
  for (const Version &v : Versions()) {
    if (!v.runs) continue;
    const Errors e = Measure(v.backward, h);
    EXPECT_LE(e.gelu, v.fma ? 1.4 : 1.6) << v.name << ": GELU at h = " << e.gelu_at;
    EXPECT_LE(e.derivative, v.fma ? 3.0 : 3.5) << v.name << ": GELU' at h = " << e.derivative_at;
  }
}

// Signed zeros, infinities, NaN, tiny and huge arguments, the flush below −37.6; the same in every version.
TEST(Gelu, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> h = {0.0, -0.0, inf, -inf, nan, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 40.0, 40.5, -40.0, -37.61, 37.61, 0.5, -0.5};
  for (const Version &v : Versions()) {
    if (!v.runs) continue;
    std::vector<double> z(h.size()), dz(h.size(), 1.0);
    v.backward(1, (PetscInt)h.size(), h.data(), z.data(), dz.data(), nullptr);
    EXPECT_TRUE(z[0] == 0 && !std::signbit(z[0]) && z[1] == 0 && std::signbit(z[1])) << v.name;
    EXPECT_EQ(dz[0], 0.5) << v.name;
    EXPECT_EQ(dz[1], 0.5) << v.name;
    EXPECT_EQ(z[2], inf) << v.name;
    EXPECT_EQ(dz[2], 1.0) << v.name;
    EXPECT_TRUE(z[3] == 0 && std::signbit(z[3])) << v.name;
    EXPECT_EQ(dz[3], 0.0) << v.name;
    EXPECT_TRUE(std::isnan(z[4]) && std::isnan(dz[4])) << v.name;
    EXPECT_EQ(z[5], 0.5e-300) << v.name;
    EXPECT_EQ(z[6], -0.5e-300) << v.name;
    EXPECT_EQ(dz[5], 0.5) << v.name;
    EXPECT_EQ(z[7], 0.0) << v.name;  // 2.5e-324 rounds to 0
    EXPECT_EQ(z[8], 1e300) << v.name;
    EXPECT_EQ(dz[8], 1.0) << v.name;
    EXPECT_TRUE(z[9] == 0 && std::signbit(z[9])) << v.name;
    EXPECT_EQ(z[10], 40.0) << v.name;
    EXPECT_EQ(z[11], 40.5) << v.name;
    EXPECT_TRUE(z[12] == 0 && std::signbit(z[12]) && dz[12] == 0) << v.name;
    EXPECT_TRUE(z[13] == 0 && std::signbit(z[13]) && dz[13] == 0) << v.name;
    EXPECT_EQ(z[14], 37.61) << v.name;
    EXPECT_EQ(dz[14], 1.0) << v.name;
    EXPECT_LE(Ulps(z[15], 0.5L * PhiL(0.5)), 1.5) << v.name;
    EXPECT_LE(Ulps(z[16], -0.5L * PhiL(-0.5)), 1.5) << v.name;
  }
}

// AVX-512 and AVX2 give the same bits (the same operations, fused alike); the baseline, without FMA, agrees within the
// sum of the two versions' error bounds (measured: 2.2e-16 relative, the derivative 4.2e-16 of |Φ| + |h φ|).
TEST(Gelu, VersionsAgree) {
  const std::vector<double> h = Arguments();
  std::vector<Version> run;
  std::vector<std::vector<double>> z, dz;
  for (const Version &v : Versions())
    if (v.runs) {
      run.push_back(v), z.emplace_back(h.size()), dz.emplace_back(h.size(), 1.0);
      v.backward(1, (PetscInt)h.size(), h.data(), z.back().data(), dz.back().data(), nullptr);
    }
  if (run.size() < 2) GTEST_SKIP() << "one version only";
  for (size_t k = 1; k < run.size(); ++k)
    for (size_t i = 0; i < h.size(); ++i)
      if (run[k].fma) {
        ASSERT_EQ(std::memcmp(&z[k][i], &z[0][i], sizeof(double)), 0) << run[k].name << ": GELU(" << h[i] << ")";
        ASSERT_EQ(std::memcmp(&dz[k][i], &dz[0][i], sizeof(double)), 0) << run[k].name << ": GELU'(" << h[i] << ")";
      } else {
        const double scale = (double)(PhiL(h[i]) + fabsl(h[i] * DensityL(h[i])));
        ASSERT_LE(std::fabs(z[k][i] - z[0][i]), 6e-16 * std::fabs(z[0][i])) << run[k].name << ": GELU(" << h[i] << ")";
        ASSERT_LE(std::fabs(dz[k][i] - dz[0][i]), 7e-16 * scale) << run[k].name << ": GELU'(" << h[i] << ")";
      }
}

// Blocks of every width F = 0 … 17 and 1 … 3 rows, through the library's entry points and through each version's loops:
// every entry the scalar kernel's bits, z + b recorded, the bias gradient the column sums in row order; nothing beyond.
TEST(Gelu, EveryWidthAndTail) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal(0, 3);
  for (PetscInt F = 0; F <= 17; ++F)
    for (PetscInt rows = 1; rows <= 3; ++rows) {
      const PetscInt n = rows * F;
      std::vector<double> z0(n + 4, 9.0), b(F + 4, 9.0), g(n + 4, 9.0), db0(F + 4, 9.0);
      for (PetscInt i = 0; i < n; ++i) z0[i] = normal(rng), g[i] = normal(rng);
      for (PetscInt c = 0; c < F; ++c) b[c] = normal(rng), db0[c] = normal(rng);
      // Expected: entry by entry with the scalar kernel that gives the dispatched version's bits.
      std::vector<double> pre(n), gelu(n), dz(n), db = db0;
      for (PetscInt k = 0; k < rows; ++k)
        for (PetscInt c = 0; c < F; ++c) {
          const PetscInt i = k * F + c;
          double d;
          pre[i] = z0[i] + b[c];
          Dispatched(pre[i], gelu[i], d);
          dz[i] = g[i] * d;
          db[c] += dz[i];
        }
      std::vector<double> z = z0, recorded(n + 4, 9.0), z2(n + 4, 9.0), dz2 = g, db2 = db0;
      ctflow::GeluBias(rows, F, b.data(), z.data(), recorded.data());
      ctflow::GeluBackward(rows, F, recorded.data(), z2.data(), dz2.data(), db2.data());
      for (PetscInt i = 0; i < n; ++i) {
        ASSERT_EQ(recorded[i], pre[i]) << F << " × " << rows << ", entry " << i;
        ASSERT_EQ(z[i], gelu[i]) << F << " × " << rows << ", entry " << i;
        ASSERT_EQ(z2[i], gelu[i]) << F << " × " << rows << ", entry " << i;
        ASSERT_EQ(dz2[i], dz[i]) << F << " × " << rows << ", entry " << i;
      }
      for (PetscInt c = 0; c < F; ++c) ASSERT_EQ(db2[c], db[c]) << F << " × " << rows << ", column " << c;
      for (PetscInt i = n; i < n + 4; ++i) ASSERT_TRUE(z[i] == 9 && recorded[i] == 9 && z2[i] == 9 && dz2[i] == 9) << F << " × " << rows;
      for (PetscInt c = F; c < F + 4; ++c) ASSERT_EQ(db2[c], 9.0) << F << " × " << rows;
      // Each version's loops: the forward without a record, the backward without a bias gradient, as the kernel.
      for (const Version &v : Versions()) {
        if (!v.runs) continue;
        std::vector<double> zv = z0, zb(n + 4, 9.0), dzv = g;
        v.forward(rows, F, b.data(), zv.data(), nullptr);
        v.backward(rows, F, pre.data(), zb.data(), dzv.data(), nullptr);
        for (PetscInt i = 0; i < n; ++i) {
          double e, d;
          v.scalar(pre[i], e, d);
          ASSERT_EQ(zv[i], e) << v.name << ", " << F << " × " << rows << ", entry " << i;
          ASSERT_EQ(zb[i], e) << v.name << ", " << F << " × " << rows << ", entry " << i;
          ASSERT_EQ(dzv[i], g[i] * d) << v.name << ", " << F << " × " << rows << ", entry " << i;
        }
        for (PetscInt i = n; i < n + 4; ++i) ASSERT_TRUE(zv[i] == 9 && zb[i] == 9 && dzv[i] == 9) << v.name;
      }
    }
}

}  // namespace
