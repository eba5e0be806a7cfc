// StageControls: the controls of one stage of a staged model (discretization/stages.hpp) as controls of their own, on
// the stage's local time τ = t − t_s ∈ [0, t_{s+1} − t_s]: every sample at τ is the model's at t_s + τ, the defaults
// (run length, order, breakpoints) are the stage's, and only the last stage has the model's final expression. Each
// stage's integrator runs on such a view, so the time loop knows nothing of stages.
#pragma once
#include "discretization/controls.hpp"

namespace ctflow {

class StageControls : public Controls {
 public:
  // base must have stages (Controls::Stages) and outlive the view.
  StageControls(const Controls &base, PetscInt stage);

  PetscInt NumFeedForward() const override { return base_.NumFeedForward(); }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override;
  PetscErrorCode SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const override;
  PetscErrorCode LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const override;
  PetscErrorCode LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const override;
  PetscErrorCode SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const override;
  PetscErrorCode SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const override;
  PetscErrorCode SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const override;
  PetscErrorCode SampleFinalNorm(LayerNormTargets *s, bool *present) const override;
  std::string FinalExpression() const override { return last_ ? base_.FinalExpression() : ""; }
  std::string DefaultOrder() const override { return stage_.order; }
  PetscInt PieceKey(PetscReal t) const override { return base_.PieceKey(t + stage_.t0); }
  std::vector<PetscReal> Breakpoints() const override;
  PetscReal SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const override;
  PetscReal EndTime() const override { return stage_.t1 - stage_.t0; }
  PetscReal DefaultFinalTime() const override { return stage_.t1 - stage_.t0; }
  PetscReal DefaultTimeStep() const override { return base_.DefaultTimeStep(); }
  std::string Description() const override;
  PetscObjectState State() const override { return base_.State(); }
  // The base's parameters; gradients of the stage's samples at τ are the base's at t_s + τ.
  PetscErrorCode GetParameters(ControlsArrays *theta) const override { return base_.GetParameters(theta); }
  PetscErrorCode GetZeroParameters(ControlsArrays *zero) const override { return base_.GetZeroParameters(zero); }
  PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const override;
  PetscErrorCode AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const override;
  PetscErrorCode AddMlpGradient(PetscReal t, const Grid &grid, const MlpKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFinalNormGradient(const LayerNormTargets &dk, ControlsArrays *g) const override;
  PetscErrorCode AddRelaxationRateGradient(PetscReal t, PetscReal dlambda, ControlsArrays *g) const override;
  PetscErrorCode AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const override;

 private:
  const Controls &base_;
  const PetscInt index_;
  const ControlsStage stage_;
  const bool last_;
};

}  // namespace ctflow
