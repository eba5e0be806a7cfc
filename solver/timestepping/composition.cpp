#include "solver/timestepping/composition.hpp"

#include <cstdio>
#include <cstdlib>

#include "operators/skip_relaxation.hpp"
#include "solver/timestepping/composition_nodes.hpp"
#include "solver/timestepping/substep_integrators.hpp"

namespace ctflow {

std::string FormatReal(PetscReal x) {
  char s[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(s, sizeof(s), "%.*g", digits, (double)x);
    if (std::strtod(s, nullptr) == (double)x) break;
  }
  return s;
}

std::string SplittingNode::Modifiers() const {
  std::string s;
  if (a_ != 0 || b_ != 1) s += "[" + FormatReal(a_) + ", " + FormatReal(b_) + "]";
  if (rate_ != 1) s += "*" + FormatReal(rate_);
  return s;
}

PetscErrorCode SplittingNode::Apply(PetscReal t, PetscReal dt, PetscReal rate, Vec u) {
  const PetscReal t0 = t + a_ * dt, h = (b_ - a_) * dt;
  PetscFunctionBeginUser;
  PetscCall(Step(t0, h, rate * rate_, u));
  if (hook_) PetscCall(hook_(frame_name_, t0, t0 + h, u));
  PetscFunctionReturn(0);
}

namespace {

class Leaf : public SplittingNode {
 public:
  Leaf(std::unique_ptr<Operator> op, std::string substep_name, std::unique_ptr<SubstepIntegrator> substep)
      : op_(std::move(op)), substep_name_(std::move(substep_name)), substep_(std::move(substep)) {}
  PetscErrorCode SetUp(Vec like) override {
    PetscFunctionBeginUser;
    PetscCall(op_->SetUp(like));
    if (op_->Kind() == OperatorKind::Flow) PetscCall(substep_->SetUp(*op_, like));
    PetscFunctionReturn(0);
  }
  std::string Expression() const override {
    const bool flow = op_->Kind() == OperatorKind::Flow;
    return op_->Name() + Modifiers() + (flow && substep_name_ != "euler" ? "@" + substep_name_ : "");
  }
  PetscErrorCode CheckDirection(MPI_Comm comm, const std::string &expr, PetscReal direction) const override {
    PetscFunctionBeginUser;
    PetscCheck(op_->Kind() == OperatorKind::Flow || direction * (b_ - a_) * rate_ >= 0, comm, PETSC_ERR_USER_INPUT,
               "splitting expression '%s': the projection '%s' would get a negative sub-interval (%s of the step); a projection "
               "has no backward step",
               expr.c_str(), Expression().c_str(), FormatReal(direction * (b_ - a_) * rate_).c_str());
    PetscFunctionReturn(0);
  }
  void SetFrameHook(const FrameHook &hook) override {
    hook_ = op_->Name() == "identity" ? FrameHook() : hook;  // the identity changes nothing: no frame
    frame_name_ = Expression();
  }
  bool HasOperator(const std::string &name) const override { return op_->Name() == name; }

 protected:
  PetscErrorCode Step(PetscReal t0, PetscReal h, PetscReal rate, Vec u) override {
    PetscFunctionBeginUser;
    if (op_->Kind() == OperatorKind::Projection) PetscCall(op_->Project(t0, u));
    else PetscCall(substep_->Advance(*op_, t0, h, rate, u));
    PetscFunctionReturn(0);
  }

 private:
  std::unique_ptr<Operator> op_;
  std::string substep_name_;
  std::unique_ptr<SubstepIntegrator> substep_;
};

class Group : public SplittingNode {
 public:
  Group(GroupKind kind, std::vector<std::unique_ptr<SplittingNode>> children) : kind_(kind), children_(std::move(children)) {}
  ~Group() override {
    for (Vec &v : work_) (void)VecDestroy(&v);
  }
  PetscErrorCode SetUp(Vec like) override {
    const size_t K = children_.size();
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->SetUp(like));
    if (kind_ == GroupKind::Sequential || !work_.empty()) PetscFunctionReturn(0);
    // Parallel: work_[k] holds branch k ≥ 1; work_[0] is u itself during Step (avg) or the saved u^n (sum).
    work_.assign(K, nullptr);
    for (size_t k = kind_ == GroupKind::Sum ? 0 : 1; k < K; ++k) PetscCall(VecDuplicate(like, &work_[k]));
    if (kind_ == GroupKind::Average) weights_.assign(K, 1.0 / K);
    else weights_.assign(K, 1.0), weights_[0] = -(PetscReal)(K - 1);
    PetscFunctionReturn(0);
  }
  std::string Expression() const override {
    std::string s = kind_ == GroupKind::Sequential ? "seq(" : kind_ == GroupKind::Average ? "avg(" : "sum(";
    for (size_t i = 0; i < children_.size(); ++i) s += (i ? ", " : "") + children_[i]->Expression();
    return s + ")" + Modifiers();
  }
  PetscErrorCode CheckDirection(MPI_Comm comm, const std::string &expr, PetscReal direction) const override {
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->CheckDirection(comm, expr, direction * (b_ - a_) * rate_));
    PetscFunctionReturn(0);
  }
  void SetFrameHook(const FrameHook &hook) override {
    for (auto &c : children_) c->SetFrameHook(hook);
    hook_ = kind_ == GroupKind::Sequential ? FrameHook() : hook;  // seq: its last child's frame is its result
    frame_name_ = Expression();
  }
  bool HasOperator(const std::string &name) const override {
    for (auto &c : children_)
      if (c->HasOperator(name)) return true;
    return false;
  }

 protected:
  PetscErrorCode Step(PetscReal t0, PetscReal h, PetscReal rate, Vec u) override {
    const size_t K = children_.size();
    PetscFunctionBeginUser;
    if (kind_ == GroupKind::Sequential) {
      for (auto &c : children_) PetscCall(c->Apply(t0, h, rate, u));
      PetscFunctionReturn(0);
    }
    // Branches 1.. advance copies of u^n and branch 0 advances u itself; they run in the expression's order.
    for (size_t k = 1; k < K; ++k) PetscCall(VecCopy(u, work_[k]));
    if (kind_ == GroupKind::Sum) PetscCall(VecCopy(u, work_[0]));
    PetscCall(children_[0]->Apply(t0, h, rate, u));
    for (size_t k = 1; k < K; ++k) PetscCall(children_[k]->Apply(t0, h, rate, work_[k]));
    if (kind_ == GroupKind::Average) {
      work_[0] = u;
      PetscCall(SkipRelaxation((PetscInt)K, weights_.data(), work_.data()));  // u = (1/K) Σ_k v_k, eq. (16), (59)
      work_[0] = nullptr;
    } else {
      PetscCall(VecMAXPY(u, (PetscInt)K, weights_.data(), work_.data()));  // u = v_0 + Σ_{k≥1} v_k − (K − 1) u^n
    }
    PetscFunctionReturn(0);
  }

 private:
  GroupKind kind_;
  std::vector<std::unique_ptr<SplittingNode>> children_;
  std::vector<Vec> work_;
  std::vector<PetscReal> weights_;
};

}  // namespace

PetscErrorCode LeafCreate(MPI_Comm comm, std::unique_ptr<Operator> op, const std::string &substep, std::unique_ptr<SplittingNode> *node) {
  std::unique_ptr<SubstepIntegrator> integrator;
  PetscFunctionBeginUser;
  PetscCall(SubstepIntegratorCreate(comm, substep, &integrator));
  PetscCallCXX(*node = std::make_unique<Leaf>(std::move(op), substep, std::move(integrator)));
  PetscFunctionReturn(0);
}

PetscErrorCode GroupCreate(GroupKind kind, std::vector<std::unique_ptr<SplittingNode>> children, std::unique_ptr<SplittingNode> *node) {
  PetscFunctionBeginUser;
  PetscCallCXX(*node = std::make_unique<Group>(kind, std::move(children)));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
