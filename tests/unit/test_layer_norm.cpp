// The vectorised per-token kernels of the layer-norm projection (operators/layer_norm_projection.cpp) against long-double
// evaluations of eq. (22), (31)–(32) and of the transpose, for every token length N_y = 1 … 17 (the 8-lane reductions'
// tails), 32 (the digits ViT) and 512 (the large benchmark), scalar and per-feature targets, ε = 0 and ε > 0; and a
// token's result the same bits wherever it sits in the block (the reductions' order is fixed per token); tokens of
// entries beyond 1e154 as their unscaled copies.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "discretization/grid.hpp"
#include "operators/layer_norm_projection.hpp"

namespace {

using ctflow::LayerNormTargets;

constexpr PetscInt kTokens = 6;

// A kTokens × n grid, tokens of spread 2 about 0.5 with token 4 a copy of token 1 (its place in the block differs).
class LayerNormKernels : public ::testing::TestWithParam<PetscInt> {
 protected:
  void SetUp() override {
    const std::string opts = "-Nx " + std::to_string(kTokens) + " -Ny " + std::to_string(n());
    ASSERT_EQ(PetscOptionsInsertString(nullptr, opts.c_str()), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    for (Vec *v : {&u_, &g_, &du_}) ASSERT_EQ(DMCreateGlobalVector(grid_.Layout(), v), 0);
    std::mt19937_64 rng(7 + n());
    std::normal_distribution<double> normal;
    v_.resize(kTokens * n()), G_.resize(kTokens * n());
    for (double &x : v_) x = 0.5 + 2 * normal(rng);
    for (double &x : G_) x = normal(rng);
    for (PetscInt l = 0; l < n(); ++l) v_[4 * n() + l] = v_[n() + l], G_[4 * n() + l] = G_[n() + l];
    if (n() == 1) v_[0] = v_[n()] = v_[4 * n()] = 0.5;  // one entry: a constant token, for ε > 0 only
  }
  void TearDown() override {
    for (Vec *v : {&u_, &g_, &du_}) VecDestroy(v);
    for (const char *o : {"-Nx", "-Ny"}) PetscOptionsClearValue(nullptr, o);
  }
  PetscInt n() const { return GetParam(); }
  void Set(Vec x, const std::vector<double> &values) {
    PetscScalar *a;
    VecGetArray(x, &a);
    std::copy(values.begin(), values.end(), a);
    VecRestoreArray(x, &a);
  }
  std::vector<double> Get(Vec x) {
    const PetscScalar *a;
    VecGetArrayRead(x, &a);
    std::vector<double> out(a, a + kTokens * n());
    VecRestoreArrayRead(x, &a);
    return out;
  }
  LayerNormTargets Targets(bool per_feature, double eps) {
    LayerNormTargets t;
    t.sigma1 = 0.25, t.sigma2 = 1.5, t.eps = eps;
    if (per_feature)
      for (PetscInt l = 0; l < n(); ++l) t.sigma1_y.push_back(0.1 * l - 0.3), t.sigma2_y.push_back(1 + 0.05 * l);
    return t;
  }
  // Token k's moments in long double: mean, 1/sqrt(β + ε), x̂.
  void Moments(PetscInt k, double eps, long double *mean, long double *inv_std, std::vector<long double> *xhat) {
    long double m = 0, var = 0;
    for (PetscInt l = 0; l < n(); ++l) m += v_[k * n() + l];
    m /= n();
    for (PetscInt l = 0; l < n(); ++l) var += (v_[k * n() + l] - m) * (v_[k * n() + l] - m);
    *mean = m, *inv_std = 1 / sqrtl(var / n() + eps);
    xhat->resize(n());
    for (PetscInt l = 0; l < n(); ++l) (*xhat)[l] = (v_[k * n() + l] - m) * *inv_std;
  }

  ctflow::Grid grid_{PETSC_COMM_SELF};
  Vec u_ = nullptr, g_ = nullptr, du_ = nullptr;
  std::vector<double> v_, G_;
};

TEST_P(LayerNormKernels, ProjectionMatchesLongDouble) {
  for (bool per_feature : {false, true})
    for (double eps : {0.0, 1e-5}) {
      if (n() == 1 && eps == 0) continue;  // a one-entry token is constant
      const LayerNormTargets t = Targets(per_feature, eps);
      Set(u_, v_);
      ASSERT_EQ(ctflow::LayerNormProjectOnto(grid_, t, 0, 0, u_), 0);
      const std::vector<double> u = Get(u_);
      for (PetscInt k = 0; k < kTokens; ++k) {
        long double mean, inv_std;
        std::vector<long double> xhat;
        Moments(k, eps, &mean, &inv_std, &xhat);
        for (PetscInt l = 0; l < n(); ++l) {
          const double s1 = per_feature ? t.sigma1_y[l] : t.sigma1, s2 = per_feature ? t.sigma2_y[l] : t.sigma2;
          EXPECT_NEAR(u[k * n() + l], (double)(s2 * xhat[l] + s1), 1e-14 * (std::fabs(s2) * (1 + fabsl(xhat[l])) + std::fabs(s1)))
              << "N_y = " << n() << ", token " << k << ", entry " << l << (per_feature ? ", per feature" : "") << ", ε = " << eps;
        }
      }
      for (PetscInt l = 0; l < n(); ++l) EXPECT_EQ(u[4 * n() + l], u[n() + l]) << "N_y = " << n() << ", entry " << l;
    }
}

// Tokens of entries near 1e156 and 1e301, whose squared deviations overflow: projected as their unscaled copies (the
// projection does not see the scale; ε = 1e-5 is negligible against their variance). It gave another state, or at
// 1e200 a false "zero variance".
TEST_P(LayerNormKernels, HugeTokensProjectAsUnscaled) {
  if (n() == 1) return;
  for (int exponent : {520, 1000})
    for (double eps : {0.0, 1e-5}) {
      const LayerNormTargets t = Targets(false, eps);
      std::vector<double> huge(v_);
      for (double &x : huge) x = std::ldexp(x, exponent);
      Set(u_, huge);
      ASSERT_EQ(ctflow::LayerNormProjectOnto(grid_, t, 0, 0, u_), 0) << "N_y = " << n() << ", 2^" << exponent;
      const std::vector<double> u = Get(u_);
      for (PetscInt k = 0; k < kTokens; ++k) {
        long double mean, inv_std;
        std::vector<long double> xhat;
        Moments(k, 0.0, &mean, &inv_std, &xhat);
        for (PetscInt l = 0; l < n(); ++l)
          EXPECT_NEAR(u[k * n() + l], (double)(t.sigma2 * xhat[l] + t.sigma1),
                      1e-14 * (std::fabs(t.sigma2) * (1 + fabsl(xhat[l])) + std::fabs(t.sigma1)))
              << "N_y = " << n() << ", token " << k << ", entry " << l << ", 2^" << exponent << ", ε = " << eps;
      }
    }
}

TEST_P(LayerNormKernels, TransposeMatchesLongDouble) {
  for (bool per_feature : {false, true})
    for (double eps : {0.0, 1e-5}) {
      if (n() == 1 && eps == 0) continue;
      const LayerNormTargets t = Targets(per_feature, eps);
      Set(u_, v_), Set(g_, G_), VecSet(du_, 1.0);
      LayerNormTargets dk;
      ASSERT_EQ(ctflow::LayerNormTransposeOnto(grid_, t, 0, u_, g_, du_, &dk), 0);
      const std::vector<double> du = Get(du_);
      long double d1 = 0, d2 = 0;
      std::vector<long double> d1_y(n()), d2_y(n());
      for (PetscInt k = 0; k < kTokens; ++k) {
        long double mean, inv_std, mean_g = 0, mean_gx = 0;
        std::vector<long double> xhat;
        Moments(k, eps, &mean, &inv_std, &xhat);
        std::vector<long double> gx(n());
        for (PetscInt l = 0; l < n(); ++l) {
          gx[l] = G_[k * n() + l] * (long double)(per_feature ? t.sigma2_y[l] : t.sigma2);
          mean_g += gx[l] / n(), mean_gx += gx[l] * xhat[l] / n();
          d1 += G_[k * n() + l], d2 += G_[k * n() + l] * xhat[l];
          d1_y[l] += G_[k * n() + l], d2_y[l] += G_[k * n() + l] * xhat[l];
        }
        long double scale = 0;  // the size of the terms, for the tolerance
        for (PetscInt l = 0; l < n(); ++l) scale = std::max(scale, inv_std * (fabsl(gx[l]) + fabsl(mean_g) + fabsl(xhat[l] * mean_gx)));
        for (PetscInt l = 0; l < n(); ++l)
          EXPECT_NEAR(du[k * n() + l], (double)(1 + inv_std * (gx[l] - mean_g - xhat[l] * mean_gx)), 1e-14 * (double)(1 + scale))
              << "N_y = " << n() << ", token " << k << ", entry " << l << (per_feature ? ", per feature" : "") << ", ε = " << eps;
      }
      for (PetscInt l = 0; l < n(); ++l) EXPECT_EQ(du[4 * n() + l], du[n() + l]) << "N_y = " << n() << ", entry " << l;
      if (per_feature) {
        ASSERT_EQ((PetscInt)dk.sigma1_y.size(), n());
        for (PetscInt l = 0; l < n(); ++l) {
          EXPECT_NEAR(dk.sigma1_y[l], (double)d1_y[l], 1e-14 * kTokens * 4) << "N_y = " << n() << ", entry " << l;
          EXPECT_NEAR(dk.sigma2_y[l], (double)d2_y[l], 1e-14 * kTokens * 4) << "N_y = " << n() << ", entry " << l;
        }
      } else {
        EXPECT_NEAR(dk.sigma1, (double)d1, 1e-14 * kTokens * n() * 4) << "N_y = " << n();
        EXPECT_NEAR(dk.sigma2, (double)d2, 1e-14 * kTokens * n() * 4) << "N_y = " << n();
      }
    }
}

INSTANTIATE_TEST_SUITE_P(EveryTail, LayerNormKernels, ::testing::Values(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 32, 512));

}  // namespace
