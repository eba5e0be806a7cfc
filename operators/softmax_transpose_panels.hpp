// SoftmaxTransposePanels: the attention transpose's second pass (operators/streaming_softmax_transpose.hpp) for one head
// and one block of keys, fused on BLIS's micro-kernel (operators/gemm.hpp, MicroKernel) as the forward's scores, softmax
// and γV are (StreamingSoftmax::AccumulatePanels). Per tile of keys and block of queries:
//   Sᵀ = s K Qᵀ and dPᵀ = V dOᵀ by panels of n_r queries, P = exp(S − μ)/Σ, dS = P ⊙ (dP − Δ) on the panel's rows,
//   dQᵀ += s Kᵀ dSᵀ for the panel; then dVᵀ += dOᵀ P and dKᵀ += s Qᵀ dS for the block,
// with P and dS written once, straight into the packed layouts of the three products that read them (BLAS packs each
// operand again per product), and the head's features d (a multiple of m_r) as the products' rows, so that no partial
// micro-tile is computed in d. Causal: the tiles, blocks' leading panels and panels' key micro-tiles that see no key
// are skipped, the masked entries of the rest are 0. Where the kernel does not take the heads (MicroKernelTakesHeads)
// the caller runs GEMMs.
#pragma once
#include <petscsys.h>

#include <vector>

#include "operators/gemm.hpp"

namespace ctflow {

// One head's arrays for Run: the owned queries (xm rows, stride ld, global indices from x0), the block's keys (rows,
// stride ldkv, from c0).
struct SoftmaxTransposeHead {
  PetscInt xm = 0, rows = 0, d = 0, ld = 0, ldkv = 0, x0 = 0, c0 = 0;
  PetscReal scale = 0;
  bool causal = false;                                                 // query x sees the keys η ≤ x
  const PetscReal *Q = nullptr, *dO = nullptr;                         // xm × d (stride ld)
  const PetscReal *shift = nullptr, *sum = nullptr, *delta = nullptr;  // xm: each row's softmax shift and sum, and Δ = ⟨dO, o⟩
  const PetscReal *K = nullptr, *V = nullptr;                          // rows × d (stride ldkv)
  PetscReal *dQ = nullptr, *dK = nullptr, *dV = nullptr;               // accumulated into, same shapes and strides
};

class SoftmaxTransposePanels {
 public:
  // Queries per block: the block's P and dS (2 × block × tile values) in half of the core's L2 (1 MiB if the system does
  // not say), 256 at tile 256 on a 2 MiB L2 (bench/RESULTS.md, "The attention transpose on BLIS's micro-kernel").
  static PetscInt DefaultBlock(PetscInt tile);
  // For up to xm queries, tiles of `tile` keys and blocks of `block` queries (a multiple of n_r is used).
  PetscErrorCode SetUp(const MicroKernel &ukr, PetscInt xm, PetscInt d, PetscInt tile, PetscInt block);
  // Packs one head's queries and their output gradients (h.Q, h.dO); before Run on every block of keys of that head.
  void PackQueries(const SoftmaxTransposeHead &h);
  // The head's contributions of one block of keys: dQ of the owned rows, dK and dV of the block.
  void Run(const SoftmaxTransposeHead &h);

 private:
  void PackKeys(const SoftmaxTransposeHead &h, PetscInt j0, PetscInt nt);
  // P, dS and dQ of the queries i0 … i0 + n − 1 (one panel) against the tile's nt keys from global index kc; ib: the
  // panel's first row in the block.
  void Panel(const SoftmaxTransposeHead &h, PetscInt i0, PetscInt n, PetscInt ib, PetscInt kc, PetscInt nt);
  template <PetscInt NR>
  void Scatter(PetscInt nr, PetscInt n, PetscInt ib, PetscInt nt);

  MicroKernel ukr_;
  PetscInt d_ = 0, tile_ = 0, block_ = 0, ntp_ = 0, pks_ = 0;  // pks_: a key panel's stride in pk_, dsk_
  std::vector<PetscReal> storage_;
  // 64-byte aligned parts of storage_: B panels of n_r queries [p][z][i] of Q and dO; A panels of m_r features [zp][i][z]
  // of Qᵀ and dOᵀ; the tile's A panels of m_r keys [jp][z][j] of K and V and of m_r features [zp][j][z] of Kᵀ; a panel's
  // scores / P and dP / dS (n_r rows of ntp_); dSᵀ of a panel [j][i]; the block's P and dS in B panels of n_r keys [jq][i][j].
  PetscReal *qp_ = nullptr, *dop_ = nullptr, *qt_ = nullptr, *dot_ = nullptr, *kp_ = nullptr, *vp_ = nullptr, *kt_ = nullptr;
  PetscReal *s_ = nullptr, *dp_ = nullptr, *dsq_ = nullptr, *pk_ = nullptr, *dsk_ = nullptr;
};

}  // namespace ctflow
