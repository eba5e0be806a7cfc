// SampleLoss: the loss ℓ(N_θ(u_i), v_i) of one training sample, eq. (12) (and (36) for a vision Transformer), given
// to each rank's Problem (Problem::SetLoss) and pointed at the sample before each solve:
//   SetTarget(v)  ½ Σ (u(T) − v)² Δx Δy, the mse of solver/adjoint/mean_squared_error.cpp with an in-memory target;
//   SetLabel(k)   −log softmax(z)_k of the class-token logits z = G(u(T)) (§4.2). The state is the embedded image
//                 set as values (InitialState::SetValues), so the loss applies the head G itself: ∂L/∂u gets G^T ∂L/∂z
//                 and HeadGradient() the head's parameters' share (∂L/∂B, ∂L/∂c), for the trainer to add. With a
//                 convolutional Transformer's controls (§6.2) the state is the embedded image (InitialState::SetImageValues)
//                 and the Problem applies its head (CvtLogits) itself: the loss takes the logits z it is given and
//                 returns ∂L/∂z, which Problem::Adjoint carries through the head and the embedding.
// On a grid of several sequences (Grid::SetSequences: a chunk of samples stacked in x, on one rank) the loss is the sum
// of the samples' losses: the target holds the stacked targets, and SetLabels gives one label per sequence, whose class
// token is the sequence's first row; Logits() then holds one row of logits per sequence.
#pragma once
#include "solver/adjoint/loss.hpp"

namespace ctflow {

class SampleLoss : public Loss {
 public:
  explicit SampleLoss(MPI_Comm comm) : comm_(comm) {}
  void SetTarget(const PetscReal *target) { target_ = target, labels_.clear(); }
  void SetLabel(PetscInt label) { labels_.assign(1, label), target_ = nullptr; }
  void SetLabels(std::vector<PetscInt> labels) { labels_ = std::move(labels), target_ = nullptr; }
  PetscErrorCode SetUp(const Grid &grid, const Controls &controls) override;
  PetscErrorCode Evaluate(Vec u, const std::vector<PetscReal> &z, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) override;
  std::string Description() const override { return !labels_.empty() ? "cross_entropy of a training sample" : "mse of a training sample"; }
  // After Evaluate with labels: the logits (sequences × classes), and the head's gradient.
  const std::vector<PetscReal> &Logits() const { return logits_; }
  const VitProcessing &HeadGradient() const { return head_gradient_; }

 private:
  PetscErrorCode EvaluateSequences(Vec u, PetscReal *value, Vec dLdu);

  MPI_Comm comm_;
  const Grid *grid_ = nullptr;
  const Controls *controls_ = nullptr;
  const PetscReal *target_ = nullptr;
  std::vector<PetscInt> labels_;  // one per sequence, or empty (mse)
  std::vector<PetscReal> logits_;
  VitProcessing head_gradient_;
};

}  // namespace ctflow
