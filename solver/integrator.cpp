#include "solver/integrator.hpp"

#include <algorithm>
#include <cmath>

#include "operators/layer_norm_projection.hpp"
#include "solver/splitting_schemes.hpp"
#include "solver/substep_integrators.hpp"

namespace ctflow {

PetscErrorCode Integrator::SetFromOptions() {
  const PetscInt J = ctx_.controls->NumFeedForward();
  const std::string default_order = ctx_.controls->DefaultOrder().empty() ? SplittingDefaultOrder(J) : ctx_.controls->DefaultOrder();
  char scheme[256], substep[256], tree[4096] = "", order[4096], schedule[4096] = "";
  PetscInt groups[256], num_groups = 256;
  std::fill_n(groups, num_groups, 2);  // shown by -help: pairs
  PetscBool tree_set = PETSC_FALSE, order_set = PETSC_FALSE, groups_set = PETSC_FALSE, schedule_set = PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeRegisterAll());
  PetscCall(SubstepIntegratorRegisterAll());
  T_ = ctx_.controls->DefaultFinalTime();
  dt_ = ctx_.controls->DefaultTimeStep();
  PetscCall(PetscStrncpy(scheme, scheme_.c_str(), sizeof(scheme)));
  PetscCall(PetscStrncpy(substep, substep_.c_str(), sizeof(substep)));
  PetscCall(PetscStrncpy(order, default_order.c_str(), sizeof(order)));
  PetscOptionsBegin(Comm(), nullptr, "Time integration by operator splitting", "Integrator");
  PetscCall(PetscOptionsReal("-T", "Final time T (default: t_L for layered controls, 1 for analytic)", "Integrator", T_, &T_, nullptr));
  PetscCall(PetscOptionsReal("-dt", "Time step Δt (default: 1 for layered controls, 1/8 for analytic)", "Integrator", dt_, &dt_, nullptr));
  PetscCall(PetscOptionsString("-dt_schedule", "Variable steps 'dt1,dt2,...' (the step reaching T ends at T and is the last) or 'geometric:dt0,ratio'; overrides -dt",
                               "Integrator", schedule, schedule, sizeof(schedule), &schedule_set));
  PetscCall(PetscOptionsFList("-split", "Splitting scheme", "Integrator", SplittingSchemeList(), scheme, scheme, sizeof(scheme), nullptr));
  PetscCall(PetscOptionsString("-split_order", "Operators the -split scheme splits, comma separated ('ffn': the feed-forward block with skip relaxation)",
                               "Integrator", order, order, sizeof(order), &order_set));
  PetscCall(PetscOptionsIntArray("-split_groups", "Hybrid splitting: sizes of consecutive groups of -split_order, each a parallel substep (default: pairs)",
                                 "Integrator", groups, &num_groups, &groups_set));
  PetscCall(PetscOptionsString("-split_tree", "Explicit composition, e.g. 'seq(attention, layernorm, avg(seq(ffn1, relu), identity), layernorm)'; overrides -split",
                               "Integrator", tree, tree, sizeof(tree), &tree_set));
  PetscCall(PetscOptionsFList("-split_substep", "Substep integrator of flow leaves without '@'", "Integrator", SubstepIntegratorList(), substep, substep,
                              sizeof(substep), nullptr));
  PetscOptionsEnd();
  PetscCheck(std::isfinite(T_) && T_ > 0, Comm(), PETSC_ERR_USER_INPUT, "-T must be positive, got %g", (double)T_);
  PetscCheck(std::isfinite(dt_) && dt_ > 0, Comm(), PETSC_ERR_USER_INPUT, "-dt must be positive, got %g", (double)dt_);
  PetscCheck(T_ <= ctx_.controls->EndTime() * (1 + 1e-12), Comm(), PETSC_ERR_USER_INPUT,
             "-T %g exceeds the time span [0, %g] of the controls %s", (double)T_, (double)ctx_.controls->EndTime(),
             ctx_.controls->Description().c_str());
  PetscCheck(!tree_set || !(order_set || groups_set), Comm(), PETSC_ERR_USER_INPUT,
             "-split_order and -split_groups build a -split scheme; they cannot be combined with -split_tree, which gives the whole composition");
  scheme_ = scheme;
  substep_ = substep;
  if (schedule_set) PetscCall(ReadSchedule(schedule));
  else PetscCall(StepScheduleUniform(Comm(), T_, dt_, &schedule_));
  if (tree_set) {
    tree_ = tree;
  } else {
    std::vector<std::string> units;
    PetscCall(SplittingUnitsParse(Comm(), order, J, &units));
    PetscCall(SplittingSchemeExpression(Comm(), scheme_, units, std::vector<PetscInt>(groups, groups + (groups_set ? num_groups : 0)), &tree_));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::ReadSchedule(const std::string &spec) {
  const std::string geometric = "geometric:";
  PetscFunctionBeginUser;
  schedule_spec_ = spec;
  if (spec.compare(0, geometric.size(), geometric) == 0) {
    const std::string args = spec.substr(geometric.size());
    const size_t comma = args.find(',');
    PetscReal dt0, ratio;
    PetscCheck(comma != std::string::npos && args.find(',', comma + 1) == std::string::npos, Comm(), PETSC_ERR_USER_INPUT,
               "-dt_schedule '%s': expected 'geometric:dt0,ratio'", spec.c_str());
    PetscCall(PetscOptionsStringToReal(args.substr(0, comma).c_str(), &dt0));
    PetscCall(PetscOptionsStringToReal(args.substr(comma + 1).c_str(), &ratio));
    PetscCall(StepScheduleGeometric(Comm(), T_, dt0, ratio, &schedule_));
  } else {
    // The list itself is parsed by PETSc's option reader, sized by its number of commas.
    PetscInt n = 1 + (PetscInt)std::count(spec.begin(), spec.end(), ',');
    std::vector<PetscReal> steps(n);
    PetscCall(PetscOptionsGetRealArray(nullptr, nullptr, "-dt_schedule", steps.data(), &n, nullptr));
    steps.resize(n);
    PetscCall(StepScheduleList(Comm(), T_, steps, &schedule_));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::SetUp(Vec like) {
  PetscFunctionBeginUser;
  PetscCall(ParseComposition(tree_, ctx_, &root_, substep_));
  PetscCall(root_->SetUp(like));
  PetscFunctionReturn(0);
}

std::string Integrator::Scheme() const { return root_ ? root_->Expression() : tree_; }

PetscErrorCode Integrator::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  if (schedule_spec_.empty())
    PetscCall(PetscViewerASCIIPrintf(viewer, "Integrator: T = %g, Δt = %g, %" PetscInt_FMT " steps\n", (double)T_, (double)dt_, NumSteps()));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "Integrator: T = %g, Δt from -dt_schedule %s, %" PetscInt_FMT " steps\n", (double)T_,
                                     schedule_spec_.c_str(), NumSteps()));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  splitting: %s\n", Scheme().c_str()));
  PetscFunctionReturn(0);
}

// The controls' final projection (a network's final layer norm, applied once at t = T), if any.
PetscErrorCode Integrator::FinalProjection(Vec u) const {
  LayerNormTargets final_norm;
  bool present;
  PetscReal eps = 0;
  PetscFunctionBeginUser;
  PetscCall(ctx_.controls->SampleFinalNorm(&final_norm, &present));
  if (!present) PetscFunctionReturn(0);
  PetscCall(PetscOptionsGetReal(nullptr, nullptr, "-layernorm_eps", &eps, nullptr));
  PetscCall(LayerNormProjectOnto(*ctx_.grid, final_norm, eps, T_, u));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::Solve(Vec u, const Monitor &monitor, PetscInt first_step) {
  static PetscLogStage stage = -1;
  const PetscInt N = NumSteps();
  PetscFunctionBeginUser;
  PetscCheck(first_step >= 0 && first_step <= N, Comm(), PETSC_ERR_ARG_OUTOFRANGE,
             "cannot start the time loop at step %" PetscInt_FMT " of %" PetscInt_FMT, first_step, N);
  if (stage < 0) PetscCall(PetscLogStageRegister("Integrate", &stage));
  for (PetscInt n = first_step; n < N; ++n) {
    const PetscReal t = schedule_.t[n], dt = schedule_.dt[n];
    PetscReal norm;
    PetscCall(PetscLogStagePush(stage));
    PetscCall(root_->Advance(t, dt, u));
    if (n + 1 == N) PetscCall(FinalProjection(u));
    PetscCall(VecNorm(u, NORM_INFINITY, &norm));
    PetscCall(PetscLogStagePop());
    PetscCheck(std::isfinite(norm), Comm(), PETSC_ERR_FP, "the state became non-finite in step %" PetscInt_FMT " (t = %g to %g)",
               n + 1, (double)t, (double)schedule_.t[n + 1]);
    PetscCall(monitor(n + 1, schedule_.t[n + 1], u));
  }
  PetscFunctionReturn(0);
}

}  // namespace ctflow
