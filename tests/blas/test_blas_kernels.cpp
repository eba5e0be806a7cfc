// BLAS kernel selection (operators/blas_kernels.hpp) with injected CPUs and libraries: which OpenBLAS core
// is better for which CPU, every step of the start-up sequence (an explicit OPENBLAS_CORETYPE, the re-exec,
// the check GEMM and its fall-back), and the check GEMM itself against correct and broken GEMMs.
#include <cblas.h>
#include <gtest/gtest.h>

#include <limits>

#include "operators/blas_kernels.hpp"

namespace {

using ctflow::BetterOpenBlasCore;
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

TEST(BlasKernels, BetterCoreOnlyForANewerInstructionSetTheOsEnables) {
  EXPECT_EQ(BetterOpenBlasCore("Prescott", Avx512()), "SkylakeX");  // Debian's 0.3.21 on some AVX-512 Xeons
  EXPECT_EQ(BetterOpenBlasCore("Haswell", Avx512()), "SkylakeX");   // ... and on AVX-512 AMD EPYC
  EXPECT_EQ(BetterOpenBlasCore("haswell", Avx512()), "SkylakeX");   // names are case-insensitive
  EXPECT_EQ(BetterOpenBlasCore("Prescott", Avx2()), "Haswell");
  EXPECT_EQ(BetterOpenBlasCore("Sandybridge", Avx2()), "Haswell");
  CpuFeatures avx = Sse();
  avx.avx = avx.os_ymm = true;
  EXPECT_EQ(BetterOpenBlasCore("Nehalem", avx), "Sandybridge");
  // Already the best, or an equivalent vendor core: kept.
  for (const char *core : {"SkylakeX", "Cooperlake", "SapphireRapids"}) EXPECT_EQ(BetterOpenBlasCore(core, Avx512()), "") << core;
  for (const char *core : {"Haswell", "Zen", "Excavator"}) EXPECT_EQ(BetterOpenBlasCore(core, Avx2()), "") << core;
  EXPECT_EQ(BetterOpenBlasCore("Prescott", Sse()), "");
  // The CPU has AVX-512 but the OS does not save the ZMM state (XCR0): AVX2 at most.
  CpuFeatures no_zmm = Avx512();
  no_zmm.os_zmm = false;
  EXPECT_EQ(BetterOpenBlasCore("Haswell", no_zmm), "");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", no_zmm), "Haswell");
  CpuFeatures no_ymm = Avx512();
  no_ymm.os_ymm = no_ymm.os_zmm = false;
  EXPECT_EQ(BetterOpenBlasCore("Prescott", no_ymm), "");
  // A core this table does not know (a newer OpenBLAS, another architecture): kept.
  EXPECT_EQ(BetterOpenBlasCore("FutureLake", Avx512()), "");
  EXPECT_EQ(BetterOpenBlasCore("", Avx512()), "");
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

BlasStartupState State(const char *env, const std::string &marker, const std::string &corename, const CpuFeatures &cpu) {
  BlasStartupState s;
  s.coretype_env = env;
  s.marker = marker;
  s.corename = corename;
  s.cpu = cpu;
  return s;
}

TEST(BlasKernels, ExplicitCoretypeIsRespected) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State("Prescott", "", "Prescott", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_NE(a.description.find("OPENBLAS_CORETYPE=Prescott set in the environment"), std::string::npos) << a.description;
  EXPECT_EQ(verify.calls, 0);
}

TEST(BlasKernels, GenericCoreOnABetterCpuReexecutesWithTheBetterCore) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "", "Prescott", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.coretype, "SkylakeX");
  EXPECT_EQ(a.marker, "selected Prescott SkylakeX");
  EXPECT_EQ(verify.calls, 0);  // checked after the re-exec, on the new kernels
}

TEST(BlasKernels, BestCoreAlreadyRunsNothingHappens) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_NE(a.description.find("the library's choice"), std::string::npos) << a.description;
}

TEST(BlasKernels, SelectedCoreIsKeptWhenItsCheckGemmPasses) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State("SkylakeX", "selected Prescott SkylakeX", "SkylakeX", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_EQ(verify.calls, 1);
  EXPECT_NE(a.description.find("selected by ctflow (the library chose Prescott"), std::string::npos) << a.description;
}

TEST(BlasKernels, SelectedCoreFallsBackWhenItsCheckGemmFails) {
  FakeVerify verify{false};
  const BlasStartupAction a = BlasStartupStep(State("SkylakeX", "selected Prescott SkylakeX", "SkylakeX", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.coretype, "");  // OPENBLAS_CORETYPE removed: the library's own choice
  EXPECT_EQ(a.marker, "fallback Prescott SkylakeX check-GEMM-failed");
  EXPECT_EQ(verify.calls, 1);
}

TEST(BlasKernels, SelectedCoreFallsBackWhenTheLibraryDidNotLoadIt) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State("SkylakeX", "selected Prescott SkylakeX", "Prescott", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.coretype, "");
  EXPECT_EQ(a.marker, "fallback Prescott SkylakeX not-loaded");
}

TEST(BlasKernels, AfterAFallbackTheLibrarysChoiceRunsWithoutAnotherReexec) {
  FakeVerify verify{true};
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "fallback Prescott SkylakeX check-GEMM-failed", "Prescott", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_NE(a.description.find("SkylakeX was rejected: check-GEMM-failed"), std::string::npos) << a.description;
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
