// BLAS kernel selection: ctflow's GEMMs run on the fastest correct kernels of BLIS (large products) and OpenBLAS
// (small ones, operators/gemm.hpp; PETSc's LAPACK too), on any x86-64 CPU, without user tuning.
//
// Each library picks its kernels once, when it initialises, from the CPU models it knows, and on a CPU newer than
// that table falls back: Debian 12's BLIS 0.9 runs "generic" C kernels on an AVX-512 AMD EPYC (Zen 5), OpenBLAS
// 0.3.21 its "Prescott" ones on some AVX-512 Xeons, both 5× slower. Only an environment variable read at that
// initialisation (before main, for OpenBLAS) changes the choice: BLIS_ARCH_TYPE (the configuration's number) and
// OPENBLAS_CORETYPE (the core's name). So, for each library:
//
//   1. The variable set by the user: respected, whatever it says.
//   2. Otherwise, when the library's kernels use an older instruction set than the CPU offers and the OS has
//      enabled (cpuid, xgetbv), the best kernels for that instruction set are selected (BLIS skx / haswell /
//      sandybridge, OpenBLAS SkylakeX / Haswell / Sandybridge for AVX-512 / AVX2 / AVX). The process re-executes
//      itself once, with the variable(s) set, for both libraries together, before MPI_Init: under mpirun every
//      rank does it by itself, keeping its process id.
//   3. After the re-exec, each library must report the requested kernels and pass a check GEMM (several shapes,
//      transposes, α, β; against a naive triple loop) on its own cblas_dgemm; otherwise the process re-executes
//      once more without the variables ctflow set, on both libraries' own choices.
// A marker variable holding the process id (CTFLOW_BLAS_SELECTION) guards against loops: each step runs at
// most once per process, and a marker inherited from another process is ignored.
#pragma once
#include <petscsys.h>

#include <functional>
#include <string>

namespace ctflow {

// Re-executes the process with better kernels if needed (see above); call first in main, before
// PetscInitialize. Returns only when the process continues on its final kernels.
void BlasSelectKernels(int *argc, char ***argv);
// One line: for BLIS, then OpenBLAS, the version, the kernels running and how they were chosen; the threads.
std::string BlasDescription();
// BLIS's running kernels (its configuration, e.g. skx) and the shared library that holds them.
std::string BlasKernelName();
std::string BlasLibraryPath();
// Reads -blas_view (prints BlasDescription() on rank 0) and reports the description with PetscInfo.
PetscErrorCode BlasViewFromOptions(MPI_Comm comm);

// The decision, separated from the process so that it can be tested with any CPU and library.
struct CpuFeatures {
  bool avx = false, fma = false, avx2 = false;
  bool avx512 = false;                  // AVX-512 F, CD, DQ, BW and VL (what BLIS's skx kernels use)
  bool os_ymm = false, os_zmm = false;  // xgetbv: the OS saves the YMM / opmask and ZMM state
};
CpuFeatures DetectCpuFeatures();

// The BLIS configuration to select instead of `arch`, or "" to keep it: only when the CPU (as the OS
// enables it) supports a newer instruction set than the configuration's kernels use. Unknown names are kept.
std::string BetterBlisArch(const std::string &arch, const CpuFeatures &cpu);
// The OpenBLAS core (OPENBLAS_CORETYPE's names: SkylakeX, Haswell, Sandybridge) to select instead of `core`, or "" to
// keep it, by the same rule as BetterBlisArch; any case, unknown names kept.
std::string BetterOpenblasCore(const std::string &core, const CpuFeatures &cpu);
// The instruction set of an OpenBLAS core (openblas_get_corename, OPENBLAS_CORETYPE; any case): 3 AVX-512, 2 AVX2,
// 1 AVX, 0 older; -1 for a name not listed.
int OpenblasCoreLevel(const std::string &core);

enum class BlasLibrary { Blis, Openblas };
struct BlasStartupState {
  const char *arch_env = nullptr;  // BLIS_ARCH_TYPE, nullptr when unset
  const char *core_env = nullptr;  // OPENBLAS_CORETYPE, nullptr when unset
  std::string marker;              // this process's marker (without its process id), "" on the first start
  std::string arch;                // the configuration BLIS runs (bli_arch_string)
  std::string core;                // the core OpenBLAS runs (openblas_get_corename)
  CpuFeatures cpu;
  std::function<bool(const std::string &)> blis_has;  // whether this BLIS holds a configuration (nullptr: every one)
};
struct BlasStartupAction {
  bool reexec = false;
  std::string arch, core;                       // reexec: BLIS configuration / OpenBLAS core to select, "" for none
  bool unset_arch = false, unset_core = false;  // reexec: remove BLIS_ARCH_TYPE / OPENBLAS_CORETYPE (a fall-back)
  std::string marker;                           // reexec: the next marker
  std::string blis, openblas;                   // how each library's kernels were chosen (on a re-exec: "" for one it changes)
};
// One step of the start-up sequence; verify(library) runs the check GEMM on that library's running kernels.
BlasStartupAction BlasStartupStep(const BlasStartupState &state, const std::function<bool(BlasLibrary)> &verify);

// Row-major C ← α op(A) op(B) + β C, as cblas_dgemm computes it.
using GemmFunction = std::function<void(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double *A, int lda, const double *B,
                                        int ldb, double beta, double *C, int ldc)>;
// The check GEMM: gemm against a naive triple loop on shapes that reach the kernels' edge cases.
bool BlasVerifyGemm(const GemmFunction &gemm);

}  // namespace ctflow
