// Integrator: advances u from t = 0 to T over the time points of a step schedule (solver/step_schedule.hpp)
// with a splitting scheme (solver/composition.hpp).
//
// Options: -T (final time), -dt (uniform step; the last step is shortened to end exactly at T),
// -dt_schedule (variable steps 'dt1,dt2,...' or 'geometric:dt0,ratio'; overrides -dt), -split NAME (a
// registered scheme, solver/splitting_schemes.hpp) built from -split_order (the operators to split, default
// the paper's 'attention, layernorm, ffn, layernorm') and -split_groups (hybrid splitting), -split_tree EXPR
// (an explicit composition, which replaces the three), -split_substep (the flow leaves' default substep
// integrator, solver/substep_integrators.hpp). Defaults come from the controls: T = t_L and Δt = 1 for
// layered controls, T = 1 and Δt = 1/8 for the analytic ones. The time loop is the log stage "Integrate".
#pragma once
#include <functional>
#include <memory>

#include "solver/composition.hpp"
#include "solver/step_schedule.hpp"

namespace ctflow {

class Integrator {
 public:
  Integrator(const Grid &grid, const Controls &controls) : ctx_{&grid, &controls} {}
  PetscErrorCode SetFromOptions();
  // Builds the composition (creating its operators, which read their options).
  PetscErrorCode SetUp(Vec like);
  PetscErrorCode View(PetscViewer viewer) const;

  // Called after every step with the step number n ≥ 1 and t^n.
  using Monitor = std::function<PetscErrorCode(PetscInt step, PetscReal t, Vec u)>;
  // Frames inside a step (trajectory -traj_substeps): `frame` is called after every leaf of the composition
  // that advanced the state, with the leaf's canonical expression and the time at the end of its
  // sub-interval; `discard` is called when an attempted step is rejected (adaptive Δt), so that the frames
  // received since the last accepted step can be dropped. Monitor is called only for accepted steps.
  struct SubstepMonitor {
    std::function<PetscErrorCode(const std::string &leaf, PetscReal t, Vec u)> frame;
    std::function<PetscErrorCode()> discard;
  };
  void SetSubstepMonitor(SubstepMonitor m) { substep_monitor_ = std::move(m); }
  // Advances u from t^{first_step} (u is the state there; 0 for a fresh run, else a restart) to T.
  PetscErrorCode Solve(Vec u, const Monitor &monitor, PetscInt first_step = 0);

  PetscReal FinalTime() const { return T_; }
  // The first step Δt^0 (-dt, or the first step of -dt_schedule).
  PetscReal TimeStep() const { return schedule_.dt.empty() ? dt_ : schedule_.dt[0]; }
  PetscInt NumSteps() const { return schedule_.NumSteps(); }
  // t^0..t^N.
  const std::vector<PetscReal> &StepTimes() const { return schedule_.t; }
  std::string Scheme() const;

 private:
  MPI_Comm Comm() const { return ctx_.grid->Comm(); }
  PetscErrorCode ReadSchedule(const std::string &spec);
  PetscErrorCode FinalProjection(Vec u) const;
  OperatorContext ctx_;
  PetscReal T_ = 0, dt_ = 0;
  std::string scheme_ = "lie", tree_, substep_ = "euler", schedule_spec_;
  StepSchedule schedule_;
  std::unique_ptr<SplittingNode> root_;
  SubstepMonitor substep_monitor_;
};

}  // namespace ctflow
