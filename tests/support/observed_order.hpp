// Convergence-rate helpers of the order tests: the max-norm error of a state and the observed order in Δt.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

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

}  // namespace ctflow_test
