// ScaledControls: the controls θ of another Controls object with every flow term of eq. (7) multiplied by s, the
// perturbation θ → θ_s of a sensitivity study (solver/problem/convergence_study.hpp, -study_sensitivity scale:s):
//
//   attention  V W^O (W^V when there is no W^O) and its constant output c, times s;
//   W_j, b_j   times s (the feed-forward flows, eq. (15));
//   mlp        W2, b2 times s (its output);
//
// so that each flow A(t, u) becomes s A(t, u), while the attention weights γ, the constraint sets S1(σ1, σ2), S2 and
// the relaxation rate λ are unchanged. s = 0 leaves the projections alone (the "projections only" model). The base
// controls are not owned: they must outlive this object and be set up on the same grid (SetUp does nothing).
#pragma once
#include "discretization/controls.hpp"

namespace ctflow {

class ScaledControls : public Controls {
 public:
  ScaledControls(const Controls &base, PetscReal s) : base_(base), s_(s) {}
  PetscInt NumFeedForward() const override { return base_.NumFeedForward(); }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override { return base_.SampleLayerNorm(index, t, s); }
  PetscErrorCode SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const override;
  PetscErrorCode SampleRelaxationRate(PetscReal t, PetscReal *lambda) const override { return base_.SampleRelaxationRate(t, lambda); }
  // Always copies: the base's kernels are not lent.
  PetscErrorCode LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const override;
  PetscErrorCode LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const override;
  PetscErrorCode SampleFinalNorm(LayerNormTargets *s, bool *present) const override { return base_.SampleFinalNorm(s, present); }
  std::string FinalExpression() const override { return base_.FinalExpression(); }
  const VitProcessing *Vit() const override { return base_.Vit(); }
  std::string DefaultOrder() const override { return base_.DefaultOrder(); }
  PetscInt PieceKey(PetscReal t) const override { return base_.PieceKey(t); }
  std::vector<PetscReal> Breakpoints() const override { return base_.Breakpoints(); }
  PetscReal SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const override { return base_.SubstepSampleTime(s, lo, hi); }
  PetscReal EndTime() const override { return base_.EndTime(); }
  PetscReal DefaultFinalTime() const override { return base_.DefaultFinalTime(); }
  PetscReal DefaultTimeStep() const override { return base_.DefaultTimeStep(); }
  std::string Description() const override;

 private:
  const Controls &base_;
  const PetscReal s_;
};

}  // namespace ctflow
