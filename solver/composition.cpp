#include "solver/composition.hpp"

#include <cctype>

#include "operators/skip_relaxation.hpp"

namespace ctflow {

namespace {

class Leaf : public SplittingNode {
 public:
  explicit Leaf(std::unique_ptr<Operator> op) : op_(std::move(op)) {}
  ~Leaf() override { (void)VecDestroy(&rhs_); }
  PetscErrorCode SetUp(Vec like) override {
    PetscFunctionBeginUser;
    if (op_->Kind() == OperatorKind::Flow && !rhs_) PetscCall(VecDuplicate(like, &rhs_));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Advance(PetscReal t, PetscReal dt, Vec u) override {
    PetscFunctionBeginUser;
    if (op_->Kind() == OperatorKind::Projection) {
      PetscCall(op_->Project(t, u));
    } else {
      PetscCall(op_->Rhs(t, u, rhs_));
      PetscCall(VecAXPY(u, dt, rhs_));
    }
    PetscFunctionReturn(0);
  }
  std::string Expression() const override { return op_->Name(); }

 private:
  std::unique_ptr<Operator> op_;
  Vec rhs_ = nullptr;
};

class Group : public SplittingNode {
 public:
  explicit Group(std::vector<std::unique_ptr<SplittingNode>> children) : children_(std::move(children)) {}

 protected:
  std::string Join(const char *head) const {
    std::string s = std::string(head) + "(";
    for (size_t i = 0; i < children_.size(); ++i) s += (i ? ", " : "") + children_[i]->Expression();
    return s + ")";
  }
  std::vector<std::unique_ptr<SplittingNode>> children_;
};

class Sequence : public Group {
 public:
  using Group::Group;
  PetscErrorCode SetUp(Vec like) override {
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->SetUp(like));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Advance(PetscReal t, PetscReal dt, Vec u) override {
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->Advance(t, dt, u));
    PetscFunctionReturn(0);
  }
  std::string Expression() const override { return Join("seq"); }
};

class Average : public Group {
 public:
  using Group::Group;
  ~Average() override {
    for (Vec &v : branch_) (void)VecDestroy(&v);
  }
  PetscErrorCode SetUp(Vec like) override {
    PetscFunctionBeginUser;
    branch_.assign(children_.size(), nullptr);
    for (size_t k = 0; k < children_.size(); ++k) {
      PetscCall(children_[k]->SetUp(like));
      if (k > 0) PetscCall(VecDuplicate(like, &branch_[k]));
    }
    weights_.assign(children_.size(), 1.0 / children_.size());
    PetscFunctionReturn(0);
  }
  PetscErrorCode Advance(PetscReal t, PetscReal dt, Vec u) override {
    PetscFunctionBeginUser;
    // Branches 1.. advance copies of the incoming state; branch 0 advances u itself, last.
    for (size_t k = 1; k < children_.size(); ++k) {
      PetscCall(VecCopy(u, branch_[k]));
      PetscCall(children_[k]->Advance(t, dt, branch_[k]));
    }
    PetscCall(children_[0]->Advance(t, dt, u));
    branch_[0] = u;
    PetscCall(SkipRelaxation((PetscInt)children_.size(), weights_.data(), branch_.data()));
    branch_[0] = nullptr;
    PetscFunctionReturn(0);
  }
  std::string Expression() const override { return Join("avg"); }

 private:
  std::vector<Vec> branch_;
  std::vector<PetscReal> weights_;
};

// Recursive-descent parser for  node := name [ '(' node (',' node)* ')' ].
class Parser {
 public:
  Parser(const std::string &s, const OperatorContext &ctx) : s_(s), ctx_(ctx) {}

  PetscErrorCode Parse(std::unique_ptr<SplittingNode> *root) {
    PetscFunctionBeginUser;
    PetscCall(Node(root));
    SkipSpace();
    PetscCheck(pos_ == s_.size(), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': unexpected '%s' at column %zu",
               s_.c_str(), s_.substr(pos_).c_str(), pos_ + 1);
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

  PetscErrorCode Node(std::unique_ptr<SplittingNode> *node) {
    PetscFunctionBeginUser;
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum((unsigned char)s_[pos_]) || s_[pos_] == '_')) ++pos_;
    const std::string name = s_.substr(start, pos_ - start);
    PetscCheck(!name.empty(), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected an operator or seq(...)/avg(...) at column %zu",
               s_.c_str(), start + 1);
    if (!Accept('(')) {
      PetscCheck(name != "seq" && name != "avg", Comm(), PETSC_ERR_USER_INPUT,
                 "splitting expression '%s': '%s' at column %zu needs a parenthesised list of substeps", s_.c_str(), name.c_str(),
                 start + 1);
      std::unique_ptr<Operator> op;
      PetscCall(OperatorCreate(name, ctx_, &op));
      PetscCallCXX(*node = std::make_unique<Leaf>(std::move(op)));
      PetscFunctionReturn(0);
    }
    PetscCheck(name == "seq" || name == "avg", Comm(), PETSC_ERR_USER_INPUT,
               "splitting expression '%s': unknown group '%s' at column %zu (groups: seq, avg)", s_.c_str(), name.c_str(), start + 1);
    std::vector<std::unique_ptr<SplittingNode>> children;
    do {
      std::unique_ptr<SplittingNode> child;
      PetscCall(Node(&child));
      children.push_back(std::move(child));
    } while (Accept(','));
    PetscCheck(Accept(')'), Comm(), PETSC_ERR_USER_INPUT, "splitting expression '%s': expected ',' or ')' at column %zu",
               s_.c_str(), pos_ + 1);
    if (name == "seq") PetscCallCXX(*node = std::make_unique<Sequence>(std::move(children)));
    else PetscCallCXX(*node = std::make_unique<Average>(std::move(children)));
    PetscFunctionReturn(0);
  }

  const std::string &s_;
  const OperatorContext &ctx_;
  size_t pos_ = 0;
};

}  // namespace

PetscErrorCode ParseComposition(const std::string &expr, const OperatorContext &ctx, std::unique_ptr<SplittingNode> *root) {
  PetscFunctionBeginUser;
  PetscCall(Parser(expr, ctx).Parse(root));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
