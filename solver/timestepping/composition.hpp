// The composition: a splitting expression (solver/timestepping/splitting_expression.hpp) instantiated into a tree of
// nodes that advance the state, e.g. the paper's Lie scheme (13)–(17) for J = 2,
//
//   seq(attention, layernorm, avg(seq(ffn1, relu, ffn2, relu), identity), layernorm)
//
// or  seq(attention[0, 0.5], ffn1, attention[0.5, 1])  (Strang), or  avg(attention*2, ffn1*2)  (the parallel
// splitting of appendix C, eq. (59)). docs/splitting.md has the full description.
//
// Every node advances the state over a sub-interval of the interval its parent gives it (the whole step
// [t, t + Δt] at the root), with a rate factor that multiplies its parent's:
//   [a, b]          the sub-interval [t + aΔt, t + bΔt] of the parent's [t, t + Δt] (default [0, 1]);
//   *r              rate factor: a flow leaf advances u_t = r·A(s, u) (default 1; nested factors multiply);
//   @substep        a flow leaf's substep integrator (solver/timestepping/substep_integrators.hpp; default -split_substep).
// Node types:
//   seq(a, b, ...)  sequential (Lie) splitting, eq. (58): the children advance the state one after the other;
//   avg(a, b, ...)  parallel, averaged: every child advances a copy of the incoming state u^n and
//                   u = (1/K) Σ_k v_k (eq. (59) with rate factors K; the skip relaxation (16) is
//                   avg(seq(ffn...), identity) with rate factors 1);
//   sum(a, b, ...)  parallel, additive (ARKODE's SplittingStep): u = Σ_k v_k − (K − 1) u^n;
//   name            a leaf: a registered operator (operators/operator.hpp). A flow leaf solves its substep
//                   with its substep integrator (explicit Euler: u += (b − a)Δt·r·A(t + aΔt, u), eq. (13));
//                   a projection leaf is its exact proximal step at t + aΔt, independent of the length of its
//                   sub-interval and of r (eq. (14), (17), second line of (23)). A projection has no backward
//                   step: a scheme that gives one a negative sub-interval (r·(b − a) < 0 along its path, as in
//                   compositions with negative coefficients) is rejected.
//
// Frames (trajectory -traj_substeps): a frame hook set with SetFrameHook is called after every node that
// changes the state it is given, with the node's canonical expression, its sub-interval [t0, t1] and that
// state: every leaf except `identity`, and every avg/sum group after it combined its branches (a seq node
// has no frame of its own: its result is its last child's). A leaf inside avg/sum advances its branch's
// copy of u^n, so its frame is that branch's state v_k, not u. Frames come in execution order, which is
// the order of the expression: a parallel group runs its branches first to last (each on its own copy of
// the incoming state), then combines them.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "operators/operator.hpp"
#include "solver/timestepping/splitting_expression.hpp"

namespace ctflow {

class SplittingNode {
 public:
  virtual ~SplittingNode() = default;
  // Advance u in place over the step [t, t + dt].
  PetscErrorCode Advance(PetscReal t, PetscReal dt, Vec u) { return Apply(t, dt, 1, u); }
  // Advance u over this node's sub-interval of the parent's [t, t + dt], with the parent's rate factor;
  // then the frame hook, if this node has one.
  PetscErrorCode Apply(PetscReal t, PetscReal dt, PetscReal rate, Vec u);
  // Allocates work vectors like `like` and sets up the substep integrators.
  virtual PetscErrorCode SetUp(Vec like) = 0;
  // The canonical expression of this subtree: its tree and its text.
  const SplittingExpression &Tree() const { return tree_; }
  std::string Expression() const { return SplittingExpressionFormat(tree_); }
  // Fails if a projection in this subtree would run backwards; direction: the sign of the parent's interval × rate.
  virtual PetscErrorCode CheckDirection(MPI_Comm comm, const std::string &expr, PetscReal direction) const = 0;

  // Called with (node expression, t0, t1, state) after each node that changes the state (see above).
  using FrameHook = std::function<PetscErrorCode(const std::string &node, PetscReal t0, PetscReal t1, Vec u)>;
  // Installs hook on every frame node of this subtree; an empty hook removes it.
  virtual void SetFrameHook(const FrameHook &hook) = 0;
  // Whether a leaf of this subtree is the operator `name` (e.g. "attention").
  bool HasOperator(const std::string &name) const { return tree_.HasOperator(name); }

  // The discrete adjoint (docs/adjoint.md). The tape: every leaf keeps its input states in numbered slots (one vector
  // per leaf and slot, allocated on first use); with record, Apply writes the inputs into `slot`; ApplyTranspose
  // linearises at the states of `slot`: it maps λ, the adjoint of this node's output, to the adjoint of its input in
  // place, and adds the parameters' share to g (may be null). Transposition rules: seq in reverse; avg/sum branches get
  // w_k λ and their results add up; a leaf is its substep's or projection's transpose.
  virtual void SetTape(PetscInt slot, bool record) = 0;
  // Fails unless every operator of this subtree has its transposes.
  virtual PetscErrorCode CheckTransposable(MPI_Comm comm) const = 0;
  // Whether every operator of this subtree is exact on a grid of several sequences (Operator::SupportsSequences).
  virtual bool SupportsSequences() const = 0;
  PetscErrorCode ApplyTranspose(PetscReal t, PetscReal dt, PetscReal rate, Vec lambda, ControlsArrays *g);
  PetscErrorCode AdvanceTranspose(PetscReal t, PetscReal dt, Vec lambda, ControlsArrays *g) { return ApplyTranspose(t, dt, 1, lambda, g); }

 protected:
  // Advance u over [t0, t0 + h] with rate factor `rate`, and its transpose at the recorded states.
  virtual PetscErrorCode Step(PetscReal t0, PetscReal h, PetscReal rate, Vec u) = 0;
  virtual PetscErrorCode StepTranspose(PetscReal t0, PetscReal h, PetscReal rate, Vec lambda, ControlsArrays *g) = 0;
  explicit SplittingNode(SplittingExpression tree) : tree_(std::move(tree)), a_(tree_.a), b_(tree_.b), rate_(tree_.rate) {}
  const SplittingExpression tree_;  // canonical
  const PetscReal a_, b_, rate_;
  FrameHook hook_;
  std::string frame_name_;  // Expression(), cached when the hook is installed
};

// Instantiates expression e: its leaves become operators created with ctx, flow leaves without '@' use
// default_substep. Fails on unknown operators or substep integrators and on projections running backwards.
PetscErrorCode CompositionCreate(const SplittingExpression &e, const OperatorContext &ctx, const std::string &default_substep,
                                 std::unique_ptr<SplittingNode> *root);
// The same from text (SplittingExpressionParse).
PetscErrorCode ParseComposition(const std::string &expr, const OperatorContext &ctx, std::unique_ptr<SplittingNode> *root,
                                const std::string &default_substep = "euler");

}  // namespace ctflow
