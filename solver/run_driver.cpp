#include "solver/run_driver.hpp"

#include <petscdmda.h>

#include <cmath>

#include "discretization/initial_state.hpp"
#include "solver/integrator.hpp"
#include "solver/trajectory_writer.hpp"

namespace ctflow {

PetscErrorCode CheckAllOptionsUsed(MPI_Comm comm) {
  PetscInt n;
  char **names, **values;
  std::string unused;
  PetscFunctionBeginUser;
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
  if (traj.Enabled()) PetscCall(traj.CheckWritable());
  if (traj.Restarting()) PetscCall(traj.Resume(grid, meta, N, u, &first_step));
  else if (traj.Enabled()) {
    PetscCall(traj.Open(grid, meta));
    PetscCall(traj.Write(0, 0, u, true));
  }
  if (first_step) PetscCall(PetscPrintf(comm, "restarting from step %" PetscInt_FMT " of %s\n", first_step, traj.Path().c_str()));
  PetscCall(integrator.Solve(u, [&](PetscInt step, PetscReal t, Vec v) { return traj.Write(step, t, v, step == N); }, first_step));
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
  if (traj.Enabled())
    PetscCall(PetscPrintf(comm, "wrote %" PetscInt_FMT " states to %s\n", traj.NumSaved(), traj.Path().c_str()));
  PetscCall(VecDestroy(&u));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
