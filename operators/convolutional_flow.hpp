// ConvolutionalFlow: the flows A(t, u)(x, y) = (W(x, ·, t) * u(x, ·))(y) + b(x, t) on a two-dimensional Ω_y, whose
// Euler substep is the residual convolution u + Δt (W * u + b) (operators/convolution.hpp: zero padding, 'same' size):
// the token embedding (term IV, operators/convolutional_embedding.cpp), with a kernel per token, and the convolutional
// feed-forward layers (term III, operators/convolutional_feed_forward.cpp), with one kernel for all tokens.
//
// Transpose (docs/adjoint.md): dU(x, ·) += W(x, ·)ᵀ * G(x, ·), the correlation with the same stencil; dW(x, ξ_s) =
// Δy1 Δy2 Σ_l G(x, y_l) u(x, y_l − ξ_s) (summed over the owned tokens for one kernel of all), db(x) = Σ_l G(x, y_l).
#pragma once
#include "operators/convolution.hpp"
#include "operators/operator.hpp"

namespace ctflow {

class ConvolutionalFlow : public Operator {
 public:
  // event, transpose_event: the -log_view events of Rhs and RhsTranspose.
  ConvolutionalFlow(const OperatorContext &ctx, const std::string &name, PetscLogEvent event, PetscLogEvent transpose_event)
      : Operator(ctx, name), event_(event), transpose_event_(transpose_event) {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetUp(Vec like) override;
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
  bool SupportsSequences() const override { return false; }  // a convolution couples neighbouring tokens

 protected:
  // The kernels at t: W per owned token (XLocal × k1 k2) or one for all (k1 k2), b per owned token.
  virtual PetscErrorCode Sample(PetscReal t, ConvTokenKernels *k) const = 0;
  // g += (∂k/∂θ)ᵀ dk, the gradient of the kernels sampled at t (Controls::AddConv…Gradient).
  virtual PetscErrorCode AddGradient(PetscReal t, const ConvTokenKernels &dk, ControlsArrays *g) const = 0;

 private:
  PetscErrorCode Prepare(PetscReal t);
  const PetscLogEvent event_, transpose_event_;
  ConvTokenKernels kernels_;
  Convolution2D conv_;
  PetscInt piece_ = -1;
  PetscObjectState state_ = -1;  // Controls::State of kernels_
  bool ready_ = false;
};

}  // namespace ctflow
