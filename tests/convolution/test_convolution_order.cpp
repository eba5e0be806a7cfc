// Observed order in Δt of every registered splitting scheme on the convolutional model of paper §6, one parametrised
// test over the registry (as tests/splitting/test_splitting_order.cpp for the integral-kernel model).
//
// Problem: flows only, u_t = A_embed(t, u) + A_att(t, u) + A_ffn1(t, u) (term IV, eq. (42), a convolutional feed-forward
// layer) with the smooth, time-dependent analytic convolutional controls on 4 tokens of 6 × 5 pixels, 2 heads, T = 1/2;
// the three flows do not commute. Substeps by the 'ts' integrator (classical RK4), so the splitting error dominates.
// Reference: Strang at Δt = T/2^10 (its error is about 1/256 of the finest one below). Errors: max norm of the final state for Δt = T/2^k, k = 3..6;
// the least-squares slope of log(error) against log(Δt) must be within ±0.15 of the registered order.
#include <gtest/gtest.h>

#include "solver/problem/problem.hpp"
#include "support/layered_model.hpp"
#include "support/observed_order.hpp"

using namespace ctflow_test;

namespace {

const char *const kProblem =
    "-controls_type convolutional -controls_conv_width 0.5 -Nx 4 -Ny1 6 -Ny2 5 -Nh 2 -T 0.5 -traj none "
    "-split_order conv_embed,conv_attention,conv_ffn1 -split_substep ts";

Matrix Solve(const std::string &scheme, PetscInt steps) {
  Matrix u;
  PetscOptionsInsertString(nullptr, kProblem);
  PetscOptionsSetValue(nullptr, "-split", scheme.c_str());
  PetscOptionsSetValue(nullptr, "-dt", std::to_string(0.5 / steps).c_str());
  {
    ctflow::Problem problem(PETSC_COMM_WORLD);
    EXPECT_EQ(problem.SetFromOptions(), 0);
    EXPECT_EQ(problem.SetUp(), 0);
    EXPECT_EQ(problem.Solve(), 0);
    EXPECT_EQ(GatherToAll(problem.State(), &u), 0);
  }
  PetscOptionsClear(nullptr);
  return u;
}

class ConvolutionalSchemeOrder : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvolutionalSchemeOrder, ObservedOrderIsTheRegisteredOrder) {
  static const Matrix reference = Solve("strang", 1024);
  ExpectRegisteredOrder(GetParam(), 0.5, reference, Solve, "the convolutional model");
}

INSTANTIATE_TEST_SUITE_P(Registered, ConvolutionalSchemeOrder, ::testing::ValuesIn(RegisteredSchemes()),
                         [](const ::testing::TestParamInfo<std::string> &info) { return info.param; });

}  // namespace
