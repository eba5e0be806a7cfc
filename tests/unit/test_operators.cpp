// Unit tests of the operators of eq. (7) against their defining formulas: the layer-norm projection
// (Theorem 3.1: lands in S1 and is the nearest point of S1), ReLU as the projection onto S2, the
// feed-forward and attention right-hand sides as midpoint quadratures of eq. (23) and (40) on a grid
// with non-unit spacings, and the continuity of the analytic controls across grids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "discretization/analytic_controls.hpp"
#include "operators/operator.hpp"

namespace {

using ctflow::AnalyticControls;
using ctflow::Grid;

// A small grid with non-unit spacings (Δx = 0.6, Δy = 0.35, Δh = 0.4), analytic controls, random u.
class OperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char *opts = "-Nx 5 -Ny 7 -Nh 3 -Lx 3 -Ly 2.45 -Lh 1.2 -attention_tile 2";
    ASSERT_EQ(PetscOptionsInsertString(nullptr, opts), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    ASSERT_EQ(controls_.SetFromOptions(), 0);
    ASSERT_EQ(DMCreateGlobalVector(grid_.Layout(), &u_), 0);
    ASSERT_EQ(VecDuplicate(u_, &f_), 0);
    std::mt19937_64 rng(3);
    std::normal_distribution<double> normal;
    PetscScalar *a;
    VecGetArray(u_, &a);
    for (PetscInt i = 0; i < Nx() * Ny(); ++i) a[i] = 1.5 * normal(rng) + 0.3;
    VecRestoreArray(u_, &a);
  }
  void TearDown() override {
    VecDestroy(&u_);
    VecDestroy(&f_);
    for (const char *o : {"-Nx", "-Ny", "-Nh", "-Lx", "-Ly", "-Lh", "-attention_tile", "-layernorm_eps"}) PetscOptionsClearValue(nullptr, o);
  }
  PetscInt Nx() const { return grid_.Nx(); }
  PetscInt Ny() const { return grid_.Ny(); }
  std::unique_ptr<ctflow::Operator> Create(const char *name) {
    std::unique_ptr<ctflow::Operator> op;
    EXPECT_EQ(ctflow::OperatorCreate(name, {&grid_, &controls_}, &op), 0);
    return op;
  }
  std::vector<double> Values(Vec v) {
    const PetscScalar *a;
    VecGetArrayRead(v, &a);
    std::vector<double> out(a, a + Nx() * Ny());
    VecRestoreArrayRead(v, &a);
    return out;
  }

  Grid grid_{PETSC_COMM_SELF};
  AnalyticControls controls_{PETSC_COMM_SELF};
  Vec u_ = nullptr, f_ = nullptr;
};

TEST_F(OperatorTest, LayerNormProjectsOntoS1AndIsTheNearestPoint) {
  const PetscReal t = 0.3;
  ctflow::LayerNormTargets target;
  controls_.SampleLayerNorm(0, t, &target);
  const std::vector<double> v = Values(u_);
  ASSERT_EQ(Create("layernorm")->Project(t, u_), 0);
  const std::vector<double> u = Values(u_);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  for (PetscInt k = 0; k < Nx(); ++k) {
    double mean = 0, var = 0, vmean = 0, vvar = 0;
    for (PetscInt l = 0; l < Ny(); ++l) mean += u[k * Ny() + l] / Ny(), vmean += v[k * Ny() + l] / Ny();
    for (PetscInt l = 0; l < Ny(); ++l) {
      var += std::pow(u[k * Ny() + l] - mean, 2) / Ny();
      vvar += std::pow(v[k * Ny() + l] - vmean, 2) / Ny();
    }
    EXPECT_NEAR(mean, target.sigma1, 1e-14);                 // in S1: mean σ1 ...
    EXPECT_NEAR(var, target.sigma2 * target.sigma2, 1e-13);  // ... and variance σ2²
    for (PetscInt l = 0; l < Ny(); ++l)                      // eq. (22)
      EXPECT_NEAR(u[k * Ny() + l], target.sigma2 * (v[k * Ny() + l] - vmean) / std::sqrt(vvar) + target.sigma1, 1e-13);
    double dist = 0;
    for (PetscInt l = 0; l < Ny(); ++l) dist += std::pow(u[k * Ny() + l] - v[k * Ny() + l], 2);
    for (int trial = 0; trial < 200; ++trial) {  // eq. (21): no point of S1 is closer to v
      std::vector<double> z(Ny());
      double zm = 0, zv = 0, d = 0;
      for (double &e : z) zm += (e = normal(rng)) / Ny();
      for (double e : z) zv += (e - zm) * (e - zm) / Ny();
      for (PetscInt l = 0; l < Ny(); ++l) d += std::pow(target.sigma2 * (z[l] - zm) / std::sqrt(zv) + target.sigma1 - v[k * Ny() + l], 2);
      EXPECT_LE(dist, d * (1 + 1e-12));
    }
  }
  // A projection is idempotent.
  ASSERT_EQ(Create("layernorm")->Project(t, u_), 0);
  const std::vector<double> uu = Values(u_);
  for (size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(uu[i], u[i], 1e-13);
}

TEST_F(OperatorTest, LayerNormRejectsAConstantTokenUnlessEpsIsGiven) {
  PetscScalar *a;
  VecGetArray(u_, &a);
  std::fill_n(&a[2 * Ny()], Ny(), 0.7);  // token 2 is constant along y
  VecRestoreArray(u_, &a);
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  const PetscErrorCode ierr = Create("layernorm")->Project(0, u_);
  PetscPopErrorHandler();
  EXPECT_EQ(ierr, PETSC_ERR_USER_INPUT);
  const char *text, *specific;
  PetscErrorMessage(ierr, &text, const_cast<char **>(&specific));
  EXPECT_NE(std::string(specific).find("token 2"), std::string::npos) << specific;
  EXPECT_NE(std::string(specific).find("-layernorm_eps"), std::string::npos) << specific;

  // With ε > 0 the constant token maps to σ1 and the others follow (v - α)/sqrt(β + ε).
  PetscOptionsSetValue(nullptr, "-layernorm_eps", "0.5");
  const std::vector<double> v = Values(u_);
  ASSERT_EQ(Create("layernorm")->Project(0, u_), 0);
  ctflow::LayerNormTargets target;
  controls_.SampleLayerNorm(0, 0, &target);
  const std::vector<double> u = Values(u_);
  for (PetscInt k = 0; k < Nx(); ++k) {
    double m = 0, var = 0;
    for (PetscInt l = 0; l < Ny(); ++l) m += v[k * Ny() + l] / Ny();
    for (PetscInt l = 0; l < Ny(); ++l) var += std::pow(v[k * Ny() + l] - m, 2) / Ny();
    for (PetscInt l = 0; l < Ny(); ++l)
      EXPECT_NEAR(u[k * Ny() + l], target.sigma2 * (v[k * Ny() + l] - m) / std::sqrt(var + 0.5) + target.sigma1, 1e-14);
  }
}

TEST_F(OperatorTest, ReluIsTheProjectionOntoTheNonNegativeCone) {
  const std::vector<double> v = Values(u_);
  ASSERT_EQ(Create("relu")->Project(0, u_), 0);
  const std::vector<double> u = Values(u_);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(u[i], std::max(v[i], 0.0));
}

TEST_F(OperatorTest, FeedForwardIsTheMidpointQuadratureOfTheIntegralOperator) {
  const PetscReal t = 0.7;
  ASSERT_EQ(Create("ffn2")->Rhs(t, u_, f_), 0);
  ctflow::FeedForwardKernel k;
  controls_.SampleFeedForward(2, t, grid_, &k);
  const std::vector<double> u = Values(u_), f = Values(f_);
  for (PetscInt x = 0; x < Nx(); ++x)
    for (PetscInt y = 0; y < Ny(); ++y) {
      double expect = k.b[x * Ny() + y];  // eq. (23): ∫ W_2(ξ, y) u(x, ξ) dξ + b_2(x, y)
      for (PetscInt xi = 0; xi < Ny(); ++xi) expect += k.W[xi * Ny() + y] * u[x * Ny() + xi] * grid_.dy();
      EXPECT_NEAR(f[x * Ny() + y], expect, 1e-13);
    }
}

TEST_F(OperatorTest, AttentionIsTheMidpointQuadratureOfEq40) {
  const PetscReal t = 0.4;
  ASSERT_EQ(Create("attention")->Rhs(t, u_, f_), 0);
  ctflow::AttentionKernels k;
  controls_.SampleAttention(t, grid_, &k);
  const std::vector<double> u = Values(u_), f = Values(f_);
  const PetscInt Nx = this->Nx(), Ny = this->Ny(), Nh = grid_.Nh();
  auto transform = [&](const std::vector<double> &W, PetscInt m, PetscInt x, PetscInt y) {  // eq. (3)–(5)
    double s = 0;
    for (PetscInt xi = 0; xi < Ny; ++xi) s += W[(m * Ny + xi) * Ny + y] * u[x * Ny + xi] * grid_.dy();
    return s;
  };
  for (PetscInt x = 0; x < Nx; ++x)
    for (PetscInt y = 0; y < Ny; ++y) {
      double expect = 0;
      for (PetscInt m = 0; m < Nh; ++m) {
        // γ(x, η) = exp(a(x, η)) / ∫ exp(a(x, η')) dη', a = s ⟨Q(x, ·), K(η, ·)⟩_Ωy   (eq. (37))
        std::vector<double> a(Nx);
        double norm = 0;
        for (PetscInt eta = 0; eta < Nx; ++eta) {
          a[eta] = 0;
          for (PetscInt l = 0; l < Ny; ++l) a[eta] += k.scale * transform(k.WQ, m, x, l) * transform(k.WK, m, eta, l) * grid_.dy();
          norm += std::exp(a[eta]) * grid_.dx();
        }
        for (PetscInt eta = 0; eta < Nx; ++eta)  // ∫_Ωh ∫_Ωx γ V dη dh   (eq. (40))
          expect += std::exp(a[eta]) / norm * transform(k.WV, m, eta, y) * grid_.dx() * grid_.dh();
      }
      EXPECT_NEAR(f[x * Ny + y], expect, 1e-13);
    }
}

TEST(AnalyticControls, AreOneFunctionSampledOnAnyGrid) {
  // Cell centres of a 4-cell grid are centres of the 12-cell refinement (every third, offset 1).
  Grid coarse(PETSC_COMM_SELF), fine(PETSC_COMM_SELF);
  AnalyticControls controls(PETSC_COMM_SELF);
  ASSERT_EQ(controls.SetFromOptions(), 0);
  PetscOptionsInsertString(nullptr, "-Nx 3 -Ny 4 -Nh 1");
  ASSERT_EQ(coarse.SetFromOptions(), 0);
  ASSERT_EQ(coarse.SetUp(), 0);
  PetscOptionsInsertString(nullptr, "-Nx 9 -Ny 12 -Nh 3");
  ASSERT_EQ(fine.SetFromOptions(), 0);
  ASSERT_EQ(fine.SetUp(), 0);
  for (const char *o : {"-Nx", "-Ny", "-Nh"}) PetscOptionsClearValue(nullptr, o);
  ctflow::AttentionKernels kc, kf;
  ctflow::FeedForwardKernel fc, ff;
  ASSERT_EQ(controls.SampleAttention(0.9, coarse, &kc), 0);
  ASSERT_EQ(controls.SampleAttention(0.9, fine, &kf), 0);
  ASSERT_EQ(controls.SampleFeedForward(1, 0.9, coarse, &fc), 0);
  ASSERT_EQ(controls.SampleFeedForward(1, 0.9, fine, &ff), 0);
  for (PetscInt i = 0; i < 4; ++i)
    for (PetscInt l = 0; l < 4; ++l) {
      const PetscInt I = 3 * i + 1, L = 3 * l + 1;
      // head h = 0.5 on the 1-head grid is the centre of head cell 1 of the 3-head grid
      EXPECT_NEAR(kc.WQ[i * 4 + l], kf.WQ[(1 * 12 + I) * 12 + L], 1e-14);
      EXPECT_NEAR(kc.WV[i * 4 + l], kf.WV[(1 * 12 + I) * 12 + L], 1e-14);
      EXPECT_NEAR(fc.W[i * 4 + l], ff.W[I * 12 + L], 1e-14);
    }
  for (PetscInt x = 0; x < 3; ++x)
    for (PetscInt l = 0; l < 4; ++l) EXPECT_NEAR(fc.b[x * 4 + l], ff.b[(3 * x + 1) * 12 + 3 * l + 1], 1e-14);
}

}  // namespace
