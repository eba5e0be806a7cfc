#include "operators/vector_exp.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>

#include "discretization/base/simd_clones.hpp"

#if CTFLOW_HAVE_SIMD_CLONES
#include <immintrin.h>
#endif

namespace ctflow {

namespace {

// Table-driven exp (Tang 1989; the layout of glibc's exp): x = (16 k + j) ln2/16 + r, 0 ≤ j < 16, |r| ≤ ln2/32,
// exp(x) = 2^k 2^(j/16) e^r with 2^(j/16) = s_j (1 + c_j), s_j = 2^(j/16) rounded to a double and |c_j| < 2^-53.
constexpr double kRound = 0x1.8p52;                             // adding it rounds to an integer, held in the low mantissa bits
constexpr double kInvLn2x16 = 0x1.71547652b82fep+4;             // 16 / ln 2
constexpr double kLn2HiBy16 = 6.93147180369123816490e-01 / 16;  // ln 2 / 16 in two parts (Cody–Waite): n kLn2HiBy16 is
constexpr double kLn2LoBy16 = 1.90821492927058770002e-10 / 16;  // exact for |n| < 2^21
// The bits of s_j minus j 2^48, so that adding n 2^48 (n = 16 k + j) puts k into the exponent field: the bits of 2^k s_j.
alignas(64) constexpr std::uint64_t kScaleBits[16] = {0x3ff0000000000000, 0x3fefb5586cf9890f, 0x3fef72b83c7d517b, 0x3fef387a6e756238,
                                                      0x3fef06fe0a31b715, 0x3feedea64c123422, 0x3feebfdad5362a27, 0x3feeab07dd485429,
                                                      0x3feea09e667f3bcd, 0x3feea11473eb0187, 0x3feeace5422aa0db, 0x3feec49182a3f090,
                                                      0x3feee89f995ad3ad, 0x3fef199bdd85529c, 0x3fef5818dcfba487, 0x3fefa4afa2a490da};
// c_j = 2^(j/16) / s_j − 1, rounded (computed with 200-bit mpmath).
alignas(64) constexpr double kScaleTail[16] = {+0x0.0000000000000p+0,  +0x1.79aa65d837b6dp-54, -0x1.01b15eaa59348p-55, +0x1.68efde3a8a894p-54,
                                               +0x1.34d754db0abb6p-55, +0x1.59f48a72a4c6dp-55, +0x1.690cebb7aafb0p-56, +0x1.063e1e21c5409p-54,
                                               -0x1.3b3efbf5e2228p-54, -0x1.b32dcb94da51dp-56, +0x1.db72fc1f0eab4p-55, +0x1.1affc2b91ce27p-56,
                                               +0x1.c1a7792cb3387p-55, +0x1.36eae30af0cb3p-56, +0x1.4a385a63d07a7p-56, -0x1.ff7128fd391f0p-55};

// The table entries of j = n mod 16 (n in the low bits of the rounded argument's bits).
[[gnu::always_inline]] inline void Table(std::uint64_t n, std::uint64_t &bits, double &tail) { bits = kScaleBits[n & 15], tail = kScaleTail[n & 15]; }

#if CTFLOW_HAVE_SIMD_CLONES
typedef double Vec8 __attribute__((vector_size(64)));
typedef std::uint64_t Bits8 __attribute__((vector_size(64)));

// The 16-entry tables as two halves each, indexed mod 16 by __builtin_shuffle: vpermi2q / vpermi2pd on AVX-512.
[[gnu::always_inline]] inline void Table(const Bits8 &n, Bits8 &bits, Vec8 &tail) {
  Bits8 b[2];
  Vec8 c[2];
  std::memcpy(b, kScaleBits, sizeof b);
  std::memcpy(c, kScaleTail, sizeof c);
  bits = __builtin_shuffle(b[0], b[1], n), tail = __builtin_shuffle(c[0], c[1], n);
}
#endif

// x ← exp(x) for x ≤ 709 (Real: double, or a vector of doubles with the Table of its bits); 0 for x < −708 (exp <
// 3.3e-308, and −∞), NaN for NaN. Relative error ≲ 0.52 ulp: the final s + s q rounds once, the rest is ≲ 2^-58 of it.
template <class Real, class Bits>
[[gnu::always_inline]] inline void ExpKernel(Real &x) {
  const auto under = x < -708;
  const Real t = x * kInvLn2x16 + kRound, n = t - kRound;  // n = round(16 x / ln 2)
  const Real r = (x - n * kLn2HiBy16) - n * kLn2LoBy16;    // |r| ≤ ln2/32 (+ rounding)
  const Bits nb = __builtin_bit_cast(Bits, t);
  Bits sbits;
  Real tail;
  Table(nb, sbits, tail);
  // e^r − 1 (+ c_j): Taylor to degree 7, truncation |r|⁸/8! < 1.3e-18.
  const Real p = 1 + r * (1. / 2 + r * (1. / 6 + r * (1. / 24 + r * (1. / 120 + r * (1. / 720 + r * (1. / 5040))))));
  const Real q = r * p + tail;
  const Real s = __builtin_bit_cast(Real, sbits + (nb << 48));  // 2^k s_j
  x = under ? Real{} : s + s * q;
}

// s[j] ← exp(s[j] − shift) and Σ_j, in 8 interleaved partial sums; with kMax also *max = max_j s[j] (before).
template <bool kMax>
[[gnu::always_inline]] inline PetscReal ShiftedSum(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, m[8] = {};
  if (kMax)  // n ≥ 1; without the maximum n may be 0 (and s null)
    for (int i = 0; i < 8; ++i) m[i] = s[0];
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8)
    for (int i = 0; i < 8; ++i) {
      if (kMax) m[i] = s[j + i] > m[i] ? s[j + i] : m[i];
      double x = s[j + i] - shift;
      ExpKernel<double, std::uint64_t>(x);
      a[i] += s[j + i] = x;
    }
  for (; j < n; ++j) {
    if (kMax) m[0] = s[j] > m[0] ? s[j] : m[0];
    double x = s[j] - shift;
    ExpKernel<double, std::uint64_t>(x);
    a[0] += s[j] = x;
  }
  if (kMax) {
    for (int i = 1; i < 8; ++i) m[0] = m[i] > m[0] ? m[i] : m[0];
    *max = m[0];
  }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// ShiftedSum by columns of a rows × width block (row-major); kExp false: only the maxima.
template <bool kExp>
[[gnu::always_inline]] inline void Columns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum, PetscReal *max) {
  for (PetscInt c = 0; c < width; ++c) max[c] = s[c];
  if (kExp) std::fill_n(sum, width, 0.0);
  for (PetscInt j = 0; j < rows; ++j)
    for (PetscInt c = 0; c < width; ++c) {
      double x = s[j * width + c];
      max[c] = x > max[c] ? x : max[c];
      if (!kExp) continue;
      x -= shift[c];
      ExpKernel<double, std::uint64_t>(x);
      sum[c] += s[j * width + c] = x;
    }
}

// p[j] ← exp(p[j] − shift) scale, dp[j] ← p[j] (dp[j] − delta).
[[gnu::always_inline]] inline void ScaledProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p, PetscReal *dp) {
  for (PetscInt j = 0; j < n; ++j) {
    double x = p[j] - shift;
    ExpKernel<double, std::uint64_t>(x);
    p[j] = x *= scale;
    dp[j] = x * (dp[j] - delta);
  }
}

// The maxima of the columns of a rows × 8 block, the exponentials shifted by them and their sums.
[[gnu::always_inline]] inline void MaxShiftedSumColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum) {
  PetscReal shift[8];
  Columns<false>(rows, 8, nullptr, s, nullptr, shift);
  Columns<true>(rows, 8, shift, s, sum, max);
}

// ScaledProduct by columns of a rows × 8 block, column c with shift[c], scale[c], delta[c].
[[gnu::always_inline]] inline void ScaledProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale, const PetscReal *delta,
                                                        PetscReal *p, PetscReal *dp) {
  for (PetscInt j = 0; j < rows; ++j)
    for (int c = 0; c < 8; ++c) {
      double x = p[j * 8 + c] - shift[c];
      ExpKernel<double, std::uint64_t>(x);
      p[j * 8 + c] = x *= scale[c];
      dp[j * 8 + c] = x * (dp[j * 8 + c] - delta[c]);
    }
}

#if CTFLOW_HAVE_SIMD_CLONES
// The last count < 8 entries of a row, masked: *loaded ← them with −∞ in the other lanes (for a maximum); returns
// exp(entries − shift), 0 in the other lanes (their argument −800: a finite computation, no floating-point exception
// under -fp_trap), for the caller's masked store.
[[gnu::always_inline]] __attribute__((target("arch=x86-64-v4"))) inline Vec8 ExpTail(PetscInt count, const PetscReal *s, Vec8 shift, Vec8 *loaded) {
  const __mmask8 lanes = (__mmask8)((1u << count) - 1);
  *loaded = (Vec8)_mm512_mask_loadu_pd(_mm512_set1_pd(-std::numeric_limits<double>::infinity()), lanes, s);
  Vec8 x = (Vec8)_mm512_mask_blend_pd(lanes, _mm512_set1_pd(-800), (__m512d)(*loaded - shift));
  ExpKernel<Vec8, Bits8>(x);
  return x;
}

// Stores the first count < 8 lanes of x at s.
[[gnu::always_inline]] __attribute__((target("arch=x86-64-v4"))) inline void StoreTail(PetscInt count, PetscReal *s, Vec8 x) {
  _mm512_mask_storeu_pd(s, (__mmask8)((1u << count) - 1), (__m512d)x);
}

// ScaledProduct on vectors of 8, the last n mod 8 entries by masked loads and stores.
__attribute__((target("arch=x86-64-v4"))) void ExpProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p,
                                                          PetscReal *dp) {
  if (n < 8) return ScaledProduct(n, shift, scale, delta, p, dp);  // a short row: independent scalar chains beat one vector's latency
  Vec8 x, y;
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8) {
    std::memcpy(&x, p + j, sizeof x);
    std::memcpy(&y, dp + j, sizeof y);
    x -= shift;
    ExpKernel<Vec8, Bits8>(x);
    x *= scale;
    y = x * (y - delta);
    std::memcpy(p + j, &x, sizeof x);
    std::memcpy(dp + j, &y, sizeof y);
  }
  if (j < n) {
    x = ExpTail(n - j, p + j, shift - Vec8{}, &y) * scale;
    y = (Vec8)_mm512_maskz_loadu_pd((__mmask8)((1u << (n - j)) - 1), dp + j);
    StoreTail(n - j, p + j, x);
    StoreTail(n - j, dp + j, x * (y - delta));
  }
}
__attribute__((target("arch=x86-64-v3"))) void ExpProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p,
                                                          PetscReal *dp) {
  ScaledProduct(n, shift, scale, delta, p, dp);
}
__attribute__((target("default"))) void ExpProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p, PetscReal *dp) {
  ScaledProduct(n, shift, scale, delta, p, dp);
}

// ShiftedSum on vectors of 8 (the same sums: lane i adds the entries j ≡ i mod 8); the last n mod 8 entries as a
// vector padded with −∞ for the maximum and with the argument −800 for the exponential (0, by a finite computation:
// no floating-point exception under -fp_trap).
template <bool kMax>
[[gnu::always_inline]] __attribute__((target("arch=x86-64-v4"))) inline PetscReal ShiftedSum8(PetscInt n, PetscReal shift, PetscReal *s,
                                                                                              PetscReal *max) {
  if (n < 8) return ShiftedSum<kMax>(n, shift, s, max);  // a short row: independent scalar chains beat one vector's latency
  Vec8 a = {}, m = s[0] - Vec8{}, x;
  PetscInt j = 0;
  for (; j + 8 <= n; j += 8) {
    std::memcpy(&x, s + j, sizeof x);
    if (kMax) m = x > m ? x : m;
    x -= shift;
    ExpKernel<Vec8, Bits8>(x);
    std::memcpy(s + j, &x, sizeof x);
    a += x;
  }
  if (j < n) {
    Vec8 loaded;
    x = ExpTail(n - j, s + j, shift - Vec8{}, &loaded);
    if (kMax) m = loaded > m ? loaded : m;
    StoreTail(n - j, s + j, x);
    a += x;
  }
  if (kMax) {
    for (int i = 1; i < 8; ++i) m[0] = m[i] > m[0] ? m[i] : m[0];
    *max = m[0];
  }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// Columns on vectors of 8: the block read as one array, whose columns repeat every L = lcm(width, 8) = 8 V entries; the
// V vectors of a period one after the other, each with its lanes' shifts, sums and maxima in registers, over every
// period (strided, in L1: a panel of scores); a last partial period by masked loads and stores.
template <bool kExp>
[[gnu::always_inline]] __attribute__((target("arch=x86-64-v4"))) inline void Columns8(PetscInt rows, PetscInt width, const PetscReal *shift,
                                                                                      PetscReal *s, PetscReal *sum, PetscReal *max) {
  const PetscInt V = std::lcm(width, (PetscInt)8) / 8, L = 8 * V, n = rows * width;
  for (PetscInt c = 0; c < width; ++c) max[c] = -std::numeric_limits<double>::infinity();
  if (kExp) std::fill_n(sum, width, 0.0);
  for (PetscInt v = 0; v < V; ++v) {
    Vec8 sh, a = {}, m = -std::numeric_limits<double>::infinity() - Vec8{}, x;
    for (int l = 0; l < 8; ++l) sh[l] = kExp ? shift[(8 * v + l) % width] : 0;
    PetscInt f = 8 * v;
    for (; f + 8 <= n; f += L) {
      std::memcpy(&x, s + f, sizeof x);
      m = x > m ? x : m;
      if (!kExp) continue;
      x -= sh;
      ExpKernel<Vec8, Bits8>(x);
      std::memcpy(s + f, &x, sizeof x);
      a += x;
    }
    if (f < n) {  // the last rows
      Vec8 loaded;
      x = ExpTail(n - f, s + f, sh, &loaded);  // computed but not stored without kExp (the maxima only)
      m = loaded > m ? loaded : m;
      if (kExp) {
        StoreTail(n - f, s + f, x);
        a += x;
      }
    }
    for (int l = 0; l < 8; ++l) {
      const PetscInt c = (8 * v + l) % width;
      max[c] = m[l] > max[c] ? m[l] : max[c];
      if (kExp) sum[c] += a[l];
    }
  }
}

// MaxShiftedSumColumns and ScaledProductColumns with a row of the block in one vector.
__attribute__((target("arch=x86-64-v4"))) void ExpMaxColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum) {
  Vec8 m, a = {}, x;
  std::memcpy(&m, s, sizeof m);
  for (PetscInt j = 1; j < rows; ++j) {
    std::memcpy(&x, s + 8 * j, sizeof x);
    m = x > m ? x : m;
  }
  for (PetscInt j = 0; j < rows; ++j) {
    std::memcpy(&x, s + 8 * j, sizeof x);
    x -= m;
    ExpKernel<Vec8, Bits8>(x);
    std::memcpy(s + 8 * j, &x, sizeof x);
    a += x;
  }
  std::memcpy(max, &m, sizeof m);
  std::memcpy(sum, &a, sizeof a);
}
__attribute__((target("arch=x86-64-v3"))) void ExpMaxColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum) {
  MaxShiftedSumColumns(rows, s, max, sum);
}
__attribute__((target("default"))) void ExpMaxColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum) {
  MaxShiftedSumColumns(rows, s, max, sum);
}
__attribute__((target("arch=x86-64-v4"))) void ExpProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale,
                                                                 const PetscReal *delta, PetscReal *p, PetscReal *dp) {
  Vec8 sh, sc, de, x, y;
  std::memcpy(&sh, shift, sizeof sh);
  std::memcpy(&sc, scale, sizeof sc);
  std::memcpy(&de, delta, sizeof de);
  for (PetscInt j = 0; j < rows; ++j) {
    std::memcpy(&x, p + 8 * j, sizeof x);
    std::memcpy(&y, dp + 8 * j, sizeof y);
    x -= sh;
    ExpKernel<Vec8, Bits8>(x);
    x *= sc;
    y = x * (y - de);
    std::memcpy(p + 8 * j, &x, sizeof x);
    std::memcpy(dp + 8 * j, &y, sizeof y);
  }
}
__attribute__((target("arch=x86-64-v3"))) void ExpProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale,
                                                                 const PetscReal *delta, PetscReal *p, PetscReal *dp) {
  ScaledProductColumns(rows, shift, scale, delta, p, dp);
}
__attribute__((target("default"))) void ExpProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale, const PetscReal *delta,
                                                          PetscReal *p, PetscReal *dp) {
  ScaledProductColumns(rows, shift, scale, delta, p, dp);
}

// One kernel per CPU kind, chosen at run time: AVX-512 permutes the table; elsewhere the loop is vectorised with loads.
__attribute__((target("arch=x86-64-v4"))) PetscReal ExpSum(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) {
  return max ? ShiftedSum8<true>(n, shift, s, max) : ShiftedSum8<false>(n, shift, s, max);
}
__attribute__((target("arch=x86-64-v3"))) PetscReal ExpSum(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) {
  return max ? ShiftedSum<true>(n, shift, s, max) : ShiftedSum<false>(n, shift, s, max);
}
__attribute__((target("default"))) PetscReal ExpSum(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) {
  return max ? ShiftedSum<true>(n, shift, s, max) : ShiftedSum<false>(n, shift, s, max);
}
__attribute__((target("arch=x86-64-v4"))) void ExpColumns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum,
                                                          PetscReal *max) {
  return sum ? Columns8<true>(rows, width, shift, s, sum, max) : Columns8<false>(rows, width, shift, s, sum, max);
}
__attribute__((target("arch=x86-64-v3"))) void ExpColumns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum,
                                                          PetscReal *max) {
  return sum ? Columns<true>(rows, width, shift, s, sum, max) : Columns<false>(rows, width, shift, s, sum, max);
}
__attribute__((target("default"))) void ExpColumns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum,
                                                   PetscReal *max) {
  return sum ? Columns<true>(rows, width, shift, s, sum, max) : Columns<false>(rows, width, shift, s, sum, max);
}
#else
PetscReal ExpSum(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) {
  return max ? ShiftedSum<true>(n, shift, s, max) : ShiftedSum<false>(n, shift, s, max);
}
void ExpColumns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum, PetscReal *max) {
  return sum ? Columns<true>(rows, width, shift, s, sum, max) : Columns<false>(rows, width, shift, s, sum, max);
}
void ExpProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p, PetscReal *dp) {
  ScaledProduct(n, shift, scale, delta, p, dp);
}
void ExpProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale, const PetscReal *delta, PetscReal *p, PetscReal *dp) {
  ScaledProductColumns(rows, shift, scale, delta, p, dp);
}
void ExpMaxColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum) { MaxShiftedSumColumns(rows, s, max, sum); }
#endif

}  // namespace

PetscReal ExpShiftedSum(PetscInt n, PetscReal shift, PetscReal *s) { return ExpSum(n, shift, s, nullptr); }

PetscReal ExpShiftedSumMax(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max) { return ExpSum(n, shift, s, max); }

void ExpShiftedSumMaxColumns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum, PetscReal *max) {
  ExpColumns(rows, width, shift, s, sum, max);
}

void MaxOfColumns(PetscInt rows, PetscInt width, const PetscReal *s, PetscReal *max) {
  ExpColumns(rows, width, nullptr, const_cast<PetscReal *>(s), nullptr, max);  // nothing written without a sum
}

void ExpScaledProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p, PetscReal *dp) {
  ExpProduct(n, shift, scale, delta, p, dp);
}

void ExpMaxShiftedSumColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum) { ExpMaxColumns(rows, s, max, sum); }

void ExpScaledProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale, const PetscReal *delta, PetscReal *p, PetscReal *dp) {
  ExpProductColumns(rows, shift, scale, delta, p, dp);
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
