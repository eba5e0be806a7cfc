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
// analytic, layered, convolutional, cvt, ...) and -controls FILE (SetControlsFile: layered controls from a file, or the
// convolutional ones of discretization/layered_convolution_controls.hpp when it has /stages); -loss NAME (SetLoss; a
// registered loss, solver/adjoint/loss.hpp, which reads its own -target or -label), -gradient FILE (SetGradientFile:
// the discrete adjoint after the solve, docs/adjoint.md) and -adjoint_checkpoints n (SetAdjointCheckpoints); the parts
// read theirs (Grid, the controls source, InitialState, Integrator, TrajectoryWriter).
//
// Staged models (paper §6.2, controls with stages): the grid, state and integrator above are the first stage's; the
// later stages run after it on their own grids (solver/problem/stage_sequence.hpp). State(), FinalGrid(), FinalTime()
// and Scheme() are the model's.
#pragma once
#include <memory>

#include "discretization/controls.hpp"
#include "discretization/initial_state.hpp"
#include "solver/adjoint/loss.hpp"
#include "solver/output/trajectory_writer.hpp"
#include "solver/problem/stage_sequence.hpp"
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
  // From a file: the source the file asks for (ControlsFileType), or `type` (layered, piecewise_linear or cvt).
  PetscErrorCode SetControlsFile(const std::string &path, const std::string &type = "");
  PetscErrorCode SetControls(std::unique_ptr<Controls> controls);

  // The loss of the control problem, eq. (10): by registered name, or an object the program made.
  PetscErrorCode SetLoss(const std::string &type);
  PetscErrorCode SetLoss(std::unique_ptr<Loss> loss);
  // The adjoint: SolveAdjoint may follow Solve (kept states: all, or n ≥ 1 with a checkpoint schedule); with a file,
  // the run driver writes the gradient there.
  void SetAdjoint(bool adjoint) { adjoint_ = adjoint; }
  void SetAdjointCheckpoints(PetscInt n) { checkpoints_ = n; }
  void SetGradientFile(const std::string &path) { gradient_path_ = path, adjoint_ = adjoint_ || !path.empty(); }
  const std::string &GradientFile() const { return gradient_path_; }
  // The layered controls file (-controls, SetControlsFile), or "".
  const std::string &ControlsFile() const { return controls_file_; }
  const Loss *GetLoss() const { return loss_.get(); }

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
  // After Solve with a loss and SetAdjoint: the discrete adjoint (docs/adjoint.md) gives ∂L/∂u0 (GradientState) and
  // ∂L/∂θ (Gradient, in the layout of Controls::GetParameters, summed over the ranks); with a gradient file, writes it.
  PetscErrorCode SolveAdjoint();
  // The same, with ∂L/∂θ added to the caller's g[0 … n): θ flat in that layout (ControlsArrays::Values), this rank's
  // share (not summed over the ranks), no file; Gradient() is not set. A trainer's sums over several solves, in place.
  PetscErrorCode SolveAdjoint(PetscReal *g, size_t n);
  // L after Solve (a loss set).
  PetscReal LossValue() const { return loss_value_; }
  const ControlsArrays &Gradient() const { return gradient_; }
  Vec GradientState() const { return gradient_state_; }
  // The problem: controls, initial state, grid, integrator.
  PetscErrorCode View(PetscViewer viewer) const;

  MPI_Comm Comm() const { return comm_; }
  // The files the problem reads (-controls, -u0 or -image, -dt_schedule file:, -target), each with its option.
  InputFiles Inputs() const;
  // The files the problem writes (-traj with its XDMF indexes, -gradient, -dt_adapt_save), each with its option.
  OutputFiles Outputs() const;
  // The state u (after Solve: u(T), on the last stage's grid), and the grid it lives on.
  Vec State() const { return stages_.FinalState(u_); }
  const Grid &FinalGrid() const { return stages_.FinalGrid(grid_); }
  // T, and the composition expression of the run (a staged model's: every stage's, with the transfers).
  PetscReal FinalTime() const { return stages_.Staged() ? stages_.FinalTime() : integrator_->FinalTime(); }
  std::string Scheme() const { return stages_.Expression(*integrator_); }
  // ||u||_L2 = (Σ u² Δx Δy)^½.
  PetscErrorCode StateNorm(PetscReal *norm) const;
  // The step Solve started from: 0, or the restart step.
  PetscInt FirstStep() const { return first_step_; }
  const std::vector<PetscReal> &Logits() const { return logits_; }

 private:
  PetscErrorCode ReplaceControls(std::unique_ptr<Controls> controls);
  PetscErrorCode EvaluateLoss(Vec dLdu, std::vector<PetscReal> *dLdz);
  // The adjoint solve: ∂L/∂u0 into gradient_state_, ∂L/∂θ added to g (and summed over the ranks if sum).
  PetscErrorCode Adjoint(ControlsArrays *g, bool sum);

  MPI_Comm comm_;
  Grid grid_;
  std::string controls_type_ = "analytic", controls_file_;
  std::unique_ptr<Controls> controls_;
  InitialState initial_;
  std::unique_ptr<Integrator> integrator_;
  TrajectoryWriter traj_;
  UniqueVec u_;
  StageSequence stages_;
  PetscInt first_step_ = 0;
  std::vector<PetscReal> logits_;
  std::string loss_type_, gradient_path_;
  std::unique_ptr<Loss> loss_;
  bool adjoint_ = false;
  PetscInt checkpoints_ = PETSC_DETERMINE;
  PetscReal loss_value_ = 0;
  ControlsArrays gradient_;
  ControlsArrays caller_gradient_;  // the layout of gradient_, its values the caller's (SolveAdjoint(g, n))
  UniqueVec gradient_state_;
};

}  // namespace ctflow
