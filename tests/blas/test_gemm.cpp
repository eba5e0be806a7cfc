// ctflow::Gemm (operators/gemm.hpp): every product equals a naive triple loop whichever library runs it, small
// products go to OpenBLAS and large ones to BLIS, and the threshold follows OpenBLAS's kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"

namespace {

using ctflow::Gemm;
using ctflow::GemmLibraryFor;

// Restores the process's threshold after a test that changes it.
struct ThresholdGuard {
  double saved = ctflow::GemmSmallThreshold();
  ~ThresholdGuard() { ctflow::GemmSetSmallThreshold(saved); }
};

TEST(Gemm, SmallProductsRunOnOpenblasAndLargeOnesOnBlis) {
  ASSERT_NE(ctflow::OpenblasDgemm(), nullptr);
  ThresholdGuard guard;
  ctflow::GemmSetSmallThreshold(1 << 19);
  EXPECT_EQ(GemmLibraryFor(5, 96, 32), ctflow::OpenblasDgemm());     // a digits ViT's projection
  EXPECT_EQ(GemmLibraryFor(63, 64, 128), ctflow::OpenblasDgemm());   // 516,096 < 2^19
  EXPECT_EQ(GemmLibraryFor(64, 64, 128), &cblas_dgemm);              // 524,288 = 2^19
  EXPECT_EQ(GemmLibraryFor(512, 1536, 512), &cblas_dgemm);           // the benchmark model's projection
  EXPECT_EQ(GemmLibraryFor(0, 1536, 512), ctflow::OpenblasDgemm());  // a rank without tokens
  ctflow::GemmSetSmallThreshold(0);                                  // -blas_small_gemm 0: BLIS only
  EXPECT_EQ(GemmLibraryFor(5, 96, 32), &cblas_dgemm);
}

TEST(Gemm, ThresholdFollowsOpenblasInstructionSet) {
  EXPECT_EQ(ctflow::GemmSmallThresholdForCore("Cooperlake"), 1 << 19);
  EXPECT_EQ(ctflow::GemmSmallThresholdForCore("SkylakeX"), 1 << 19);
  EXPECT_EQ(ctflow::GemmSmallThresholdForCore("Haswell"), 1 << 17);
  EXPECT_EQ(ctflow::GemmSmallThresholdForCore("Zen"), 1 << 17);
  EXPECT_EQ(ctflow::GemmSmallThresholdForCore("Prescott"), 1 << 14);
  EXPECT_EQ(ctflow::GemmSmallThresholdForCore("a core from the future"), 1 << 14);
}

// C ← α op(A) op(B) + β C against a naive loop, to (k + 2)·4ε of Σ|α a b| + |β c| (any summation order).
void ExpectProduct(bool ta, bool tb, int m, int n, int k, double alpha, double beta) {
  std::vector<double> A((size_t)m * k), B((size_t)k * n), C((size_t)m * n);
  unsigned long long s = 0x9e3779b97f4a7c15ULL + (unsigned)(m * 131 + n * 17 + k);
  auto next = [&] {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return (double)(s >> 11) / 4503599627370496.0 - 1.0;
  };
  for (double &v : A) v = next();
  for (double &v : B) v = next();
  for (double &v : C) v = next();
  const std::vector<double> C0 = C;
  const int lda = ta ? m : k, ldb = tb ? k : n;
  Gemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0, bound = 0;
      for (int l = 0; l < k; ++l) {
        const double ab = (ta ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l]) * (tb ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j]);
        ref += ab, bound += std::fabs(ab);
      }
      ref = alpha * ref + beta * C0[(size_t)i * n + j];
      bound = std::fabs(alpha) * bound + std::fabs(beta * C0[(size_t)i * n + j]);
      ASSERT_NEAR(C[(size_t)i * n + j], ref, 4.0 * (k + 2) * 2.3e-16 * bound) << m << "x" << n << "x" << k << " ta " << ta << " tb " << tb;
    }
}

TEST(Gemm, EqualsTheNaiveProductOnBothLibraries) {
  const int shapes[][3] = {{5, 96, 32}, {5, 5, 8}, {17, 17, 8}, {1, 7, 3}, {160, 96, 32}, {300, 200, 100}, {96, 256, 64}};
  for (const auto &sh : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        ExpectProduct(ta, tb, sh[0], sh[1], sh[2], 1.0, 0.0);
        ExpectProduct(ta, tb, sh[0], sh[1], sh[2], -0.7, 1.3);
      }
}

}  // namespace
