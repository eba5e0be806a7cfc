#include "operators/softmax_transpose_panels.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "operators/vector_exp.hpp"

namespace ctflow {

PetscInt SoftmaxTransposePanels::DefaultBlock(PetscInt tile) {
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 <= 0) l2 = 1L << 20;
  return std::max<PetscInt>(1, (PetscInt)(l2 / 2 / (2 * std::max<PetscInt>(tile, 1) * (long)sizeof(PetscReal))));
}

PetscErrorCode SoftmaxTransposePanels::SetUp(const MicroKernel &ukr, PetscInt xm, PetscInt d, PetscInt tile, PetscInt block) {
  PetscFunctionBeginUser;
  ukr_ = ukr, d_ = d;
  const PetscInt mr = ukr.mr, nr = ukr.nr, rows = std::max<PetscInt>(xm, 1);
  tile_ = std::max<PetscInt>(tile, 1);
  block_ = (std::min(std::max<PetscInt>(block, nr), rows) + nr - 1) / nr * nr;
  ntp_ = std::max((tile_ + mr - 1) / mr * mr, (tile_ + nr - 1) / nr * nr);  // whole micro-tiles of keys, and of n_r keys
  auto up = [](size_t n) { return (n + 7) / 8 * 8; };                       // whole cache lines
  pks_ = (PetscInt)up((size_t)block_ * nr);
  const size_t nq = up((size_t)(rows + nr - 1) / nr * nr * d), nqt = up((size_t)rows * d), nk = up((size_t)ntp_ * d), nkt = up((size_t)tile_ * d),
               ns = up((size_t)nr * ntp_), nsq = up((size_t)tile_ * nr), nb = (size_t)(tile_ + nr - 1) / nr * pks_;
  const size_t sizes[] = {nq, nq, nqt, nqt, nk, nk, nkt, ns, ns, nsq, nb, nb};
  size_t total = 8;  // room for the alignment
  for (size_t s : sizes) total += s;
  if (storage_.size() != total) PetscCallCXX(storage_.assign(total, 0.0));  // kept between calls: its values stay finite
  PetscReal *p = storage_.data() + (64 - reinterpret_cast<std::uintptr_t>(storage_.data()) % 64) % 64 / sizeof(PetscReal);
  PetscReal **parts[] = {&qp_, &dop_, &qt_, &dot_, &kp_, &vp_, &kt_, &s_, &dp_, &dsq_, &pk_, &dsk_};
  for (size_t i = 0; i < 12; ++i) *parts[i] = p, p += sizes[i];
  PetscFunctionReturn(0);
}

void SoftmaxTransposePanels::PackQueries(const SoftmaxTransposeHead &h) {
  const PetscInt mr = ukr_.mr, nr = ukr_.nr;
  PackRowPanels(h.xm, d_, nr, h.Q, h.ld, qp_), PackRowPanels(h.xm, d_, nr, h.dO, h.ld, dop_);  // [p][z][i]
  PackColumnPanels(h.xm, d_, mr, h.Q, h.ld, qt_, (size_t)h.xm * mr),
      PackColumnPanels(h.xm, d_, mr, h.dO, h.ld, dot_, (size_t)h.xm * mr);  // [zp][i][z]
}

void SoftmaxTransposePanels::PackKeys(const SoftmaxTransposeHead &h, PetscInt j0, PetscInt nt) {
  const PetscInt mr = ukr_.mr;
  const PetscReal *K = h.K + (size_t)j0 * h.ldkv, *V = h.V + (size_t)j0 * h.ldkv;
  PackRowPanels(nt, d_, mr, K, h.ldkv, kp_), PackRowPanels(nt, d_, mr, V, h.ldkv, vp_);  // [jp][z][j]
  PackColumnPanels(nt, d_, mr, K, h.ldkv, kt_, (size_t)tile_ * mr);                      // [zp][j][z]
}

// P and dS (rows of s_, dp_) into the block's panels of n_r keys (rows ib …), dSᵀ into the panel's [j][i]; NR > 0: n_r
// known at compile time.
template <PetscInt NR>
void SoftmaxTransposePanels::Scatter(PetscInt nr_, PetscInt n, PetscInt ib, PetscInt nt) {
  const PetscInt nr = NR ? NR : nr_, ntp = ntp_, nq = (nt + nr - 1) / nr;
  for (PetscInt jq = 0; jq < nq; ++jq)  // whole panels: s_, dp_ rows hold finite values up to nq n_r (SetUp)
    for (PetscInt i = 0; i < n; ++i) {
      const PetscReal *p = s_ + i * ntp + jq * nr, *g = dp_ + i * ntp + jq * nr;
      PetscReal *tp = pk_ + jq * pks_ + (ib + i) * nr, *ts = dsk_ + jq * pks_ + (ib + i) * nr;
      for (PetscInt jj = 0; jj < nr; ++jj) tp[jj] = p[jj], ts[jj] = g[jj];
    }
  for (PetscInt j = 0; j < nt; ++j)
    for (PetscInt i = 0; i < nr; ++i) dsq_[j * nr + i] = dp_[i * ntp + j];  // rows n … n_r − 1 of dp_: finite, unused
}

void SoftmaxTransposePanels::Panel(const SoftmaxTransposeHead &h, PetscInt i0, PetscInt n, PetscInt ib, PetscInt kc, PetscInt nt) {
  const PetscInt mr = ukr_.mr, nr = ukr_.nr, d = d_, ntp = ntp_;
  const PetscReal *q = qp_ + i0 / nr * d * nr, *g = dop_ + i0 / nr * d * nr;
  // Causal: query x sees the keys η ≤ x, the tile's first `valid` ones; the panel as a whole its first `seen`.
  auto valid = [&](PetscInt i) { return h.causal ? std::clamp<PetscInt>(h.x0 + i0 + i - kc + 1, 0, nt) : nt; };
  const PetscInt seen = valid(n - 1);
  // Sᵀ and dPᵀ by micro-tiles of m_r keys × n queries, column-stored: rows of s_ and dp_ hold a query's keys.
  for (PetscInt jp = 0; jp * mr < seen; ++jp) {
    const PetscInt keys = std::min(mr, nt - jp * mr);
    ukr_(keys, n, d, h.scale, kp_ + jp * d * mr, q, 0.0, s_ + jp * mr, 1, ntp);
    ukr_(keys, n, d, 1.0, vp_ + jp * d * mr, g, 0.0, dp_ + jp * mr, 1, ntp);
  }
  for (PetscInt i = 0; i < n; ++i) {
    const PetscInt v = valid(i);
    ExpScaledProduct(v, h.shift[i0 + i], 1 / h.sum[i0 + i], h.delta[i0 + i], s_ + i * ntp, dp_ + i * ntp);
    std::fill(s_ + i * ntp + v, s_ + i * ntp + nt, 0.0), std::fill(dp_ + i * ntp + v, dp_ + i * ntp + nt, 0.0);  // masked keys
  }
  if (nr == 14) Scatter<14>(nr, n, ib, nt);  // BLIS's skx kernel: fixed trip counts, vectorised
  else Scatter<0>(nr, n, ib, nt);
  // dQᵀ += s Kᵀ dSᵀ: micro-tiles of m_r features × n queries, column-stored into dQ's rows.
  for (PetscInt zp = 0; zp < d / mr; ++zp) ukr_(mr, n, seen, h.scale, kt_ + zp * tile_ * mr, dsq_, 1.0, h.dQ + i0 * h.ld + zp * mr, 1, h.ld);
}

void SoftmaxTransposePanels::Run(const SoftmaxTransposeHead &h) {
  const PetscInt mr = ukr_.mr, nr = ukr_.nr, d = d_;
  for (PetscInt j0 = 0; j0 < h.rows; j0 += tile_) {
    const PetscInt nt = std::min(tile_, h.rows - j0), kc = h.c0 + j0;
    if (h.causal && kc > h.x0 + h.xm - 1) break;  // keys after every query
    PackKeys(h, j0, nt);
    for (PetscInt b0 = 0; b0 < h.xm; b0 += block_) {
      const PetscInt nb = std::min(block_, h.xm - b0);
      // Causal: the block's first s0 rows (whole panels) precede the tile and see none of its keys.
      const PetscInt s0 = h.causal ? std::clamp<PetscInt>((kc - h.x0 - b0) / nr * nr, 0, nb) : 0;
      if (s0 == nb) continue;
      for (PetscInt i0 = b0 + s0; i0 < b0 + nb; i0 += nr) Panel(h, i0, std::min(nr, b0 + nb - i0), i0 - b0, kc, nt);
      // dVᵀ += dOᵀ P and dKᵀ += s Qᵀ dS over the block's queries: micro-tiles of m_r features × n_r keys, column-stored.
      for (PetscInt zp = 0; zp < d / mr; ++zp)
        for (PetscInt jq = 0; jq * nr < nt; ++jq) {
          const PetscInt keys = std::min(nr, nt - jq * nr), at = (j0 + jq * nr) * h.ldkv + zp * mr, k = nb - s0;
          const PetscReal *a = dot_ + (zp * h.xm + b0 + s0) * mr, *b = pk_ + jq * pks_ + s0 * nr;
          ukr_(mr, keys, k, 1.0, a, b, 1.0, h.dV + at, 1, h.ldkv);
          a = qt_ + (zp * h.xm + b0 + s0) * mr, b = dsk_ + jq * pks_ + s0 * nr;
          ukr_(mr, keys, k, h.scale, a, b, 1.0, h.dK + at, 1, h.ldkv);
        }
    }
  }
}

}  // namespace ctflow
