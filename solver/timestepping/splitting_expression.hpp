// SplittingExpression: a splitting scheme as a value, the tree that docs/splitting.md describes:
//
//   seq(attention, layernorm, avg(seq(ffn1, relu, ffn2, relu), identity), layernorm)     (the paper's Lie scheme)
//
// Scheme builders (solver/timestepping/splitting_schemes.hpp) assemble trees directly; the composition
// (solver/timestepping/composition.hpp) instantiates one into operators and substep integrators. Text appears at
// exactly two places: SplittingExpressionParse, the one parser of what users type (-split_tree, -split_order),
// and SplittingExpressionFormat, the one printer of the canonical form stored in trajectories. Grammar:
//
//   node   := ( group '(' node (',' node)* ')' | operator ) [ '[' number ',' number ']' ] [ '*' number ] [ '@' substep ]
//   group  := seq | avg | sum
//   number := real [ '/' real ]          e.g. 0.5, 1/3, -0.25
//
// The tree keeps what was written: a modifier given with its default value ("ffn2[0, 1]") prints as given.
// Canonical form (Canonical(), what the composition prints and trajectories store): ", " between children,
// "[a, b]" only when not [0, 1], "*r" only when r ≠ 1, numbers as the shortest decimal that reads back exactly,
// "@substep" as given (the composition clears it where it is the default or the leaf is a projection).
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

struct SplittingExpression {
  enum class Kind { Operator, Seq, Avg, Sum };
  Kind kind = Kind::Operator;
  std::string name;     // Operator: the operator's registered name with its index, e.g. "ffn2"
  std::string substep;  // Operator: the substep integrator after '@', or "" (the default)
  PetscReal a = 0, b = 1, rate = 1;
  bool interval_written = false, rate_written = false;  // "[a, b]", "*r" given even if default
  std::vector<SplittingExpression> children;            // groups

  static SplittingExpression Operator(const std::string &name);
  static SplittingExpression Group(Kind kind, std::vector<SplittingExpression> children);
  bool IsGroup() const { return kind != Kind::Operator; }
  // Any of [a, b], *r or @substep is written or differs from the default.
  bool HasModifiers() const;
  // This tree with the modifiers that only repeat a default forgotten.
  SplittingExpression Canonical() const;
  // This node over the sub-interval [a, b] (or with rate factor r) of its parent's interval; a node that already
  // carries modifiers is wrapped in seq(...) first, so the result reads back unchanged.
  SplittingExpression Over(PetscReal a, PetscReal b) const;
  SplittingExpression Rate(PetscReal r) const;
  // Whether some leaf is the operator `name`.
  bool HasOperator(const std::string &name) const;
};

// The one parser. Errors name the text and the column.
PetscErrorCode SplittingExpressionParse(MPI_Comm comm, const std::string &text, SplittingExpression *e);
// A comma-separated list of nodes (-split_order): "attention, seq(ffn1, relu)[0, 0.5]"; an empty entry is an error
// naming `option`.
PetscErrorCode SplittingExpressionParseList(MPI_Comm comm, const std::string &text, const char option[], std::vector<SplittingExpression> *list);
// The one printer: the canonical form.
std::string SplittingExpressionFormat(const SplittingExpression &e);

}  // namespace ctflow
