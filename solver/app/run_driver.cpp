#include "solver/app/run_driver.hpp"

#include <petscdmda.h>

#include <cmath>

#include "discretization/initial_state.hpp"
#include "solver/output/trajectory_writer.hpp"
#include "solver/timestepping/integrator.hpp"

namespace ctflow {

PetscErrorCode CheckAllOptionsUsed(MPI_Comm comm) {
  PetscInt n;
  char **names, **values;
  std::string unused;
  PetscBool left;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsHasName(nullptr, nullptr, "-options_left", &left));  // read by PetscFinalize, after this check
  PetscCall(PetscOptionsLeftGet(nullptr, &n, &names, &values));
  for (PetscInt i = 0; i < n; ++i) unused += std::string(unused.empty() ? "-" : ", -") + names[i];
  PetscCall(PetscOptionsLeftRestore(nullptr, &n, &names, &values));
  PetscCheck(unused.empty(), comm, PETSC_ERR_USER_INPUT, "unknown option(s) %s (ctflow -help lists every option)", unused.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode RunCtflow(MPI_Comm comm) {
  PetscBool help;
  Vec u;
  std::unique_ptr<Controls> controls;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsHasHelp(nullptr, &help));
  Grid grid(comm);
  InitialState initial;
  TrajectoryWriter traj(comm);
  PetscCall(grid.SetFromOptions());
  PetscCall(ControlsCreateFromOptions(&grid, &controls));
  PetscCall(initial.SetFromOptions(&grid, *controls));
  Integrator integrator(grid, *controls);
  PetscCall(integrator.SetFromOptions());
  PetscCall(traj.SetFromOptions());
  PetscCall(grid.SetUp());
  PetscCall(DMCreateGlobalVector(grid.Layout(), &u));
  PetscCall(PetscObjectSetName((PetscObject)u, "u"));
  PetscCall(integrator.SetUp(u));
  PetscCall(CheckAllOptionsUsed(comm));
  if (help) {
    PetscCall(VecDestroy(&u));
    PetscFunctionReturn(0);
  }

  PetscViewer out = PETSC_VIEWER_STDOUT_(comm);
  PetscCall(PetscPrintf(comm, "ctflow %s: controls %s, initial state %s\n", CTFLOW_VERSION, controls->Description().c_str(),
                        initial.Description().c_str()));
  PetscCall(grid.View(out));
  PetscCall(integrator.View(out));
  PetscCall(initial.Fill(grid, u));
  const PetscInt N = integrator.NumSteps();
  const TrajectoryWriter::Metadata meta = {integrator.Scheme(), controls->Description(), initial.Description(), integrator.FinalTime(),
                                           integrator.TimeStep()};
  PetscInt first_step = 0;
  PetscCheck(!(traj.Restarting() && integrator.Adaptive()), comm, PETSC_ERR_USER_INPUT,
             "-restart cannot continue a -dt_adapt run (the trajectory does not hold the step-size controller's state); run it again, "
             "or replay a finished run's -dt_adapt_save steps with -dt_schedule file:FILE");
  if (traj.Enabled()) PetscCall(traj.CheckWritable());
  if (traj.Enabled()) PetscCall(traj.SetUp(grid, *controls, integrator.Scheme(), integrator.HasOperator("attention")));
  if (traj.Substeps())
    integrator.SetSubstepMonitor({[&](const std::string &node, PetscReal t0, PetscReal t1, Vec v) { return traj.Frame(node, t0, t1, v); },
                                  [&] { return traj.DiscardFrames(); }});
  if (traj.Restarting()) PetscCall(traj.Resume(grid, meta, N, u, &first_step));
  else if (traj.Enabled()) {
    PetscCall(traj.Open(grid, meta));
    PetscCall(traj.Write(0, 0, u, true));
  }
  if (first_step) PetscCall(PetscPrintf(comm, "restarting from step %" PetscInt_FMT " of %s\n", first_step, traj.Path().c_str()));
  // t = T exactly at the last step (under -dt_adapt, N is known only at the end)
  PetscCall(integrator.Solve(
      u, [&](PetscInt step, PetscReal t, Vec v) { return traj.Write(step, t, v, t == integrator.FinalTime()); }, first_step));
  PetscCall(integrator.ViewStatistics(out));
  if (initial.Embedded()) {  // a vision Transformer: the post-processing G of §4.2
    std::vector<PetscReal> logits;
    std::string line;
    PetscCall(ClassTokenLogits(grid, *controls->Vit(), u, &logits));
    for (PetscReal z : logits) line += " " + std::to_string(z);
    PetscCall(PetscPrintf(comm, "logits:%s\n", line.c_str()));
    PetscCall(traj.WriteArray("/logits", logits));
  }
  PetscCall(traj.Close());

  PetscReal norm;
  PetscCall(VecNorm(u, NORM_2, &norm));
  PetscCall(PetscPrintf(comm, "t = %g: ||u||_L2 = %.12e\n", (double)integrator.FinalTime(), (double)(norm * std::sqrt(grid.dx() * grid.dy()))));
  if (traj.Enabled()) PetscCall(PetscPrintf(comm, "wrote %" PetscInt_FMT " states to %s\n", traj.NumSaved(), traj.Path().c_str()));
  PetscCall(VecDestroy(&u));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
