// Recursive-descent parser of splitting expressions (grammar in solver/timestepping/composition.hpp). Every error names
// the expression and the column.
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "solver/timestepping/composition_nodes.hpp"

namespace ctflow {

namespace {

class Parser {
 public:
  Parser(const std::string &s, const OperatorContext &ctx, const std::string &substep) : s_(s), ctx_(ctx), substep_(substep) {}

  PetscErrorCode Parse(std::unique_ptr<SplittingNode> *root) {
    PetscFunctionBeginUser;
    PetscCall(Node(root));
    SkipSpace();
    PetscCheck(pos_ == s_.size(), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': unexpected '%s' at column %zu", s_.c_str(),
               s_.substr(pos_).c_str(), pos_ + 1);
    PetscCall((*root)->CheckDirection(Comm(), s_, 1));
    PetscFunctionReturn(0);
  }

 private:
  MPI_Comm Comm() const { return ctx_.grid->Comm(); }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace((unsigned char)s_[pos_])) ++pos_;
  }
  bool Accept(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) return ++pos_, true;
    return false;
  }
  std::string Identifier() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum((unsigned char)s_[pos_]) || s_[pos_] == '_')) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // number := real [ '/' real ]
  PetscErrorCode Number(const char *what, PetscReal *x) {
    PetscFunctionBeginUser;
    SkipSpace();
    const size_t start = pos_;
    char *end;
    const double num = std::strtod(s_.c_str() + pos_, &end);
    pos_ = end - s_.c_str();
    PetscCheck(pos_ > start, Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected a number (%s) at column %zu", s_.c_str(), what,
               start + 1);
    double den = 1;
    if (Accept('/')) {
      SkipSpace();
      const size_t dstart = pos_;
      den = std::strtod(s_.c_str() + pos_, &end);
      pos_ = end - s_.c_str();
      PetscCheck(pos_ > dstart && den != 0, Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected a non-zero denominator at column %zu",
                 s_.c_str(), dstart + 1);
    }
    *x = num / den;
    PetscCheck(std::isfinite(*x), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': %s at column %zu is not finite", s_.c_str(), what,
               start + 1);
    PetscFunctionReturn(0);
  }
  // [ '[' a ',' b ']' ] [ '*' r ]
  PetscErrorCode Modifiers(PetscReal *a, PetscReal *b, PetscReal *r) {
    PetscFunctionBeginUser;
    *a = 0, *b = 1, *r = 1;
    if (Accept('[')) {
      PetscCall(Number("start of the sub-interval", a));
      PetscCheck(Accept(','), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ',' in '[a, b]' at column %zu", s_.c_str(),
                 pos_ + 1);
      PetscCall(Number("end of the sub-interval", b));
      PetscCheck(Accept(']'), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ']' at column %zu", s_.c_str(), pos_ + 1);
    }
    if (Accept('*')) PetscCall(Number("rate factor", r));
    PetscFunctionReturn(0);
  }

  PetscErrorCode Node(std::unique_ptr<SplittingNode> *node) {
    PetscFunctionBeginUser;
    SkipSpace();
    const size_t start = pos_;
    const std::string name = Identifier();
    PetscCheck(!name.empty(), Comm(), PETSC_ERR_USER_INPUT,
               "splitting expression '%s': expected an operator or seq(...)/avg(...)/sum(...) at column %zu", s_.c_str(), start + 1);
    const bool group = name == "seq" || name == "avg" || name == "sum";
    if (!Accept('(')) {
      PetscCheck(!group, Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': '%s' at column %zu needs a parenthesised list of substeps",
                 s_.c_str(), name.c_str(), start + 1);
      std::unique_ptr<Operator> op;
      PetscCall(OperatorCreate(name, ctx_, &op));
      PetscReal a, b, r;
      PetscCall(Modifiers(&a, &b, &r));
      std::string substep = substep_;
      if (Accept('@')) {
        const size_t at = pos_;
        substep = Identifier();
        PetscCheck(!substep.empty(), Comm(), PETSC_ERR_USER_INPUT,
                   "splitting expression '%s': expected a substep integrator name after '@' at column %zu", s_.c_str(), at + 1);
      }
      PetscCall(LeafCreate(Comm(), std::move(op), substep, node));
      (*node)->SetModifiers(a, b, r);
      PetscFunctionReturn(0);
    }
    PetscCheck(group, Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': unknown group '%s' at column %zu (groups: seq, avg, sum)", s_.c_str(),
               name.c_str(), start + 1);
    std::vector<std::unique_ptr<SplittingNode>> children;
    do {
      std::unique_ptr<SplittingNode> child;
      PetscCall(Node(&child));
      PetscCallCXX(children.push_back(std::move(child)));
    } while (Accept(','));
    PetscCheck(Accept(')'), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ',' or ')' at column %zu", s_.c_str(), pos_ + 1);
    const GroupKind kind = name == "seq" ? GroupKind::Sequential : name == "avg" ? GroupKind::Average : GroupKind::Sum;
    PetscReal a, b, r;
    PetscCall(GroupCreate(kind, std::move(children), node));
    PetscCall(Modifiers(&a, &b, &r));
    (*node)->SetModifiers(a, b, r);
    PetscCheck(!Accept('@'), Comm(), PETSC_ERR_USER_INPUT,
               "splitting expression '%s': '@' at column %zu: only an operator takes a substep integrator", s_.c_str(), pos_);
    PetscFunctionReturn(0);
  }

  const std::string &s_;
  const OperatorContext &ctx_;
  const std::string &substep_;
  size_t pos_ = 0;
};

}  // namespace

PetscErrorCode ParseComposition(const std::string &expr, const OperatorContext &ctx, std::unique_ptr<SplittingNode> *root,
                                const std::string &default_substep) {
  PetscFunctionBeginUser;
  PetscCall(Parser(expr, ctx, default_substep).Parse(root));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
