// The discrete limit: with Δt = 1 and unit spacing (L = N), ctflow's Lie splitting of the continuous
// Transformer reproduces the paper's discrete scheme eq. (29)–(35), and eq. (41) for several heads,
// computed densely by the test's own reference (support/dense_transformer.cpp), to round-off, on every
// rank count it is run with.
//
// Tolerance: both sides compute the same sums in different orders (blocked GEMMs, online softmax,
// ring order of key blocks); with O(1) data, N_y ≤ 8 and N_x ≤ 9 the rounding differences are a few
// ulps per operation, amplified mildly by layer norm's division by the standard deviation. 1e-13
// relative in the max norm leaves two orders of magnitude above the observed 1e-15.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

struct Case {
  const char *name;
  int Nx, Ny, Nh, J, layers;
  bool bias_per_token;
  double scale;  // attention_scale written to the file; < 0: default 1/sqrt(|Ω_y|), eq. (37)
};

class DiscreteLimit : public ::testing::TestWithParam<Case> {};

TEST_P(DiscreteLimit, MatchesDenseScheme) {
  const Case c = GetParam();
  LayeredModel model = RandomModel(c.Nx, c.Ny, c.Nh, c.J, c.layers, 0.4, c.bias_per_token, 2025);
  for (Layer &L : model.layers) L.scale = c.scale;
  const std::string path = std::string("discrete_limit_") + c.name + ".h5";
  ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  const Matrix u0 = RandomState(c.Nx, c.Ny, 7);

  Matrix u;
  ASSERT_EQ(SolveLayered(PETSC_COMM_WORLD, path, u0, c.Nx, &u), 0);
  const Matrix reference = DenseTransformer(model, u0);
  ASSERT_EQ(u.size(), reference.size());
  EXPECT_LE(MaxRelativeDifference(u, reference), 1e-13);
  // The reference is not trivially close to the input: the layers did something.
  EXPECT_GT(MaxRelativeDifference(u0, reference), 0.1);
}

INSTANTIATE_TEST_SUITE_P(PaperEquations, DiscreteLimit,
                         ::testing::Values(
                             // eq. (29): one head, no scale, the paper's per-token bias b_j(x)
                             Case{"single_head_eq29", 9, 6, 1, 2, 3, true, 1.0},
                             // eq. (41) with the scale 1/sqrt(|Ω_y|) of eq. (37) (the paper's 1/sqrt(L_x) is a typo)
                             Case{"multi_head_eq41", 7, 8, 3, 2, 2, false, -1},
                             // J = 3 feed-forward layers, two heads, per-feature bias
                             Case{"three_ffn_layers", 5, 4, 2, 3, 2, false, 0.5}),
                         [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

}  // namespace
