#include "solver/timestepping/splitting_expression.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "discretization/base/number_format.hpp"

namespace ctflow {

SplittingExpression SplittingExpression::Operator(const std::string &name) {
  SplittingExpression e;
  e.name = name;
  return e;
}

SplittingExpression SplittingExpression::Group(Kind kind, std::vector<SplittingExpression> children) {
  SplittingExpression e;
  e.kind = kind;
  e.children = std::move(children);
  return e;
}

bool SplittingExpression::HasModifiers() const { return interval_written || rate_written || a != 0 || b != 1 || rate != 1 || !substep.empty(); }

SplittingExpression SplittingExpression::Canonical() const {
  SplittingExpression e = *this;
  e.interval_written = e.rate_written = false;
  for (auto &c : e.children) c = c.Canonical();
  return e;
}

SplittingExpression SplittingExpression::Over(PetscReal a0, PetscReal b0) const {
  SplittingExpression e = HasModifiers() ? Group(Kind::Seq, {*this}) : *this;
  e.a = a0, e.b = b0, e.interval_written = true;
  return e;
}

SplittingExpression SplittingExpression::Rate(PetscReal r) const {
  SplittingExpression e = HasModifiers() ? Group(Kind::Seq, {*this}) : *this;
  e.rate = r, e.rate_written = true;
  return e;
}

bool SplittingExpression::HasOperator(const std::string &op) const {
  if (!IsGroup()) return name == op;
  for (const auto &c : children)
    if (c.HasOperator(op)) return true;
  return false;
}

std::string SplittingExpressionFormat(const SplittingExpression &e) {
  using Kind = SplittingExpression::Kind;
  std::string s;
  if (e.IsGroup()) {
    s = e.kind == Kind::Seq ? "seq(" : e.kind == Kind::Avg ? "avg(" : "sum(";
    for (size_t i = 0; i < e.children.size(); ++i) s += (i ? ", " : "") + SplittingExpressionFormat(e.children[i]);
    s += ")";
  } else {
    s = e.name;
  }
  if (e.interval_written || e.a != 0 || e.b != 1) s += "[" + FormatShortest(e.a) + ", " + FormatShortest(e.b) + "]";
  if (e.rate_written || e.rate != 1) s += "*" + FormatShortest(e.rate);
  if (!e.substep.empty()) s += "@" + e.substep;
  return s;
}

namespace {

// Recursive descent over the grammar of splitting_expression.hpp; every error names the text and the column.
class Parser {
 public:
  Parser(MPI_Comm comm, const std::string &s) : comm_(comm), s_(s) {}

  PetscErrorCode Whole(SplittingExpression *e) {
    PetscFunctionBeginUser;
    PetscCall(Node(e));
    PetscCall(End());
    PetscFunctionReturn(0);
  }

  PetscErrorCode List(const char option[], std::vector<SplittingExpression> *list) {
    PetscFunctionBeginUser;
    list->clear();
    do {
      SkipSpace();
      PetscCheck(pos_ < s_.size() && s_[pos_] != ',', comm_, PETSC_ERR_USER_INPUT,
                 "%s '%s': empty entry %zu (expected a comma-separated list of operators)", option, s_.c_str(), list->size() + 1);
      SplittingExpression e;
      PetscCall(Node(&e));
      PetscCallCXX(list->push_back(std::move(e)));
    } while (Accept(','));
    PetscCall(End());
    PetscFunctionReturn(0);
  }

 private:
  PetscErrorCode End() {
    PetscFunctionBeginUser;
    SkipSpace();
    PetscCheck(pos_ == s_.size(), comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': unexpected '%s' at column %zu", s_.c_str(),
               s_.substr(pos_).c_str(), pos_ + 1);
    PetscFunctionReturn(0);
  }
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
    PetscCheck(pos_ > start, comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': expected a number (%s) at column %zu", s_.c_str(), what,
               start + 1);
    double den = 1;
    if (Accept('/')) {
      SkipSpace();
      const size_t dstart = pos_;
      den = std::strtod(s_.c_str() + pos_, &end);
      pos_ = end - s_.c_str();
      PetscCheck(pos_ > dstart && den != 0, comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': expected a non-zero denominator at column %zu",
                 s_.c_str(), dstart + 1);
    }
    *x = num / den;
    PetscCheck(std::isfinite(*x), comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': %s at column %zu is not finite", s_.c_str(), what,
               start + 1);
    PetscFunctionReturn(0);
  }
  // [ '[' a ',' b ']' ] [ '*' r ]
  PetscErrorCode Modifiers(SplittingExpression *e) {
    PetscFunctionBeginUser;
    if (Accept('[')) {
      e->interval_written = true;
      PetscCall(Number("start of the sub-interval", &e->a));
      PetscCheck(Accept(','), comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ',' in '[a, b]' at column %zu", s_.c_str(), pos_ + 1);
      PetscCall(Number("end of the sub-interval", &e->b));
      PetscCheck(Accept(']'), comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ']' at column %zu", s_.c_str(), pos_ + 1);
    }
    if (Accept('*')) {
      e->rate_written = true;
      PetscCall(Number("rate factor", &e->rate));
    }
    PetscFunctionReturn(0);
  }

  PetscErrorCode Node(SplittingExpression *e) {
    using Kind = SplittingExpression::Kind;
    PetscFunctionBeginUser;
    SkipSpace();
    const size_t start = pos_;
    const std::string name = Identifier();
    PetscCheck(!name.empty(), comm_, PETSC_ERR_USER_INPUT,
               "splitting expression '%s': expected an operator or seq(...)/avg(...)/sum(...) at column %zu", s_.c_str(), start + 1);
    const bool group = name == "seq" || name == "avg" || name == "sum";
    if (!Accept('(')) {
      PetscCheck(!group, comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': '%s' at column %zu needs a parenthesised list of substeps",
                 s_.c_str(), name.c_str(), start + 1);
      PetscCallCXX(*e = SplittingExpression::Operator(name));
      PetscCall(Modifiers(e));
      if (Accept('@')) {
        const size_t at = pos_;
        PetscCallCXX(e->substep = Identifier());
        PetscCheck(!e->substep.empty(), comm_, PETSC_ERR_USER_INPUT,
                   "splitting expression '%s': expected a substep integrator name after '@' at column %zu", s_.c_str(), at + 1);
      }
      PetscFunctionReturn(0);
    }
    PetscCheck(group, comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': unknown group '%s' at column %zu (groups: seq, avg, sum)", s_.c_str(),
               name.c_str(), start + 1);
    std::vector<SplittingExpression> children;
    do {
      SplittingExpression child;
      PetscCall(Node(&child));
      PetscCallCXX(children.push_back(std::move(child)));
    } while (Accept(','));
    PetscCheck(Accept(')'), comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ',' or ')' at column %zu", s_.c_str(), pos_ + 1);
    PetscCallCXX(*e = SplittingExpression::Group(name == "seq" ? Kind::Seq : name == "avg" ? Kind::Avg : Kind::Sum, std::move(children)));
    PetscCall(Modifiers(e));
    PetscCheck(!Accept('@'), comm_, PETSC_ERR_USER_INPUT, "splitting expression '%s': '@' at column %zu: only an operator takes a substep integrator",
               s_.c_str(), pos_);
    PetscFunctionReturn(0);
  }

  MPI_Comm comm_;
  const std::string &s_;
  size_t pos_ = 0;
};

}  // namespace

PetscErrorCode SplittingExpressionParse(MPI_Comm comm, const std::string &text, SplittingExpression *e) {
  PetscFunctionBeginUser;
  PetscCall(Parser(comm, text).Whole(e));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingExpressionParseList(MPI_Comm comm, const std::string &text, const char option[], std::vector<SplittingExpression> *list) {
  PetscFunctionBeginUser;
  PetscCall(Parser(comm, text).List(option, list));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
