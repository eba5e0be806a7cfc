// Feed-forward linear step, the linear part of term III of eq. (7) for layer j:
//
//   A_j(t, u)(x, y) = ∫_Ωy W_j(ξ, y, t) u(x, ξ) dξ + b_j(x, y, t),        eq. (15), (23)
//
// a flow; its explicit Euler substep with Δt = Δy = 1 is eq. (34): ū = u + u W_j + b_j. The paper's b_j(x)
// is the special case of a bias constant in y; a bias per feature b_j(y) is constant in x. The flow is affine
// per token, A_j(t, u)(x_k, ·) = u(x_k, ·) M(t) + b_j(t, x_k, ·) with M = Δy W_j, so the implicit and exact
// substep integrators apply (solver/timestepping/affine_substeps.cpp). Transpose: dU += Δy G W_j^T, dW_j += Δy U^T G,
// db_j += G.
#pragma once
#include "operators/operator.hpp"

namespace ctflow {

class FeedForward : public Operator {
 public:
  FeedForward(const OperatorContext &ctx, PetscInt j) : Operator(ctx, "ffn" + std::to_string(j)), j_(j) {}
  OperatorKind Kind() const override { return OperatorKind::Flow; }
  PetscErrorCode Rhs(PetscReal t, Vec U, Vec F) override;
  PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g) override;
  bool HasTranspose() const override { return true; }
  bool Affine() const override { return true; }
  PetscErrorCode AffineParts(PetscReal t, std::vector<PetscReal> *M, std::vector<PetscReal> *b) override;
  // M = Δy W_j: dW_j = Δy dM; db_j = db.
  PetscErrorCode AffinePartsTranspose(PetscReal t, const std::vector<PetscReal> &dM, const std::vector<PetscReal> &db, ControlsArrays *g) override;

 private:
  // kernel_ for the piece of t (sampled again only when Controls::PieceKey changes).
  PetscErrorCode Prepare(PetscReal t);

  const PetscInt j_;
  FeedForwardKernel kernel_;
  PetscInt piece_ = -1;          // Controls::PieceKey of kernel_ (-1: resample)
  PetscObjectState state_ = -1;  // Controls::State of kernel_
};

}  // namespace ctflow
