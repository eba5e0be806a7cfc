#include "discretization/scaled_controls.hpp"

#include "discretization/base/number_format.hpp"

namespace ctflow {

static void Scale(PetscReal s, std::vector<PetscReal> *v) {
  for (PetscReal &x : *v) x *= s;
}

PetscErrorCode ScaledControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  PetscFunctionBeginUser;
  PetscCall(base_.SampleAttention(t, grid, k));
  Scale(s_, k->WO.empty() ? &k->WV : &k->WO);
  Scale(s_, &k->c);
  PetscFunctionReturn(0);
}

PetscErrorCode ScaledControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  PetscFunctionBeginUser;
  PetscCall(base_.SampleFeedForward(j, t, grid, k));
  Scale(s_, &k->W);
  Scale(s_, &k->b);
  PetscFunctionReturn(0);
}

PetscErrorCode ScaledControls::SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const {
  PetscFunctionBeginUser;
  PetscCall(base_.SampleMlp(t, grid, k));
  Scale(s_, &k->W2);
  Scale(s_, &k->b2);
  PetscFunctionReturn(0);
}

PetscErrorCode ScaledControls::LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleAttention(t, grid, storage));
  *k = storage;
  PetscFunctionReturn(0);
}

PetscErrorCode ScaledControls::LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleMlp(t, grid, storage));
  *k = storage;
  PetscFunctionReturn(0);
}

std::string ScaledControls::Description() const { return base_.Description() + " with its flows scaled by " + FormatShortest(s_); }

}  // namespace ctflow
