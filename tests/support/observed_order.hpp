// Convergence-rate helpers of the order tests: the max-norm error of a state, the observed order in Δt, and the check of
// every registered splitting scheme against its registered order.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "solver/timestepping/splitting_schemes.hpp"
#include "support/layered_model.hpp"

namespace ctflow_test {

// max_i |a_i − b_i|.
inline double MaxDifference(const Matrix &a, const Matrix &b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// The least-squares slope of log(error) against log(Δt): the observed order of convergence.
inline double ObservedOrder(const std::vector<double> &dts, const std::vector<double> &errors) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = (double)dts.size();
  for (size_t i = 0; i < dts.size(); ++i) {
    const double x = std::log(dts[i]), y = std::log(errors[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

// The registered splitting schemes' names, for a test parametrised over the registry (GoogleTest asks before PETSc is
// initialised: the registry is plain C++ lists).
inline std::vector<std::string> RegisteredSchemes() {
  (void)ctflow::SplittingSchemeRegisterAll();
  return ctflow::SplittingSchemeNames();
}

// Expects the observed order of `scheme` over Δt = T/2^k, k = 3..6 (solve(scheme, steps): the final state; errors in the
// max norm against reference) within ±0.15 of its registered order.
inline void ExpectRegisteredOrder(const std::string &scheme, double T, const Matrix &reference,
                                  const std::function<Matrix(const std::string &, PetscInt)> &solve, const char *model) {
  PetscInt order;
  ASSERT_EQ(ctflow::SplittingSchemeOrder(PETSC_COMM_WORLD, scheme, &order), 0);
  std::vector<double> dts, errors;
  for (int k : {3, 4, 5, 6}) {
    dts.push_back(T / (1 << k));
    errors.push_back(MaxDifference(solve(scheme, 1 << k), reference));
  }
  const double slope = ObservedOrder(dts, errors);
  PetscPrintf(PETSC_COMM_WORLD, "scheme %s on %s: observed order %.3f (registered %d)\n", scheme.c_str(), model, slope, (int)order);
  EXPECT_NEAR(slope, (double)order, 0.15) << "scheme " << scheme;
}

}  // namespace ctflow_test
