// Observed order in Δt of every registered splitting scheme (solver/timestepping/splitting_schemes.hpp), one
// parametrised test over the registry: a newly registered scheme is tested with its registered order.
//
// Problem: flows only, u_t = A_att(t, u) + A_ffn1(t, u) + A_ffn2(t, u) with the smooth, time-dependent
// analytic controls (discretization/analytic_controls.hpp) on -Nx 8 -Ny 6 -Nh 1, T = 1/2; the three flows
// do not commute. Substeps are solved by the 'ts' substep integrator (classical RK4, fourth order), so the
// splitting error dominates. Reference: Strang at Δt = T/2^11 (its error, ~ (2^11/2^6)^-2 ≈ 1e-3 of the
// finest error below, does not affect the measured rates). Errors: max norm of the final state for
// Δt = T/2^k, k = 3..6; the observed order is the least-squares slope of log(error) against log(Δt) and
// must be within ±0.15 of the registered order.
#include <gtest/gtest.h>

#include "support/layered_model.hpp"
#include "support/observed_order.hpp"

using namespace ctflow_test;

namespace {

const char *const kProblem = "-Nx 8 -Ny 6 -Nh 1 -T 0.5 -split_order attention,ffn1,ffn2 -split_substep ts";

Matrix Solve(const std::string &scheme, PetscInt steps) {
  Matrix u;
  PetscOptionsInsertString(nullptr, kProblem);
  PetscOptionsSetValue(nullptr, "-split", scheme.c_str());
  PetscOptionsSetValue(nullptr, "-dt", std::to_string(0.5 / steps).c_str());
  EXPECT_EQ(SolveAnalytic(PETSC_COMM_WORLD, &u), 0);
  PetscOptionsClear(nullptr);
  return u;
}

class SchemeOrder : public ::testing::TestWithParam<std::string> {};

TEST_P(SchemeOrder, ObservedOrderIsTheRegisteredOrder) {
  static const Matrix reference = Solve("strang", 2048);
  ExpectRegisteredOrder(GetParam(), 0.5, reference, Solve, "the integral-kernel model");
}

INSTANTIATE_TEST_SUITE_P(Registered, SchemeOrder, ::testing::ValuesIn(RegisteredSchemes()),
                         [](const ::testing::TestParamInfo<std::string> &info) { return info.param; });

}  // namespace
