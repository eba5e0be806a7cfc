// The softmax kernels of operators/vector_exp.hpp against the C library: ExpShiftedSum against std::exp over
// the softmax's argument range [−708, 0] (and above 0), MaxOf and the sums against std::max_element and a
// long-double sum, at lengths that exercise the vector loops' remainders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "operators/vector_exp.hpp"

namespace {

// Relative error ≤ 4 ulp (4 · 2⁻⁵³ ≈ 4.4e-16): the reduced argument r carries an error ≲ 1 ulp of |r| ≤ 0.35
// (Cody–Waite with a 2-part ln 2), the degree-13 Horner sum ≲ 1.5 ulp, the truncation < 5e-18; the product
// with 2^k is exact. std::exp itself is correctly rounded to < 1 ulp.
TEST(VectorExp, MatchesStdExpToFourUlp) {
  std::mt19937_64 rng(1);
  std::vector<double> x;
  std::uniform_real_distribution<double> wide(-708, 0), narrow(-1, 1), tiny(-1e-6, 0);
  for (int i = 0; i < 200000; ++i) x.push_back(wide(rng));
  for (int i = 0; i < 100000; ++i) x.push_back(narrow(rng));
  for (int i = 0; i < 1000; ++i) x.push_back(tiny(rng));
  for (int k = -1021; k <= 1; ++k)  // the range-reduction boundaries (k ± 1/2) ln 2
    for (double off : {-0.5, 0.5}) x.push_back((k + off) * M_LN2);
  for (double v : {0.0, -0.0, -1e-300, -708.0, 1.0, 5.0, 700.0}) x.push_back(v);
  std::vector<double> e = x;
  const double shift = 0;
  ctflow::ExpShiftedSum((PetscInt)e.size(), shift, e.data());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < -708) continue;
    const double rel = std::abs(e[i] - std::exp(x[i])) / std::exp(x[i]);
    if (rel > worst) worst = rel, at = i;
  }
  EXPECT_LE(worst, 4 * std::numeric_limits<double>::epsilon() / 2) << "at x = " << x[at];
  EXPECT_EQ(e[x.size() - 7], 1.0);  // exp(0) exactly
}

// The shift is subtracted first; arguments below −708 (exp < 3.3e-308) and −∞ (masked scores) give 0.
TEST(VectorExp, ShiftAndUnderflowToZero) {
  std::vector<double> s = {3.0, 2.0, -706.0, -706.5, -800.0, -std::numeric_limits<double>::infinity()};
  ctflow::ExpShiftedSum((PetscInt)s.size(), 2.0, s.data());
  EXPECT_NEAR(s[0], std::exp(1.0), 4e-16 * std::exp(1.0));
  EXPECT_EQ(s[1], 1.0);
  EXPECT_NEAR(s[2], std::exp(-708.0), 4.4e-16 * std::exp(-708.0));
  EXPECT_EQ(s[3], 0.0);
  EXPECT_EQ(s[4], 0.0);
  EXPECT_EQ(s[5], 0.0);
}

// MaxOf is exact; the sum of n positive terms in another order is within (n − 1) ε of the exact sum.
TEST(VectorExp, MaxAndSumAtEveryRemainder) {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(-5, 5);
  for (PetscInt n = 1; n <= 40; ++n) {
    std::vector<double> s(n);
    for (double &v : s) v = u(rng);
    EXPECT_EQ(ctflow::MaxOf(n, s.data()), *std::max_element(s.begin(), s.end())) << "n = " << n;
    const double sum = ctflow::ExpShiftedSum(n, 0.5, s.data());
    long double exact = 0;
    for (double v : s) exact += v;
    EXPECT_NEAR(sum, (double)exact, n * std::numeric_limits<double>::epsilon() * (double)exact) << "n = " << n;
  }
}

// ExpShiftedSumMax gives bit for bit what ExpShiftedSum gives (the same exponentials, the same partial sums
// in the same order) and the maximum of the arguments; also for arguments above the shift (a shift that
// lags the maximum by up to 64).
TEST(VectorExp, OnePassMaximumChangesNothingElse) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-60, 60);
  for (PetscInt n = 1; n <= 40; ++n) {
    std::vector<double> s(n);
    for (double &v : s) v = u(rng);
    std::vector<double> a = s, b = s;
    double max;
    EXPECT_EQ(ctflow::ExpShiftedSumMax(n, 3.0, b.data(), &max), ctflow::ExpShiftedSum(n, 3.0, a.data())) << "n = " << n;
    EXPECT_EQ(max, *std::max_element(s.begin(), s.end())) << "n = " << n;
    EXPECT_EQ(a, b) << "n = " << n;
  }
}

}  // namespace
