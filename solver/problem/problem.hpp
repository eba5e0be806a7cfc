// Problem: one solve of the continuous Transformer (paper eq. (7) / (38)) as a library object. It owns the grid,
// the controls θ(t), the initial state f, the integrator (splitting scheme, substeps, Δt), the trajectory writer
// and the state u, with PETSc's life cycle:
//
//   ctflow::Problem problem(PETSC_COMM_WORLD);    // analytic controls and f, the paper's Lie scheme
//   PetscCall(problem.SetFromOptions());          // every option of `ctflow -help`
//   PetscCall(problem.GetGrid().SetSizes(64, 16, 2));           // setters mirror the options:
//   problem.GetIntegrator().SetTimeStep(0.05);                   //   -Nx -Ny -Nh, -dt, -split, -traj, ...
//   problem.GetTrajectory().SetPath("run.h5");
//   PetscCall(problem.SetUp());                   // files read, sizes fixed, composition built
//   PetscCall(problem.Solve());                   // u from f (or -restart) to T, trajectory written
//   PetscCall(problem.View(PETSC_VIEWER_STDOUT_WORLD));
//
// Setters given after SetFromOptions win over the options; SetUp takes them all into account, and may be
// called again after further setters (a new grid, new controls); Solve may be called any number of times, each
// from the initial state. The ctflow executable and every convergence-study level are built through it.
//
// Options read here: -controls_type NAME (SetControlsType; registered sources, discretization/controls.hpp:
// analytic, layered, ...) and -controls FILE (SetControlsFile: layered controls from a file); the parts read
// theirs (Grid, the controls source, InitialState, Integrator, TrajectoryWriter).
#pragma once
#include <memory>

#include "discretization/controls.hpp"
#include "discretization/initial_state.hpp"
#include "solver/output/trajectory_writer.hpp"
#include "solver/timestepping/integrator.hpp"

namespace ctflow {

class Problem {
 public:
  explicit Problem(MPI_Comm comm);
  Problem(const Problem &) = delete;
  Problem &operator=(const Problem &) = delete;

  PetscErrorCode SetFromOptions();
  // The controls: a registered source by name, layered controls from a file, or an object the program made.
  PetscErrorCode SetControlsType(const std::string &type);
  PetscErrorCode SetControlsFile(const std::string &path);
  PetscErrorCode SetControls(std::unique_ptr<Controls> controls);

  Grid &GetGrid() { return grid_; }
  Controls &GetControls() { return *controls_; }
  InitialState &GetInitialState() { return initial_; }
  Integrator &GetIntegrator() { return *integrator_; }
  TrajectoryWriter &GetTrajectory() { return traj_; }
  const Grid &GetGrid() const { return grid_; }
  const Controls &GetControls() const { return *controls_; }
  const InitialState &GetInitialState() const { return initial_; }
  const Integrator &GetIntegrator() const { return *integrator_; }
  const TrajectoryWriter &GetTrajectory() const { return traj_; }

  // Fixes the sizes (the controls' and the initial state's data against the grid's settings), sets up the grid,
  // creates u, builds the composition, and checks that the trajectory can be written (before any output exists).
  PetscErrorCode SetUp();
  // Called after every accepted step with the step number, t and u (after the trajectory saved it).
  using Monitor = Integrator::Monitor;
  // u ← f (or the last complete state of a -restart trajectory), then the time loop to T, writing the trajectory.
  // For a vision Transformer, the class-token logits G(u(T)) (§4.2) are computed and saved (Logits()).
  PetscErrorCode Solve(const Monitor &monitor = nullptr);
  // The problem: controls, initial state, grid, integrator.
  PetscErrorCode View(PetscViewer viewer) const;

  MPI_Comm Comm() const { return comm_; }
  // The files the problem reads (-controls, -u0 or -image, -dt_schedule file:), each with its option.
  InputFiles Inputs() const;
  // The state u (after Solve: u(T)).
  Vec State() const { return u_; }
  // ||u||_L2 = (Σ u² Δx Δy)^½.
  PetscErrorCode StateNorm(PetscReal *norm) const;
  // The step Solve started from: 0, or the restart step.
  PetscInt FirstStep() const { return first_step_; }
  const std::vector<PetscReal> &Logits() const { return logits_; }

 private:
  PetscErrorCode ReplaceControls(std::unique_ptr<Controls> controls);

  MPI_Comm comm_;
  Grid grid_;
  std::string controls_type_ = "analytic", controls_file_;
  std::unique_ptr<Controls> controls_;
  InitialState initial_;
  std::unique_ptr<Integrator> integrator_;
  TrajectoryWriter traj_;
  UniqueVec u_;
  PetscInt first_step_ = 0;
  std::vector<PetscReal> logits_;
};

}  // namespace ctflow
