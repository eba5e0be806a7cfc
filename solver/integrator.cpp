#include "solver/integrator.hpp"

#include <cmath>

#include "solver/splitting_schemes.hpp"

namespace ctflow {

PetscErrorCode Integrator::SetFromOptions() {
  char scheme[256], tree[4096] = "";
  PetscBool tree_set = PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeRegisterAll());
  T_ = ctx_.controls->DefaultFinalTime();
  dt_ = ctx_.controls->DefaultTimeStep();
  PetscCall(PetscStrncpy(scheme, scheme_.c_str(), sizeof(scheme)));
  PetscOptionsBegin(Comm(), nullptr, "Time integration by operator splitting", "Integrator");
  PetscCall(PetscOptionsReal("-T", "Final time T (default: t_L for layered controls, 1 for analytic)", "Integrator", T_, &T_, nullptr));
  PetscCall(PetscOptionsReal("-dt", "Time step Δt (default: 1 for layered controls, 1/8 for analytic)", "Integrator", dt_, &dt_, nullptr));
  PetscCall(PetscOptionsFList("-split", "Splitting scheme", "Integrator", SplittingSchemeList(), scheme, scheme, sizeof(scheme), nullptr));
  PetscCall(PetscOptionsString("-split_tree", "Explicit composition, e.g. 'seq(attention, layernorm, avg(seq(ffn1, relu), identity), layernorm)'; overrides -split",
                               "Integrator", tree, tree, sizeof(tree), &tree_set));
  PetscOptionsEnd();
  PetscCheck(std::isfinite(T_) && T_ > 0, Comm(), PETSC_ERR_USER_INPUT, "-T must be positive, got %g", (double)T_);
  PetscCheck(std::isfinite(dt_) && dt_ > 0, Comm(), PETSC_ERR_USER_INPUT, "-dt must be positive, got %g", (double)dt_);
  PetscCheck(T_ <= ctx_.controls->EndTime() * (1 + 1e-12), Comm(), PETSC_ERR_USER_INPUT,
             "-T %g exceeds the time span [0, %g] of the controls %s", (double)T_, (double)ctx_.controls->EndTime(),
             ctx_.controls->Description().c_str());
  scheme_ = scheme;
  if (tree_set) tree_ = tree;
  else PetscCall(SplittingSchemeExpression(Comm(), scheme_, ctx_.controls->NumFeedForward(), &tree_));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::SetUp(Vec like) {
  PetscFunctionBeginUser;
  PetscCall(ParseComposition(tree_, ctx_, &root_));
  PetscCall(root_->SetUp(like));
  PetscFunctionReturn(0);
}

PetscInt Integrator::NumSteps() const {
  // Steps of Δt until T, the last one possibly shorter; a remainder below round-off is not a step.
  return (PetscInt)std::ceil(T_ / dt_ - 1e-9);
}

std::string Integrator::Scheme() const { return root_ ? root_->Expression() : tree_; }

PetscErrorCode Integrator::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "Integrator: T = %g, Δt = %g, %" PetscInt_FMT " steps\n", (double)T_, (double)dt_,
                                   NumSteps()));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  splitting: %s\n", Scheme().c_str()));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::Solve(Vec u, const Monitor &monitor) {
  static PetscLogStage stage = -1;
  const PetscInt N = NumSteps();
  PetscFunctionBeginUser;
  if (stage < 0) PetscCall(PetscLogStageRegister("Integrate", &stage));
  for (PetscInt n = 0; n < N; ++n) {
    // t^n = n Δt, not a running sum, so that layer boundaries t = n are hit exactly.
    const PetscReal t = n * dt_, dt = std::min(dt_, T_ - t);
    PetscReal norm;
    PetscCall(PetscLogStagePush(stage));
    PetscCall(root_->Advance(t, dt, u));
    PetscCall(VecNorm(u, NORM_INFINITY, &norm));
    PetscCall(PetscLogStagePop());
    PetscCheck(std::isfinite(norm), Comm(), PETSC_ERR_FP, "the state became non-finite in step %" PetscInt_FMT " (t = %g to %g)",
               n + 1, (double)t, (double)(t + dt));
    PetscCall(monitor(n + 1, n + 1 == N ? T_ : t + dt, u));
  }
  PetscFunctionReturn(0);
}

}  // namespace ctflow
