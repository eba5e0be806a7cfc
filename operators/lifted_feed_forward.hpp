// Lifted feed-forward network, term III of eq. (7) generalised to torch's N_y → F → N_y form: one flow
//
//   A(t, u)(x, y) = ∫_Ωz W2(z, y) act(∫_Ωy W1(ξ, z) u(x, ξ) dξ + b1(z)) dz + b2(y)
//
// on a hidden domain Ω_z of F points (spacing Δy), with act = ReLU or GELU (exact erf form). Its explicit
// Euler step with Δt = Δy = 1 is u + W2 act(W1 u + b1) + b2: the feed-forward block with its summed skip.
// The activation is applied inside the flow, not as a projection of the state (GELU is no projection).
// Transpose, with h = Δy u W1 + b1 and dh = (Δy G W2^T) ⊙ act'(h): dU += Δy dh W1^T, dW1 += Δy u^T dh, db1 += Σ_x dh,
// dW2 += Δy act(h)^T G, db2 += Σ_x G.
#pragma once
#include "operators/operator.hpp"

namespace ctflow {

class LiftedFeedForward : public Operator {
 public:
  explicit LiftedFeedForward(const OperatorContext &ctx) : Operator(ctx, "mlp") {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetUp(Vec like) override;
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
  // A recorded Rhs keeps the pre-activation h for the transpose at the same state.
  void RecordNextRhs(PetscInt slot) override { record_slot_ = slot; }
  void ReuseRecord(PetscInt slot) override { reuse_slot_ = slot; }

 private:
  // kernels_ for the piece of t (lent by the controls) and the hidden layer sized for them.
  PetscErrorCode Prepare(PetscReal t);

  const MlpKernels *kernels_ = nullptr;  // lent by the controls, or kernels_storage_
  MlpKernels kernels_storage_;
  PetscInt piece_ = -1;                             // Controls::PieceKey of kernels_ (-1: resample)
  PetscObjectState state_ = -1;                     // Controls::State of kernels_
  std::vector<PetscReal> hidden_;                   // xm × F
  std::vector<PetscReal> preactivation_, dhidden_;  // xm × F each, for the transpose
  MlpKernels gradient_;                             // the transpose's dW1, db1, dW2, db2, kept between calls
  PetscInt record_slot_ = -1, reuse_slot_ = -1;
  std::vector<std::vector<PetscReal>> records_;  // pre-activations by tape slot
};

}  // namespace ctflow
