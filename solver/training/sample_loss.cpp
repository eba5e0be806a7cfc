#include "solver/training/sample_loss.hpp"

#include <algorithm>
#include <cmath>

#include "discretization/class_token_head.hpp"

namespace ctflow {

// −log softmax(z)_label over C logits; dz ← ∂/∂z = softmax(z) − e_label.
static PetscReal CrossEntropy(PetscInt C, const PetscReal *z, PetscInt label, PetscReal *dz) {
  const PetscReal zmax = *std::max_element(z, z + C);
  PetscReal sum = 0;
  for (PetscInt c = 0; c < C; ++c) sum += std::exp(z[c] - zmax);
  for (PetscInt c = 0; c < C; ++c) dz[c] = std::exp(z[c] - zmax) / sum - (c == label ? 1 : 0);
  return zmax + std::log(sum) - z[label];
}

PetscErrorCode SampleLoss::SetUp(const Grid &grid, const Controls &controls) {
  PetscFunctionBeginUser;
  grid_ = &grid, controls_ = &controls;
  PetscCheck(labels_.empty() || controls.Vit() || controls.Cvt(), comm_, PETSC_ERR_USER_INPUT,
             "labels need a classification head: controls with a vision Transformer's /vit group or a convolutional one's /cvt group (%s has "
             "neither)",
             controls.Description().c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode SampleLoss::Evaluate(Vec u, const std::vector<PetscReal> &z, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) {
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
  if (const CvtProcessing *cvt = controls_->Cvt()) {  // G applied by the Problem, which also carries ∂L/∂z back
    PetscCheck((PetscInt)z.size() == cvt->classes && labels_.size() == 1, comm_, PETSC_ERR_ARG_SIZ,
               "a convolutional Transformer's loss needs its %" PetscInt_FMT " logits of one image (%zu given, %zu labels)", cvt->classes, z.size(),
               labels_.size());
    PetscCallCXX(logits_ = z);
    PetscCallCXX(dLdz->resize(z.size()));
    *value = CrossEntropy(cvt->classes, z.data(), labels_[0], dLdz->data());
    PetscCall(VecSet(dLdu, 0.0));
    PetscFunctionReturn(0);
  }
  if (grid.Segmented()) {
    PetscCall(EvaluateSequences(u, value, dLdu));
    PetscFunctionReturn(0);
  }
  const VitProcessing &vit = *controls_->Vit();
  std::vector<PetscReal> dz;
  PetscCall(ClassTokenLogits(grid, vit, u, &logits_));
  PetscCallCXX(dz.resize(logits_.size()));
  *value = CrossEntropy(vit.classes, logits_.data(), labels_[0], dz.data());
  PetscCall(VecSet(dLdu, 0.0));
  head_gradient_ = VitProcessing();
  PetscCall(ClassTokenLogitsTranspose(grid, vit, u, dz, dLdu, &head_gradient_));
  PetscFunctionReturn(0);
}

// The sum over the sequences (one rank owns them all): each sequence's class token through the head G.
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
  for (PetscInt q = 0; q < S; ++q) {  // sequence q's class token is its first row
    PetscReal *z = &logits_[q * C];
    ClassTokenHead(Ny, C, vit.head_weight.data(), vit.head_bias.data(), &a[q * L * Ny], z);
    *value += CrossEntropy(C, z, labels_[q], dz.data());
    ClassTokenHeadTranspose(Ny, C, vit.head_weight.data(), &a[q * L * Ny], dz.data(), &l[q * L * Ny], head_gradient_.head_weight.data(),
                            head_gradient_.head_bias.data());
  }
  PetscCall(VecRestoreArray(dLdu, &l));
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
