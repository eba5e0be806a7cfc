#include "operators/short_sequence_softmax.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "discretization/base/simd_clones.hpp"
#include "operators/vector_exp.hpp"

namespace ctflow {

namespace {

typedef double Vec8 __attribute__((vector_size(64)));

// n rounded up to whole vectors.
PetscInt Padded(PetscInt n) { return (n + 7) / 8 * 8; }

// x ← the count ≤ 8 doubles at p, 0 in the other lanes. Vectors by reference (the baseline build has no 64-byte
// registers); a partial vector is built lane by lane in registers (a copy through memory would stall its vector load).
[[gnu::always_inline]] inline void Load(const PetscReal *p, PetscInt count, Vec8 &x) {
  if (count == 8) std::memcpy(&x, p, sizeof x);
  else
    x = Vec8{p[0],  // count ≥ 1
             count > 1 ? p[1] : 0,
             count > 2 ? p[2] : 0,
             count > 3 ? p[3] : 0,
             count > 4 ? p[4] : 0,
             count > 5 ? p[5] : 0,
             count > 6 ? p[6] : 0,
             0};
}

// p[l] ← x[l] (or += with kAdd), l < count ≤ 8.
template <bool kAdd>
[[gnu::always_inline]] inline void Store(PetscReal *p, const Vec8 &x, PetscInt count) {
  Vec8 y = x, z;
  if (kAdd) {
    Load(p, count, z);
    y += z;
  }
  if (count == 8) std::memcpy(p, &y, sizeof y);
  else
    for (int l = 0; l < 7; ++l)
      if (l < count) p[l] = y[l];
}

// y[k] = (x[0][k], …, x[7][k]): an 8 × 8 transpose in three rounds of two-vector shuffles (vpermt2pd on AVX-512).
[[gnu::always_inline]] inline void Transpose8(const Vec8 (&x)[8], Vec8 (&y)[8]) {
#if defined(__clang__)
#define CTFLOW_SHUFFLE(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
  typedef std::int64_t Index8 __attribute__((vector_size(64)));
#define CTFLOW_SHUFFLE(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shuffle(a, b, Index8{i0, i1, i2, i3, i4, i5, i6, i7})
#endif
  Vec8 t[8], u[8];
  for (int k = 0; k < 8; k += 2) {  // t[k]: lanes 2q, 2q + 1 = x[k][2q], x[k + 1][2q]; t[k + 1] the odd columns
    t[k] = CTFLOW_SHUFFLE(x[k], x[k + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    t[k + 1] = CTFLOW_SHUFFLE(x[k], x[k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int q = 0; q < 4; ++q) {  // columns k mod 4 of rows 4h … 4h + 3, k = q mod 2 + 4h
    const int k = q % 2 + 4 * (q / 2);
    u[k] = CTFLOW_SHUFFLE(t[k], t[k + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[k + 2] = CTFLOW_SHUFFLE(t[k], t[k + 2], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int k = 0; k < 4; ++k) {  // the two halves of columns k and k + 4
    y[k] = CTFLOW_SHUFFLE(u[k], u[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    y[k + 4] = CTFLOW_SHUFFLE(u[k], u[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#undef CTFLOW_SHUFFLE
}

// t[8 r + l] = A[(i0 + l) lda + r], r < d': the 8 rows from i0 (0 from row n on) of d' features (whole vectors),
// transposed by 8 × 8 blocks.
[[gnu::always_inline]] inline void Transposed(PetscInt i0, PetscInt n, PetscInt dp, const PetscReal *A, PetscInt lda, PetscReal *t) {
  for (PetscInt c = 0; c < dp; c += 8) {
    Vec8 x[8], y[8];
    for (PetscInt k = 0; k < 8; ++k) {
      if (i0 + k < n) std::memcpy(&x[k], A + (i0 + k) * lda + c, sizeof x[k]);
      else x[k] = Vec8{};
    }
    Transpose8(x, y);
    for (PetscInt k = 0; k < 8; ++k) std::memcpy(t + 8 * (c + k), &y[k], sizeof y[k]);
  }
}

// s[8 j + l] = α Σ_r B[j ldb + r] t[8 r + l] for the kRows keys from j0: each key against the 8 queries of t. kRows
// independent chains of FMAs that share their loads.
template <PetscInt kRows>
[[gnu::always_inline]] inline void KeyRows(PetscInt j0, PetscInt d, PetscReal alpha, const PetscReal *B, PetscInt ldb, const PetscReal *t,
                                           PetscReal *s) {
  Vec8 acc[kRows] = {}, x;
  for (PetscInt r = 0; r < d; ++r) {
    std::memcpy(&x, t + 8 * r, sizeof x);
    for (PetscInt k = 0; k < kRows; ++k) acc[k] += B[(j0 + k) * ldb + r] * x;
  }
  for (PetscInt k = 0; k < kRows; ++k) {
    acc[k] *= alpha;
    std::memcpy(s + 8 * (j0 + k), &acc[k], sizeof acc[k]);
  }
}
[[gnu::always_inline]] inline void KeyProducts(PetscInt keys, PetscInt d, PetscReal alpha, const PetscReal *B, PetscInt ldb, const PetscReal *t,
                                               PetscReal *s) {
  PetscInt j0 = 0;
  for (; j0 + 4 <= keys; j0 += 4) KeyRows<4>(j0, d, alpha, B, ldb, t, s);
  for (; j0 < keys; ++j0) KeyRows<1>(j0, d, alpha, B, ldb, t, s);
}

// Y_k ← α Σ_{lo ≤ i < hi} w[k rs + i cs] B_i (or += with kAdd) for the kRows rows from k0: B's rows of d' features
// (whole vectors), Y's of dy (d, or d' for work space).
template <PetscInt kRows, bool kAdd>
[[gnu::always_inline]] inline void CombineRows(PetscInt k0, PetscInt lo, PetscInt hi, PetscInt dp, PetscInt dy, PetscReal alpha, const PetscReal *w,
                                               PetscInt rs, PetscInt cs, const PetscReal *B, PetscInt ldb, PetscReal *Y, PetscInt ldy) {
  for (PetscInt c = 0; c < dp; c += 8) {
    Vec8 acc[kRows] = {}, x;
    for (PetscInt i = lo; i < hi; ++i) {
      std::memcpy(&x, B + i * ldb + c, sizeof x);
      for (PetscInt k = 0; k < kRows; ++k) acc[k] += w[(k0 + k) * rs + i * cs] * x;
    }
    for (PetscInt k = 0; k < kRows; ++k) {
      acc[k] *= alpha;
      Store<kAdd>(Y + (k0 + k) * ldy + c, acc[k], std::min<PetscInt>(8, dy - c));
    }
  }
}
// CombineRows for rows k < rows, 4 at a time; range(k0, kRows) gives the block's [lo, hi).
template <bool kAdd, typename Range>
[[gnu::always_inline]] inline void Combine(PetscInt rows, Range range, PetscInt dp, PetscInt dy, PetscReal alpha, const PetscReal *w, PetscInt rs,
                                           PetscInt cs, const PetscReal *B, PetscInt ldb, PetscReal *Y, PetscInt ldy) {
  PetscInt k0 = 0;
  for (; k0 + 4 <= rows; k0 += 4) CombineRows<4, kAdd>(k0, range(k0, 4).first, range(k0, 4).second, dp, dy, alpha, w, rs, cs, B, ldb, Y, ldy);
  for (; k0 < rows; ++k0) CombineRows<1, kAdd>(k0, range(k0, 1).first, range(k0, 1).second, dp, dy, alpha, w, rs, cs, B, ldb, Y, ldy);
}

// The n rows of d features at A (stride lda) as whole vectors: A itself if d is a multiple of 8, else a copy in `to`
// with rows of d' = 8⌈d/8⌉, 0 past d (each row's partial vector read once, not by every product).
[[gnu::always_inline]] inline const PetscReal *WholeVectors(PetscInt n, PetscInt d, const PetscReal *A, PetscInt lda, PetscReal *to, PetscInt *ld) {
  if (d % 8 == 0) {
    *ld = lda;
    return A;
  }
  for (PetscInt i = 0; i < n; ++i)
    for (PetscInt c = 0; c < d; c += 8) {
      Vec8 x;
      Load(A + i * lda + c, std::min<PetscInt>(8, d - c), x);
      std::memcpy(to + i * Padded(d) + c, &x, sizeof x);
    }
  *ld = Padded(d);
  return to;
}

// Causal: the scores s[8 j + l] of key j against query i0 + l < j to −∞ (their exponentials are 0).
[[gnu::always_inline]] inline void Mask(PetscInt i0, PetscInt keys, PetscReal *s) {
  const Vec8 lane = {0, 1, 2, 3, 4, 5, 6, 7}, minus_inf = -std::numeric_limits<double>::infinity() - Vec8{};
  for (PetscInt j = i0 + 1; j < keys; ++j) {
    Vec8 x;
    std::memcpy(&x, s + 8 * j, sizeof x);
    x = lane < (double)(j - i0) ? minus_inf : x;
    std::memcpy(s + 8 * j, &x, sizeof x);
  }
}

// One (sequence, head) of ShortSequenceSoftmax::Forward, by blocks of 8 queries (the lanes) against the keys they see;
// work: 8 d' + 8 n + 2 n d', d' = 8⌈d/8⌉.
[[gnu::always_inline]] inline void HeadForward(PetscInt n, PetscInt d, PetscReal scale, bool causal, const PetscReal *Q, PetscInt ldq,
                                               const PetscReal *K, const PetscReal *V, PetscInt ldkv, PetscReal *O, PetscReal *max, PetscReal *sum,
                                               PetscReal *work) {
  const PetscInt dp = Padded(d);
  PetscReal *qt = work, *e = qt + 8 * dp;  // the block's queries transposed; e[8 j + l] = exp(a(i0 + l, j) − μ)
  PetscInt ldqw, ldvw;
  const PetscReal *Qw = WholeVectors(n, d, Q, ldq, e + 8 * n, &ldqw), *Vw = WholeVectors(n, d, V, ldkv, e + 8 * n + n * dp, &ldvw);
  for (PetscInt i0 = 0; i0 < n; i0 += 8) {
    const PetscInt rows = std::min<PetscInt>(8, n - i0), keys = causal ? std::min(n, i0 + 8) : n;
    PetscReal mx[8], sm[8];
    Transposed(i0, n, dp, Qw, ldqw, qt);
    KeyProducts(keys, d, scale, K, ldkv, qt, e);
    if (causal) Mask(i0, keys, e);
    ExpMaxShiftedSumColumns(keys, e, mx, sm);
    std::copy_n(mx, rows, max + i0), std::copy_n(sm, rows, sum + i0);
    // O_i = Σ_j e_ij V_j over the keys that the block's last row sees
    const auto keys_seen = [&](PetscInt k0, PetscInt k) { return std::make_pair(PetscInt(0), causal ? std::min(keys, i0 + k0 + k) : keys); };
    Combine<false>(rows, keys_seen, dp, d, 1.0, e, 1, 8, Vw, ldvw, O + i0 * ldq, ldq);
  }
}

// One (sequence, head) of ShortSequenceSoftmax::Transpose, by blocks of 8 queries; work: 24 d' + 16 n + 6 n d'.
[[gnu::always_inline]] inline void HeadTranspose(PetscInt n, PetscInt d, PetscReal scale, bool causal, const PetscReal *Q, PetscInt ldq,
                                                 const PetscReal *K, const PetscReal *V, PetscInt ldkv, const PetscReal *o, const PetscReal *dO,
                                                 const PetscReal *max, const PetscReal *sum, PetscReal *dQ, PetscReal *dK, PetscReal *dV,
                                                 PetscReal *work) {
  const PetscInt dp = Padded(d);
  const bool padded = dp != d;
  PetscReal *qt = work, *dot = qt + 8 * dp, *ot = dot + 8 * dp, *p = ot + 8 * dp, *ds = p + 8 * n, *pad = ds + 8 * n;
  PetscInt ldqw, ldkw, lddo, ldow;
  const PetscReal *Qw = WholeVectors(n, d, Q, ldq, pad, &ldqw), *Kw = WholeVectors(n, d, K, ldkv, pad + n * dp, &ldkw),
                  *dOw = WholeVectors(n, d, dO, ldq, pad + 2 * n * dp, &lddo), *ow = WholeVectors(n, d, o, ldq, pad + 3 * n * dp, &ldow);
  // dK, dV in place, or in work space (whole vectors) and added at the end
  PetscReal *dKw = padded ? pad + 4 * n * dp : dK, *dVw = padded ? pad + 5 * n * dp : dV;
  const PetscInt lddkv = padded ? dp : ldkv, dkv = padded ? dp : d;
  if (padded) std::fill_n(dKw, 2 * n * dp, 0.0);
  for (PetscInt i0 = 0; i0 < n; i0 += 8) {
    const PetscInt rows = std::min<PetscInt>(8, n - i0), keys = causal ? std::min(n, i0 + 8) : n;
    PetscReal shift[8] = {}, inverse[8] = {1, 1, 1, 1, 1, 1, 1, 1}, delta[8];  // lanes past n: finite, never stored
    Transposed(i0, n, dp, Qw, ldqw, qt);
    Transposed(i0, n, dp, dOw, lddo, dot);
    Transposed(i0, n, dp, ow, ldow, ot);
    Vec8 acc = {}, x, y;  // Δ = ⟨dO, o⟩ of the 8 queries
    for (PetscInt r = 0; r < d; ++r) {
      std::memcpy(&x, dot + 8 * r, sizeof x);
      std::memcpy(&y, ot + 8 * r, sizeof y);
      acc += x * y;
    }
    std::memcpy(delta, &acc, sizeof delta);
    for (PetscInt l = 0; l < rows; ++l) shift[l] = max[i0 + l], inverse[l] = 1 / sum[i0 + l];
    // pᵀ = exp(s K Qᵀ − μ) / sum and dSᵀ = pᵀ ⊙ (V dOᵀ − Δ), 0 where a query does not see a key.
    KeyProducts(keys, d, scale, K, ldkv, qt, p);
    if (causal) Mask(i0, keys, p);
    KeyProducts(keys, d, 1.0, V, ldkv, dot, ds);
    ExpScaledProductColumns(keys, shift, inverse, delta, p, ds);
    // dQ_i += s Σ_j dS_ij K_j; dK_j += s Σ_i dS_ij Q_i and dV_j += Σ_i p_ij dO_i over the block's queries that see key j.
    const auto keys_seen = [&](PetscInt k0, PetscInt k) { return std::make_pair(PetscInt(0), causal ? std::min(keys, i0 + k0 + k) : keys); };
    const auto queries = [&](PetscInt k0, PetscInt) { return std::make_pair(causal ? std::max<PetscInt>(0, k0 - i0) : 0, rows); };
    Combine<true>(rows, keys_seen, dp, d, scale, ds, 1, 8, Kw, ldkw, dQ + i0 * ldq, ldq);
    Combine<true>(keys, queries, dp, dkv, scale, ds, 8, 1, Qw + i0 * ldqw, ldqw, dKw, lddkv);
    Combine<true>(keys, queries, dp, dkv, 1.0, p, 8, 1, dOw + i0 * lddo, lddo, dVw, lddkv);
  }
  for (PetscInt j = 0; j < n && padded; ++j)
    for (PetscInt c = 0; c < d; c += 8) {
      Vec8 x;
      std::memcpy(&x, dKw + j * dp + c, sizeof x);
      Store<true>(dK + j * ldkv + c, x, std::min<PetscInt>(8, d - c));
      std::memcpy(&x, dVw + j * dp + c, sizeof x);
      Store<true>(dV + j * ldkv + c, x, std::min<PetscInt>(8, d - c));
    }
}

// ShortSequenceSoftmax::Forward and Transpose over the (sequence, head) pairs, for d = kD features per head (0: b.d, a
// size without its own instance: a known d lets the compiler unroll the feature loops, 1.5–2× at d = 8, n = 5).
template <PetscInt kD>
CTFLOW_SIMD_CLONES void ForwardHeads(const ShortSequences &b, const PetscReal *Q, const PetscReal *K, const PetscReal *V, PetscReal *O,
                                     PetscReal *max, PetscReal *sum, PetscReal *work) {
  const PetscInt n = b.n, d = kD ? kD : b.d, D = b.heads * d, N = b.sequences * n;
  for (PetscInt q = 0; q < b.sequences; ++q)
    for (PetscInt m = 0; m < b.heads; ++m) {
      const PetscInt r0 = q * n, kv = r0 * b.ld_kv + m * d, qo = r0 * D + m * d;
      HeadForward(n, d, b.scale, b.causal, Q + qo, D, K + kv, V + kv, b.ld_kv, O + qo, max + m * N + r0, sum + m * N + r0, work);
    }
}
template <PetscInt kD>
CTFLOW_SIMD_CLONES void TransposeHeads(const ShortSequences &b, const PetscReal *Q, const PetscReal *K, const PetscReal *V, const PetscReal *o,
                                       const PetscReal *dO, const PetscReal *max, const PetscReal *sum, PetscReal *dQ, PetscReal *dK, PetscReal *dV,
                                       PetscReal *work) {
  const PetscInt n = b.n, d = kD ? kD : b.d, D = b.heads * d, N = b.sequences * n;
  for (PetscInt q = 0; q < b.sequences; ++q)
    for (PetscInt m = 0; m < b.heads; ++m) {
      const PetscInt r0 = q * n, kv = r0 * b.ld_kv + m * d, qo = r0 * D + m * d;
      HeadTranspose(n, d, b.scale, b.causal, Q + qo, D, K + kv, V + kv, b.ld_kv, o + qo, dO + qo, max + m * N + r0, sum + m * N + r0, dQ + qo,
                    dK + kv, dV + kv, work);
    }
}

}  // namespace

PetscErrorCode ShortSequenceSoftmax::SetUp(PetscInt n, PetscInt d) {
  PetscFunctionBeginUser;
  if (n == n_ && d == d_) PetscFunctionReturn(0);
  PetscCallCXX(work_.assign(24 * Padded(d) + 16 * n + 6 * n * Padded(d) + 8, 0.0));
  n_ = n, d_ = d;
  PetscFunctionReturn(0);
}

void ShortSequenceSoftmax::Forward(const ShortSequences &b, const PetscReal *Q, const PetscReal *K, const PetscReal *V, PetscReal *O, PetscReal *max,
                                   PetscReal *sum) {
  switch (b.d) {
    case 4:
      return ForwardHeads<4>(b, Q, K, V, O, max, sum, work());
    case 8:
      return ForwardHeads<8>(b, Q, K, V, O, max, sum, work());
    case 16:
      return ForwardHeads<16>(b, Q, K, V, O, max, sum, work());
    case 32:
      return ForwardHeads<32>(b, Q, K, V, O, max, sum, work());
    case 64:
      return ForwardHeads<64>(b, Q, K, V, O, max, sum, work());
    default:
      return ForwardHeads<0>(b, Q, K, V, O, max, sum, work());
  }
}

void ShortSequenceSoftmax::Transpose(const ShortSequences &b, const PetscReal *Q, const PetscReal *K, const PetscReal *V, const PetscReal *o,
                                     const PetscReal *dO, const PetscReal *max, const PetscReal *sum, PetscReal *dQ, PetscReal *dK, PetscReal *dV) {
  switch (b.d) {
    case 4:
      return TransposeHeads<4>(b, Q, K, V, o, dO, max, sum, dQ, dK, dV, work());
    case 8:
      return TransposeHeads<8>(b, Q, K, V, o, dO, max, sum, dQ, dK, dV, work());
    case 16:
      return TransposeHeads<16>(b, Q, K, V, o, dO, max, sum, dQ, dK, dV, work());
    case 32:
      return TransposeHeads<32>(b, Q, K, V, o, dO, max, sum, dQ, dK, dV, work());
    case 64:
      return TransposeHeads<64>(b, Q, K, V, o, dO, max, sum, dQ, dK, dV, work());
    default:
      return TransposeHeads<0>(b, Q, K, V, o, dO, max, sum, dQ, dK, dV, work());
  }
}

}  // namespace ctflow
