// The convolutional token embedding, term IV of eq. (43): the flow A(t, u)(x, y) = W^C(x, ·, t) * u(x, ·)(y) + b^C(x, t),
// a kernel per token, whose Euler substep with Δt = 1 is substep 1 of §6.2, eq. (44): u^{1/M} = u^0 + W^C * u^0 + b^C.
// Its layer norm, eq. (45), is the projection `layernorm` (operators/layer_norm_projection.hpp) that follows it in the
// scheme of §6.2 (discretization/convolution_kernels.hpp, ConvolutionalSchemeOrder).
#include "operators/convolutional_flow.hpp"

namespace ctflow {

namespace {

class ConvolutionalEmbedding : public ConvolutionalFlow {
 public:
  ConvolutionalEmbedding(const OperatorContext &ctx, PetscLogEvent event, PetscLogEvent transpose)
      : ConvolutionalFlow(ctx, "conv_embed", event, transpose) {}

 protected:
  PetscErrorCode Sample(PetscReal t, ConvTokenKernels *k) const override { return ctx_.controls->SampleConvEmbedding(t, *ctx_.grid, k); }
  PetscErrorCode AddGradient(PetscReal t, const ConvTokenKernels &dk, ControlsArrays *g) const override {
    return ctx_.controls->AddConvEmbeddingGradient(t, *ctx_.grid, dk, g);
  }
};

}  // namespace

PetscErrorCode ConvolutionalEmbeddingCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  static PetscLogEvent event = 0, transpose = 0;
  ConvTokenKernels probe;
  PetscFunctionBeginUser;
  PetscCheck(index < 0, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator 'conv_embed' takes no index");
  PetscCall(ctx.controls->SampleConvEmbedding(0, *ctx.grid, &probe));  // the controls define it on this grid
  if (!event) {
    PetscCall(PetscLogEventRegister("ConvEmbedding", 0, &event));
    PetscCall(PetscLogEventRegister("ConvEmbeddingTranspose", 0, &transpose));
  }
  PetscCallCXX(*op = std::make_unique<ConvolutionalEmbedding>(ctx, event, transpose));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
