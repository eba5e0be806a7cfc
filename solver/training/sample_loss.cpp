#include "solver/training/sample_loss.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace ctflow {

PetscErrorCode SampleLoss::SetUp(const Grid &grid, const Controls &controls) {
  PetscFunctionBeginUser;
  grid_ = &grid, controls_ = &controls;
  PetscCheck(labels_.empty() || controls.Vit(), comm_, PETSC_ERR_USER_INPUT,
             "labels need a classification head: controls with a vision Transformer's /vit group (%s has none)", controls.Description().c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode SampleLoss::Evaluate(Vec u, const std::vector<PetscReal> &, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) {
  const Grid &grid = *grid_;
  PetscFunctionBeginUser;
  dLdz->clear();
  if (labels_.empty()) {  // ½ Σ (u − v)² Δx Δy; ∂L/∂u = (u − v) Δx Δy
    const PetscInt n = grid.XLocal() * grid.Ny(), offset = grid.XStart() * grid.Ny();
    const PetscReal w = grid.dx() * grid.dy();
    const PetscScalar *a;
    PetscScalar *d;
    PetscReal sum = 0;
    PetscCall(VecGetArrayRead(u, &a));
    PetscCall(VecGetArray(dLdu, &d));
    for (PetscInt k = 0; k < n; ++k) {
      const PetscReal e = a[k] - target_[offset + k];
      sum += e * e;
      d[k] = e * w;
    }
    PetscCall(VecRestoreArray(dLdu, &d));
    PetscCall(VecRestoreArrayRead(u, &a));
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &sum, 1, MPIU_REAL, MPIU_SUM, grid.Comm()));
    *value = 0.5 * sum * w;
    PetscFunctionReturn(0);
  }
  // −log softmax(z)_k with z = G(u); ∂L/∂z = softmax(z) − e_k, carried to u and the head by G^T.
  const VitProcessing &vit = *controls_->Vit();
  std::vector<PetscReal> dz;
  if (grid.Segmented()) PetscFunctionReturn(EvaluateSequences(u, value, dLdu));
  const PetscInt label = labels_[0];
  PetscCall(ClassTokenLogits(grid, vit, u, &logits_));
  const PetscReal zmax = *std::max_element(logits_.begin(), logits_.end());
  PetscReal sum = 0;
  for (PetscReal zc : logits_) sum += std::exp(zc - zmax);
  *value = zmax + std::log(sum) - logits_[label];
  PetscCallCXX(dz.resize(logits_.size()));
  for (size_t c = 0; c < dz.size(); ++c) dz[c] = std::exp(logits_[c] - zmax) / sum - ((PetscInt)c == label ? 1 : 0);
  PetscCall(VecSet(dLdu, 0.0));
  head_gradient_ = VitProcessing();
  PetscCall(ClassTokenLogitsTranspose(grid, vit, u, dz, dLdu, &head_gradient_));
  PetscFunctionReturn(0);
}

// The sum over the sequences (one rank owns them all): each sequence's class token (its first row) through the head,
// as ClassTokenLogits and ClassTokenLogitsTranspose do for one.
PetscErrorCode SampleLoss::EvaluateSequences(Vec u, PetscReal *value, Vec dLdu) {
  const Grid &grid = *grid_;
  const VitProcessing &vit = *controls_->Vit();
  const PetscInt Ny = grid.Ny(), L = grid.SequenceLength(), C = vit.classes, S = grid.Sequences();
  const PetscScalar *a;
  PetscScalar *l;
  std::vector<PetscReal> dz(C);
  PetscFunctionBeginUser;
  PetscCheck(grid.XLocal() == grid.Nx(), comm_, PETSC_ERR_SUP, "a loss over several sequences needs the grid on one process");
  PetscCheck((PetscInt)labels_.size() == S, comm_, PETSC_ERR_ARG_SIZ, "%zu labels for %" PetscInt_FMT " sequences", labels_.size(), S);
  PetscCallCXX(logits_.assign(S * C, 0.0));
  head_gradient_ = VitProcessing();
  PetscCallCXX(head_gradient_.head_weight.assign(vit.head_weight.size(), 0.0));
  PetscCallCXX(head_gradient_.head_bias.assign(vit.head_bias.size(), 0.0));
  PetscCall(VecSet(dLdu, 0.0));
  PetscCall(VecGetArrayRead(u, &a));
  PetscCall(VecGetArray(dLdu, &l));
  *value = 0;
  for (PetscInt q = 0; q < S; ++q) {
    const PetscScalar *row = &a[q * L * Ny];
    PetscReal *z = &logits_[q * C], sum = 0;
    std::copy(vit.head_bias.begin(), vit.head_bias.end(), z);
    cblas_dgemv(CblasRowMajor, CblasTrans, Ny, C, 1.0, vit.head_weight.data(), C, row, 1, 1.0, z, 1);
    const PetscReal zmax = *std::max_element(z, z + C);
    for (PetscInt c = 0; c < C; ++c) sum += std::exp(z[c] - zmax);
    *value += zmax + std::log(sum) - z[labels_[q]];
    for (PetscInt c = 0; c < C; ++c) dz[c] = std::exp(z[c] - zmax) / sum - (c == labels_[q] ? 1 : 0);
    cblas_dger(CblasRowMajor, Ny, C, 1.0, row, 1, dz.data(), 1, head_gradient_.head_weight.data(), C);
    for (PetscInt c = 0; c < C; ++c) head_gradient_.head_bias[c] += dz[c];
    cblas_dgemv(CblasRowMajor, CblasNoTrans, Ny, C, 1.0, vit.head_weight.data(), C, dz.data(), 1, 1.0, &l[q * L * Ny], 1);
  }
  PetscCall(VecRestoreArray(dLdu, &l));
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
