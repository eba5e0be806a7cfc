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
  PetscCall(initial.SetFromOptions(&grid));
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
  if (traj.Enabled()) {
    PetscCall(traj.CheckWritable());
    PetscCall(traj.Open(grid, {integrator.Scheme(), controls->Description(), initial.Description(), integrator.FinalTime(),
                               integrator.TimeStep()}));
    PetscCall(traj.Write(0, 0, u, true));
  }
  const PetscInt N = integrator.NumSteps();
  PetscCall(integrator.Solve(u, [&](PetscInt step, PetscReal t, Vec v) { return traj.Write(step, t, v, step == N); }));
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
