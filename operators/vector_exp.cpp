#include "operators/vector_exp.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>

#include "discretization/base/simd_clones.hpp"
#include "operators/exp_kernel.hpp"

#if CTFLOW_HAVE_SIMD_CLONES
#include <immintrin.h>
#endif

namespace ctflow {

namespace {

using exp_kernel::ExpKernel;

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
