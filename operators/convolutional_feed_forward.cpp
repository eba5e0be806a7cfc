// The convolutional feed-forward layers, term III of eq. (43) with translation-invariant kernels W_j(ξ, y, t) = w_j(y − ξ, t)
// (paper §6: a convolution is an integral transform with such a kernel): the flow A(t, u)(x, y) = w_j(·, t) * u(x, ·)(y)
// + b_j(x, t), whose Euler substep is the linear step of eq. (23), (34); the ReLU projection after it is `relu`.
// "conv_ffn" in an operator order expands into the block avg(seq(conv_ffn1, relu, …), identity) of eq. (15)–(16).
#include "operators/convolutional_flow.hpp"

namespace ctflow {

namespace {

class ConvolutionalFeedForward : public ConvolutionalFlow {
 public:
  ConvolutionalFeedForward(const OperatorContext &ctx, PetscInt j, PetscLogEvent event, PetscLogEvent transpose)
      : ConvolutionalFlow(ctx, "conv_ffn" + std::to_string(j), event, transpose), j_(j) {}

 protected:
  PetscErrorCode Sample(PetscReal t, ConvTokenKernels *k) const override { return ctx_.controls->SampleConvFeedForward(j_, t, *ctx_.grid, k); }
  PetscErrorCode AddGradient(PetscReal t, const ConvTokenKernels &dk, ControlsArrays *g) const override {
    return ctx_.controls->AddConvFeedForwardGradient(j_, t, *ctx_.grid, dk, g);
  }

 private:
  const PetscInt j_;
};

}  // namespace

PetscErrorCode ConvolutionalFeedForwardCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  static PetscLogEvent event = 0, transpose = 0;
  const PetscInt J = ctx.controls->NumFeedForward();
  ConvTokenKernels probe;
  PetscFunctionBeginUser;
  PetscCheck(index >= 1 && index <= J, ctx.grid->Comm(), PETSC_ERR_USER_INPUT,
             "operator 'conv_ffn' needs a layer index 1..J = %" PetscInt_FMT " (e.g. conv_ffn1); got %s", J,
             index < 0 ? "none" : std::to_string(index).c_str());
  PetscCall(ctx.controls->SampleConvFeedForward(index, 0, *ctx.grid, &probe));  // the controls define it on this grid
  if (!event) {
    PetscCall(PetscLogEventRegister("ConvFeedForward", 0, &event));
    PetscCall(PetscLogEventRegister("ConvFeedForwardTranspose", 0, &transpose));
  }
  PetscCallCXX(*op = std::make_unique<ConvolutionalFeedForward>(ctx, index, event, transpose));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
