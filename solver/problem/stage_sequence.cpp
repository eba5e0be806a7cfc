#include "solver/problem/stage_sequence.hpp"

#include <cmath>

#include "discretization/base/number_format.hpp"

namespace ctflow {

PetscErrorCode StageSequence::SetUp(const Controls &controls, const Grid &grid0, Integrator *integrator0) {
  const MPI_Comm comm = grid0.Comm();
  PetscFunctionBeginUser;
  configured_ = configured_ && layout_ == controls.Stages();
  layout_ = controls.Stages();
  stages_.clear();
  view0_.reset();
  if (!layout_) PetscFunctionReturn(0);
  const PetscReal T = layout_->back().t1, T_given = integrator0->FinalTime();
  // An earlier SetUp gave this integrator the first stage's span itself.
  PetscCheck(std::abs(T_given - T) <= 1e-12 * T || (configured_ && T_given == (*layout_)[0].t1), comm, PETSC_ERR_USER_INPUT,
             "-T %g: a staged model runs all its stages, to T = %g", (double)T_given, (double)T);
  PetscCheck(!integrator0->HasSchedule(), comm, PETSC_ERR_USER_INPUT,
             "-dt_schedule is not supported for a staged model (stages have their own clocks)");
  const PetscReal dt = integrator0->TimeStep();
  PetscCallCXX(view0_ = std::make_unique<StageControls>(controls, 0));
  integrator0->SetControls(*view0_);
  integrator0->SetFinalTime(view0_->DefaultFinalTime());
  const Grid *previous = &grid0;
  for (PetscInt s = 1; s < (PetscInt)layout_->size(); ++s) {
    const ControlsStage &st = (*layout_)[s];
    std::unique_ptr<Stage> stage;
    PetscCallCXX(stage = std::make_unique<Stage>(comm));
    Grid &g = stage->grid;
    PetscCall(g.SetSizes(st.Nx, PETSC_DECIDE, st.Nh));
    PetscCall(g.SetImageSizes(st.Ny1, st.Ny2));
    PetscCall(g.SetLengths(grid0.Lx(), PETSC_DECIDE, grid0.dh() * st.Nh));
    PetscCall(g.SetImageLengths(grid0.Image().L[0], grid0.Image().L[1]));
    PetscCall(g.SetUp());
    PetscCall(DMCreateGlobalVector(g.Layout(), stage->u.Out()));
    PetscCall(PetscObjectSetName((PetscObject)stage->u.Get(), "u"));
    PetscCall(stage->transfer.SetUp(*previous, g));
    PetscCallCXX(stage->view = std::make_unique<StageControls>(controls, s));
    PetscCallCXX(stage->integrator = std::make_unique<Integrator>(g, *stage->view));
    PetscCall(stage->integrator->SetFromOptions());
    stage->integrator->SetFinalTime(stage->view->DefaultFinalTime());
    stage->integrator->SetTimeStep(dt);
    PetscCall(stage->integrator->SetUp(stage->u));
    previous = &g;
    PetscCallCXX(stages_.push_back(std::move(stage)));
  }
  configured_ = true;
  PetscFunctionReturn(0);
}

PetscErrorCode StageSequence::Solve(Vec u0, PetscInt steps, TrajectoryWriter *traj, const Monitor &monitor) {
  std::vector<PetscReal> times;
  Vec previous = u0;
  PetscFunctionBeginUser;
  if (!layout_) PetscFunctionReturn(0);
  for (const ControlsStage &st : *layout_) PetscCallCXX(times.push_back(st.t0));
  PetscCallCXX(times.push_back(layout_->back().t1));
  for (size_t s = 0; s < stages_.size(); ++s) {
    Stage &stage = *stages_[s];
    const PetscReal t0 = (*layout_)[s + 1].t0;
    const PetscInt first = steps;
    PetscCall(stage.transfer.Apply(previous, stage.u));
    if (traj->Enabled()) PetscCall(traj->SetStage((PetscInt)s + 1, stage.grid, times));
    if (traj->Substeps()) {
      PetscCall(traj->Frame("transfer", t0, t0, stage.u));
      stage.integrator->SetSubstepMonitor(
          {[traj, t0](const std::string &node, PetscReal a, PetscReal b, Vec u) { return traj->Frame(node, t0 + a, t0 + b, u); },
           [traj] { return traj->DiscardFrames(); }});
    }
    const Integrator &integrator = *stage.integrator;
    PetscCall(stage.integrator->Solve(
        stage.u, [&](PetscInt step, PetscReal t, Vec u) { return monitor(first + step, t0 + t, u, integrator.IsFinalTime(t)); }));
    steps += stage.integrator->NumSteps();
    previous = stage.u;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode StageSequence::SetAdjoint(bool enabled, PetscInt checkpoints) {
  PetscFunctionBeginUser;
  for (auto &stage : stages_) {
    PetscCall(stage->integrator->SetAdjoint(enabled, checkpoints));
    if (enabled && !stage->lambda) PetscCall(VecDuplicate(stage->u, stage->lambda.Out()));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode StageSequence::SolveAdjoint(Vec lambda0, ControlsArrays *g) {
  static PetscLogEvent event = 0;
  PetscFunctionBeginUser;
  if (!event) PetscCall(PetscLogEventRegister("StageTransferTranspose", 0, &event));
  for (size_t s = stages_.size(); s-- > 0;) {
    Stage &stage = *stages_[s];
    PetscCall(stage.integrator->SolveAdjoint(stage.lambda, g));
    PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
    PetscCall(stage.transfer.ApplyTranspose(stage.lambda, s ? stages_[s - 1]->lambda.Get() : lambda0));
    PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  }
  PetscFunctionReturn(0);
}

std::string StageSequence::Expression(const Integrator &integrator0) const {
  if (!layout_) return integrator0.Scheme();
  std::string e;
  for (size_t s = 0; s < layout_->size(); ++s) {
    const ControlsStage &st = (*layout_)[s];
    if (s > 0) e += "; transfer (" + stages_[s - 1]->transfer.Description() + "); ";
    e += "stage " + std::to_string(s) + " [" + FormatShortest(st.t0) + ", " + FormatShortest(st.t1) +
         "]: " + (s == 0 ? integrator0.Scheme() : stages_[s - 1]->integrator->Scheme());
  }
  return e;
}

PetscErrorCode StageSequence::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  for (size_t s = 0; s < stages_.size(); ++s) {
    const ControlsStage &st = (*layout_)[s + 1];
    PetscCall(PetscViewerASCIIPrintf(viewer, "Stage %zu on [%g, %g], after the transfer: %s\n", s + 1, (double)st.t0, (double)st.t1,
                                     stages_[s]->transfer.Description().c_str()));
    PetscCall(stages_[s]->grid.View(viewer));
    PetscCall(stages_[s]->integrator->View(viewer));
  }
  PetscFunctionReturn(0);
}

bool StageSequence::HasOperator(const std::string &name, const Integrator &integrator0) const {
  bool has = integrator0.HasOperator(name);
  for (const auto &stage : stages_) has = has || stage->integrator->HasOperator(name);
  return has;
}

}  // namespace ctflow
