// BLAS kernel selection: ctflow runs on the fastest correct kernels of the OpenBLAS it links, on any x86-64
// CPU, without user tuning.
//
// OpenBLAS (built with DYNAMIC_ARCH, as Debian's is) picks its kernels once, when the library is loaded,
// from a table of CPU models it knows. On a CPU newer than that table it falls back to older kernels:
// Debian 12's 0.3.21 runs its AVX2 "Haswell" kernels on AVX-512 AMD EPYC (Zen 4/5) and its SSE3 "Prescott"
// kernels on some AVX-512 Xeons, 1.75–5× slower than its "SkylakeX" kernels there. The only way to change
// the choice is the environment variable OPENBLAS_CORETYPE, read when the library is loaded, so:
//
//   1. OPENBLAS_CORETYPE set by the user: respected, nothing else happens (some machines set it on purpose).
//   2. Otherwise, when the library's core uses an older instruction set than the CPU offers and the OS has
//      enabled (cpuid, xgetbv), the process re-executes itself once with OPENBLAS_CORETYPE set to the best
//      core for that instruction set (SkylakeX for AVX-512, Haswell for AVX2, Sandybridge for AVX). This
//      happens before MPI_Init: under mpirun every rank does it by itself, keeping its process id.
//   3. After the re-exec, the library must report the requested core and a check GEMM (several shapes,
//      transposes, α, β; against a naive triple loop) must agree; otherwise the process re-executes once
//      more without the variable, on the library's own choice.
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
// One line: the library, its build, the kernels running and how they were chosen.
std::string BlasDescription();
// Reads -blas_view (prints BlasDescription() on rank 0) and reports the description with PetscInfo.
PetscErrorCode BlasViewFromOptions(MPI_Comm comm);

// The decision, separated from the process so that it can be tested with any CPU and library.
struct CpuFeatures {
  bool avx = false, fma = false, avx2 = false;
  bool avx512 = false;                  // AVX-512 F, CD, DQ, BW and VL (what OpenBLAS's SkylakeX kernels use)
  bool os_ymm = false, os_zmm = false;  // xgetbv: the OS saves the YMM / opmask and ZMM state
};
CpuFeatures DetectCpuFeatures();

// The OpenBLAS core to select instead of `corename`, or "" to keep it: only when the CPU (as the OS
// enables it) supports a newer instruction set than the core's kernels use. Unknown core names are kept.
std::string BetterOpenBlasCore(const std::string &corename, const CpuFeatures &cpu);

struct BlasStartupState {
  const char *coretype_env = nullptr;  // OPENBLAS_CORETYPE, nullptr when unset
  std::string marker;                  // this process's marker (without its process id), "" on the first start
  std::string corename;                // openblas_get_corename()
  CpuFeatures cpu;
};
struct BlasStartupAction {
  bool reexec = false;
  std::string coretype;     // reexec: OPENBLAS_CORETYPE to set ("" to unset)
  std::string marker;       // reexec: the next marker
  std::string description;  // !reexec: how the running kernels were chosen
};
// One step of the start-up sequence; verify runs the check GEMM on the running kernels.
BlasStartupAction BlasStartupStep(const BlasStartupState &state, const std::function<bool()> &verify);

// Row-major C ← α op(A) op(B) + β C, as cblas_dgemm computes it.
using GemmFunction = std::function<void(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double *A, int lda, const double *B,
                                        int ldb, double beta, double *C, int ldc)>;
// The check GEMM: gemm against a naive triple loop on shapes that reach the kernels' edge cases.
bool BlasVerifyGemm(const GemmFunction &gemm);

}  // namespace ctflow
