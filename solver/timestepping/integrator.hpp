// Integrator: advances u from t = 0 to T over the time points of a step schedule (solver/timestepping/step_schedule.hpp)
// with a splitting scheme (solver/timestepping/composition.hpp), then applies the controls' final expression once at
// t = T (Controls::FinalExpression, e.g. a network's final layer norm).
//
// Options (each with a setter): -T (SetFinalTime), -dt (SetTimeStep; the last step is shortened to end exactly at T),
// -dt_schedule (SetSchedule: variable steps 'dt1,dt2,...', 'file:PATH' or 'geometric:dt0,ratio'; overrides -dt),
// -dt_adapt and -dt_adapt_* (adaptive Δt from a splitting error estimate, solver/timestepping/step_adapt.hpp;
// Adapt()), -split NAME (SetScheme: a registered scheme, solver/timestepping/splitting_schemes.hpp) built from
// -split_order (SetOrder: the operators to split, default the paper's 'attention, layernorm, ffn, layernorm') and
// -split_groups (SetGroups: hybrid splitting), -split_tree EXPR (SetTree: an explicit composition, which replaces
// the three), -split_substep (SetSubstepType: the flow leaves' default substep integrator,
// solver/timestepping/substep_integrators.hpp), -split_projections hard|relax|manifold (SetProjectionForm: how the
// scheme treats the projections, solver/timestepping/projection_forms.hpp), -monitor (Progress(): a line per step with
// wall time and time left, solver/timestepping/progress_monitor.hpp). Defaults come from the controls: T = t_L and Δt = 1 for layered
// controls, T = 1 and Δt = 1/8 for the analytic ones. The time loop is the log stage "Integrate".
//
// Life cycle: construct, SetFromOptions (validates, and builds the schedule when the controls are loaded), setters,
// SetUp (builds the schedule and the composition for the controls and settings of now), Solve (any number of times).
#pragma once
#include <functional>
#include <memory>

#include "discretization/base/petsc_handle.hpp"
#include "solver/timestepping/composition.hpp"
#include "solver/timestepping/progress_monitor.hpp"
#include "solver/timestepping/projection_forms.hpp"
#include "solver/timestepping/step_adapt.hpp"
#include "solver/timestepping/step_schedule.hpp"

namespace ctflow {

class Integrator {
 public:
  Integrator(const Grid &grid, const Controls &controls) : ctx_{&grid, &controls}, adapt_(grid.Comm()) {}
  PetscErrorCode SetFromOptions();
  // The controls whose defaults (T, Δt, operator order) and kernels the integrator uses.
  void SetControls(const Controls &controls) { ctx_.controls = &controls; }
  void SetFinalTime(PetscReal T) { T_ = T, T_set_ = true; }
  void SetTimeStep(PetscReal dt) { dt_ = dt, dt_set_ = true; }
  // spec: as -dt_schedule; "" for uniform steps of -dt.
  void SetSchedule(const std::string &spec) { schedule_spec_ = spec; }
  void SetScheme(const std::string &name) { scheme_ = name; }
  // order: as -split_order, "" for the controls' (or the paper's) order.
  void SetOrder(const std::string &order) { order_ = order; }
  void SetGroups(const std::vector<PetscInt> &groups) { groups_ = groups; }
  // An explicit composition (empty: the -split scheme's).
  void SetTree(const SplittingExpression &tree) { tree_ = tree, tree_set_ = true; }
  PetscErrorCode SetTree(const std::string &expr);
  void SetSubstepType(const std::string &name) { substep_ = name; }
  void SetProjectionForm(ProjectionForm form) { form_ = form; }
  // Adaptive Δt (its setters).
  StepAdapt &Adapt() { return adapt_; }
  // -monitor: a progress line per step (SetEnabled, SetPrefix).
  ProgressMonitor &Progress() { return progress_; }
  // Builds the schedule and the composition (creating its operators, which read their options).
  PetscErrorCode SetUp(Vec like);
  PetscErrorCode View(PetscViewer viewer) const;

  // Called after every step with the step number n ≥ 1 and t^n.
  using Monitor = std::function<PetscErrorCode(PetscInt step, PetscReal t, Vec u)>;
  // Frames inside a step (trajectory -traj_substeps): `frame` is called after every node of the composition
  // that changed the state (SplittingNode::SetFrameHook: leaves but identity, avg/sum groups; and the
  // controls' final expression), with its canonical expression, its sub-interval [t0, t1]
  // and the state it advanced; `discard` is called when an attempted step is rejected (adaptive Δt), so
  // that the frames received since the last accepted step can be dropped. Monitor is called only for
  // accepted steps.
  struct SubstepMonitor {
    std::function<PetscErrorCode(const std::string &leaf, PetscReal t0, PetscReal t1, Vec u)> frame;
    std::function<PetscErrorCode()> discard;
  };
  void SetSubstepMonitor(SubstepMonitor m) { substep_monitor_ = std::move(m); }
  // Advances u from t^{first_step} (u is the state there; 0 for a fresh run, else a restart) to T. Under
  // -dt_adapt the steps are chosen as it goes (first_step must be 0); the last call of monitor has t = T.
  PetscErrorCode Solve(Vec u, const Monitor &monitor, PetscInt first_step = 0);
  bool Adaptive() const { return adapt_.Enabled(); }
  // "adaptive: N accepted, M rejected steps" after an adaptive Solve; nothing otherwise.
  PetscErrorCode ViewStatistics(PetscViewer viewer) const { return adapt_.ViewStatistics(viewer); }

  // The discrete adjoint of Solve (docs/adjoint.md; integrator_adjoint.cpp). Call before Solve: keep what the adjoint
  // needs — every step's leaf inputs, recorded during Solve, or with checkpoints = n ≥ 1 at most n states, the others
  // recomputed by a binomial schedule (solver/timestepping/checkpoint_schedule.hpp; -adjoint_checkpoints).
  PetscErrorCode SetAdjoint(bool enabled, PetscInt checkpoints = PETSC_DETERMINE);
  // After Solve: λ, on entry ∂L/∂u(T) (after the final expression), becomes ∂L/∂u(0); g (may be null) gains ∂L/∂θ,
  // this rank's share. The steps Solve took are replayed (also adaptive ones: their sizes are held fixed).
  PetscErrorCode SolveAdjoint(Vec lambda, ControlsArrays *g);

  PetscReal FinalTime() const { return T_; }
  // Whether t is the final time (the step schedule and the adaptive clock end on T exactly).
  bool IsFinalTime(PetscReal t) const { return t == T_; }
  // The first step Δt^0 (-dt, or the first step of -dt_schedule; under -dt_adapt the first trial step).
  PetscReal TimeStep() const { return schedule_.dt.empty() ? dt_ : schedule_.dt[0]; }
  // Steps are given by -dt_schedule rather than -dt.
  bool HasSchedule() const { return !schedule_spec_.empty(); }
  // The file of -dt_schedule file:PATH, or "".
  std::string ScheduleFile() const { return schedule_spec_.rfind("file:", 0) == 0 ? schedule_spec_.substr(5) : ""; }
  // The number of steps N and t^0..t^N; under -dt_adapt known only after Solve (before it: 0 and {0}).
  PetscInt NumSteps() const { return schedule_.NumSteps(); }
  const std::vector<PetscReal> &StepTimes() const { return schedule_.t; }
  std::string Scheme() const;
  // The composition's tree (after SetUp: the scheme's).
  const SplittingExpression &Tree() const { return tree_; }
  // Whether the composition has a leaf `name` (after SetUp).
  bool HasOperator(const std::string &name) const { return root_ && root_->HasOperator(name); }
  // Whether the scheme is exact on a grid of several sequences (every operator's Operator::SupportsSequences).
  bool SupportsSequences() const { return !root_ || root_->SupportsSequences(); }

 private:
  MPI_Comm Comm() const { return ctx_.grid->Comm(); }
  // Resolves the defaults from the controls, validates, and builds the schedule and the scheme's tree(s).
  PetscErrorCode Configure();
  PetscErrorCode ReadSchedule(const std::string &spec);
  PetscErrorCode SolveAdaptive(Vec u, const Monitor &monitor);
  PetscErrorCode Finish(Vec u);
  // Adjoint helpers: record step n (or keep u^0); advance u over steps [a, b); transpose step n at a tape slot, or
  // recompute it from its start u_n first; reverse steps [a, b) from u_a with c free checkpoints.
  PetscErrorCode ResetTape();
  PetscErrorCode Store(PetscInt n, Vec u);
  PetscErrorCode AdvanceSteps(PetscInt a, PetscInt b, Vec u);
  PetscErrorCode StepTranspose(PetscInt n, PetscInt slot, Vec lambda, ControlsArrays *g);
  PetscErrorCode RecomputeAndTranspose(PetscInt n, Vec u_n, Vec lambda, ControlsArrays *g);
  PetscErrorCode Reverse(PetscInt a, PetscInt b, Vec u_a, PetscInt c, Vec lambda, ControlsArrays *g);
  OperatorContext ctx_;
  PetscReal T_ = 0, dt_ = 0;
  bool T_set_ = false, dt_set_ = false, tree_set_ = false;
  std::string scheme_ = "lie", order_, substep_ = "euler", schedule_spec_;
  std::vector<PetscInt> groups_;
  ProjectionForm form_ = ProjectionForm::Hard;
  SplittingExpression tree_, counterpart_tree_;
  StepSchedule schedule_;
  std::unique_ptr<SplittingNode> root_, counterpart_, final_;  // the scheme; its reversed-order counterpart (-dt_adapt); at t = T
  StepAdapt adapt_;
  ProgressMonitor progress_;
  SubstepMonitor substep_monitor_;
  bool adjoint_ = false;
  PetscInt checkpoints_ = PETSC_DETERMINE;  // states kept for the adjoint; PETSC_DETERMINE: all
  std::vector<UniqueVec> stored_;           // with checkpoints: the initial state
  PetscInt recorded_ = 0;                   // steps recorded on the tape by the last Solve
  UniqueVec replay_;                        // work state of the adjoint's recomputation
};

}  // namespace ctflow
