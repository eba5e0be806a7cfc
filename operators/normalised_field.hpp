// Normalised-field flows: u_t = A(t, N_k(u)), where N_k is the k-th layer-norm projection applied to
// a copy of the state, not to the state itself. Their explicit Euler step with Δt = 1 is the pre-LN
// residual block u + A(LN_k(u)) of torch's norm_first=True layers. Operators "attention_ln<k>" and
// "mlp_ln<k>".
#pragma once
#include "discretization/base/petsc_handle.hpp"
#include "operators/layer_norm_projection.hpp"

namespace ctflow {

class NormalisedField : public Operator {
 public:
  NormalisedField(const OperatorContext &ctx, std::unique_ptr<Operator> inner, std::unique_ptr<Operator> norm)
      : Operator(ctx, inner->Name() + "_ln" + norm->Name().substr(9)), inner_(std::move(inner)), norm_(std::move(norm)) {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode SetUp(Vec like) override;
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  // dU += N_k'(U)^T A'(N_k(U))^T G.
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
  // The inner flow's records: its state N_k(U) is recomputed bit for bit by the transpose at the same U.
  void RecordNextRhs(PetscInt slot) override { inner_->RecordNextRhs(slot); }
  void ReuseRecord(PetscInt slot) override { inner_->ReuseRecord(slot); }
  bool SupportsSequences() const override { return inner_->SupportsSequences() && norm_->SupportsSequences(); }

 private:
  std::unique_ptr<Operator> inner_, norm_;
  UniqueVec normalised_, inner_adjoint_;
};

}  // namespace ctflow
