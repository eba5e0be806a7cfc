#include "operators/operator.hpp"

#include <cctype>

namespace ctflow {

static PetscFunctionList operator_list = nullptr;
static std::string operator_names;

PetscErrorCode Operator::Rhs(PetscReal, Vec, Vec) {
  SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' is a projection and has no right-hand side", name_.c_str());
}

PetscErrorCode Operator::Project(PetscReal, Vec) { SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' is a flow, not a projection", name_.c_str()); }

PetscErrorCode OperatorRegister(const char name[], OperatorCreator create) {
  PetscFunctionBeginUser;
  PetscCall(PetscFunctionListAdd(&operator_list, name, create));
  operator_names += (operator_names.empty() ? "" : ", ") + std::string(name);
  PetscFunctionReturn(0);
}

PetscErrorCode OperatorRegisterAll() {
  static bool registered = false;
  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(0);
  registered = true;
  PetscCall(OperatorRegister("attention", AttentionCreate));               // term I / I-a of eq. (7), (38)
  PetscCall(OperatorRegister("layernorm", LayerNormProjectionCreate));     // term II, ∂I_S1
  PetscCall(OperatorRegister("ffn", FeedForwardCreate));                   // term III, linear part, layer j
  PetscCall(OperatorRegister("relu", ReluProjectionCreate));               // term III, ∂I_S2
  PetscCall(OperatorRegister("identity", IdentityCreate));                 // the skip branch of eq. (16)
  PetscCall(OperatorRegister("mlp", LiftedFeedForwardCreate));             // term III lifted to N_y → F → N_y
  PetscCall(OperatorRegister("attention_ln", AttentionNormalisedCreate));  // pre-LN: A(N_k(u))
  PetscCall(OperatorRegister("mlp_ln", LiftedFeedForwardNormalisedCreate));
  PetscFunctionReturn(0);
}

std::string OperatorNames() { return operator_names; }

PetscErrorCode OperatorCreate(const std::string &name, const OperatorContext &ctx, std::unique_ptr<Operator> *op) {
  OperatorCreator create = nullptr;
  PetscFunctionBeginUser;
  PetscCall(OperatorRegisterAll());
  size_t digits = name.size();
  while (digits > 0 && std::isdigit((unsigned char)name[digits - 1])) --digits;
  const std::string base = name.substr(0, digits);
  const PetscInt index = digits < name.size() ? (PetscInt)std::stol(name.substr(digits)) : -1;
  PetscCall(PetscFunctionListFind(operator_list, base.c_str(), &create));
  PetscCheck(create, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "unknown operator '%s'; known operators: %s (ffn takes a layer index, e.g. ffn1)",
             name.c_str(), operator_names.c_str());
  PetscCall(create(ctx, index, op));
  PetscCall((*op)->SetFromOptions());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
