#include "operators/gemm.hpp"

#include <blis.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "discretization/base/option_checks.hpp"
#include "operators/blas_kernels.hpp"

extern "C" char *openblas_get_corename(void);  // OpenBLAS's own names, not BLIS's
extern "C" void openblas_set_num_threads(int);

namespace ctflow {

static double small_threshold = -1;  // -1: GemmDefaultSmallThreshold() on first use

CblasDgemmFunction OpenblasDgemm() {
  static const CblasDgemmFunction gemm = [] {
    Dl_info info;  // the library that holds openblas_get_corename: its own cblas_dgemm, not the one linked first
    if (!dladdr((void *)&openblas_get_corename, &info) || !info.dli_fname) return (CblasDgemmFunction) nullptr;
    void *library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    return library ? (CblasDgemmFunction)dlsym(library, "cblas_dgemm") : nullptr;
  }();
  return gemm;
}

double GemmSmallThresholdForCore(const std::string &core) {
  // Where BLIS's skx kernels overtake OpenBLAS's (bench/RESULTS.md): m n k ≈ 5e5 against its AVX-512 kernels, 1.5e5
  // against its AVX2 ones; against older (or unknown) kernels only the products BLIS's call overhead dominates.
  static const double by_level[] = {1 << 14, 1 << 14, 1 << 17, 1 << 19};
  const int level = OpenblasCoreLevel(core);
  return by_level[level < 0 ? 0 : level];
}

double GemmDefaultSmallThreshold() { return OpenblasDgemm() ? GemmSmallThresholdForCore(openblas_get_corename()) : 0; }

void GemmSetSmallThreshold(double mnk) { small_threshold = OpenblasDgemm() ? mnk : 0; }

double GemmSmallThreshold() {
  if (small_threshold < 0) small_threshold = GemmDefaultSmallThreshold();
  return small_threshold;
}

CblasDgemmFunction GemmLibraryFor(PetscInt m, PetscInt n, PetscInt k) {
  return (double)m * (double)n * (double)k < GemmSmallThreshold() ? OpenblasDgemm() : &cblas_dgemm;
}

void Gemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, PetscInt m, PetscInt n, PetscInt k, PetscReal alpha, const PetscReal *A, PetscInt lda,
          const PetscReal *B, PetscInt ldb, PetscReal beta, PetscReal *C, PetscInt ldc) {
  GemmLibraryFor(m, n, k)(CblasRowMajor, trans_a, trans_b, (int)m, (int)n, (int)k, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

MicroKernel GemmMicroKernel() {
  MicroKernel k;
  cntx_t *cntx = bli_gks_query_cntx();
  if (bli_thread_get_num_threads() > 1 || !bli_cntx_l3_nat_ukr_prefers_cols_dt(BLIS_DOUBLE, BLIS_GEMM_UKR, cntx)) return k;
  k.gemm = (void *)bli_cntx_get_l3_nat_ukr_dt(BLIS_DOUBLE, BLIS_GEMM_UKR, cntx);
  if (!k.gemm) return k;
  k.mr = (int)bli_cntx_get_blksz_def_dt(BLIS_DOUBLE, BLIS_MR, cntx), k.nr = (int)bli_cntx_get_blksz_def_dt(BLIS_DOUBLE, BLIS_NR, cntx);
  k.cntx = cntx;
  return k;
}

void MicroKernel::operator()(PetscInt m, PetscInt n, PetscInt k, PetscReal alpha, const PetscReal *a, const PetscReal *b, PetscReal beta,
                             PetscReal *c, PetscInt rs_c, PetscInt cs_c) const {
  auxinfo_t aux{};  // no next panels to prefetch
  ((dgemm_ukr_ft)gemm)(m, n, k, &alpha, const_cast<PetscReal *>(a), const_cast<PetscReal *>(b), &beta, c, rs_c, cs_c, &aux, (cntx_t *)cntx);
}

bool MicroKernelTakesHeads(const MicroKernel &ukr, PetscInt d) {
  constexpr PetscInt kMaxFeatures = 256;
  return ukr.mr && d % ukr.mr == 0 && ukr.nr <= 16 && d <= kMaxFeatures;
}

void PackRowPanels(PetscInt rows, PetscInt d, PetscInt w, const PetscReal *from, PetscInt ld, PetscReal *to) {
  for (PetscInt p = 0; p * w < rows; ++p) {  // the stores in order: they miss L1, the loads stay in it
    const PetscInt n = std::min(w, rows - p * w);
    const PetscReal *f = from + (size_t)p * w * ld;
    PetscReal *t = to + (size_t)p * d * w;
    for (PetscInt z = 0; z < d; ++z, t += w) {
      for (PetscInt i = 0; i < n; ++i) t[i] = f[i * ld + z];
      for (PetscInt i = n; i < w; ++i) t[i] = 0.0;
    }
  }
}

void PackColumnPanels(PetscInt rows, PetscInt d, PetscInt w, const PetscReal *from, PetscInt ld, PetscReal *to, size_t stride) {
  for (PetscInt i = 0; i < rows; ++i)
    for (PetscInt zp = 0; zp < d / w; ++zp) std::copy_n(from + (size_t)i * ld + zp * w, w, to + zp * stride + (size_t)i * w);
}

PetscErrorCode GemmSetFromOptions(MPI_Comm comm) {
  static bool done = false;
  PetscReal mnk = GemmSmallThreshold();
  PetscBool set;
  PetscFunctionBeginUser;
  if (done) PetscFunctionReturn(0);
  done = true;
  // OpenBLAS starts one thread per core; ctflow's ranks are the parallelism, as for BLIS (one thread unless set).
  if (!std::getenv("OPENBLAS_NUM_THREADS") && !std::getenv("OMP_NUM_THREADS")) openblas_set_num_threads(1);
  PetscOptionsBegin(comm, nullptr, "Matrix products (BLIS for large ones, OpenBLAS below a size)", "BLAS");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsReal("-blas_small_gemm", "Products with m n k below this run on OpenBLAS, the rest on BLIS (0: all on BLIS)",
                             "GemmSetSmallThreshold", mnk, &mnk, &set));
  PetscOptionsEnd();
  PetscCheck(mnk >= 0 && std::isfinite(mnk), comm, PETSC_ERR_USER_INPUT, "-blas_small_gemm must be a non-negative number, got %g", (double)mnk);
  if (set) GemmSetSmallThreshold(mnk);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
