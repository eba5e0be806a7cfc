// The matrix exponential (solver/timestepping/matrix_exponential.hpp) against closed forms: a rotation generator, a
// diagonal matrix, Jordan blocks, an upper-triangular matrix of norm ~50 (four squarings), and φ1 through the
// augmented matrix the exact substep uses. Tolerance 1e-13 relative (max norm): Higham's Padé(13) scaling and
// squaring has backward error ≤ u; the forward errors of these cases, including the rounding of up to
// 4 squarings, are observed between 1e-16 and 1.1e-14 (the non-normal matrix of norm 52).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "solver/timestepping/matrix_exponential.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow_test::Matrix;

Matrix Expm(int n, const Matrix &A) {
  Matrix E(n * n);
  EXPECT_EQ(ctflow::MatrixExponential(PETSC_COMM_SELF, n, A.data(), E.data()), 0);
  return E;
}

TEST(MatrixExponential, RotationGenerator) {
  for (double theta : {1.0, 50.0}) {  // 50: ||A||_1 = 50 needs s = 4 squarings
    const Matrix A = {0, theta, -theta, 0};
    const Matrix exact = {std::cos(theta), std::sin(theta), -std::sin(theta), std::cos(theta)};
    EXPECT_LE(ctflow_test::MaxRelativeDifference(Expm(2, A), exact), 1e-13) << "theta = " << theta;
  }
}

TEST(MatrixExponential, Diagonal) {
  const double d[4] = {-3, 0.5, 2, 7};
  Matrix A(16, 0.0), exact(16, 0.0);
  for (int i = 0; i < 4; ++i) A[i * 5] = d[i], exact[i * 5] = std::exp(d[i]);
  EXPECT_LE(ctflow_test::MaxRelativeDifference(Expm(4, A), exact), 1e-13);
}

TEST(MatrixExponential, JordanBlocks) {
  // A = λI + μN with N the 5 × 5 shift: exp(A) = e^λ Σ_k (μN)^k / k!, entry (i, i + k) = e^λ μ^k / k!.
  for (auto [lambda, mu] : {std::pair{0.0, 1.0}, std::pair{-1.0, 1.0}, std::pair{0.5, 6.0}}) {
    const int n = 5;
    Matrix A(n * n, 0.0), exact(n * n, 0.0);
    for (int i = 0; i < n; ++i) {
      A[i * n + i] = lambda;
      if (i + 1 < n) A[i * n + i + 1] = mu;
      double term = std::exp(lambda);
      for (int k = 0; i + k < n; ++k) {
        exact[i * n + i + k] = term;
        term *= mu / (k + 1);
      }
    }
    EXPECT_LE(ctflow_test::MaxRelativeDifference(Expm(n, A), exact), 1e-13) << "lambda = " << lambda << ", mu = " << mu;
  }
}

TEST(MatrixExponential, NonNormalNeedingScaling) {
  // [[a, c], [0, d]]: exp = [[e^a, c (e^a − e^d) / (a − d)], [0, e^d]]; ||A||_1 = 52.
  const double a = 1, c = 50, d = 2;
  const Matrix A = {a, c, 0, d};
  const Matrix exact = {std::exp(a), c * (std::exp(a) - std::exp(d)) / (a - d), 0, std::exp(d)};
  EXPECT_LE(ctflow_test::MaxRelativeDifference(Expm(2, A), exact), 1e-13);
}

TEST(MatrixExponential, Phi1ThroughTheAugmentedMatrix) {
  // exp([[A, I], [0, 0]]) = [[e^A, φ1(A)], [0, I]], φ1(a) = expm1(a) / a for diagonal A (no cancellation).
  const double d[3] = {1e-3, -2, 4};
  const int n = 3, n2 = 6;
  Matrix Z(n2 * n2, 0.0), exact(n2 * n2, 0.0);
  for (int i = 0; i < n; ++i) {
    Z[i * n2 + i] = d[i];
    Z[i * n2 + n + i] = 1;
    exact[i * n2 + i] = std::exp(d[i]);
    exact[i * n2 + n + i] = std::expm1(d[i]) / d[i];
    exact[(n + i) * n2 + n + i] = 1;
  }
  const Matrix E = Expm(n2, Z);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(E[i * n2 + n + i], exact[i * n2 + n + i], 1e-14 * std::abs(exact[i * n2 + n + i]));
  EXPECT_LE(ctflow_test::MaxRelativeDifference(E, exact), 1e-13);
}

}  // namespace
