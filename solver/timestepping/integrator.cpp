#include "solver/timestepping/integrator.hpp"

#include <algorithm>
#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/petsc_handle.hpp"
#include "discretization/base/sizes.hpp"
#include "solver/timestepping/splitting_schemes.hpp"
#include "solver/timestepping/substep_integrators.hpp"

namespace ctflow {

namespace {

// The log stage "Integrate" of the time loop.
PetscErrorCode IntegrateStage(PetscLogStage *stage) {
  static PetscLogStage registered = -1;
  PetscFunctionBeginUser;
  if (registered < 0) PetscCall(PetscLogStageRegister("Integrate", &registered));
  *stage = registered;
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode Integrator::SetFromOptions() {
  const PetscInt J = ctx_.controls->NumFeedForward();
  const std::string default_order = ctx_.controls->DefaultOrder().empty() ? SplittingDefaultOrder(J) : ctx_.controls->DefaultOrder();
  char scheme[256], substep[256], tree[4096] = "", order[4096], schedule[4096] = "";
  PetscInt groups[256], num_groups = 256;
  PetscReal T = T_set_ ? T_ : ctx_.controls->DefaultFinalTime(), dt = dt_set_ ? dt_ : ctx_.controls->DefaultTimeStep();
  PetscBool T_set, dt_set, tree_set = PETSC_FALSE, order_set = PETSC_FALSE, groups_set = PETSC_FALSE, schedule_set = PETSC_FALSE;
  PetscBool monitor = progress_.Enabled() ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionList schemes, substeps;
  char projections[64];
  ProjectionForm form;
  PetscFunctionBeginUser;
  std::fill_n(groups, num_groups, 2);  // shown by -help: pairs
  PetscCall(PetscStrncpy(projections, ProjectionFormNames[(int)form_], sizeof(projections)));
  PetscCall(SplittingSchemeOptionsList(&schemes));
  PetscCall(SubstepIntegratorOptionsList(&substeps));
  PetscCall(PetscStrncpy(scheme, scheme_.c_str(), sizeof(scheme)));
  PetscCall(PetscStrncpy(substep, substep_.c_str(), sizeof(substep)));
  PetscCall(PetscStrncpy(order, order_.empty() ? default_order.c_str() : order_.c_str(), sizeof(order)));
  PetscCall(PetscStrncpy(schedule, schedule_spec_.c_str(), sizeof(schedule)));
  PetscCall(OptionsCheckIntList(Comm(), nullptr, "-split_groups"));
  PetscOptionsBegin(Comm(), nullptr, "Time integration by operator splitting", "Integrator");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsReal("-T", "Final time T (default: t_L for layered controls, 1 for analytic)", "Integrator", T, &T, &T_set));
  PetscCall(PetscOptionsReal("-dt", "Time step Δt (default: 1 for layered controls, 1/8 for analytic)", "Integrator", dt, &dt, &dt_set));
  PetscCall(PetscOptionsString(
      "-dt_schedule",
      "Variable steps 'dt1,dt2,...' or 'file:PATH' (the step reaching T ends at T and is the last) or 'geometric:dt0,ratio'; overrides -dt",
      "Integrator", schedule, schedule, sizeof(schedule), &schedule_set));
  PetscCall(PetscOptionsFList("-split", "Splitting scheme", "Integrator", schemes, scheme, scheme, sizeof(scheme), nullptr));
  PetscCall(PetscOptionsString("-split_order",
                               "Operators the -split scheme splits, comma separated ('ffn': the feed-forward block with skip relaxation)",
                               "Integrator", order, order, sizeof(order), &order_set));
  PetscCall(PetscOptionsIntArray("-split_groups",
                                 "Hybrid splitting: sizes of consecutive groups of -split_order, each a parallel substep (default: pairs)",
                                 "Integrator", groups, &num_groups, &groups_set));
  PetscCall(PetscOptionsString("-split_tree",
                               "Explicit composition, e.g. 'seq(attention, layernorm, avg(seq(ffn1, relu), identity), layernorm)'; overrides -split",
                               "Integrator", tree, tree, sizeof(tree), &tree_set));
  PetscCall(PetscOptionsFList("-split_substep", "Substep integrator of flow leaves without '@'", "Integrator", substeps, substep, substep,
                              sizeof(substep), nullptr));
  PetscCall(PetscOptionsString("-split_projections",
                               "Projections as exact proximal maps (hard, the paper's), relaxation flows u_t = λ (P_S(u) - u) (relax), or the "
                               "layer norm as a manifold constraint of the flows (manifold)",
                               "Integrator", projections, projections, sizeof(projections), nullptr));
  PetscCall(PetscOptionsBool("-monitor", "Print step, t, dt, wall time and the estimated time left after every step", "Integrator", monitor, &monitor,
                             nullptr));
  PetscOptionsEnd();
  PetscCall(ProjectionFormParse(Comm(), "-split_projections", projections, &form));
  progress_.SetEnabled(monitor);
  PetscCall(adapt_.SetFromOptions());
  if (T_set) SetFinalTime(T);
  if (dt_set) SetTimeStep(dt);
  if (schedule_set) SetSchedule(schedule);
  SetScheme(scheme);
  SetSubstepType(substep);
  SetProjectionForm(form);
  if (order_set) SetOrder(order);
  if (groups_set) SetGroups(std::vector<PetscInt>(groups, groups + num_groups));
  if (tree_set) PetscCall(SetTree(tree));
  PetscCall(Configure());
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::SetTree(const std::string &expr) {
  SplittingExpression tree;
  PetscFunctionBeginUser;
  PetscCall(SplittingExpressionParse(Comm(), expr, &tree));
  SetTree(tree);
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::Configure() {
  const Controls &controls = *ctx_.controls;
  const PetscInt J = controls.NumFeedForward();
  PetscFunctionBeginUser;
  if (!T_set_) T_ = controls.DefaultFinalTime();
  if (!dt_set_) dt_ = controls.DefaultTimeStep();
  PetscCheck(std::isfinite(T_) && T_ > 0, Comm(), PETSC_ERR_USER_INPUT, "-T must be positive, got %g", (double)T_);
  PetscCheck(std::isfinite(dt_) && dt_ > 0, Comm(), PETSC_ERR_USER_INPUT, "-dt must be positive, got %g", (double)dt_);
  PetscCheck(T_ <= controls.EndTime() || T_ - controls.EndTime() <= 1e-12 * controls.EndTime(), Comm(), PETSC_ERR_USER_INPUT,
             "-T %g exceeds the time span [0, %g] of the controls %s", (double)T_, (double)controls.EndTime(), controls.Description().c_str());
  PetscCheck(!tree_set_ || (order_.empty() && groups_.empty()), Comm(), PETSC_ERR_USER_INPUT,
             "-split_order and -split_groups build a -split scheme; they cannot be combined with -split_tree, which gives the whole composition");
  PetscCheck(!adapt_.Enabled() || schedule_spec_.empty(), Comm(), PETSC_ERR_USER_INPUT,
             "-dt_adapt chooses the steps; it cannot be combined with -dt_schedule");
  PetscCheck(!adapt_.Enabled() || !tree_set_, Comm(), PETSC_ERR_USER_INPUT,
             "-dt_adapt needs a -split scheme, whose reversed-order counterpart estimates the error; an explicit -split_tree has none");
  PetscCall(adapt_.SetUp(T_, dt_));
  if (adapt_.Enabled()) schedule_ = StepSchedule{{0}, {}};  // chosen by SolveAdaptive
  else if (!schedule_spec_.empty()) PetscCall(ReadSchedule(schedule_spec_));
  else PetscCall(StepScheduleUniform(Comm(), T_, dt_, &schedule_));
  PetscCheck(!tree_set_ || form_ != ProjectionForm::Manifold, Comm(), PETSC_ERR_USER_INPUT,
             "-split_projections manifold builds the step from -split_order; with -split_tree write it out, e.g. 'seq(layernorm[0.5, 0.5], "
             "tangent_attention, layernorm[1, 1])'");
  PetscCheck(form_ != ProjectionForm::Manifold || groups_.empty(), Comm(), PETSC_ERR_USER_INPUT,
             "-split_groups cannot be combined with -split_projections manifold, which removes the layer norms from the units");
  if (tree_set_) PetscFunctionReturn(0);
  std::vector<SplittingExpression> units;
  SplittingExpression constraint;
  PetscInt p;
  const std::string order = !order_.empty() ? order_ : !controls.DefaultOrder().empty() ? controls.DefaultOrder() : SplittingDefaultOrder(J);
  PetscCall(SplittingUnitsParse(Comm(), order, J, &units));
  PetscCall(SplittingSchemeOrder(Comm(), scheme_, &p));
  PetscCall(ProjectionFormUnits(Comm(), form_, p, &units, &constraint));
  if (!groups_.empty()) {
    bool uses;
    PetscCall(SplittingSchemeUsesGroups(Comm(), scheme_, units, &uses));
    PetscCheck(uses || units.size() < 2, Comm(), PETSC_ERR_USER_INPUT,
               "-split_groups groups the operators of a hybrid scheme; -split %s does not use it", scheme_.c_str());
  }
  PetscCall(SplittingSchemeBuild(Comm(), scheme_, units, groups_, &tree_));
  PetscCallCXX(tree_ = ProjectionFormStep(form_, tree_, constraint));
  if (adapt_.Enabled()) {
    PetscCall(SplittingSchemeBuildReversed(Comm(), scheme_, units, groups_, &counterpart_tree_));
    PetscCallCXX(counterpart_tree_ = ProjectionFormStep(form_, counterpart_tree_, constraint));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::ReadSchedule(const std::string &spec) {
  const std::string geometric = "geometric:", file = "file:";
  PetscFunctionBeginUser;
  if (spec.compare(0, file.size(), file) == 0) {
    std::vector<PetscReal> steps;
    PetscCall(StepScheduleReadFile(Comm(), spec.substr(file.size()), &steps));
    PetscCall(StepScheduleList(Comm(), T_, steps, &schedule_, ctx_.controls->Breakpoints()));
  } else if (spec.compare(0, geometric.size(), geometric) == 0) {
    const std::string args = spec.substr(geometric.size());
    const size_t comma = args.find(',');
    PetscReal dt0, ratio;
    PetscCheck(comma != std::string::npos && args.find(',', comma + 1) == std::string::npos, Comm(), PETSC_ERR_USER_INPUT,
               "-dt_schedule '%s': expected 'geometric:dt0,ratio'", spec.c_str());
    PetscCall(PetscOptionsStringToReal(args.substr(0, comma).c_str(), &dt0));
    PetscCall(PetscOptionsStringToReal(args.substr(comma + 1).c_str(), &ratio));
    PetscCall(StepScheduleGeometric(Comm(), T_, dt0, ratio, &schedule_));
  } else {
    std::vector<PetscReal> steps;
    PetscCall(StepScheduleParseList(Comm(), spec, &steps));
    PetscCall(StepScheduleList(Comm(), T_, steps, &schedule_, ctx_.controls->Breakpoints()));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::SetUp(Vec like) {
  const size_t Ny = ctx_.grid->Ny(), Nh = ctx_.grid->Nh();
  std::vector<WorkArray> kernels;
  SplittingExpression tree;
  PetscFunctionBeginUser;
  PetscCall(Configure());
  PetscCall(ProjectionFormLeaves(form_, tree_, ctx_, &tree));
  // The operators sample the controls on the grid (analytic and function controls: dense N_y × N_y kernels, N_h
  // of them per attention projection; a two-dimensional Ω_y has stencils instead): their size is checked before any
  // is sampled.
  if (!ctx_.grid->TwoDimensional()) PetscCallCXX(kernels.push_back({"W_j (N_y x N_y)", {Ny, Ny}}));
  if (tree.HasOperator("attention"))
    for (const char *name : {"W^Q (N_h x N_y x N_y)", "W^K (N_h x N_y x N_y)", "W^V (N_h x N_y x N_y)"})
      PetscCallCXX(kernels.push_back({name, {Nh, Ny, Ny}}));
  PetscCall(WorkSpaceCheck(Comm(), "the controls sampled on the grid", kernels));
  PetscCall(CompositionCreate(tree, ctx_, substep_, &root_));
  PetscCall(root_->SetUp(like));
  counterpart_.reset();
  if (adapt_.Enabled()) {
    PetscInt p;
    PetscCall(ProjectionFormLeaves(form_, counterpart_tree_, ctx_, &tree));
    PetscCall(CompositionCreate(tree, ctx_, substep_, &counterpart_));
    PetscCall(counterpart_->SetUp(like));
    PetscCall(SplittingSchemeOrder(Comm(), scheme_, &p));
    adapt_.SetScheme(scheme_, p, counterpart_->Expression());
  }
  final_.reset();
  if (!ctx_.controls->FinalExpression().empty()) {
    PetscCall(ParseComposition(ctx_.controls->FinalExpression(), ctx_, &final_, substep_));
    PetscCall(final_->SetUp(like));
  }
  const SplittingNode::FrameHook hook = [this](const std::string &node, PetscReal t0, PetscReal t1, Vec u) {
    return substep_monitor_.frame ? substep_monitor_.frame(node, t0, t1, u) : 0;
  };
  root_->SetFrameHook(hook);
  if (final_) final_->SetFrameHook(hook);
  PetscFunctionReturn(0);
}

std::string Integrator::Scheme() const { return root_ ? root_->Expression() : SplittingExpressionFormat(tree_.Canonical()); }

PetscErrorCode Integrator::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  if (adapt_.Enabled())
    PetscCall(PetscViewerASCIIPrintf(viewer, "Integrator: T = %g, adaptive Δt from %g (-dt_adapt)\n", (double)T_, (double)adapt_.Proposal()));
  else if (schedule_spec_.empty())
    PetscCall(PetscViewerASCIIPrintf(viewer, "Integrator: T = %g, Δt = %g, %" PetscInt_FMT " steps\n", (double)T_, (double)dt_, NumSteps()));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "Integrator: T = %g, Δt from -dt_schedule %s, %" PetscInt_FMT " steps\n", (double)T_,
                                     schedule_spec_.c_str(), NumSteps()));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  splitting: %s\n", Scheme().c_str()));
  PetscCall(adapt_.View(viewer));
  PetscFunctionReturn(0);
}

// The controls' final expression (a network's final layer norm), once at t = T.
PetscErrorCode Integrator::Finish(Vec u) {
  PetscFunctionBeginUser;
  if (final_) PetscCall(final_->Advance(T_, 0, u));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::Solve(Vec u, const Monitor &monitor, PetscInt first_step) {
  PetscLogStage stage = -1;
  const PetscInt N = NumSteps();
  PetscFunctionBeginUser;
  PetscCheck(root_, Comm(), PETSC_ERR_ORDER, "Integrator::SetUp must come before Solve");
  if (adapt_.Enabled()) {
    PetscCheck(first_step == 0, Comm(), PETSC_ERR_USER_INPUT, "-dt_adapt runs cannot be restarted (step %" PetscInt_FMT ")", first_step);
    PetscCall(SolveAdaptive(u, monitor));
    PetscFunctionReturn(0);
  }
  PetscCheck(first_step >= 0 && first_step <= N, Comm(), PETSC_ERR_ARG_OUTOFRANGE,
             "cannot start the time loop at step %" PetscInt_FMT " of %" PetscInt_FMT, first_step, N);
  PetscCheck(!adjoint_ || first_step == 0, Comm(), PETSC_ERR_USER_INPUT, "a restarted run (step %" PetscInt_FMT ") has no adjoint", first_step);
  PetscCall(ResetTape());
  PetscCall(IntegrateStage(&stage));
  progress_.Start(first_step, schedule_.t[first_step], N, T_);
  for (PetscInt n = first_step; n < N; ++n) {
    const PetscReal t = schedule_.t[n], dt = schedule_.dt[n];
    PetscReal norm;
    PetscCall(Store(n, u));
    PetscCall(PetscLogStagePush(stage));
    PetscCall(root_->Advance(t, dt, u));
    if (n + 1 == N) PetscCall(Finish(u));
    PetscCall(VecNorm(u, NORM_INFINITY, &norm));
    PetscCall(PetscLogStagePop());
    PetscCheck(std::isfinite(norm), Comm(), PETSC_ERR_FP, "the state became non-finite in step %" PetscInt_FMT " (t = %g to %g)", n + 1, (double)t,
               (double)schedule_.t[n + 1]);
    if (monitor) PetscCall(monitor(n + 1, schedule_.t[n + 1], u));
    PetscCall(progress_.Step(Comm(), n + 1, schedule_.t[n + 1], dt));
  }
  PetscFunctionReturn(0);
}

// -dt_adapt (solver/timestepping/step_adapt.hpp): every attempt advances u by the scheme and a copy v by its reversed-order
// counterpart over the same [t, t + h]; a rejected attempt restores u. A step that would reach (or come within
// a tenth of a step of) the next breakpoint or T ends on it. An accepted step advances the StepClock as a list
// schedule of the same steps does, so that -dt_schedule file: of the saved steps replays the run bit for bit.
PetscErrorCode Integrator::SolveAdaptive(Vec u, const Monitor &monitor) {
  PetscLogStage stage = -1;
  StepClock clock(T_, ctx_.controls->Breakpoints());
  UniqueVec start, v;
  PetscFunctionBeginUser;
  PetscCall(IntegrateStage(&stage));
  PetscCall(VecDuplicate(u, start.Out()));
  PetscCall(VecDuplicate(u, v.Out()));
  PetscCall(adapt_.SetUp(T_, dt_));
  schedule_ = StepSchedule{{0}, {}};
  PetscCall(ResetTape());
  progress_.Start(0, 0, 0, T_);
  while (!clock.Done()) {
    const PetscReal t = clock.Time(), stop = clock.NextStop();
    const bool lands = clock.Peek(adapt_.Reach()) >= stop;
    const PetscReal h = lands ? stop - t : adapt_.Proposal();
    PetscReal err;
    bool accept;
    PetscCall(VecCopy(u, start));
    PetscCall(VecCopy(u, v));
    PetscCall(Store(NumSteps(), u));  // a rejected attempt's record is overwritten by the next one
    PetscCall(PetscLogStagePush(stage));
    PetscCall(root_->Advance(t, h, u));
    PetscCall(counterpart_->Advance(t, h, v));
    PetscCall(PetscLogStagePop());
    PetscCall(adapt_.ErrorNorm(u, v, &err));
    PetscCall(adapt_.Judge(t, h, err, lands, &accept));
    if (!accept) {
      PetscCall(VecCopy(start, u));
      if (substep_monitor_.discard) PetscCall(substep_monitor_.discard());
      continue;
    }
    PetscCallCXX(schedule_.dt.push_back(h));
    PetscCallCXX(schedule_.t.push_back(clock.Advance(h)));
    if (clock.Done()) PetscCall(Finish(u));
    if (monitor) PetscCall(monitor(NumSteps(), clock.Time(), u));
    PetscCall(progress_.Step(Comm(), NumSteps(), clock.Time(), h));
  }
  PetscCall(adapt_.Save(schedule_.dt, Scheme()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
