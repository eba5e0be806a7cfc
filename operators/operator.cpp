#include "operators/operator.hpp"

#include <cctype>
#include <cstring>

#include "discretization/base/registry.hpp"

namespace ctflow {

PetscErrorCode Operator::Rhs(PetscReal, Vec, Vec) {
  SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' is a projection and has no right-hand side", name_.c_str());
}

PetscErrorCode Operator::Project(PetscReal, Vec) { SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' is a flow, not a projection", name_.c_str()); }

PetscErrorCode Operator::RhsTranspose(PetscReal, Vec, Vec, Vec, ControlsArrays *) {
  SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' has no transposed right-hand side (it is a projection, or has no adjoint)", name_.c_str());
}

PetscErrorCode Operator::ProjectTranspose(PetscReal, Vec, Vec, Vec, ControlsArrays *) {
  SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' has no transposed projection (it is a flow, or has no adjoint)", name_.c_str());
}

namespace {

PetscErrorCode RegisterBuiltins(Registry<OperatorCreator> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("attention", AttentionCreate));               // term I / I-a of eq. (7), (38)
  PetscCall(r.Register("layernorm", LayerNormProjectionCreate));     // term II, ∂I_S1
  PetscCall(r.Register("ffn", FeedForwardCreate));                   // term III, linear part, layer j
  PetscCall(r.Register("relu", ReluProjectionCreate));               // term III, ∂I_S2
  PetscCall(r.Register("identity", IdentityCreate));                 // the skip branch of eq. (16)
  PetscCall(r.Register("mlp", LiftedFeedForwardCreate));             // term III lifted to N_y → F → N_y
  PetscCall(r.Register("attention_ln", AttentionNormalisedCreate));  // pre-LN: A(N_k(u))
  PetscCall(r.Register("mlp_ln", LiftedFeedForwardNormalisedCreate));
  PetscCall(r.Register("final_norm", FinalLayerNormCreate));              // a network's final layer norm, once at t = T
  PetscCall(r.Register("conv_attention", ConvolutionalAttentionCreate));  // §6.1, eq. (42)
  PetscCall(r.Register("conv_embed", ConvolutionalEmbeddingCreate));      // term IV of eq. (43), (44)
  PetscCall(r.Register("conv_ffn", ConvolutionalFeedForwardCreate));      // term III with convolution kernels
  PetscFunctionReturn(0);
}

Registry<OperatorCreator> operators("operator", "operators", RegisterBuiltins);

// Prefixes that wrap the operator named by the rest of the name.
struct Wrapper {
  const char *prefix;
  PetscErrorCode (*wrap)(const OperatorContext &, std::unique_ptr<Operator>, std::unique_ptr<Operator> *);
};
const Wrapper wrappers[] = {{"relax_", ProjectionRelaxationCreate}, {"tangent_", TangentFlowCreate}};

}  // namespace

PetscErrorCode OperatorRegister(const char name[], OperatorCreator create) { return operators.Register(name, create); }

PetscErrorCode OperatorCreate(const std::string &name, const OperatorContext &ctx, std::unique_ptr<Operator> *op) {
  const OperatorCreator *create = nullptr;
  PetscInt index = -1;
  bool known;
  PetscFunctionBeginUser;
  for (const Wrapper &w : wrappers) {
    const size_t n = std::strlen(w.prefix);
    std::unique_ptr<Operator> inner;
    std::string rest;
    if (name.compare(0, n, w.prefix) != 0) continue;
    PetscCallCXX(rest = name.substr(n));
    PetscCall(OperatorCreate(rest, ctx, &inner));
    PetscCall(w.wrap(ctx, std::move(inner), op));
    PetscFunctionReturn(0);
  }
  size_t digits = name.size();
  while (digits > 0 && std::isdigit((unsigned char)name[digits - 1])) --digits;
  PetscCall(operators.Has(name.substr(0, digits), &known));
  PetscCheck(known, ctx.grid->Comm(), PETSC_ERR_USER_INPUT,
             "unknown operator '%s'; known operators: %s (ffn takes a layer index, e.g. ffn1; relax_<projection> and "
             "tangent_<flow> wrap one)",
             name.c_str(), operators.NameList().c_str());
  // The index in PetscInt, refused when it does not fit (it would wrap to another operator's index).
  for (size_t i = digits; i < name.size(); ++i) {
    PetscCheck((index < 0 ? 0 : index) <= (PETSC_MAX_INT - 9) / 10, ctx.grid->Comm(), PETSC_ERR_USER_INPUT,
               "operator '%s': the index %s is too large", name.c_str(), name.c_str() + digits);
    index = (index < 0 ? 0 : index) * 10 + (name[i] - '0');
  }
  PetscCall(operators.Find(ctx.grid->Comm(), name.substr(0, digits), &create));
  PetscCall((*create)(ctx, index, op));
  PetscCall((*op)->SetFromOptions());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
