// Running ctflow's solver in-process, the way the ctflow executable assembles it.
#include <algorithm>
#include <cmath>

#include "discretization/analytic_controls.hpp"
#include "discretization/initial_state.hpp"
#include "discretization/layered_controls.hpp"
#include "solver/timestepping/integrator.hpp"
#include "support/layered_model.hpp"

namespace ctflow_test {

PetscErrorCode GatherToAll(Vec v, Matrix *all) {
  VecScatter scatter;
  Vec seq;
  const PetscScalar *a;
  PetscInt n;
  PetscFunctionBeginUser;
  PetscCall(VecScatterCreateToAll(v, &scatter, &seq));
  PetscCall(VecScatterBegin(scatter, v, seq, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter, v, seq, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetSize(seq, &n));
  PetscCall(VecGetArrayRead(seq, &a));
  all->assign(a, a + n);
  PetscCall(VecRestoreArrayRead(seq, &a));
  PetscCall(VecScatterDestroy(&scatter));
  PetscCall(VecDestroy(&seq));
  PetscFunctionReturn(0);
}

PetscErrorCode CreateState(const ctflow::Grid &grid, const Matrix *u0, const ctflow::InitialState *f, Vec *u) {
  PetscFunctionBeginUser;
  PetscCall(DMCreateGlobalVector(grid.Layout(), u));
  if (u0) {
    PetscScalar *a;
    PetscCall(VecGetArrayWrite(*u, &a));
    std::copy_n(&(*u0)[grid.XStart() * grid.Ny()], grid.XLocal() * grid.Ny(), a);
    PetscCall(VecRestoreArrayWrite(*u, &a));
  } else {
    PetscCall(f->Fill(grid, *u));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode Integrate(ctflow::Grid &grid, const ctflow::Controls &controls, const Matrix *u0, const ctflow::InitialState *f,
                                Matrix *u_final) {
  Vec u;
  PetscFunctionBeginUser;
  ctflow::Integrator integrator(grid, controls);
  PetscCall(integrator.SetFromOptions());
  PetscCall(grid.SetUp());
  PetscCall(CreateState(grid, u0, f, &u));
  PetscCall(integrator.SetUp(u));
  PetscCall(integrator.Solve(u, [](PetscInt, PetscReal, Vec) { return PetscErrorCode(0); }));
  PetscCall(GatherToAll(u, u_final));
  PetscCall(VecDestroy(&u));
  PetscFunctionReturn(0);
}

PetscErrorCode SolveLayered(MPI_Comm comm, const std::string &controls_path, const Matrix &u0, int Nx, Matrix *u) {
  PetscFunctionBeginUser;
  ctflow::Grid grid(comm);
  ctflow::LayeredControls controls(comm);
  PetscCall(grid.SetFromOptions());
  PetscCall(grid.RequireSize("-Nx", Nx, "the test"));
  PetscCall(controls.Load(controls_path, &grid));
  PetscCall(Integrate(grid, controls, &u0, nullptr, u));
  PetscFunctionReturn(0);
}

PetscErrorCode SolveAnalytic(MPI_Comm comm, Matrix *u) {
  PetscFunctionBeginUser;
  ctflow::Grid grid(comm);
  ctflow::AnalyticControls controls(comm);
  ctflow::InitialState f;
  PetscCall(grid.SetFromOptions());
  PetscCall(controls.SetFromOptions());
  PetscCall(f.SetFromOptions(&grid, controls));
  PetscCall(Integrate(grid, controls, nullptr, &f, u));
  PetscFunctionReturn(0);
}

double MaxRelativeDifference(const Matrix &a, const Matrix &reference) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - reference[i]));
    ref = std::max(ref, std::abs(reference[i]));
  }
  return diff / ref;
}

}  // namespace ctflow_test
