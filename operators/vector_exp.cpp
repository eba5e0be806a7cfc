#include "operators/vector_exp.hpp"

#include <cstdint>

#include "discretization/base/simd_clones.hpp"

namespace ctflow {

// exp(x) for x ≤ 709: range reduction x = k ln 2 + r, |r| ≤ ln 2 / 2 (Cody–Waite, two-part ln 2), the
// Taylor polynomial of degree 13 in r, times 2^k built in the exponent bits; 0 for x < −708.
static inline double ExpKernel(double x) {
  constexpr double log2e = 1.4426950408889634074, ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double round = 0x1.8p52;  // adding it rounds to an integer, held in the low mantissa bits
  const double t = x * log2e + round, k = t - round;
  const double r = (x - k * ln2_hi) - k * ln2_lo;
  double p = 1.0 / 6227020800;  // 1/13!
  p = p * r + 1.0 / 479001600;
  p = p * r + 1.0 / 39916800;
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^k: k + 1023 in the exponent field (the low bits of t hold k in two's complement).
  const double scale = __builtin_bit_cast(double, (__builtin_bit_cast(std::uint64_t, t) + 1023) << 52);
  return x < -708 ? 0.0 : p * scale;
}

CTFLOW_SIMD_CLONES PetscReal ExpShiftedSum(PetscInt n, PetscReal shift, PetscReal *s) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) a[i] += s[j + i] = ExpKernel(s[j + i] - shift);
  for (; j < n; ++j) a[0] += s[j] = ExpKernel(s[j] - shift);
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

CTFLOW_SIMD_CLONES PetscReal ExpShiftedSumMax(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, m[8];
  for (int i = 0; i < 8; ++i) m[i] = s[0];
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) {
      m[i] = s[j + i] > m[i] ? s[j + i] : m[i];
      a[i] += s[j + i] = ExpKernel(s[j + i] - shift);
    }
  for (; j < n; ++j) {
    m[0] = s[j] > m[0] ? s[j] : m[0];
    a[0] += s[j] = ExpKernel(s[j] - shift);
  }
  for (int i = 1; i < 8; ++i) m[0] = m[i] > m[0] ? m[i] : m[0];
  *max = m[0];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

CTFLOW_SIMD_CLONES PetscReal MaxOf(PetscInt n, const PetscReal *s) {
  double m[8];
  for (int i = 0; i < 8; ++i) m[i] = s[0];
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) m[i] = s[j + i] > m[i] ? s[j + i] : m[i];
  for (; j < n; ++j) m[0] = s[j] > m[0] ? s[j] : m[0];
  for (int i = 1; i < 8; ++i) m[0] = m[i] > m[0] ? m[i] : m[0];
  return m[0];
}

}  // namespace ctflow
