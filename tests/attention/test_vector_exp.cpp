// The softmax kernels of operators/vector_exp.hpp against the C library: ExpShiftedSum against expl and std::exp
// over every argument the callers use ([−708, 0] after the softmax's shift, up to 709 above it), MaxOf and the sums
// against std::max_element and a long-double sum, at lengths that exercise the vector loops' remainders; the column
// kernels against the row kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "operators/vector_exp.hpp"

namespace {

// Distance in units in the last place between two positive doubles.
std::int64_t UlpDistance(double a, double b) {
  std::int64_t ia, ib;
  std::memcpy(&ia, &a, sizeof a);
  std::memcpy(&ib, &b, sizeof b);
  return ia > ib ? ia - ib : ib - ia;
}

// The kernel's error is one rounding (the last s + s q, ≤ 1/2 ulp) plus ≲ 2^-58 relative (the table's c_j to 2^-107,
// the reduced argument, the Horner sum of e^r − 1 ≤ 0.011, the truncation |r|⁸/8! < 1.3e-18): ≤ 0.52 ulp with FMA
// (measured 0.516 · 2^-52 relative), at most 1 ulp from std::exp (itself within 0.502 ulp: both are the exact value
// rounded to a neighbouring double). The baseline build without FMA also rounds s q and each Horner step: measured
// 0.61 · 2^-52, asserted ≤ 0.7 · 2^-52 ≈ 1.6e-16; below −707 (2^k = 2^-1022) its s q is a subnormal, another ≤ 1/2 ulp:
// measured 0.73, asserted ≤ 0.9 · 2^-52 = 2e-16 there.
TEST(VectorExp, MatchesExpToHalfUlp) {
  std::mt19937_64 rng(1);
  std::vector<double> x;
  for (double v = -708; v <= 709; v += 1.0 / 512) x.push_back(v + 1e-7);  // dense sweep of the whole domain
  std::uniform_real_distribution<double> wide(-708, 709), narrow(-1, 1), tiny(-1e-6, 1e-6);
  for (int i = 0; i < 200000; ++i) x.push_back(wide(rng));
  for (int i = 0; i < 100000; ++i) x.push_back(narrow(rng));
  for (int i = 0; i < 1000; ++i) x.push_back(tiny(rng));
  for (int n = -16343; n <= 16363; ++n)  // the range-reduction boundaries (n ± 1/2) ln2/16 of every table entry
    for (double off : {-0.5, 0.5}) x.push_back((n + off) * M_LN2 / 16);
  for (double v : {0.0, -0.0, -1e-300, 1e-300, -708.0, 1.0, 5.0, 700.0, 709.0}) x.push_back(v);
  std::vector<double> e = x;
  ctflow::ExpShiftedSum((PetscInt)e.size(), 0.0, e.data());
  double worst[2] = {0, 0};  // x ≥ −707, x < −707
  std::int64_t worst_ulp = 0;
  size_t at[2] = {0, 0};
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < -708) continue;
    const long double exact = std::exp((long double)x[i]);
    const double rel = (double)(std::abs((long double)e[i] - exact) / exact);
    const int low = x[i] < -707;
    if (rel > worst[low]) worst[low] = rel, at[low] = i;
    worst_ulp = std::max(worst_ulp, UlpDistance(e[i], std::exp(x[i])));
  }
  if (LDBL_MANT_DIG > DBL_MANT_DIG) {
    EXPECT_LE(worst[0], 0.7 * DBL_EPSILON) << "at x = " << x[at[0]];
    EXPECT_LE(worst[1], 0.9 * DBL_EPSILON) << "at x = " << x[at[1]];
  }
  EXPECT_LE(worst_ulp, 1);
  EXPECT_EQ(e[x.size() - 9], 1.0);  // exp(0) exactly
}

// The shift is subtracted first; arguments below −708 (exp < 3.3e-308), far below and −∞ (masked scores) give 0; NaN
// stays NaN.
TEST(VectorExp, ShiftAndUnderflowToZero) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> s = {3.0, 2.0, -706.0, -706.5, -800.0, -1e5, -1e300, -inf, std::nan("")};
  ctflow::ExpShiftedSum((PetscInt)s.size(), 2.0, s.data());
  EXPECT_LE(UlpDistance(s[0], std::exp(1.0)), 1);
  EXPECT_EQ(s[1], 1.0);
  EXPECT_LE(UlpDistance(s[2], std::exp(-708.0)), 1);
  for (int i = 3; i < 8; ++i) EXPECT_EQ(s[i], 0.0) << "entry " << i;
  EXPECT_TRUE(std::isnan(s[8]));
}

// Every length: each entry against std::exp (the vector loop's last, partial vector too), the entries after n untouched.
TEST(VectorExp, EveryLengthWritesOnlyItsEntries) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(-40, 0);
  for (PetscInt n = 1; n <= 40; ++n) {
    std::vector<double> x(n + 8, 7.0), s;
    for (PetscInt j = 0; j < n; ++j) x[j] = u(rng);
    s = x;
    ctflow::ExpShiftedSum(n, -1.0, s.data());
    for (PetscInt j = 0; j < n; ++j) EXPECT_LE(UlpDistance(s[j], std::exp(x[j] + 1.0)), 1) << "n = " << n << ", j = " << j;
    for (PetscInt j = n; j < n + 8; ++j) EXPECT_EQ(s[j], 7.0) << "n = " << n << ", j = " << j;
  }
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

// The column kernels on score panels (widths of the micro-kernels, 1–16, rows 1–37: full and partial periods of
// lcm(width, 8)): each entry bit for bit what ExpShiftedSum gives it with its column's shift, each column's maximum
// exact and its sum within (rows − 1) ε of the exact sum; MaxOfColumns writes nothing.
TEST(VectorExp, ColumnsOfAPanel) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-60, 60);
  for (PetscInt width : {14, 8, 16, 6, 12, 5, 1})
    for (PetscInt rows : {1, 3, 4, 7, 37}) {
      std::vector<double> s(rows * width), shift(width), sum(width), max(width), max_only(width);
      for (double &v : s) v = u(rng);
      for (double &v : shift) v = u(rng);
      std::vector<double> panel = s;
      ctflow::MaxOfColumns(rows, width, panel.data(), max_only.data());
      EXPECT_EQ(panel, s);
      ctflow::ExpShiftedSumMaxColumns(rows, width, shift.data(), panel.data(), sum.data(), max.data());
      for (PetscInt c = 0; c < width; ++c) {
        std::vector<double> column(rows);
        for (PetscInt j = 0; j < rows; ++j) column[j] = s[j * width + c];
        const double column_max = *std::max_element(column.begin(), column.end());
        EXPECT_EQ(max[c], column_max) << width << " × " << rows << ", column " << c;
        EXPECT_EQ(max_only[c], column_max) << width << " × " << rows << ", column " << c;
        ctflow::ExpShiftedSum(rows, shift[c], column.data());
        long double exact = 0;
        for (PetscInt j = 0; j < rows; ++j) {
          EXPECT_EQ(panel[j * width + c], column[j]) << width << " × " << rows << ", entry " << j << ", " << c;
          exact += column[j];
        }
        EXPECT_NEAR(sum[c], (double)exact, rows * std::numeric_limits<double>::epsilon() * (double)exact)
            << width << " × " << rows << ", column " << c;
      }
    }
}

// ExpScaledProduct's probabilities are ExpShiftedSum's exponentials times the scale, bit for bit, and its products
// p (dp − delta) are those of the probabilities; rows of every length up to 40 (the vector kernel's masked tails).
TEST(VectorExp, ScaledProductIsTheExponentialsTimesTheScale) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-60, 60);
  for (PetscInt n = 0; n <= 40; ++n) {
    std::vector<double> s(n), dp(n);
    for (double &v : s) v = u(rng);
    for (double &v : dp) v = u(rng);
    std::vector<double> e = s, p = s, q = dp;
    ctflow::ExpShiftedSum(n, 3.0, e.data());
    ctflow::ExpScaledProduct(n, 3.0, 1 / 7.0, 0.25, p.data(), q.data());
    for (PetscInt j = 0; j < n; ++j) {
      EXPECT_EQ(p[j], e[j] * (1 / 7.0)) << "n = " << n << ", j = " << j;
      EXPECT_EQ(q[j], p[j] * (dp[j] - 0.25)) << "n = " << n << ", j = " << j;
    }
  }
}

// ExpMaxShiftedSumColumns on blocks of 1–19 rows × 8 (some entries −∞, a masked key): what MaxOfColumns and then
// ExpShiftedSumMaxColumns with those maxima give, bit for bit (the same sums in the same order); −∞ gives 0.
TEST(VectorExp, SoftmaxNumeratorsByColumns) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-60, 60);
  for (PetscInt rows = 1; rows < 20; ++rows) {
    std::vector<double> s(rows * 8), max(8), sum(8), max_ref(8), sum_ref(8), unused(8);
    for (double &v : s) v = u(rng);
    for (PetscInt j = 1; j < rows; j += 3) s[j * 8 + j % 8] = -std::numeric_limits<double>::infinity();
    std::vector<double> e = s, ref = s;
    ctflow::ExpMaxShiftedSumColumns(rows, e.data(), max.data(), sum.data());
    ctflow::MaxOfColumns(rows, 8, ref.data(), max_ref.data());
    ctflow::ExpShiftedSumMaxColumns(rows, 8, max_ref.data(), ref.data(), sum_ref.data(), unused.data());
    EXPECT_EQ(e, ref) << rows << " rows";
    EXPECT_EQ(max, max_ref) << rows << " rows";
    EXPECT_EQ(sum, sum_ref) << rows << " rows";
    for (PetscInt j = 1; j < rows; j += 3) EXPECT_EQ(e[j * 8 + j % 8], 0.0) << rows << " rows, entry " << j;
  }
}

// ExpScaledProductColumns on blocks of 1–19 rows × 8: each column what ExpScaledProduct gives it with the column's shift,
// scale and delta, bit for bit; a score of −∞ (a masked key) gives p = 0 and dp = 0.
TEST(VectorExp, ScaledProductByColumns) {
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> u(-60, 60);
  for (PetscInt rows = 1; rows < 20; ++rows) {
    std::vector<double> s(rows * 8), dp(rows * 8), shift(8), scale(8), delta(8);
    for (double &v : s) v = u(rng);
    for (double &v : dp) v = u(rng);
    for (int c = 0; c < 8; ++c) shift[c] = u(rng), scale[c] = 1 / (1 + std::abs(u(rng))), delta[c] = u(rng) / 8;
    s[rows * 8 - 3] = -std::numeric_limits<double>::infinity();
    std::vector<double> p = s, q = dp;
    ctflow::ExpScaledProductColumns(rows, shift.data(), scale.data(), delta.data(), p.data(), q.data());
    for (int c = 0; c < 8; ++c) {
      std::vector<double> pc(rows), qc(rows);
      for (PetscInt j = 0; j < rows; ++j) pc[j] = s[j * 8 + c], qc[j] = dp[j * 8 + c];
      ctflow::ExpScaledProduct(rows, shift[c], scale[c], delta[c], pc.data(), qc.data());
      for (PetscInt j = 0; j < rows; ++j) {
        EXPECT_EQ(p[j * 8 + c], pc[j]) << rows << " rows, entry " << j << ", " << c;
        EXPECT_EQ(q[j * 8 + c], qc[j]) << rows << " rows, entry " << j << ", " << c;
      }
    }
    EXPECT_EQ(p[rows * 8 - 3], 0.0);
    EXPECT_EQ(q[rows * 8 - 3], 0.0);
  }
}

}  // namespace
