// BLAS kernel selection (operators/blas_kernels.hpp) with injected CPUs and libraries: which BLIS
// configuration and OpenBLAS core is better for which CPU, every step of the start-up sequence for both libraries (an
// explicit BLIS_ARCH_TYPE or OPENBLAS_CORETYPE, the re-exec, the check GEMMs and the fall-back), and the check GEMM
// itself against correct and broken GEMMs and on OpenBLAS's own cblas_dgemm.
#include <cblas.h>
#include <gtest/gtest.h>

#include <limits>

#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"

namespace {

using ctflow::BetterBlisArch;
using ctflow::BetterOpenblasCore;
using ctflow::BlasLibrary;
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

// Counts calls of the check GEMM, per library, and returns a fixed verdict for each.
struct FakeVerify {
  bool blis = true, openblas = true;
  int blis_calls = 0, openblas_calls = 0;
  std::function<bool(BlasLibrary)> Fn() {
    return [this](BlasLibrary library) {
      if (library == BlasLibrary::Blis) return ++blis_calls, blis;
      return ++openblas_calls, openblas;
    };
  }
};

// BLIS runs `arch` (BLIS_ARCH_TYPE = arch_env), OpenBLAS runs `core` (OPENBLAS_CORETYPE = core_env).
BlasStartupState State(const char *arch_env, const char *core_env, const std::string &marker, const std::string &arch, const std::string &core,
                       const CpuFeatures &cpu) {
  BlasStartupState s;
  s.arch_env = arch_env;
  s.core_env = core_env;
  s.marker = marker;
  s.arch = arch;
  s.core = core;
  s.cpu = cpu;
  return s;
}

bool Has(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

// --- The first start: what to select.

TEST(BlasKernels, ExplicitArchTypeIsRespected) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State("5", nullptr, "", "penryn", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_TRUE(Has(a.blis, "BLIS_ARCH_TYPE=5 set in the environment")) << a.blis;
  EXPECT_TRUE(Has(a.openblas, "OpenBLAS's choice, the best for this CPU's AVX-512")) << a.openblas;
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);
}

TEST(BlasKernels, ExplicitCoretypeIsRespected) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "Prescott", "", "skx", "Prescott", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_TRUE(Has(a.openblas, "OPENBLAS_CORETYPE=Prescott set in the environment")) << a.openblas;
  EXPECT_TRUE(Has(a.blis, "BLIS's choice, the best for this CPU's AVX-512")) << a.blis;
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);
  // Both set: both respected, however old.
  const BlasStartupAction b = BlasStartupStep(State("5", "Prescott", "", "penryn", "Prescott", Avx512()), verify.Fn());
  EXPECT_FALSE(b.reexec);
  EXPECT_TRUE(Has(b.blis, "BLIS_ARCH_TYPE=5 set in the environment")) << b.blis;
  EXPECT_TRUE(Has(b.openblas, "OPENBLAS_CORETYPE=Prescott set in the environment")) << b.openblas;
}

TEST(BlasKernels, GenericArchOnABetterCpuReexecutesWithTheBetterArch) {
  // This machine (Zen 5): BLIS runs generic, OpenBLAS Cooperlake: only BLIS is selected.
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, nullptr, "", "generic", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "skx");
  EXPECT_EQ(a.core, "");
  EXPECT_FALSE(a.unset_arch || a.unset_core);
  EXPECT_EQ(a.marker, "selected generic skx - -");
  EXPECT_TRUE(Has(a.openblas, "OpenBLAS's choice, the best for this CPU's AVX-512")) << a.openblas;
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);  // checked after the re-exec, on the new kernels
}

TEST(BlasKernels, GenericCoreOnABetterCpuReexecutesWithTheBetterCore) {
  // OpenBLAS 0.3.21 on an AVX-512 Xeon it does not know: Prescott.
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, nullptr, "", "skx", "Prescott", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "");
  EXPECT_EQ(a.core, "SkylakeX");
  EXPECT_EQ(a.marker, "selected - - Prescott SkylakeX");
  EXPECT_TRUE(Has(a.blis, "BLIS's choice, the best for this CPU's AVX-512")) << a.blis;
  // On an AVX2 CPU: Haswell.
  const BlasStartupAction b = BlasStartupStep(State(nullptr, nullptr, "", "haswell", "Prescott", Avx2()), verify.Fn());
  EXPECT_TRUE(b.reexec);
  EXPECT_EQ(b.core, "Haswell");
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);
}

TEST(BlasKernels, BothLibrariesSelectedInOneReexec) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, nullptr, "", "generic", "Prescott", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "skx");
  EXPECT_EQ(a.core, "SkylakeX");
  EXPECT_EQ(a.marker, "selected generic skx Prescott SkylakeX");
}

TEST(BlasKernels, EachExplicitVariableIsRespectedWhileTheOtherLibraryIsSelected) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State("5", nullptr, "", "penryn", "Prescott", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "");  // BLIS_ARCH_TYPE left as the user set it
  EXPECT_FALSE(a.unset_arch);
  EXPECT_EQ(a.core, "SkylakeX");
  EXPECT_EQ(a.marker, "selected - - Prescott SkylakeX");
  EXPECT_TRUE(Has(a.blis, "BLIS_ARCH_TYPE=5 set in the environment")) << a.blis;
  const BlasStartupAction b = BlasStartupStep(State(nullptr, "Haswell", "", "generic", "Haswell", Avx512()), verify.Fn());
  EXPECT_TRUE(b.reexec);
  EXPECT_EQ(b.arch, "skx");
  EXPECT_EQ(b.core, "");  // OPENBLAS_CORETYPE left as the user set it
  EXPECT_FALSE(b.unset_core);
  EXPECT_EQ(b.marker, "selected generic skx - -");
  EXPECT_TRUE(Has(b.openblas, "OPENBLAS_CORETYPE=Haswell set in the environment")) << b.openblas;
}

TEST(BlasKernels, BestKernelsAlreadyRunNothingHappens) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, nullptr, "", "skx", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_TRUE(Has(a.blis, "BLIS's choice, the best for this CPU's AVX-512")) << a.blis;
  EXPECT_TRUE(Has(a.openblas, "OpenBLAS's choice, the best for this CPU's AVX-512")) << a.openblas;
  // Kernels the tables do not rank: kept, and said so.
  const BlasStartupAction b = BlasStartupStep(State(nullptr, nullptr, "", "zen5", "Zen4", Avx512()), verify.Fn());
  EXPECT_FALSE(b.reexec);
  EXPECT_TRUE(Has(b.blis, "BLIS's choice (kernels ctflow does not rank)")) << b.blis;
  EXPECT_TRUE(Has(b.openblas, "OpenBLAS's choice (kernels ctflow does not rank)")) << b.openblas;
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);
}

TEST(BlasKernels, ArchThisBlisDoesNotHoldIsNotSelected) {
  FakeVerify verify;
  BlasStartupState s = State(nullptr, nullptr, "", "generic", "Prescott", Avx512());
  s.blis_has = [](const std::string &arch) { return arch != "skx"; };
  const BlasStartupAction a = BlasStartupStep(s, verify.Fn());
  EXPECT_TRUE(a.reexec);  // for OpenBLAS only
  EXPECT_EQ(a.arch, "");
  EXPECT_EQ(a.core, "SkylakeX");
  EXPECT_EQ(a.marker, "selected - - Prescott SkylakeX");
  EXPECT_TRUE(Has(a.blis, "BLIS's choice (this BLIS has no configuration skx)")) << a.blis;
  s.core = "Cooperlake";
  const BlasStartupAction b = BlasStartupStep(s, verify.Fn());
  EXPECT_FALSE(b.reexec);
  EXPECT_TRUE(Has(b.blis, "this BLIS has no configuration skx")) << b.blis;
}

// --- After the selecting re-exec: loaded and checked, or a fall-back.

TEST(BlasKernels, SelectedArchIsKeptWhenItsCheckGemmPasses) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State("0", nullptr, "selected generic skx - -", "skx", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_EQ(verify.blis_calls, 1);
  EXPECT_EQ(verify.openblas_calls, 0);  // not selected: not checked
  EXPECT_TRUE(Has(a.blis, "selected by ctflow (BLIS chose generic on a CPU with OS-enabled AVX-512), check GEMM passed")) << a.blis;
  EXPECT_TRUE(Has(a.openblas, "OpenBLAS's choice, the best for this CPU's AVX-512")) << a.openblas;
}

TEST(BlasKernels, SelectedCoreIsKeptWhenItsCheckGemmPasses) {
  FakeVerify verify;
  // The user's BLIS_ARCH_TYPE stays theirs; OpenBLAS reports the requested core in its own case.
  const BlasStartupAction a = BlasStartupStep(State("5", "SkylakeX", "selected - - Prescott SkylakeX", "penryn", "SKYLAKEX", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_EQ(verify.blis_calls, 0);
  EXPECT_EQ(verify.openblas_calls, 1);
  EXPECT_TRUE(Has(a.openblas, "selected by ctflow (OpenBLAS chose Prescott on a CPU with OS-enabled AVX-512), check GEMM passed")) << a.openblas;
  EXPECT_TRUE(Has(a.blis, "BLIS_ARCH_TYPE=5 set in the environment")) << a.blis;
}

TEST(BlasKernels, BothSelectionsAreKeptWhenBothCheckGemmsPass) {
  FakeVerify verify;
  const BlasStartupAction a =
      BlasStartupStep(State("0", "SkylakeX", "selected generic skx Prescott SkylakeX", "skx", "SkylakeX", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_EQ(verify.blis_calls, 1);
  EXPECT_EQ(verify.openblas_calls, 1);
  EXPECT_TRUE(Has(a.blis, "selected by ctflow (BLIS chose generic")) << a.blis;
  EXPECT_TRUE(Has(a.openblas, "selected by ctflow (OpenBLAS chose Prescott")) << a.openblas;
}

TEST(BlasKernels, SelectedArchFallsBackWhenItsCheckGemmFails) {
  FakeVerify verify;
  verify.blis = false;
  const BlasStartupAction a = BlasStartupStep(State("0", nullptr, "selected generic skx - -", "skx", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_EQ(a.arch, "");  // BLIS_ARCH_TYPE removed: BLIS's own choice
  EXPECT_TRUE(a.unset_arch);
  EXPECT_FALSE(a.unset_core);  // not ctflow's
  EXPECT_EQ(a.marker, "fallback generic skx - - blis check-GEMM-failed");
  EXPECT_EQ(verify.blis_calls, 1);
}

TEST(BlasKernels, SelectedArchFallsBackWhenBlisDidNotLoadIt) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State("0", nullptr, "selected generic skx - -", "generic", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_TRUE(a.unset_arch);
  EXPECT_EQ(a.marker, "fallback generic skx - - blis not-loaded");
  EXPECT_EQ(verify.blis_calls, 0);  // the wrong kernels are not checked
}

TEST(BlasKernels, SelectedCoreFallsBackWhenOpenblasDidNotLoadIt) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "SkylakeX", "selected - - Prescott SkylakeX", "skx", "Prescott", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_TRUE(a.unset_core);
  EXPECT_FALSE(a.unset_arch);
  EXPECT_EQ(a.arch, "");
  EXPECT_EQ(a.core, "");
  EXPECT_EQ(a.marker, "fallback - - Prescott SkylakeX openblas not-loaded");
  EXPECT_EQ(verify.openblas_calls, 0);
  EXPECT_TRUE(Has(a.blis, "BLIS's choice, the best for this CPU's AVX-512")) << a.blis;
}

TEST(BlasKernels, SelectedCoreFallsBackWhenItsCheckGemmFails) {
  FakeVerify verify;
  verify.openblas = false;
  const BlasStartupAction a = BlasStartupStep(State(nullptr, "SkylakeX", "selected - - Prescott SkylakeX", "skx", "SkylakeX", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_TRUE(a.unset_core);
  EXPECT_EQ(a.marker, "fallback - - Prescott SkylakeX openblas check-GEMM-failed");
  EXPECT_EQ(verify.openblas_calls, 1);
}

TEST(BlasKernels, OneFailedSelectionDropsBoth) {
  FakeVerify verify;
  verify.openblas = false;
  const BlasStartupAction a =
      BlasStartupStep(State("0", "SkylakeX", "selected generic skx Prescott SkylakeX", "skx", "SkylakeX", Avx512()), verify.Fn());
  EXPECT_TRUE(a.reexec);
  EXPECT_TRUE(a.unset_arch && a.unset_core);
  EXPECT_EQ(a.marker, "fallback generic skx Prescott SkylakeX openblas check-GEMM-failed");
  EXPECT_EQ(verify.blis_calls, 1);
  // BLIS fails: OpenBLAS is not checked, both are dropped.
  FakeVerify blis_fails;
  blis_fails.blis = false;
  const BlasStartupAction b =
      BlasStartupStep(State("0", "SkylakeX", "selected generic skx Prescott SkylakeX", "skx", "SkylakeX", Avx512()), blis_fails.Fn());
  EXPECT_TRUE(b.unset_arch && b.unset_core);
  EXPECT_EQ(b.marker, "fallback generic skx Prescott SkylakeX blis check-GEMM-failed");
  EXPECT_EQ(blis_fails.openblas_calls, 0);
  // A wrong core loaded, BLIS right: both dropped.
  FakeVerify ok;
  const BlasStartupAction c = BlasStartupStep(State("0", "SkylakeX", "selected generic skx Prescott SkylakeX", "skx", "Haswell", Avx512()), ok.Fn());
  EXPECT_TRUE(c.unset_arch && c.unset_core);
  EXPECT_EQ(c.marker, "fallback generic skx Prescott SkylakeX openblas not-loaded");
}

// --- After the fall-back re-exec: each library's own choice, and why; never another re-exec.

TEST(BlasKernels, AfterAFallbackBlissChoiceRunsWithoutAnotherReexec) {
  FakeVerify verify;
  const BlasStartupAction a =
      BlasStartupStep(State(nullptr, nullptr, "fallback generic skx - - blis check-GEMM-failed", "generic", "Cooperlake", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_TRUE(Has(a.blis, "BLIS's choice (ctflow's selection skx was rejected: check-GEMM-failed)")) << a.blis;
  EXPECT_TRUE(Has(a.openblas, "OpenBLAS's choice, the best for this CPU's AVX-512")) << a.openblas;
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);
}

TEST(BlasKernels, AfterAFallbackEachLibrarySaysWhy) {
  FakeVerify verify;
  const BlasStartupAction a = BlasStartupStep(
      State(nullptr, nullptr, "fallback generic skx Prescott SkylakeX openblas not-loaded", "generic", "Prescott", Avx512()), verify.Fn());
  EXPECT_FALSE(a.reexec);
  EXPECT_TRUE(Has(a.openblas, "OpenBLAS's choice (ctflow's selection SkylakeX was rejected: not-loaded)")) << a.openblas;
  EXPECT_TRUE(Has(a.blis, "BLIS's choice (ctflow's selection skx was withdrawn with OpenBLAS's SkylakeX, rejected: not-loaded)")) << a.blis;
  // Only OpenBLAS selected, the user's BLIS_ARCH_TYPE kept.
  const BlasStartupAction b =
      BlasStartupStep(State("5", nullptr, "fallback - - Prescott SkylakeX openblas check-GEMM-failed", "penryn", "Prescott", Avx512()), verify.Fn());
  EXPECT_FALSE(b.reexec);
  EXPECT_TRUE(Has(b.openblas, "OpenBLAS's choice (ctflow's selection SkylakeX was rejected: check-GEMM-failed)")) << b.openblas;
  EXPECT_TRUE(Has(b.blis, "BLIS_ARCH_TYPE=5 set in the environment")) << b.blis;
  EXPECT_EQ(verify.blis_calls + verify.openblas_calls, 0);
}

TEST(BlasKernels, AMarkerNeverLeadsToASecondSelection) {
  // Whatever runs after a re-exec, the next step is at most the fall-back, and after it nothing.
  FakeVerify fails;
  fails.blis = fails.openblas = false;
  for (const char *marker : {"selected generic skx Prescott SkylakeX", "selected - - Prescott SkylakeX", "selected generic skx - -", "selected",
                             "fallback generic skx Prescott SkylakeX blis not-loaded", "fallback"}) {
    const BlasStartupAction a = BlasStartupStep(State(nullptr, nullptr, marker, "generic", "Prescott", Avx512()), fails.Fn());
    EXPECT_TRUE(a.arch.empty() && a.core.empty()) << marker;
    if (a.reexec) EXPECT_EQ(a.marker.rfind("fallback ", 0), 0u) << marker;
  }
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

TEST(BlasKernels, OpenblasDgemmIsFoundAndPassesTheCheckGemm) {
  const ctflow::CblasDgemmFunction gemm = ctflow::OpenblasDgemm();
  ASSERT_NE(gemm, nullptr);
  EXPECT_NE((void *)gemm, (void *)&cblas_dgemm);  // OpenBLAS's own, not the one linked first (BLIS's)
  EXPECT_TRUE(ctflow::BlasVerifyGemm([gemm](bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb,
                                            double beta, double *C, int ldc) {
    gemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }));
}

}  // namespace
