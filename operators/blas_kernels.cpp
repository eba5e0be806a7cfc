#include "operators/blas_kernels.hpp"

#include <blis.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <sstream>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "discretization/base/option_checks.hpp"
#include "operators/gemm.hpp"

extern "C" char *openblas_get_corename(void);  // OpenBLAS's own names, not BLIS's
extern "C" char *openblas_get_config(void);
extern "C" int openblas_get_num_threads(void);

namespace ctflow {

static const char kMarker[] = "CTFLOW_BLAS_SELECTION";
static std::string blis_how, openblas_how;  // set by BlasSelectKernels

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

static bool SameName(const std::string &a, const std::string &b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower((unsigned char)x) == std::tolower((unsigned char)y); });
}

namespace {
// One library's part of the start-up sequence.
struct Library {
  const char *name, *tag, *variable;  // "BLIS", its marker tag, the variable that selects its kernels
  const char *env;                    // the variable's value, nullptr when unset
  std::string running, better;        // the kernels running; better ones for this CPU ("" none)
  bool known;                         // the running kernels' instruction set is known
  std::string missing{};              // better kernels this library does not hold
  std::string from{}, to{};           // the marker's selection ("" none)
};
}  // namespace

// How a library's kernels were chosen when ctflow did not select them.
static std::string Unselected(const Library &l, const CpuFeatures &cpu) {
  const std::string own = std::string(l.name) + "'s choice";
  if (l.env) return std::string(l.variable) + "=" + l.env + " set in the environment";
  if (!l.missing.empty()) return own + " (this " + l.name + " has no configuration " + l.missing + ")";
  if (!l.known) return own + " (kernels ctflow does not rank)";
  return l.better.empty() ? own + ", the best for this CPU's " + Features(cpu) : own;
}

// The marker's selection: "<BLIS from> <to> <OpenBLAS from> <to>", "-" for none.
static std::string Selection(const Library (&libs)[2]) {
  std::string s;
  for (const Library &l : libs)
    for (const std::string *w : {&l.from, &l.to}) s += (s.empty() ? "" : " ") + (w->empty() ? std::string("-") : *w);
  return s;
}

// Markers: "selected <selection>" after the selecting re-exec, "fallback <selection> <library tag> <reason>" after
// the fall-back one. A fall-back drops every selection, so that it needs no check of its own.
BlasStartupAction BlasStartupStep(const BlasStartupState &state, const std::function<bool(BlasLibrary)> &verify) {
  BlasStartupAction act;
  Library libs[2] = {
      {"BLIS", "blis", "BLIS_ARCH_TYPE", state.arch_env, state.arch, BetterBlisArch(state.arch, state.cpu), ArchLevel(state.arch) >= 0},
      {"OpenBLAS", "openblas", "OPENBLAS_CORETYPE", state.core_env, state.core, BetterOpenblasCore(state.core, state.cpu),
       OpenblasCoreLevel(state.core) >= 0}};
  Library &blis = libs[0], &openblas = libs[1];
  std::istringstream words(state.marker);
  std::string step, failed, reason;
  words >> step >> blis.from >> blis.to >> openblas.from >> openblas.to >> failed >> reason;
  for (Library &l : libs)
    for (std::string *w : {&l.from, &l.to})
      if (*w == "-") w->clear();
  std::string how[2];
  if (step == "selected") {
    // After the re-exec: each library must run the requested kernels, and run them correctly.
    for (int i = 0; i < 2; ++i) {
      if (libs[i].to.empty()) continue;
      const bool loaded = SameName(libs[i].running, libs[i].to);
      if (!loaded || !verify((BlasLibrary)i)) {
        act.reexec = true;
        act.unset_arch = !blis.to.empty();
        act.unset_core = !openblas.to.empty();
        act.marker = "fallback " + Selection(libs) + " " + libs[i].tag + " " + (loaded ? "check-GEMM-failed" : "not-loaded");
        if (blis.to.empty()) act.blis = Unselected(blis, state.cpu);
        if (openblas.to.empty()) act.openblas = Unselected(openblas, state.cpu);
        return act;
      }
    }
    for (int i = 0; i < 2; ++i)
      how[i] = libs[i].to.empty() ? Unselected(libs[i], state.cpu)
                                  : std::string("selected by ctflow (") + libs[i].name + " chose " + libs[i].from + " on a CPU with OS-enabled " +
                                        Features(state.cpu) + "), check GEMM passed";
  } else if (step == "fallback") {
    for (int i = 0; i < 2; ++i) {
      const Library &l = libs[i];
      if (l.to.empty()) how[i] = Unselected(l, state.cpu);
      else if (failed == l.tag) how[i] = std::string(l.name) + "'s choice (ctflow's selection " + l.to + " was rejected: " + reason + ")";
      else
        how[i] = std::string(l.name) + "'s choice (ctflow's selection " + l.to + " was withdrawn with " + libs[1 - i].name + "'s " + libs[1 - i].to +
                 ", rejected: " + reason + ")";
    }
  } else {
    for (int i = 0; i < 2; ++i) {
      Library &l = libs[i];
      if (l.env || l.better.empty()) continue;
      if (i == 0 && state.blis_has && !state.blis_has(l.better)) l.missing = l.better;
      else l.from = l.running, l.to = l.better;
    }
    act.reexec = !blis.to.empty() || !openblas.to.empty();
    act.arch = blis.to;
    act.core = openblas.to;
    if (act.reexec) act.marker = "selected " + Selection(libs);
    for (int i = 0; i < 2; ++i)
      if (libs[i].to.empty()) how[i] = Unselected(libs[i], state.cpu);
  }
  act.blis = how[0];
  act.openblas = how[1];
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

static void OpenblasLiveGemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda, const double *B, int ldb, double beta,
                             double *C, int ldc) {
  OpenblasDgemm()(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static const char *EnvValue(const char *name) {
  const char *value = std::getenv(name);
  return value && *value ? value : nullptr;  // an empty value selects nothing, in either library
}

void BlasSelectKernels(int *argc, char ***argv) {
  BlasStartupState state;
  state.arch_env = EnvValue("BLIS_ARCH_TYPE");
  state.core_env = EnvValue("OPENBLAS_CORETYPE");
  state.arch = BlisArch();
  state.core = openblas_get_corename();
  state.cpu = DetectCpuFeatures();
  state.blis_has = [](const std::string &arch) { return !BlisArchNumber(arch).empty(); };
  const std::string pid = std::to_string(getpid()) + " ";
  if (const char *m = std::getenv(kMarker))
    if (std::strncmp(m, pid.c_str(), pid.size()) == 0) state.marker = m + pid.size();  // another process's marker is ignored
  const BlasStartupAction act = BlasStartupStep(state, [](BlasLibrary library) {
    if (library == BlasLibrary::Blis) return BlasVerifyGemm(LiveGemm);
    return OpenblasDgemm() && BlasVerifyGemm(OpenblasLiveGemm);
  });
  blis_how = act.blis;
  openblas_how = act.openblas;
  if (act.reexec) {
    if (!act.arch.empty()) setenv("BLIS_ARCH_TYPE", BlisArchNumber(act.arch).c_str(), 1);
    if (act.unset_arch) unsetenv("BLIS_ARCH_TYPE");
    if (!act.core.empty()) setenv("OPENBLAS_CORETYPE", act.core.c_str(), 1);
    if (act.unset_core) unsetenv("OPENBLAS_CORETYPE");
    setenv(kMarker, (pid + act.marker).c_str(), 1);
    std::vector<char *> args(*argv, *argv + *argc);
    args.push_back(nullptr);
    execv("/proc/self/exe", args.data());
    // exec failed: go on with the kernels loaded now
    const std::string why = "ctflow could not re-execute itself: " + std::string(std::strerror(errno));
    if (blis_how.empty()) blis_how = (act.unset_arch ? "ctflow's selection, although rejected (" : "BLIS's choice (") + why + ")";
    if (openblas_how.empty()) openblas_how = (act.unset_core ? "ctflow's selection, although rejected (" : "OpenBLAS's choice (") + why + ")";
  }
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

// How a library's kernels were chosen, also when BlasSelectKernels did not run.
static std::string How(const std::string &how, const char *library, const char *variable) {
  if (!how.empty()) return how;
  return EnvValue(variable) ? std::string(variable) + " set in the environment" : std::string(library) + "'s choice";
}

std::string BlasDescription() {
  std::istringstream config(openblas_get_config());  // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..."
  std::string name, version;
  config >> name >> version;
  char threshold[64] = "not for ctflow's products (-blas_small_gemm 0)";
  if (GemmSmallThreshold() > 0) std::snprintf(threshold, sizeof threshold, "for products with m n k < %.15g", GemmSmallThreshold());
  // BLIS: -1 when neither BLIS_NUM_THREADS nor OMP_NUM_THREADS is set (one thread)
  const long blis_threads = std::max<long>(1, bli_thread_get_num_threads()), openblas_threads = openblas_get_num_threads();
  const std::string threads = blis_threads == openblas_threads
                                  ? std::to_string(blis_threads) + " thread(s)"
                                  : "BLIS " + std::to_string(blis_threads) + ", OpenBLAS " + std::to_string(openblas_threads) + " thread(s)";
  return std::string("BLIS ") + bli_info_get_version_str() + ", kernels " + BlisArch() + ": " + How(blis_how, "BLIS", "BLIS_ARCH_TYPE") +
         "; OpenBLAS " + version + ", kernels " + openblas_get_corename() + ": " + How(openblas_how, "OpenBLAS", "OPENBLAS_CORETYPE") + ", " +
         threshold + "; " + threads;
}

PetscErrorCode BlasViewFromOptions(MPI_Comm comm) {
  static bool viewed = false;
  PetscBool view = PETSC_FALSE;
  PetscFunctionBeginUser;
  if (viewed) PetscFunctionReturn(0);
  viewed = true;
  PetscOptionsBegin(comm, nullptr, "BLAS kernels (chosen at start-up: BLIS_ARCH_TYPE, OPENBLAS_CORETYPE if set, else the CPU's best)", "BLAS");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsBool("-blas_view", "Print the BLAS library and the kernels that run", "BlasSelectKernels", view, &view, nullptr));
  PetscOptionsEnd();
  const std::string text = BlasDescription();
  PetscCall(PetscInfo(nullptr, "BLAS: %s\n", text.c_str()));
  if (view) PetscCall(PetscPrintf(comm, "BLAS: %s\n", text.c_str()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
