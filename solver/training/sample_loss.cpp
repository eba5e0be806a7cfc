#include "solver/training/sample_loss.hpp"

#include <algorithm>
#include <cmath>

namespace ctflow {

PetscErrorCode SampleLoss::SetUp(const Grid &grid, const Controls &controls) {
  PetscFunctionBeginUser;
  grid_ = &grid, controls_ = &controls;
  PetscCheck(label_ < 0 || controls.Vit(), comm_, PETSC_ERR_USER_INPUT,
             "labels need a classification head: controls with a vision Transformer's /vit group (%s has none)", controls.Description().c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode SampleLoss::Evaluate(Vec u, const std::vector<PetscReal> &, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) {
  const Grid &grid = *grid_;
  PetscFunctionBeginUser;
  dLdz->clear();
  if (label_ < 0) {  // ½ Σ (u − v)² Δx Δy; ∂L/∂u = (u − v) Δx Δy
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
  PetscCall(ClassTokenLogits(grid, vit, u, &logits_));
  const PetscReal zmax = *std::max_element(logits_.begin(), logits_.end());
  PetscReal sum = 0;
  for (PetscReal zc : logits_) sum += std::exp(zc - zmax);
  *value = zmax + std::log(sum) - logits_[label_];
  PetscCallCXX(dz.resize(logits_.size()));
  for (size_t c = 0; c < dz.size(); ++c) dz[c] = std::exp(logits_[c] - zmax) / sum - ((PetscInt)c == label_ ? 1 : 0);
  PetscCall(VecSet(dLdu, 0.0));
  head_gradient_ = VitProcessing();
  PetscCall(ClassTokenLogitsTranspose(grid, vit, u, dz, dLdu, &head_gradient_));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
