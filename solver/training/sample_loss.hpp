// SampleLoss: the loss ℓ(N_θ(u_i), v_i) of one training sample, eq. (12) (and (36) for a vision Transformer), given
// to each rank's Problem (Problem::SetLoss) and pointed at the sample before each solve:
//   SetTarget(v)  ½ Σ (u(T) − v)² Δx Δy, the mse of solver/adjoint/mean_squared_error.cpp with an in-memory target;
//   SetLabel(k)   −log softmax(z)_k of the class-token logits z = G(u(T)) (§4.2). The state is the embedded image
//                 set as values (InitialState::SetValues), so the loss applies the head G itself: ∂L/∂u gets G^T ∂L/∂z
//                 and HeadGradient() the head's parameters' share (∂L/∂B, ∂L/∂c), for the trainer to add.
#pragma once
#include "solver/adjoint/loss.hpp"

namespace ctflow {

class SampleLoss : public Loss {
 public:
  explicit SampleLoss(MPI_Comm comm) : comm_(comm) {}
  void SetTarget(const PetscReal *target) { target_ = target, label_ = -1; }
  void SetLabel(PetscInt label) { label_ = label, target_ = nullptr; }
  PetscErrorCode SetUp(const Grid &grid, const Controls &controls) override;
  PetscErrorCode Evaluate(Vec u, const std::vector<PetscReal> &z, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) override;
  std::string Description() const override { return label_ >= 0 ? "cross_entropy of a training sample" : "mse of a training sample"; }
  // After Evaluate with a label: the logits, and the head's gradient.
  const std::vector<PetscReal> &Logits() const { return logits_; }
  const VitProcessing &HeadGradient() const { return head_gradient_; }

 private:
  MPI_Comm comm_;
  const Grid *grid_ = nullptr;
  const Controls *controls_ = nullptr;
  const PetscReal *target_ = nullptr;
  PetscInt label_ = -1;
  std::vector<PetscReal> logits_;
  VitProcessing head_gradient_;
};

}  // namespace ctflow
