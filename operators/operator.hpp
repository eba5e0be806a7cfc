// Operator: one term of the continuous Transformer, paper eq. (7) / (38), acting on u(x, y) at time t.
//
// Two kinds, which decide how a splitting substep advances them over [t, t + Δt]:
//   flow        u_t = A(t, u): the substep integrates the flow (explicit Euler: u += Δt A(t, u));
//   projection  u - v ∈ ∂I_S(u): the proximal step u = P_S(v), exact and independent of Δt (eq. (20)–(21)).
//
// Operators are created by name from a registry (OperatorRegister), so a new term is one file plus one
// registration line (the built-in ones: RegisterBuiltins in operator.cpp; a program adds its own with
// OperatorRegister before it builds a composition). An indexed name such as "ffn2" creates "ffn" with index 2.
#pragma once
#include <petscvec.h>

#include <memory>
#include <string>
#include <vector>

#include "discretization/controls.hpp"
#include "discretization/grid.hpp"

namespace ctflow {

enum class OperatorKind { Flow, Projection };

struct OperatorContext {
  const Grid *grid;
  const Controls *controls;
};

class Operator {
 public:
  Operator(const OperatorContext &ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}
  virtual ~Operator() = default;
  const std::string &Name() const { return name_; }
  virtual OperatorKind Kind() const = 0;
  // Reads the operator's options (prefix "<name>_", e.g. -layernorm_eps).
  virtual PetscErrorCode SetFromOptions() { return 0; }
  // Allocates (and first touches) work space for states like `like`, once, before the integration;
  // Rhs and Project allocate whatever SetUp did not.
  virtual PetscErrorCode SetUp(Vec /*like*/) { return 0; }
  // Flow: F = A(t, U).
  virtual PetscErrorCode Rhs(PetscReal t, Vec U, Vec F);
  // Projection: U ← P(U).
  virtual PetscErrorCode Project(PetscReal t, Vec U);
  // The vector–Jacobian products (the discrete adjoint, docs/adjoint.md). Flow: dU += (∂A/∂U)(t, U)^T G, and when g
  // is given, g += (∂A/∂θ)^T G in the controls' parameter layout (Controls::GetParameters; this rank's share).
  // Projection: the same for P at U (the state before the projection). U and G are not changed.
  virtual PetscErrorCode RhsTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g);
  virtual PetscErrorCode ProjectTranspose(PetscReal t, Vec U, Vec G, Vec dU, ControlsArrays *g);
  // Whether this operator implements its transposes (the adjoint refuses schemes with one that does not).
  virtual bool HasTranspose() const { return false; }
  // Whether the operator is exact on a grid of several sequences (Grid::SetSequences, batched training): it acts token
  // by token, or keeps the sequences apart (attention). Operators that couple tokens otherwise say false.
  virtual bool SupportsSequences() const { return true; }
  // Whether the transposes use U (the tape keeps it only then).
  virtual bool TransposeNeedsState() const { return true; }
  // Euler substeps evaluate A once, at the state they record: the operator may keep by-products of that Rhs in a tape
  // slot (RecordNextRhs) that the RhsTranspose at the same state reuses (ReuseRecord), e.g. attention's row statistics.
  virtual void RecordNextRhs(PetscInt /*slot*/) {}
  virtual void ReuseRecord(PetscInt /*slot*/) {}
  // Affine flows, A(t, u)(x_k, ·) = u(x_k, ·) M(t) + b(t, x_k, ·), can be solved by the linear substep
  // integrators (implicit, exact): AffineParts gives M (N_y × N_y, row-major, the Δy quadrature weight
  // included) and b (owned tokens × N_y) at t.
  virtual bool Affine() const { return false; }
  virtual PetscErrorCode AffineParts(PetscReal, std::vector<PetscReal> *, std::vector<PetscReal> *) {
    SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' is not an affine flow", name_.c_str());
  }
  // The chain rule from M and b to the controls' parameters: g += (∂(M, b)/∂θ)^T (dM, db) at t.
  virtual PetscErrorCode AffinePartsTranspose(PetscReal, const std::vector<PetscReal> &, const std::vector<PetscReal> &, ControlsArrays *) {
    SETERRQ(Comm(), PETSC_ERR_SUP, "operator '%s' is not an affine flow", name_.c_str());
  }
  // The controls the operator samples (substep integrators map their sampling times with them).
  const Controls &GetControls() const { return *ctx_.controls; }

 protected:
  MPI_Comm Comm() const { return ctx_.grid->Comm(); }
  const OperatorContext ctx_;
  const std::string name_;
};

// index: the trailing number of an indexed name, or -1.
using OperatorCreator = PetscErrorCode (*)(const OperatorContext &ctx, PetscInt index, std::unique_ptr<Operator> *op);

PetscErrorCode OperatorRegister(const char name[], OperatorCreator create);
// name: a registered name with an optional index, e.g. "attention", "ffn1", or a wrapper prefix followed by a name:
// "relax_<projection>" (operators/projection_relaxation.hpp), "tangent_<flow>" (operators/tangent_flow.hpp); the
// operator reads its options.
PetscErrorCode OperatorCreate(const std::string &name, const OperatorContext &ctx, std::unique_ptr<Operator> *op);

// Registered creators (one per operator file).
PetscErrorCode AttentionCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode LayerNormProjectionCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode FinalLayerNormCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode FeedForwardCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode ReluProjectionCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode IdentityCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode LiftedFeedForwardCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode AttentionNormalisedCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode LiftedFeedForwardNormalisedCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
// Wrappers of an operator created by name (the prefixes of OperatorCreate).
PetscErrorCode ProjectionRelaxationCreate(const OperatorContext &, std::unique_ptr<Operator> projection, std::unique_ptr<Operator> *);
PetscErrorCode TangentFlowCreate(const OperatorContext &, std::unique_ptr<Operator> flow, std::unique_ptr<Operator> *);
PetscErrorCode ConvolutionalAttentionCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode ConvolutionalEmbeddingCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);
PetscErrorCode ConvolutionalFeedForwardCreate(const OperatorContext &, PetscInt, std::unique_ptr<Operator> *);

}  // namespace ctflow
