// BLAS kernel selection (operators/blas_kernels.hpp) with injected CPUs and libraries: which BLIS
// configuration is better for which CPU, every step of the start-up sequence (an explicit BLIS_ARCH_TYPE, the
// re-exec, the check GEMM and its fall-back), and the check GEMM itself against correct and broken GEMMs.
#include <cblas.h>
#include <gtest/gtest.h>

#include <limits>

#include "operators/blas_kernels.hpp"

namespace {

using ctflow::BetterBlisArch;
using ctflow::BetterOpenblasCore;
using ctflow::BlasStartupAction;
using ctflow::BlasStartupState;
using ctflow::BlasStartupStep;
using ctflow::CpuFeatures;

CpuFeatures Sse() { return {}; }
CpuFeatures Avx2() {
  CpuFeatures f;
  f.avx = f.fma = f.avx2 = f.os_ymm = true;
  return f;
}
CpuFeatures Avx512() {
  CpuFeatures f = Avx2();
  f.avx512 = f.os_zmm = true;
  return f;
}

TEST(BlasKernels, BetterArchOnlyForANewerInstructionSetTheOsEnables) {
  EXPECT_EQ(BetterBlisArch("generic", Avx512()), "skx");  // Debian's BLIS 0.9 on AVX-512 AMD EPYC (Zen 5)
  EXPECT_EQ(BetterBlisArch("zen3", Avx512()), "skx");     // ... on Zen 4
  EXPECT_EQ(BetterBlisArch("haswell", Avx512()), "skx");
  EXPECT_EQ(BetterBlisArch("generic", Avx2()), "haswell");
  EXPECT_EQ(BetterBlisArch("penryn", Avx2()), "haswell");
  EXPECT_EQ(BetterBlisArch("sandybridge", Avx2()), "haswell");
  CpuFeatures avx = Sse();
  avx.avx = avx.os_ymm = true;
  EXPECT_EQ(BetterBlisArch("generic", avx), "sandybridge");
  // Already the best, or an equivalent vendor configuration: kept.
  for (const char *arch : {"skx", "knl"}) EXPECT_EQ(BetterBlisArch(arch, Avx512()), "") << arch;
  for (const char *arch : {"haswell", "zen", "zen2", "zen3", "excavator"}) EXPECT_EQ(BetterBlisArch(arch, Avx2()), "") << arch;
  EXPECT_EQ(BetterBlisArch("generic", Sse()), "");
  // The CPU has AVX-512 but the OS does not save the ZMM state (XCR0): AVX2 at most.
  CpuFeatures no_zmm = Avx512();
  no_zmm.os_zmm = false;
  EXPECT_EQ(BetterBlisArch("haswell", no_zmm), "");
  EXPECT_EQ(BetterBlisArch("generic", no_zmm), "haswell");
  CpuFeatures no_ymm = Avx512();
  no_ymm.os_ymm = no_ymm.os_zmm = false;
  EXPECT_EQ(BetterBlisArch("generic", no_ymm), "");
  // A configuration this table does not know (a newer BLIS, another architecture): kept.
  EXPECT_EQ(BetterBlisArch("zen5", Avx512()), "");
  EXPECT_EQ(BetterBlisArch("armsve", Avx512()), "");
  EXPECT_EQ(BetterBlisArch("", Avx512()), "");
}

TEST(BlasKernels, BetterOpenblasCoreOnlyForANewerInstructionSetTheOsEnables) {
  EXPECT_EQ(BetterOpenblasCore("Prescott", Avx512()), "SkylakeX");  // OpenBLAS 0.3.21 on an AVX-512 Xeon it does not know
  EXPECT_EQ(BetterOpenblasCore("Haswell", Avx512()), "SkylakeX");
  EXPECT_EQ(BetterOpenblasCore("Sandybridge", Avx512()), "SkylakeX");
  EXPECT_EQ(BetterOpenblasCore("Zen", Avx512()), "SkylakeX");
  EXPECT_EQ(BetterOpenblasCore("Prescott", Avx2()), "Haswell");
  EXPECT_EQ(BetterOpenblasCore("Nehalem", Avx2()), "Haswell");
  EXPECT_EQ(BetterOpenblasCore("Sandybridge", Avx2()), "Haswell");
  CpuFeatures avx = Sse();
  avx.avx = avx.os_ymm = true;
  EXPECT_EQ(BetterOpenblasCore("Prescott", avx), "Sandybridge");
  // Already the best (AVX-512: OpenBLAS's choice on this machine is Cooperlake), or an equivalent vendor core: kept.
  for (const char *core : {"SkylakeX", "Cooperlake", "SapphireRapids"}) EXPECT_EQ(BetterOpenblasCore(core, Avx512()), "") << core;
  for (const char *core : {"Haswell", "Zen", "Excavator"}) EXPECT_EQ(BetterOpenblasCore(core, Avx2()), "") << core;
  EXPECT_EQ(BetterOpenblasCore("Prescott", Sse()), "");
  // AVX-512 without the OS's ZMM state: AVX2 at most.
  CpuFeatures no_zmm = Avx512();
  no_zmm.os_zmm = false;
  EXPECT_EQ(BetterOpenblasCore("Prescott", no_zmm), "Haswell");
  EXPECT_EQ(BetterOpenblasCore("Haswell", no_zmm), "");
  // Names in any case (openblas_get_corename: "SkylakeX"; OPENBLAS_CORETYPE: any case).
  EXPECT_EQ(BetterOpenblasCore("PRESCOTT", Avx512()), "SkylakeX");
  EXPECT_EQ(BetterOpenblasCore("haswell", Avx2()), "");
  EXPECT_EQ(BetterOpenblasCore("cooperlake", Avx512()), "");
  // A core this table does not know (a newer OpenBLAS, another architecture): kept.
  for (const char *core : {"Zen4", "Unknown", "NEOVERSEN1", ""}) EXPECT_EQ(BetterOpenblasCore(core, Avx512()), "") << core;
}

// Counts calls of the check GEMM and returns a fixed verdict.
struct FakeVerify {
  bool verdict;
  int calls = 0;
  std::function<bool()> Fn() {
    return [this] {
      ++calls;
      return verdict;
    };
  }
};

BlasStartupState State(const char *env, const std::string &marker, const std::string &arch, const CpuFeatures &cpu) {
  BlasStartupState s;
  s.arch_env = env;
  s.marker = marker;
  s.arch = arch;
  s.cpu = cpu;
  return s;
}

TEST(BlasKernels, ExplicitArchTypeIsRespected) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State("5", "", "penryn", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_NE(a.description.find("BLIS_ARCH_TYPE=5 set in the environment"), std::string::npos) << a.description;
  EXPECT_EQ(verify.calls, 0);
}

TEST(BlasKernels, GenericArchOnABetterCpuReexecutesWithTheBetterArch) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "", "generic", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "skx");
  EXPECT_EQ(a.marker, "selected generic skx");
  EXPECT_EQ(verify.calls, 0);  // checked after the re-exec, on the new kernels
}

TEST(BlasKernels, BestArchAlreadyRunsNothingHappens) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "", "skx", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_NE(a.description.find("BLIS's choice, the best for this CPU's AVX-512"), std::string::npos) << a.description;
}

TEST(BlasKernels, SelectedArchIsKeptWhenItsCheckGemmPasses) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State("0", "selected generic skx", "skx", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_EQ(verify.calls, 1);
  EXPECT_NE(a.description.find("selected by ctflow (BLIS chose generic"), std::string::npos) << a.description;
}

TEST(BlasKernels, SelectedArchFallsBackWhenItsCheckGemmFails) {
  FakeVerify verify{false};
  const BlasStartupAction a = BlasStartupStep(State("0", "selected generic skx", "skx", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "");  // BLIS_ARCH_TYPE removed: BLIS's own choice
  EXPECT_EQ(a.marker, "fallback generic skx check-GEMM-failed");
  EXPECT_EQ(verify.calls, 1);
}

TEST(BlasKernels, SelectedArchFallsBackWhenBlisDidNotLoadIt) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State("0", "selected generic skx", "generic", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "");
  EXPECT_EQ(a.marker, "fallback generic skx not-loaded");
}

TEST(BlasKernels, AfterAFallbackBlissChoiceRunsWithoutAnotherReexec) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "fallback generic skx check-GEMM-failed", "generic", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_NE(a.description.find("skx was rejected: check-GEMM-failed"), std::string::npos) << a.description;
  EXPECT_EQ(verify.calls, 0);
}

void Cblas(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb, double beta, double *C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

TEST(BlasKernels, CheckGemmPassesTheLinkedBlasAndCatchesBrokenOnes) {
  EXPECT_TRUE(ctflow::BlasVerifyGemm(Cblas));
  // One wrong entry in one shape.
  EXPECT_FALSE(ctflow::BlasVerifyGemm(
      [](bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb, double beta, double *C, int ldc) {
        Cblas(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        if (m == 131) C[5 * ldc + 7] *= 1 + 1e-9;
      }));
  // β ignored.
  EXPECT_FALSE(ctflow::BlasVerifyGemm([](bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb,
                                         double, double *C, int ldc) { Cblas(ta, tb, m, n, k, alpha, A, lda, B, ldb, 0.0, C, ldc); }));
  // Edge columns (the kernels' remainders) left out.
  EXPECT_FALSE(ctflow::BlasVerifyGemm([](bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb,
                                         double beta, double *C, int ldc) { Cblas(ta, tb, m, n - n % 8, k, alpha, A, lda, B, ldb, beta, C, ldc); }));
  // NaN results.
  EXPECT_FALSE(
      ctflow::BlasVerifyGemm([](bool, bool, int m, int n, int, double, const double *, int, const double *, int, double, double *C, int ldc) {
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) C[i * ldc + j] = std::numeric_limits<double>::quiet_NaN();
      }));
}

}  // namespace
