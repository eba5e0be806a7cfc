// A splitting scheme as data: a tree of substeps, written as an expression such as
//
//   seq(attention, layernorm, avg(seq(ffn1, relu, ffn2, relu), identity), layernorm)
//
// which is the paper's Lie scheme (13)–(17) for J = 2. Node types:
//   seq(a, b, ...)  sequential (Lie) splitting, appendix C eq. (58): each child advances the state over
//                   the whole step [t, t + Δt], one after the other;
//   avg(a, b, ...)  every child advances a copy of the incoming state over [t, t + Δt] and the results are
//                   averaged (the skip relaxation of eq. (16) is avg(ffn..., identity));
//   name            a leaf: a registered operator (operators/operator.hpp). A flow leaf takes an explicit
//                   Euler step u += Δt A(t, u) (eq. (13), first line of (23)); a projection leaf is
//                   its exact proximal step, independent of Δt (eq. (14), (17), second line of (23)).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "operators/operator.hpp"

namespace ctflow {

class SplittingNode {
 public:
  virtual ~SplittingNode() = default;
  // Advance u in place over [t, t + dt].
  virtual PetscErrorCode Advance(PetscReal t, PetscReal dt, Vec u) = 0;
  // Allocates work vectors like `like`.
  virtual PetscErrorCode SetUp(Vec like) = 0;
  // The canonical expression of this subtree.
  virtual std::string Expression() const = 0;
};

// Parses expr into a tree whose leaves are operators created with ctx. Errors name the position.
PetscErrorCode ParseComposition(const std::string &expr, const OperatorContext &ctx, std::unique_ptr<SplittingNode> *root);

}  // namespace ctflow
