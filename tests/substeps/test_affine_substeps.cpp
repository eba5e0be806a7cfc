// The substep integrators for affine flows (solver/timestepping/affine_substeps.cpp) and the left-limit sampling of
// piecewise-constant controls at a substep's end (Controls::SubstepSampleTime), on the feed-forward flow
// ffn1, u_t = u W_1 + b_1 (Δy = 1 with layered controls), whose layer-n flow is known in closed form.
#include <gtest/gtest.h>

#include <cmath>

#include "support/layered_model.hpp"
#include "support/observed_order.hpp"

using namespace ctflow_test;

namespace {

const int kNx = 6, kNy = 5;

double MaxAbs(const Matrix &a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// Two layers; layer 1's feed-forward weights are -4 times layer 0's and its biases differ, so that sampling
// the wrong layer is an O(1) change of the right-hand side.
LayeredModel TwoLayers(const char *path) {
  LayeredModel model = RandomModel(kNx, kNy, 1, 2, 2, 0.4, false, 11);
  for (size_t k = 0; k < model.layers[1].W[0].size(); ++k) model.layers[1].W[0][k] = -4 * model.layers[0].W[0][k];
  for (double &b : model.layers[1].b[0]) b += 3;
  EXPECT_EQ(WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  return model;
}

Matrix SolveWith(const char *path, const std::string &options) {
  Matrix u;
  PetscOptionsInsertString(nullptr, options.c_str());
  EXPECT_EQ(SolveLayered(PETSC_COMM_WORLD, path, RandomState(kNx, kNy, 3), kNx, &u), 0);
  PetscOptionsClear(nullptr);
  return u;
}

// The exact flow of u_t = u W + b over [0, τ], by the Taylor series of exp(τ Z) on [u, 1] with
// Z = [[W, 0], [b, 0]] (row vectors), summed until the terms underflow: an independent closed form.
Matrix ExactLayerFlow(const Layer &layer, Matrix u, double tau) {
  const Matrix &W = layer.W[0], &b = layer.b[0];
  for (int k = 0; k < kNx; ++k) {
    std::vector<double> term(&u[k * kNy], &u[k * kNy] + kNy), sum = term, next(kNy);
    double term_one = 1;  // the augmented component, 1 then 0
    for (int n = 1; n < 200 && MaxAbs(term) > 1e-300; ++n) {
      for (int l = 0; l < kNy; ++l) {
        next[l] = term_one * b[l];
        for (int i = 0; i < kNy; ++i) next[l] += term[i] * W[i * kNy + l];
        next[l] *= tau / n;
      }
      term = next;
      term_one = 0;
      for (int l = 0; l < kNy; ++l) sum[l] += term[l];
    }
    std::copy(sum.begin(), sum.end(), &u[k * kNy]);
  }
  return u;
}

// ts (RK4) substeps over [0, 1] see layer 0 only, also at their last stage at t = 1 where layer 1 starts:
// the result is the exact layer-0 flow to RK4's accuracy. Tolerance: twice Richardson's estimate of the
// 64-step error, |u_32 − u_64| / 15, plus round-off. Sampling layer 1 at the last stage (the old behaviour)
// changed the result by ~ (1/64)(1/6)·|W_1 − W_0|·|u| ≈ 1e-2, far above it.
TEST(LeftLimit, TsSubstepSeesTheLayerOfItsInterior) {
  const char *path = "affine_left_limit.h5";
  const LayeredModel model = TwoLayers(path);
  const Matrix exact = ExactLayerFlow(model.layers[0], RandomState(kNx, kNy, 3), 1.0);
  const Matrix u32 = SolveWith(path, "-T 1 -split_tree ffn1@ts -split_ffn1_ts_steps 32");
  const Matrix u64 = SolveWith(path, "-T 1 -split_tree ffn1@ts -split_ffn1_ts_steps 64");
  const double estimate = MaxDifference(u32, u64) / 15;
  PetscPrintf(PETSC_COMM_WORLD, "ts, 64 steps: error %.2e, estimate %.2e, |u| %.2e\n", MaxDifference(u64, exact), estimate, MaxAbs(exact));
  EXPECT_LT(estimate, 1e-6 * MaxAbs(exact));
  EXPECT_LE(MaxDifference(u64, exact), 2 * estimate + 1e-13 * MaxAbs(exact));
}

// exact substeps, one per layer over [0, 2], against a much finer RK4 run (whose error is estimated as above)
// and against the closed form.
TEST(ExactSubstep, EqualsMuchFinerRK4) {
  const char *path = "affine_exact.h5";
  const LayeredModel model = TwoLayers(path);
  const Matrix exact = SolveWith(path, "-T 2 -split_tree ffn1@exact");
  const Matrix u64 = SolveWith(path, "-T 2 -split_tree ffn1@ts -split_ffn1_ts_steps 64");
  const Matrix u128 = SolveWith(path, "-T 2 -split_tree ffn1@ts -split_ffn1_ts_steps 128");
  const double estimate = MaxDifference(u64, u128) / 15;
  PetscPrintf(PETSC_COMM_WORLD, "exact vs ts, 128 steps: %.2e, estimate %.2e, |u| %.2e\n", MaxDifference(exact, u128), estimate, MaxAbs(exact));
  EXPECT_LE(MaxDifference(exact, u128), 2 * estimate + 1e-13 * MaxAbs(exact));
  const Matrix closed = ExactLayerFlow(model.layers[1], ExactLayerFlow(model.layers[0], RandomState(kNx, kNy, 3), 1.0), 1.0);
  EXPECT_LE(MaxDifference(exact, closed), 1e-13 * MaxAbs(closed));  // a few products and one solve of O(1) data
}

// One implicit step over [0, 1] solves v (I − W_0) = u0 + b_0 (layer 0: its left limit at t = 1). Residual
// tolerance: LU with partial pivoting of a 5 × 5 matrix of O(1) entries, backward error ~ 10 ulp.
TEST(ImplicitSubstep, OneStepIsBackwardEuler) {
  const char *path = "affine_implicit.h5";
  const LayeredModel model = TwoLayers(path);
  const Matrix v = SolveWith(path, "-T 1 -split_tree ffn1@implicit"), u0 = RandomState(kNx, kNy, 3);
  const Matrix &W = model.layers[0].W[0], &b = model.layers[0].b[0];
  double residual = 0;
  for (int k = 0; k < kNx; ++k)
    for (int l = 0; l < kNy; ++l) {
      double r = v[k * kNy + l] - u0[k * kNy + l] - b[l];
      for (int i = 0; i < kNy; ++i) r -= v[k * kNy + i] * W[i * kNy + l];
      residual = std::max(residual, std::abs(r));
    }
  EXPECT_LE(residual, 1e-13 * (MaxAbs(v) + MaxAbs(u0)));
}

// implicit converges at order 1 to the exact flow: Δt = 2^-k, k = 3..6, on [0, 1].
TEST(ImplicitSubstep, FirstOrderToTheExactFlow) {
  const char *path = "affine_implicit_order.h5";
  TwoLayers(path);
  const Matrix exact = SolveWith(path, "-T 1 -split_tree ffn1@exact");
  std::vector<double> dts, errors;
  for (int k = 3; k <= 6; ++k) {
    const double dt = std::ldexp(1.0, -k);
    dts.push_back(dt);
    errors.push_back(MaxDifference(SolveWith(path, "-T 1 -split_tree ffn1@implicit -dt " + std::to_string(dt)), exact));
  }
  const double order = ObservedOrder(dts, errors);
  PetscPrintf(PETSC_COMM_WORLD, "implicit: observed order %.3f (errors %.2e ... %.2e)\n", order, errors.front(), errors.back());
  EXPECT_NEAR(order, 1.0, 0.15);
}

// Strang splitting of attention + ffn1 (they do not commute) with exact ffn substeps and RK4 attention
// substeps, smooth time-dependent analytic controls (the exact substep freezes them at its midpoint: second
// order): order 2 ± 0.15 against the same scheme at Δt = T/2^11, as in tests/splitting/test_splitting_order.cpp.
TEST(ExactSubstep, StrangWithExactFfnIsSecondOrder) {
  const char *problem = "-Nx 8 -Ny 6 -Nh 1 -T 0.5 -split_tree seq(attention[0,1/2]@ts,ffn1@exact,attention[1/2,1]@ts)";
  auto solve = [&](int steps) {
    Matrix u;
    PetscOptionsInsertString(nullptr, problem);
    PetscOptionsSetValue(nullptr, "-dt", std::to_string(0.5 / steps).c_str());
    EXPECT_EQ(SolveAnalytic(PETSC_COMM_WORLD, &u), 0);
    PetscOptionsClear(nullptr);
    return u;
  };
  const Matrix reference = solve(2048);
  std::vector<double> dts, errors;
  for (int k = 3; k <= 6; ++k) {
    dts.push_back(0.5 / (1 << k));
    errors.push_back(MaxDifference(solve(1 << k), reference));
  }
  const double order = ObservedOrder(dts, errors);
  PetscPrintf(PETSC_COMM_WORLD, "strang with exact ffn: observed order %.3f (errors %.2e ... %.2e)\n", order, errors.front(), errors.back());
  EXPECT_NEAR(order, 2.0, 0.15);
}

}  // namespace
