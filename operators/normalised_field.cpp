#include "operators/normalised_field.hpp"

namespace ctflow {

static PetscErrorCode NormalisedFieldCreate(const char inner[], const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  std::unique_ptr<Operator> flow, norm;
  PetscFunctionBeginUser;
  PetscCheck(index >= 1, ctx.grid->Comm(), PETSC_ERR_USER_INPUT, "operator '%s_ln' needs the index of a layer norm, e.g. %s_ln1", inner, inner);
  PetscCall(OperatorCreate(inner, ctx, &flow));
  PetscCall(OperatorCreate("layernorm" + std::to_string(index), ctx, &norm));
  PetscCallCXX(*op = std::make_unique<NormalisedField>(ctx, std::move(flow), std::move(norm)));
  PetscFunctionReturn(0);
}

PetscErrorCode AttentionNormalisedCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  return NormalisedFieldCreate("attention", ctx, index, op);
}

PetscErrorCode LiftedFeedForwardNormalisedCreate(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op) {
  return NormalisedFieldCreate("mlp", ctx, index, op);
}

PetscErrorCode NormalisedField::SetUp(Vec like) {
  PetscFunctionBeginUser;
  if (!normalised_) PetscCall(VecDuplicate(like, normalised_.Out()));
  PetscCall(norm_->SetUp(like));
  PetscCall(inner_->SetUp(like));
  PetscFunctionReturn(0);
}

PetscErrorCode NormalisedField::Rhs(PetscReal t, Vec U, Vec F) {
  PetscFunctionBeginUser;
  if (!normalised_) PetscCall(VecDuplicate(U, normalised_.Out()));
  PetscCall(VecCopy(U, normalised_));
  PetscCall(norm_->Project(t, normalised_));
  PetscCall(inner_->Rhs(t, normalised_, F));
  PetscFunctionReturn(0);
}

PetscErrorCode NormalisedField::RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) {
  PetscFunctionBeginUser;
  if (!normalised_) PetscCall(VecDuplicate(U, normalised_.Out()));
  if (!inner_adjoint_) PetscCall(VecDuplicate(U, inner_adjoint_.Out()));
  PetscCall(VecCopy(U, normalised_));
  PetscCall(norm_->Project(t, normalised_));
  PetscCall(VecSet(inner_adjoint_, 0.0));
  PetscCall(inner_->RhsTranspose(t, normalised_, G, inner_adjoint_, g));
  PetscCall(norm_->ProjectTranspose(t, U, inner_adjoint_, dU, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
