// Layered controls refined in y and h (-Ny, -Nh integer multiples r of the file's sizes): the kernels are
// piecewise constant on the file's cells and the domain stays |Ω_y| = file N_y, |Ω_h| = file N_h (Δ = 1/r),
// so every integral ∫ W(ξ, y) u(ξ) dξ of a piecewise-constant u is reproduced exactly, and so are the
// layer norm's means and variances and the heads' sum. A run of the paper's full scheme (attention, layer
// norms, feed-forward with ReLU and skip) from a piecewise-constant u0 at r > 1 therefore equals the r = 1
// run, cell by cell. Tolerance 1e-13 relative (max norm): the same sums in a different order and grouping,
// as in tests/mpi/test_discrete_limit.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

const int kNx = 6, kNy = 4, kNh = 2;

struct Case {
  const char *name;
  int ry, rh;
  bool bias_per_token;
};

class Refinement : public ::testing::TestWithParam<Case> {};

TEST_P(Refinement, PiecewiseConstantStateEqualsCoarseRun) {
  const Case c = GetParam();
  const LayeredModel model = RandomModel(kNx, kNy, kNh, 2, 2, 0.4, c.bias_per_token, 5);
  const std::string path = std::string("refinement_") + c.name + ".h5";
  ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  const Matrix u0 = RandomState(kNx, kNy, 9);
  Matrix coarse, fine, fine_u0(kNx * kNy * c.ry);
  ASSERT_EQ(SolveLayered(PETSC_COMM_WORLD, path, u0, kNx, &coarse), 0);
  const int Ny = kNy * c.ry;
  for (int k = 0; k < kNx; ++k)
    for (int l = 0; l < Ny; ++l) fine_u0[k * Ny + l] = u0[k * kNy + l / c.ry];
  PetscOptionsSetValue(nullptr, "-Ny", std::to_string(Ny).c_str());
  PetscOptionsSetValue(nullptr, "-Nh", std::to_string(kNh * c.rh).c_str());
  ASSERT_EQ(SolveLayered(PETSC_COMM_WORLD, path, fine_u0, kNx, &fine), 0);
  PetscOptionsClear(nullptr);
  ASSERT_EQ(fine.size(), fine_u0.size());
  double diff = 0, ref = 0, change = 0;
  for (int k = 0; k < kNx; ++k)
    for (int l = 0; l < Ny; ++l) {
      const double a = fine[k * Ny + l], b = coarse[k * kNy + l / c.ry];
      diff = std::max(diff, std::abs(a - b));
      ref = std::max(ref, std::abs(b));
      change = std::max(change, std::abs(b - u0[k * kNy + l / c.ry]));
    }
  EXPECT_LE(diff, 1e-13 * ref);
  EXPECT_GT(change, 0.1 * ref);  // the layers did something
}

INSTANTIATE_TEST_SUITE_P(PaperKernels, Refinement,
                         ::testing::Values(Case{"y2", 2, 1, false}, Case{"h2", 1, 2, false}, Case{"y3_h2_bias_per_token", 3, 2, true}),
                         [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

}  // namespace
