// The relaxation form of the projections (-split_projections relax; operators/projection_relaxation.hpp):
//
// * at Δt = 1 with unit spacing and λ = 1 the paper's Lie scheme in relaxation form is the paper's discrete
//   Transformer, eq. (29)–(35) and (41), computed densely by the test's reference (support/dense_transformer.cpp), and
//   the hard form's result, to 1e-13 relative in the max norm (an Euler step u + (P(u) − u) differs from P(u) by an
//   ulp of u; the tolerance is that of tests/mpi/test_discrete_limit.cpp);
// * relax_layernorm, relax_relu evaluate λ_n (P_S(u) − u) with the λ_n of the layer acting at t, written per layer in
//   the controls file, against the projections written out here (P_S1 by Theorem 3.1, P_S2 = max(·, 0));
// * tangent_ffn1 evaluates Π_u (u W + b): the projected field is mean-free and orthogonal to u − ū per token, and
//   differs from u W + b by a combination of 1 and u − ū.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "discretization/layered_controls.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

struct Case {
  const char *name;
  int Nx, Ny, Nh, J, layers;
  bool bias_per_token;
};

class RelaxationAtUnitStep : public ::testing::TestWithParam<Case> {};

Matrix Solve(const std::string &path, const Matrix &u0, int Nx, const char *options) {
  Matrix u;
  PetscOptionsInsertString(nullptr, options);
  EXPECT_EQ(SolveLayered(PETSC_COMM_WORLD, path, u0, Nx, &u), 0);
  PetscOptionsClear(nullptr);
  return u;
}

TEST_P(RelaxationAtUnitStep, IsThePaperSchemeAndTheHardForm) {
  const Case c = GetParam();
  const LayeredModel model = RandomModel(c.Nx, c.Ny, c.Nh, c.J, c.layers, 0.4, c.bias_per_token, 2718);
  const std::string path = std::string("relaxation_") + c.name + ".h5";
  ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  const Matrix u0 = RandomState(c.Nx, c.Ny, 31), reference = DenseTransformer(model, u0);
  const Matrix relaxed = Solve(path, u0, c.Nx, "-split_projections relax"), hard = Solve(path, u0, c.Nx, "");
  EXPECT_LE(MaxRelativeDifference(relaxed, reference), 1e-13);
  EXPECT_LE(MaxRelativeDifference(relaxed, hard), 1e-13);
  EXPECT_GT(MaxRelativeDifference(u0, reference), 0.1);
}

INSTANTIATE_TEST_SUITE_P(PaperEquations, RelaxationAtUnitStep,
                         ::testing::Values(Case{"single_head", 9, 6, 1, 2, 3, true}, Case{"multi_head", 7, 8, 3, 2, 2, false},
                                           Case{"three_ffn_layers", 5, 4, 2, 3, 2, false}),
                         [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

// Two layers with λ = 0.5 and 3, random σ; operators evaluated inside each layer on a random state.
class RelaxationOperators : public ::testing::Test {
 protected:
  static constexpr int kNx = 7, kNy = 5;
  void SetUp() override {
    model_ = RandomModel(kNx, kNy, 1, 1, 2, 0.5, false, 99);
    model_.layers[0].relaxation_rate = 0.5;
    model_.layers[1].relaxation_rate = 3;
    ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, "relaxation_operators.h5", model_), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(controls_.Load("relaxation_operators.h5", &grid_), 0);
    ASSERT_EQ(grid_.RequireSize("-Nx", kNx, "the test"), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    u0_ = RandomState(kNx, kNy, 5);
    ASSERT_EQ(CreateState(grid_, &u0_, nullptr, &u_), 0);
    ASSERT_EQ(VecDuplicate(u_, &f_), 0);
  }
  void TearDown() override {
    VecDestroy(&u_);
    VecDestroy(&f_);
  }
  // The right-hand side of operator `name` at t, gathered.
  Matrix Rhs(const char *name, double t) {
    std::unique_ptr<ctflow::Operator> op;
    Matrix f;
    EXPECT_EQ(ctflow::OperatorCreate(name, {&grid_, &controls_}, &op), 0);
    EXPECT_EQ(op->Kind(), ctflow::OperatorKind::Flow);
    EXPECT_EQ(op->Rhs(t, u_, f_), 0);
    EXPECT_EQ(GatherToAll(f_, &f), 0);
    return f;
  }

  LayeredModel model_;
  ctflow::Grid grid_{PETSC_COMM_WORLD};
  ctflow::LayeredControls controls_{PETSC_COMM_WORLD};
  Matrix u0_;
  Vec u_ = nullptr, f_ = nullptr;
};

TEST_F(RelaxationOperators, LayerNormRelaxationIsLambdaTimesProjectionMinusState) {
  for (int n = 0; n < 2; ++n) {
    const Layer &L = model_.layers[n];
    const Matrix f = Rhs("relax_layernorm", n + 0.5);
    for (int k = 0; k < kNx; ++k) {
      double mean = 0, var = 0;
      for (int l = 0; l < kNy; ++l) mean += u0_[k * kNy + l] / kNy;
      for (int l = 0; l < kNy; ++l) var += std::pow(u0_[k * kNy + l] - mean, 2) / kNy;
      for (int l = 0; l < kNy; ++l) {
        const double u = u0_[k * kNy + l], P = L.sigma2 * (u - mean) / std::sqrt(var) + L.sigma1;
        EXPECT_NEAR(f[k * kNy + l], L.relaxation_rate * (P - u), 1e-13) << "layer " << n;
      }
    }
  }
}

TEST_F(RelaxationOperators, ReluRelaxationIsLambdaTimesProjectionMinusState) {
  for (int n = 0; n < 2; ++n) {
    const Matrix f = Rhs("relax_relu", n + 0.25);
    for (size_t i = 0; i < f.size(); ++i)
      EXPECT_NEAR(f[i], model_.layers[n].relaxation_rate * (std::max(u0_[i], 0.0) - u0_[i]), 1e-15 * (1 + std::abs(u0_[i])));
  }
}

TEST_F(RelaxationOperators, TangentFlowIsTheOrthogonalProjectionOntoTheTangentSpace) {
  const Layer &L = model_.layers[1];
  const Matrix f = Rhs("tangent_ffn1", 1.5);
  for (int k = 0; k < kNx; ++k) {
    double um = 0, fm = 0, fw = 0, ww = 0, scale = 0;
    std::vector<double> a(kNy, 0.0);  // u W + b of token k
    for (int l = 0; l < kNy; ++l) {
      for (int i = 0; i < kNy; ++i) a[l] += u0_[k * kNy + i] * L.W[0][i * kNy + l];
      a[l] += L.b[0][l];
      um += u0_[k * kNy + l] / kNy, fm += f[k * kNy + l] / kNy, scale = std::max(scale, std::abs(a[l]));
    }
    for (int l = 0; l < kNy; ++l) fw += f[k * kNy + l] * (u0_[k * kNy + l] - um), ww += std::pow(u0_[k * kNy + l] - um, 2);
    EXPECT_NEAR(fm, 0, 1e-14 * scale);                  // the mean is kept
    EXPECT_NEAR(fw / std::sqrt(ww), 0, 1e-13 * scale);  // and the variance
    // a − f = α 1 + β (u − ū): least squares for α, β leaves no residual.
    double rm = 0, rw = 0;
    for (int l = 0; l < kNy; ++l) rm += (a[l] - f[k * kNy + l]) / kNy, rw += (a[l] - f[k * kNy + l]) * (u0_[k * kNy + l] - um);
    for (int l = 0; l < kNy; ++l) EXPECT_NEAR(a[l] - f[k * kNy + l] - rm - rw / ww * (u0_[k * kNy + l] - um), 0, 1e-13 * scale);
  }
}

}  // namespace
