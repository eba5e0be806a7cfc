#include "discretization/stage_controls.hpp"

namespace ctflow {

StageControls::StageControls(const Controls &base, PetscInt stage)
    : base_(base), index_(stage), stage_((*base.Stages())[stage]), last_(stage + 1 == (PetscInt)base.Stages()->size()) {}

std::string StageControls::Description() const { return base_.Description() + ", stage " + std::to_string(index_); }

PetscErrorCode StageControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  return base_.SampleAttention(t + stage_.t0, grid, k);
}
PetscErrorCode StageControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  return base_.SampleFeedForward(j, t + stage_.t0, grid, k);
}
PetscErrorCode StageControls::SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const {
  return base_.SampleLayerNorm(index, t + stage_.t0, s);
}
PetscErrorCode StageControls::SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const { return base_.SampleMlp(t + stage_.t0, grid, k); }
PetscErrorCode StageControls::LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const {
  return base_.LendAttention(t + stage_.t0, grid, storage, k);
}
PetscErrorCode StageControls::LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const {
  return base_.LendMlp(t + stage_.t0, grid, storage, k);
}
PetscErrorCode StageControls::SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const {
  return base_.SampleConvAttention(t + stage_.t0, grid, k);
}
PetscErrorCode StageControls::SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const {
  return base_.SampleConvEmbedding(t + stage_.t0, grid, k);
}
PetscErrorCode StageControls::SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const {
  return base_.SampleConvFeedForward(j, t + stage_.t0, grid, k);
}

PetscErrorCode StageControls::SampleFinalNorm(LayerNormTargets *s, bool *present) const {
  *present = false;
  return last_ ? base_.SampleFinalNorm(s, present) : 0;
}

std::vector<PetscReal> StageControls::Breakpoints() const {
  std::vector<PetscReal> local;
  for (PetscReal t : base_.Breakpoints())
    if (t > stage_.t0 && t < stage_.t1) local.push_back(t - stage_.t0);
  return local;
}

PetscReal StageControls::SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const {
  return base_.SubstepSampleTime(s + stage_.t0, lo + stage_.t0, hi + stage_.t0) - stage_.t0;
}

PetscErrorCode StageControls::AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const {
  return base_.AddAttentionGradient(t + stage_.t0, grid, dk, g);
}
PetscErrorCode StageControls::AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk,
                                                     ControlsArrays *g) const {
  return base_.AddFeedForwardGradient(j, t + stage_.t0, grid, dk, g);
}
PetscErrorCode StageControls::AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const {
  return base_.AddLayerNormGradient(index, t + stage_.t0, dk, g);
}
PetscErrorCode StageControls::AddMlpGradient(PetscReal t, const Grid &grid, const MlpKernels &dk, ControlsArrays *g) const {
  return base_.AddMlpGradient(t + stage_.t0, grid, dk, g);
}
PetscErrorCode StageControls::AddFinalNormGradient(const LayerNormTargets &dk, ControlsArrays *g) const {
  return last_ ? base_.AddFinalNormGradient(dk, g) : 0;
}
PetscErrorCode StageControls::AddRelaxationRateGradient(PetscReal t, PetscReal dlambda, ControlsArrays *g) const {
  return base_.AddRelaxationRateGradient(t + stage_.t0, dlambda, g);
}
PetscErrorCode StageControls::AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk, ControlsArrays *g) const {
  return base_.AddConvAttentionGradient(t + stage_.t0, grid, dk, g);
}
PetscErrorCode StageControls::AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const {
  return base_.AddConvEmbeddingGradient(t + stage_.t0, grid, dk, g);
}
PetscErrorCode StageControls::AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk,
                                                         ControlsArrays *g) const {
  return base_.AddConvFeedForwardGradient(j, t + stage_.t0, grid, dk, g);
}

}  // namespace ctflow
