#include "operators/attention_maps.hpp"

#include <cblas.h>
#include <petscdmda.h>

#include <algorithm>
#include <cmath>

#include "discretization/base/sizes.hpp"
#include "operators/gemm.hpp"

namespace ctflow {

PetscErrorCode AttentionMaps::SetUp(PetscReal t, Vec U, PetscInt block_rows) {
  const Grid &g = *grid_;
  const PetscInt xm = g.XLocal(), Ny = g.Ny(), Nh = g.Nh(), Nx = g.Nx();
  const PetscInt *ranges;
  PetscMPIInt size;
  const PetscScalar *u;
  PetscFunctionBeginUser;
  PetscCheck(!g.Segmented(), g.Comm(), PETSC_ERR_SUP,
             "attention maps (-attention_materialise, attention output) do not support a grid of %" PetscInt_FMT
             " sequences (a batched training chunk); use -train_chunk 1",
             g.Sequences());
  PetscCall(controls_->LendAttention(t, g, &kernels_storage_, &kernels_));
  const PetscInt d = kernels_->d_head;
  const size_t width = (size_t)Nh * d, rows = std::min(block_rows, xm);
  if (checked_[0] != (size_t)d || checked_[1] != rows) {
    PetscCall(WorkSpaceCheck(g.Comm(), "the materialised attention weights",
                             {{"Q, K, V of the owned tokens", {3, (size_t)xm, width}},
                              {"K", {(size_t)Nx, width}},
                              {"V", {(size_t)Nx, width}},
                              {"a block of gamma", {(size_t)Nh, rows, (size_t)Nx}},
                              {"gamma V", {rows, width}}}));
    checked_[0] = d, checked_[1] = rows;
  }
  const PetscInt D = Nh * d;  // fits: checked above
  // Q, K, V = Δy Σ_i u(x, y_i) W(y_i, z, h) (+ b^Q), eq. (3)–(5) with rank-d_head kernels; heads side by side.
  std::vector<PetscReal> Kown, Vown;
  PetscCallCXX(Q_.resize(xm * D));
  PetscCallCXX(Kown.resize(xm * D));
  PetscCallCXX(Vown.resize(xm * D));
  PetscCall(VecGetArrayRead(U, &u));
  for (PetscInt m = 0; m < Nh; ++m) {
    const std::pair<const std::vector<PetscReal> *, PetscReal *> proj[3] = {
        {&kernels_->WQ, Q_.data()}, {&kernels_->WK, Kown.data()}, {&kernels_->WV, Vown.data()}};
    for (const auto &[W, out] : proj) Gemm(CblasNoTrans, CblasNoTrans, xm, d, Ny, g.dy(), u, Ny, &(*W)[m * Ny * d], d, 0.0, out + m * d, D);
  }
  PetscCall(VecRestoreArrayRead(U, &u));
  if (!kernels_->bQ.empty())
    for (PetscInt k = 0; k < xm; ++k)
      for (PetscInt c = 0; c < D; ++c) Q_[k * D + c] += kernels_->bQ[c];

  // Every rank gets K and V of all N_x tokens, in token order.
  PetscCallMPI(MPI_Comm_size(g.Comm(), &size));
  PetscCall(DMDAGetOwnershipRanges(g.Layout(), &ranges, nullptr, nullptr));
  std::vector<PetscMPIInt> counts(size), displs(size, 0);
  for (PetscMPIInt r = 0; r < size; ++r) {
    counts[r] = (PetscMPIInt)(ranges[r] * D);
    if (r > 0) displs[r] = displs[r - 1] + counts[r - 1];
  }
  PetscCallCXX(K_.resize(Nx * D));
  PetscCallCXX(V_.resize(Nx * D));
  PetscCallMPI(MPI_Allgatherv(Kown.data(), (PetscMPIInt)(xm * D), MPIU_REAL, K_.data(), counts.data(), displs.data(), MPIU_REAL, g.Comm()));
  PetscCallMPI(MPI_Allgatherv(Vown.data(), (PetscMPIInt)(xm * D), MPIU_REAL, V_.data(), counts.data(), displs.data(), MPIU_REAL, g.Comm()));
  PetscFunctionReturn(0);
}

// γ = exp(a) / (Δx Σ_η exp(a)), a = s Δz ⟨Q(x, ·, h), K(η, ·, h)⟩: eq. (6) / (37) by the midpoint rule.
PetscErrorCode AttentionMaps::Rows(PetscInt k0, PetscInt n, std::vector<PetscReal> *gamma) const {
  const Grid &g = *grid_;
  const PetscInt Nx = g.Nx(), Nh = g.Nh(), d = kernels_->d_head, D = Nh * d;
  PetscFunctionBeginUser;
  PetscCheck(k0 >= 0 && n >= 0 && k0 + n <= g.XLocal() && (PetscInt)Q_.size() == g.XLocal() * D, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "AttentionMaps: rows %" PetscInt_FMT "..%" PetscInt_FMT " requested of %" PetscInt_FMT " owned (SetUp first)", k0, k0 + n - 1,
             g.XLocal());
  PetscCallCXX(gamma->resize((size_t)Nh * n * Nx));
  for (PetscInt m = 0; m < Nh; ++m) {
    PetscReal *G = gamma->data() + (size_t)m * n * Nx;
    Gemm(CblasNoTrans, CblasTrans, n, Nx, d, kernels_->scale * g.dy(), &Q_[k0 * D + m * d], D, &K_[m * d], D, 0.0, G, Nx);
    for (PetscInt k = 0; k < n; ++k) {
      PetscReal *row = G + k * Nx;
      const PetscInt valid = kernels_->causal ? g.XStart() + k0 + k + 1 : Nx;  // causal: η ≤ x only
      const PetscReal mx = *std::max_element(row, row + valid);
      PetscReal sum = 0;
      for (PetscInt j = 0; j < valid; ++j) sum += (row[j] = std::exp(row[j] - mx));
      const PetscReal norm = 1 / (sum * g.dx());
      for (PetscInt j = 0; j < valid; ++j) row[j] *= norm;
      std::fill(row + valid, row + Nx, 0.0);
    }
  }
  PetscFunctionReturn(0);
}

// A = c + Σ_m Δh Σ_η Δx γ V_m (Δy W^O_m, or the identity): eq. (40) by the midpoint rule.
PetscErrorCode AttentionMaps::Apply(PetscInt k0, PetscInt n, PetscReal *F) const {
  const Grid &g = *grid_;
  const PetscInt Nx = g.Nx(), Ny = g.Ny(), Nh = g.Nh(), d = kernels_->d_head, D = Nh * d;
  std::vector<PetscReal> gamma, O;
  PetscFunctionBeginUser;
  PetscCall(Rows(k0, n, &gamma));
  PetscCallCXX(O.resize(n * D));
  for (PetscInt m = 0; m < Nh; ++m)
    Gemm(CblasNoTrans, CblasNoTrans, n, d, Nx, g.dx() * g.dh(), &gamma[(size_t)m * n * Nx], Nx, &V_[m * d], D, 0.0, &O[m * d], D);
  for (PetscInt k = 0; k < n; ++k) {
    if (kernels_->c.empty()) std::fill_n(&F[k * Ny], Ny, 0.0);
    else std::copy_n(kernels_->c.data(), Ny, &F[k * Ny]);
  }
  if (kernels_->WO.empty())  // W^O the identity: d_head = N_y, sum over heads
    for (PetscInt k = 0; k < n; ++k)
      for (PetscInt m = 0; m < Nh; ++m) cblas_daxpy(Ny, 1.0, &O[k * D + m * d], 1, &F[k * Ny], 1);
  else  // WO stored [m][r][l]: the heads' factors stacked, D × N_y
    Gemm(CblasNoTrans, CblasNoTrans, n, Ny, D, g.dy(), O.data(), D, kernels_->WO.data(), Ny, 1.0, F, Ny);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
