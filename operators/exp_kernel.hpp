// The table-driven exponential shared by the elementwise kernels (softmax: operators/vector_exp.cpp, GELU:
// operators/gelu_kernel.hpp), for one double or a GCC vector of them (Vec4: AVX2, Vec8: AVX-512). Inline code for
// functions compiled several times with __attribute__((target(...))) (discretization/base/simd_clones.hpp; the vectors
// where CTFLOW_HAVE_SIMD_CLONES).
#pragma once
#include <cstdint>
#include <cstring>

#include "discretization/base/simd_clones.hpp"

namespace ctflow {

#if CTFLOW_HAVE_SIMD_CLONES
typedef double Vec4 __attribute__((vector_size(32)));
typedef std::uint64_t Bits4 __attribute__((vector_size(32)));
typedef double Vec8 __attribute__((vector_size(64)));
typedef std::uint64_t Bits8 __attribute__((vector_size(64)));
#endif

namespace exp_kernel {

// Table-driven exp (Tang 1989; the layout of glibc's exp): x = (16 k + j) ln2/16 + r, 0 ≤ j < 16, |r| ≤ ln2/32,
// exp(x) = 2^k 2^(j/16) e^r with 2^(j/16) = s_j (1 + c_j), s_j = 2^(j/16) rounded to a double and |c_j| < 2^-53.
inline constexpr double kRound = 0x1.8p52;                             // adding it rounds to an integer, held in the low mantissa bits
inline constexpr double kInvLn2x16 = 0x1.71547652b82fep+4;             // 16 / ln 2
inline constexpr double kLn2HiBy16 = 6.93147180369123816490e-01 / 16;  // ln 2 / 16 in two parts (Cody–Waite): n kLn2HiBy16 is
inline constexpr double kLn2LoBy16 = 1.90821492927058770002e-10 / 16;  // exact for |n| < 2^21
// The bits of s_j minus j 2^48, so that adding n 2^48 (n = 16 k + j) puts k into the exponent field: the bits of 2^k s_j.
alignas(64) inline constexpr std::uint64_t kScaleBits[16] = {0x3ff0000000000000, 0x3fefb5586cf9890f, 0x3fef72b83c7d517b, 0x3fef387a6e756238,
                                                             0x3fef06fe0a31b715, 0x3feedea64c123422, 0x3feebfdad5362a27, 0x3feeab07dd485429,
                                                             0x3feea09e667f3bcd, 0x3feea11473eb0187, 0x3feeace5422aa0db, 0x3feec49182a3f090,
                                                             0x3feee89f995ad3ad, 0x3fef199bdd85529c, 0x3fef5818dcfba487, 0x3fefa4afa2a490da};
// c_j = 2^(j/16) / s_j − 1, rounded (computed with 200-bit mpmath).
alignas(64) inline constexpr double kScaleTail[16] = {+0x0.0000000000000p+0,  +0x1.79aa65d837b6dp-54, -0x1.01b15eaa59348p-55, +0x1.68efde3a8a894p-54,
                                                      +0x1.34d754db0abb6p-55, +0x1.59f48a72a4c6dp-55, +0x1.690cebb7aafb0p-56, +0x1.063e1e21c5409p-54,
                                                      -0x1.3b3efbf5e2228p-54, -0x1.b32dcb94da51dp-56, +0x1.db72fc1f0eab4p-55, +0x1.1affc2b91ce27p-56,
                                                      +0x1.c1a7792cb3387p-55, +0x1.36eae30af0cb3p-56, +0x1.4a385a63d07a7p-56, -0x1.ff7128fd391f0p-55};

// The table entries of j = n mod 16 (n in the low bits of the rounded argument's bits).
[[gnu::always_inline]] inline void Table(std::uint64_t n, std::uint64_t &bits, double &tail) { bits = kScaleBits[n & 15], tail = kScaleTail[n & 15]; }
#if CTFLOW_HAVE_SIMD_CLONES
// AVX2 has no 16-entry permute: one load per lane.
[[gnu::always_inline]] inline void Table(const Bits4 &n, Bits4 &bits, Vec4 &tail) {
  for (int l = 0; l < 4; ++l) bits[l] = kScaleBits[n[l] & 15], tail[l] = kScaleTail[n[l] & 15];
}
// The 16-entry tables as two halves each, indexed mod 16 by __builtin_shuffle: vpermi2q / vpermi2pd on AVX-512.
[[gnu::always_inline]] inline void Table(const Bits8 &n, Bits8 &bits, Vec8 &tail) {
  Bits8 b[2];
  Vec8 c[2];
  std::memcpy(b, kScaleBits, sizeof b);
  std::memcpy(c, kScaleTail, sizeof c);
  bits = __builtin_shuffle(b[0], b[1], n), tail = __builtin_shuffle(c[0], c[1], n);
}
#endif

// exp(x + lo) = s (1 + q) for x ≥ −708 (meaningless below): s = 2^k s_j, a double, and q = e^r (1 + c_j) − 1, |q| < 0.023
// (Real: double, or a vector of doubles with the Table of its Bits). kLow: lo, a small correction of the argument (the
// rounding error of x), joins the reduced argument r; without it lo is unused.
template <class Real, class Bits, bool kLow = false>
[[gnu::always_inline]] inline void ExpParts(const Real &x, const Real &lo, Real &s, Real &q) {
  const Real t = x * kInvLn2x16 + kRound, n = t - kRound;  // n = round(16 x / ln 2)
  Real r = (x - n * kLn2HiBy16) - n * kLn2LoBy16;          // |r| ≤ ln2/32 (+ rounding)
  if (kLow) r += lo;
  const Bits nb = __builtin_bit_cast(Bits, t);
  Bits sbits;
  Real tail;
  Table(nb, sbits, tail);
  // e^r − 1 (+ c_j): Taylor to degree 7, truncation |r|⁸/8! < 1.3e-18.
  const Real p = 1 + r * (1. / 2 + r * (1. / 6 + r * (1. / 24 + r * (1. / 120 + r * (1. / 720 + r * (1. / 5040))))));
  q = r * p + tail;
  s = __builtin_bit_cast(Real, sbits + (nb << 48));  // 2^k s_j
}

// x ← exp(x) for x ≤ 709; 0 for x < −708 (exp < 3.3e-308, and −∞), NaN for NaN. Relative error ≲ 0.52 ulp: the final
// s + s q rounds once, the rest is ≲ 2^-58 of it.
template <class Real, class Bits>
[[gnu::always_inline]] inline void ExpKernel(Real &x) {
  const auto under = x < -708;
  Real s, q;
  ExpParts<Real, Bits>(x, Real{}, s, q);
  x = under ? Real{} : s + s * q;
}

}  // namespace exp_kernel
}  // namespace ctflow
