// ConvolutionalFlow: the flows A(t, u)(x, y) = (W(x, ·, t) * u(x, ·))(y) + b(x, t) on a two-dimensional Ω_y, whose
// Euler substep is the residual convolution u + Δt (W * u + b) (operators/convolution.hpp: zero padding, 'same' size):
// the token embedding (term IV, operators/convolutional_embedding.cpp), with a kernel per token, and the convolutional
// feed-forward layers (term III, operators/convolutional_feed_forward.cpp), with one kernel for all tokens.
#pragma once
#include "operators/convolution.hpp"
#include "operators/operator.hpp"

namespace ctflow {

class ConvolutionalFlow : public Operator {
 public:
  ConvolutionalFlow(const OperatorContext &ctx, const std::string &name, PetscLogEvent event) : Operator(ctx, name), event_(event) {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetUp(Vec like) override;
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;

 protected:
  // The kernels at t: W per owned token (XLocal × k1 k2) or one for all (k1 k2), b per owned token.
  virtual PetscErrorCode Sample(PetscReal t, ConvTokenKernels *k) const = 0;

 private:
  PetscErrorCode Prepare(PetscReal t);
  const PetscLogEvent event_;
  ConvTokenKernels kernels_;
  Convolution2D conv_;
  PetscInt piece_ = -1;
  bool ready_ = false;
};

}  // namespace ctflow
