#include "operators/blas_kernels.hpp"

#include <blis.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <sstream>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>

#include "discretization/base/option_checks.hpp"
#endif

namespace ctflow {

static const char kMarker[] = "CTFLOW_BLAS_SELECTION";
static std::string how_chosen;  // set by BlasSelectKernels

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & bit_OSXSAVE;
  f.avx = c & bit_AVX;
  f.fma = c & bit_FMA;
  if (osxsave) {  // XCR0: bits 1–2 XMM/YMM state, bits 5–7 opmask and the upper ZMM registers
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_ymm = (lo & 0x6) == 0x6;
    f.os_zmm = f.os_ymm && (lo & 0xe0) == 0xe0;
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & bit_AVX2;
    f.avx512 = (b & bit_AVX512F) && (b & bit_AVX512CD) && (b & bit_AVX512DQ) && (b & bit_AVX512BW) && (b & bit_AVX512VL);
  }
#endif
  return f;
}

// Instruction-set level of BLIS's x86-64 configurations (frame/base/bli_arch.c): 3 AVX-512, 2 AVX2/FMA,
// 1 AVX, 0 SSE or plain C; -1 for a name not listed here (kept as it is).
static int ArchLevel(const std::string &arch) {
  static const struct {
    const char *name;
    int level;
  } archs[] = {{"skx", 3},         {"knl", 3},       {"haswell", 2},    {"zen", 2},         {"zen2", 2},   {"zen3", 2},   {"excavator", 2},
               {"sandybridge", 1}, {"bulldozer", 1}, {"piledriver", 1}, {"steamroller", 1}, {"penryn", 0}, {"generic", 0}};
  for (const auto &a : archs)
    if (arch == a.name) return a.level;
  return -1;
}

// The newest instruction set the CPU offers and the OS enables: 3 AVX-512, 2 AVX2/FMA, 1 AVX, 0 older.
static int CpuLevel(const CpuFeatures &cpu) {
  const bool avx = cpu.avx && cpu.os_ymm, avx2 = avx && cpu.avx2 && cpu.fma, avx512 = avx2 && cpu.avx512 && cpu.os_zmm;
  return avx512 ? 3 : avx2 ? 2 : avx ? 1 : 0;
}

std::string BetterBlisArch(const std::string &arch, const CpuFeatures &cpu) {
  const int have = ArchLevel(arch), best = CpuLevel(cpu);
  if (have < 0 || best <= have) return "";
  static const char *arch_for_level[] = {"", "sandybridge", "haswell", "skx"};
  return arch_for_level[best];
}

std::string BetterOpenblasCore(const std::string &core, const CpuFeatures &cpu) {
  const int have = OpenblasCoreLevel(core), best = CpuLevel(cpu);
  if (have < 0 || best <= have) return "";
  static const char *core_for_level[] = {"", "Sandybridge", "Haswell", "SkylakeX"};
  return core_for_level[best];
}

int OpenblasCoreLevel(const std::string &core) {
  static const struct {
    const char *name;
    int level;
  } cores[] = {{"skylakex", 3},     {"cooperlake", 3}, {"sapphirerapids", 3}, {"haswell", 2},     {"zen", 2},       {"excavator", 2},
               {"sandybridge", 1},  {"bulldozer", 1},  {"piledriver", 1},     {"steamroller", 1}, {"prescott", 0},  {"core2", 0},
               {"penryn", 0},       {"dunnington", 0}, {"nehalem", 0},        {"atom", 0},        {"barcelona", 0}, {"opteron", 0},
               {"opteron_sse3", 0}, {"nano", 0},       {"bobcat", 0},         {"athlon", 0},      {"katmai", 0},    {"coppermine", 0},
               {"northwood", 0},    {"banias", 0}};
  std::string lower(core);
  for (char &c : lower) c = (char)std::tolower((unsigned char)c);
  for (const auto &c : cores)
    if (lower == c.name) return c.level;
  return -1;
}

static std::string Features(const CpuFeatures &cpu) {
  static const char *names[] = {"SSE", "AVX", "AVX2/FMA", "AVX-512"};
  return names[CpuLevel(cpu)];
}

BlasStartupAction BlasStartupStep(const BlasStartupState &state, const std::function<bool()> &verify) {
  BlasStartupAction act;
  std::istringstream words(state.marker);
  std::string step, original, requested, reason;
  words >> step >> original >> requested >> reason;
  if (step == "selected") {
    // After the re-exec: BLIS must run the requested configuration, and run it correctly.
    if (state.arch != requested || !verify()) {
      act.reexec = true;
      act.marker = "fallback " + original + " " + requested + " " + (state.arch != requested ? "not-loaded" : "check-GEMM-failed");
      return act;
    }
    act.description = "selected by ctflow (BLIS chose " + original + " on a CPU with OS-enabled " + Features(state.cpu) + "), check GEMM passed";
    return act;
  }
  if (step == "fallback") {
    act.description = "BLIS's choice (ctflow's selection " + requested + " was rejected: " + reason + ")";
    return act;
  }
  if (state.arch_env) {
    act.description = std::string("BLIS_ARCH_TYPE=") + state.arch_env + " set in the environment";
    return act;
  }
  const std::string better = BetterBlisArch(state.arch, state.cpu);
  if (better.empty()) {
    act.description = "BLIS's choice, the best for this CPU's " + Features(state.cpu);
    return act;
  }
  act.reexec = true;
  act.arch = better;
  act.marker = "selected " + state.arch + " " + better;
  return act;
}

bool BlasVerifyGemm(const GemmFunction &gemm) {
  static const struct {
    int m, n, k;
    bool ta, tb;
    double alpha, beta;
  } cases[] = {{37, 29, 53, false, false, 1.0, 0.0},
               {64, 48, 97, false, true, -0.7, 0.3},
               {131, 77, 64, true, false, 1.3, 1.0},
               {255, 257, 129, true, true, 0.5, -1.0},
               {150, 70, 300, false, true, 1.0, 0.0}};
  unsigned long long state = 88172645463325252ULL;
  auto next = [&] {  // xorshift64: reproducible values in [-1, 1)
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 4503599627370496.0 - 1.0;
  };
  for (const auto &t : cases) {
    const int lda = t.ta ? t.m : t.k, ldb = t.tb ? t.k : t.n;
    std::vector<double> A((size_t)(t.ta ? t.k : t.m) * lda), B((size_t)(t.tb ? t.n : t.k) * ldb), C((size_t)t.m * t.n);
    for (double &v : A) v = next();
    for (double &v : B) v = next();
    for (double &v : C) v = next();
    const std::vector<double> C0 = C;
    gemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, A.data(), lda, B.data(), ldb, t.beta, C.data(), t.n);
    for (int i = 0; i < t.m; ++i)
      for (int j = 0; j < t.n; ++j) {
        double ref = 0, bound = 0;
        for (int l = 0; l < t.k; ++l) {
          const double a = t.ta ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l], b = t.tb ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j];
          ref += a * b;
          bound += std::fabs(a * b);
        }
        const double c0 = C0[(size_t)i * t.n + j];
        ref = t.alpha * ref + t.beta * c0;
        bound = std::fabs(t.alpha) * bound + std::fabs(t.beta * c0);
        // Any summation order is within (k + 2) ε of this bound; a wrong kernel is off by O(1).
        if (!(std::fabs(C[(size_t)i * t.n + j] - ref) <= 4.0 * (t.k + 2) * 2.2e-16 * bound)) return false;
      }
  }
  return true;
}

static void LiveGemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb, double beta, double *C,
                     int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static std::string BlisArch() {
  bli_init();  // BLIS initialises lazily: this reads BLIS_ARCH_TYPE
  return bli_arch_string(bli_arch_query_id());
}

// BLIS_ARCH_TYPE takes the configuration's number (arch_t); "" when this BLIS was built without it (BLIS
// aborts on a configuration it does not hold).
static std::string BlisArchNumber(const std::string &arch) {
  const char *built[] = {
#ifdef BLIS_CONFIG_SKX
      "skx",
#endif
#ifdef BLIS_CONFIG_HASWELL
      "haswell",
#endif
#ifdef BLIS_CONFIG_SANDYBRIDGE
      "sandybridge",
#endif
      ""};
  if (arch.empty() || std::find(std::begin(built), std::end(built), arch) == std::end(built)) return "";
  for (int id = 0; id < BLIS_NUM_ARCHS; ++id)
    if (arch == bli_arch_string((arch_t)id)) return std::to_string(id);
  return "";
}

void BlasSelectKernels(int *argc, char ***argv) {
  BlasStartupState state;
  const char *env = std::getenv("BLIS_ARCH_TYPE");
  state.arch_env = env && *env ? env : nullptr;
  state.arch = BlisArch();
  state.cpu = DetectCpuFeatures();
  const std::string pid = std::to_string(getpid()) + " ";
  if (const char *m = std::getenv(kMarker))
    if (std::strncmp(m, pid.c_str(), pid.size()) == 0) state.marker = m + pid.size();  // another process's marker is ignored
  const BlasStartupAction act = BlasStartupStep(state, [] { return BlasVerifyGemm(LiveGemm); });
  const std::string number = BlisArchNumber(act.arch);
  if (act.reexec && (act.arch.empty() || !number.empty())) {
    if (act.arch.empty()) unsetenv("BLIS_ARCH_TYPE");
    else setenv("BLIS_ARCH_TYPE", number.c_str(), 1);
    setenv(kMarker, (pid + act.marker).c_str(), 1);
    std::vector<char *> args(*argv, *argv + *argc);
    args.push_back(nullptr);
    execv("/proc/self/exe", args.data());
    // exec failed: go on with the kernels loaded now
    how_chosen = "BLIS's choice (ctflow could not re-execute itself: " + std::string(std::strerror(errno)) + ")";
  } else if (act.reexec) how_chosen = "BLIS's choice (this BLIS has no configuration " + act.arch + ")";
  else how_chosen = act.description;
  unsetenv(kMarker);
  // BLIS checks every call's arguments through its object API: 3-4% of a training epoch of a few-token model (8 × 8
  // digits, perf), all on small GEMMs; ctflow's calls are correct by construction and tested.
  bli_error_checking_level_set(BLIS_NO_ERROR_CHECKING);
}

std::string BlasKernelName() { return BlisArch(); }

std::string BlasLibraryPath() {
  Dl_info info;
  return dladdr((void *)&bli_init, &info) && info.dli_fname ? info.dli_fname : "";
}

std::string BlasDescription() {
  std::string how = how_chosen;
  if (how.empty()) how = std::getenv("BLIS_ARCH_TYPE") ? "BLIS_ARCH_TYPE set in the environment" : "BLIS's choice";
  const long threads = std::max<long>(1, bli_thread_get_num_threads());  // -1: neither BLIS_NUM_THREADS nor OMP_NUM_THREADS set
  return std::string("BLIS ") + bli_info_get_version_str() + ", kernels " + BlisArch() + ": " + how + "; " + std::to_string(threads) + " thread(s)";
}

PetscErrorCode BlasViewFromOptions(MPI_Comm comm) {
  static bool viewed = false;
  PetscBool view = PETSC_FALSE;
  PetscFunctionBeginUser;
  if (viewed) PetscFunctionReturn(0);
  viewed = true;
  PetscOptionsBegin(comm, nullptr, "BLAS kernels (chosen at start-up: BLIS_ARCH_TYPE if set, else the CPU's best)", "BLAS");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsBool("-blas_view", "Print the BLAS library and the kernels that run", "BlasSelectKernels", view, &view, nullptr));
  PetscOptionsEnd();
  const std::string text = BlasDescription();
  PetscCall(PetscInfo(nullptr, "BLAS: %s\n", text.c_str()));
  if (view) PetscCall(PetscPrintf(comm, "BLAS: %s\n", text.c_str()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
