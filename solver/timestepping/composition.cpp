#include "solver/timestepping/composition.hpp"

#include "discretization/base/number_format.hpp"
#include "discretization/base/petsc_handle.hpp"
#include "operators/skip_relaxation.hpp"
#include "solver/timestepping/substep_integrators.hpp"

namespace ctflow {

PetscErrorCode SplittingNode::Apply(PetscReal t, PetscReal dt, PetscReal rate, Vec u) {
  const PetscReal t0 = t + a_ * dt, h = (b_ - a_) * dt;
  PetscFunctionBeginUser;
  PetscCall(Step(t0, h, rate * rate_, u));
  if (hook_) PetscCall(hook_(frame_name_, t0, t0 + h, u));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingNode::ApplyTranspose(PetscReal t, PetscReal dt, PetscReal rate, Vec lambda, ControlsArrays *g) {
  return StepTranspose(t + a_ * dt, (b_ - a_) * dt, rate * rate_, lambda, g);
}

namespace {

using Kind = SplittingExpression::Kind;

class Leaf : public SplittingNode {
 public:
  Leaf(SplittingExpression tree, std::unique_ptr<Operator> op, std::unique_ptr<SubstepIntegrator> substep)
      : SplittingNode(std::move(tree)), op_(std::move(op)), substep_(std::move(substep)) {}
  PetscErrorCode SetUp(Vec like) override {
    PetscFunctionBeginUser;
    PetscCall(op_->SetUp(like));
    if (op_->Kind() == OperatorKind::Flow) PetscCall(substep_->SetUp(*op_, like));
    PetscFunctionReturn(0);
  }
  PetscErrorCode CheckDirection(MPI_Comm comm, const std::string &expr, PetscReal direction) const override {
    PetscFunctionBeginUser;
    PetscCheck(op_->Kind() == OperatorKind::Flow || direction * (b_ - a_) * rate_ >= 0, comm, PETSC_ERR_USER_INPUT,
               "splitting expression '%s': the projection '%s' would get a negative sub-interval (%s of the step); a projection "
               "has no backward step",
               expr.c_str(), Expression().c_str(), FormatShortest(direction * (b_ - a_) * rate_).c_str());
    PetscFunctionReturn(0);
  }
  void SetFrameHook(const FrameHook &hook) override {
    hook_ = op_->Name() == "identity" ? FrameHook() : hook;  // the identity changes nothing: no frame
    frame_name_ = Expression();
  }
  void SetTape(PetscInt slot, bool record) override {
    slot_ = slot, record_ = record && op_->TransposeNeedsState();
    if (op_->Kind() == OperatorKind::Flow) substep_->SetTape(slot, record);
  }
  PetscErrorCode CheckTransposable(MPI_Comm comm) const override {
    PetscFunctionBeginUser;
    PetscCheck(op_->HasTranspose(), comm, PETSC_ERR_USER_INPUT, "the discrete adjoint is not implemented for the operator '%s'", op_->Name().c_str());
    PetscFunctionReturn(0);
  }
  bool SupportsSequences() const override { return op_->SupportsSequences(); }

 protected:
  PetscErrorCode Step(PetscReal t0, PetscReal h, PetscReal rate, Vec u) override {
    PetscFunctionBeginUser;
    if (record_) {
      if ((PetscInt)tape_.size() <= slot_) PetscCallCXX(tape_.resize(slot_ + 1));
      if (!tape_[slot_]) PetscCall(VecDuplicate(u, tape_[slot_].Out()));
      PetscCall(VecCopy(u, tape_[slot_]));
    }
    if (op_->Kind() == OperatorKind::Projection) PetscCall(op_->Project(t0, u));
    else PetscCall(substep_->Advance(*op_, t0, h, rate, u));
    PetscFunctionReturn(0);
  }
  PetscErrorCode StepTranspose(PetscReal t0, PetscReal h, PetscReal rate, Vec lambda, ControlsArrays *g) override {
    const bool recorded = slot_ >= 0 && slot_ < (PetscInt)tape_.size() && tape_[slot_];
    const Vec input = recorded ? tape_[slot_].Get() : nullptr;
    PetscFunctionBeginUser;
    PetscCheck(recorded || !op_->TransposeNeedsState(), PetscObjectComm((PetscObject)lambda), PETSC_ERR_ORDER,
               "the transpose of '%s' needs a recorded forward step", Expression().c_str());
    if (op_->Kind() == OperatorKind::Flow) {
      PetscCall(substep_->AdvanceTranspose(*op_, t0, h, rate, input, lambda, g));
      PetscFunctionReturn(0);
    }
    if (!adjoint_) PetscCall(VecDuplicate(lambda, adjoint_.Out()));
    PetscCall(VecSet(adjoint_, 0.0));
    PetscCall(op_->ProjectTranspose(t0, input, lambda, adjoint_, g));
    PetscCall(VecCopy(adjoint_, lambda));
    PetscFunctionReturn(0);
  }

 private:
  std::unique_ptr<Operator> op_;
  std::unique_ptr<SubstepIntegrator> substep_;
  PetscInt slot_ = -1;
  bool record_ = false;
  std::vector<UniqueVec> tape_;  // the recorded input states, by slot
  UniqueVec adjoint_;            // work space of the transpose
};

class Group : public SplittingNode {
 public:
  Group(SplittingExpression tree, std::vector<std::unique_ptr<SplittingNode>> children)
      : SplittingNode(std::move(tree)), kind_(tree_.kind), children_(std::move(children)) {}
  PetscErrorCode SetUp(Vec like) override {
    const size_t K = children_.size();
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->SetUp(like));
    if (kind_ == Kind::Seq || !work_.empty()) PetscFunctionReturn(0);
    // Parallel: work_[k] holds branch k ≥ 1; branch 0 is u itself during Step (avg), and work_[0] the saved u^n (sum).
    PetscCallCXX(work_.resize(K));
    for (size_t k = kind_ == Kind::Sum ? 0 : 1; k < K; ++k) PetscCall(VecDuplicate(like, work_[k].Out()));
    PetscCallCXX(branches_.resize(K));
    for (size_t k = 0; k < K; ++k) branches_[k] = work_[k];
    PetscCallCXX(weights_.assign(K, kind_ == Kind::Avg ? 1.0 / K : 1.0));
    if (kind_ == Kind::Sum) weights_[0] = -(PetscReal)(K - 1);
    PetscFunctionReturn(0);
  }
  PetscErrorCode CheckDirection(MPI_Comm comm, const std::string &expr, PetscReal direction) const override {
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->CheckDirection(comm, expr, direction * (b_ - a_) * rate_));
    PetscFunctionReturn(0);
  }
  void SetFrameHook(const FrameHook &hook) override {
    for (auto &c : children_) c->SetFrameHook(hook);
    hook_ = kind_ == Kind::Seq ? FrameHook() : hook;  // seq: its last child's frame is its result
    frame_name_ = Expression();
  }
  void SetTape(PetscInt slot, bool record) override {
    for (auto &c : children_) c->SetTape(slot, record);
  }
  PetscErrorCode CheckTransposable(MPI_Comm comm) const override {
    PetscFunctionBeginUser;
    for (auto &c : children_) PetscCall(c->CheckTransposable(comm));
    PetscFunctionReturn(0);
  }
  bool SupportsSequences() const override {
    for (auto &c : children_)
      if (!c->SupportsSequences()) return false;
    return true;
  }

 protected:
  PetscErrorCode Step(PetscReal t0, PetscReal h, PetscReal rate, Vec u) override {
    const size_t K = children_.size();
    PetscFunctionBeginUser;
    if (kind_ == Kind::Seq) {
      for (auto &c : children_) PetscCall(c->Apply(t0, h, rate, u));
      PetscFunctionReturn(0);
    }
    // Branches 1.. advance copies of u^n and branch 0 advances u itself; they run in the expression's order.
    for (size_t k = 1; k < K; ++k) PetscCall(VecCopy(u, work_[k]));
    if (kind_ == Kind::Sum) PetscCall(VecCopy(u, work_[0]));
    PetscCall(children_[0]->Apply(t0, h, rate, u));
    for (size_t k = 1; k < K; ++k) PetscCall(children_[k]->Apply(t0, h, rate, work_[k]));
    if (kind_ == Kind::Avg) {
      branches_[0] = u;
      PetscCall(SkipRelaxation((PetscInt)K, weights_.data(), branches_.data()));  // u = (1/K) Σ_k v_k, eq. (16), (59)
    } else {
      PetscCall(VecMAXPY(u, (PetscInt)K, weights_.data(), branches_.data()));  // u = v_0 + Σ_{k≥1} v_k − (K − 1) u^n
    }
    PetscFunctionReturn(0);
  }
  // seq: the children's transposes in reverse order. avg: branch k gets w_k λ; sum: every branch gets λ and the
  // result loses (K − 1) λ (the transpose of u = Σ_k v_k − (K − 1) u^n).
  PetscErrorCode StepTranspose(PetscReal t0, PetscReal h, PetscReal rate, Vec lambda, ControlsArrays *g) override {
    const size_t K = children_.size();
    PetscFunctionBeginUser;
    if (kind_ == Kind::Seq) {
      for (size_t k = K; k-- > 0;) PetscCall(children_[k]->ApplyTranspose(t0, h, rate, lambda, g));
      PetscFunctionReturn(0);
    }
    if (adjoint_.empty()) {
      PetscCallCXX(adjoint_.resize(K));
      for (auto &v : adjoint_) PetscCall(VecDuplicate(lambda, v.Out()));
    }
    for (size_t k = 0; k < K; ++k) {
      PetscCall(VecCopy(lambda, adjoint_[k]));
      if (kind_ == Kind::Avg) PetscCall(VecScale(adjoint_[k], weights_[k]));
    }
    for (size_t k = 0; k < K; ++k) PetscCall(children_[k]->ApplyTranspose(t0, h, rate, adjoint_[k], g));
    const PetscReal keep = kind_ == Kind::Avg ? 0.0 : -(PetscReal)(K - 1);
    PetscCall(VecScale(lambda, keep));
    for (size_t k = 0; k < K; ++k) PetscCall(VecAXPY(lambda, 1.0, adjoint_[k]));
    PetscFunctionReturn(0);
  }

 private:
  const Kind kind_;
  std::vector<std::unique_ptr<SplittingNode>> children_;
  std::vector<UniqueVec> work_;
  std::vector<Vec> branches_;  // work_'s vectors; branches_[0] is u during an avg step
  std::vector<PetscReal> weights_;
  std::vector<UniqueVec> adjoint_;  // the branches' adjoints (transpose of avg/sum)
};

// The node of e, its canonical tree built alongside (written default modifiers dropped; '@' only where it is not
// euler on a flow leaf).
PetscErrorCode Instantiate(const SplittingExpression &e, const OperatorContext &ctx, const std::string &default_substep,
                           std::unique_ptr<SplittingNode> *node) {
  MPI_Comm comm = ctx.grid->Comm();
  PetscFunctionBeginUser;
  SplittingExpression canonical = e;
  canonical.interval_written = canonical.rate_written = false;
  if (!e.IsGroup()) {
    std::unique_ptr<Operator> op;
    std::unique_ptr<SubstepIntegrator> substep;
    const std::string name = e.substep.empty() ? default_substep : e.substep;
    PetscCall(OperatorCreate(e.name, ctx, &op));
    PetscCall(SubstepIntegratorCreate(comm, name, &substep));
    canonical.substep = op->Kind() == OperatorKind::Flow && name != "euler" ? name : "";
    PetscCallCXX(*node = std::make_unique<Leaf>(std::move(canonical), std::move(op), std::move(substep)));
    PetscFunctionReturn(0);
  }
  std::vector<std::unique_ptr<SplittingNode>> children(e.children.size());
  for (size_t k = 0; k < children.size(); ++k) {
    PetscCall(Instantiate(e.children[k], ctx, default_substep, &children[k]));
    canonical.children[k] = children[k]->Tree();
  }
  PetscCallCXX(*node = std::make_unique<Group>(std::move(canonical), std::move(children)));
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode CompositionCreate(const SplittingExpression &e, const OperatorContext &ctx, const std::string &default_substep,
                                 std::unique_ptr<SplittingNode> *root) {
  PetscFunctionBeginUser;
  PetscCall(Instantiate(e, ctx, default_substep, root));
  PetscCall((*root)->CheckDirection(ctx.grid->Comm(), SplittingExpressionFormat(e), 1));
  PetscFunctionReturn(0);
}

PetscErrorCode ParseComposition(const std::string &expr, const OperatorContext &ctx, std::unique_ptr<SplittingNode> *root,
                                const std::string &default_substep) {
  SplittingExpression e;
  PetscFunctionBeginUser;
  PetscCall(SplittingExpressionParse(ctx.grid->Comm(), expr, &e));
  PetscCall(CompositionCreate(e, ctx, default_substep, root));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
