// StageSequence: the stages of a staged model inside a Problem (paper §6.2: a K-stage CvT by hybrid splitting; controls
// with Controls::Stages). The run is the sequential composition of the stages' propagators with the transfers between
// their grids,
//
//   u(T) = N_{K−1} ∘ T_{K−1} ∘ … ∘ N_1 ∘ T_1 ∘ N_0 (f),   N_s: the splitting scheme of stage s over [t_s, t_{s+1}],
//
// T_s the multigrid transfer from stage s − 1's grid to stage s's (discretization/stage_transfer.hpp). Stage 0 runs on
// the Problem's own grid, state and integrator, given the view of the first stage (discretization/stage_controls.hpp);
// every later stage has its own grid (the first stage's Ω_x × Ω_y with its sizes), view, integrator (configured from
// the options database like the first, with the first's Δt) and state. Each stage's scheme is built from its own
// operator order, so the composition expression of the run is Expression(): the stages' expressions with their spans
// and transfers.
//
// The adjoint (docs/adjoint.md) is the composition transposed: N_0ᵀ ∘ T_1ᵀ ∘ N_1ᵀ ∘ … ∘ N_{K−1}ᵀ, the stages in reverse,
// each by its own integrator's adjoint (Integrator::SolveAdjoint: its tape, or its checkpoints on its own grid), the
// transfers by StageTransfer::ApplyTranspose.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "discretization/stage_controls.hpp"
#include "discretization/stage_transfer.hpp"
#include "solver/output/trajectory_writer.hpp"
#include "solver/timestepping/integrator.hpp"

namespace ctflow {

class StageSequence {
 public:
  // For controls with stages: stage 0's view goes to integrator0 (with the stage's span as its run length; an explicit
  // -T must be the model's whole span), and the later stages are built and set up. Nothing for other controls.
  PetscErrorCode SetUp(const Controls &controls, const Grid &grid0, Integrator *integrator0);
  bool Staged() const { return view0_ != nullptr; }
  PetscInt Count() const { return (PetscInt)stages_.size() + 1; }
  // Called after every step of every stage with the model's step number and time, and whether the step ends a stage.
  using Monitor = std::function<PetscErrorCode(PetscInt step, PetscReal t, Vec u, bool stage_end)>;
  // Stages 1 … K − 1 after stage 0 ended in u0 at step `steps` (its last): transfer, the trajectory's stage change (a
  // frame "transfer" with -traj_substeps), integration.
  PetscErrorCode Solve(Vec u0, PetscInt steps, TrajectoryWriter *traj, const Monitor &monitor);
  // The last stage's grid and state (grid0, u0 without stages).
  const Grid &FinalGrid(const Grid &grid0) const { return stages_.empty() ? grid0 : stages_.back()->grid; }
  Vec FinalState(Vec u0) const { return stages_.empty() ? u0 : stages_.back()->u.Get(); }
  // The model's final time (the end of the last stage).
  PetscReal FinalTime() const { return (*layout_).back().t1; }
  // "stage 0 [t0, t1]: EXPR; transfer (…); stage 1 [t1, t2]: EXPR; …"
  std::string Expression(const Integrator &integrator0) const;
  bool HasOperator(const std::string &name, const Integrator &integrator0) const;
  // The later stages: grid, transfer, integrator.
  PetscErrorCode View(PetscViewer viewer) const;
  // The adjoint: every later stage's integrator keeps what its adjoint needs (Integrator::SetAdjoint; with checkpoints,
  // at most that many of its own states), and a vector for the stage's adjoint is made.
  PetscErrorCode SetAdjoint(bool enabled, PetscInt checkpoints);
  // Where the adjoint of the final state goes: the last stage's vector, or lambda0 without later stages.
  Vec FinalAdjoint(Vec lambda0) const { return stages_.empty() ? lambda0 : stages_.back()->lambda.Get(); }
  // After Solve and with FinalAdjoint holding ∂L/∂u(T): stages K − 1 … 1 and their transfers transposed, which leaves
  // ∂L/∂ of stage 0's final state in lambda0; g (may be null) gains those stages' ∂L/∂θ (this rank's share).
  PetscErrorCode SolveAdjoint(Vec lambda0, ControlsArrays *g);

 private:
  struct Stage {
    explicit Stage(MPI_Comm comm) : grid(comm) {}
    Grid grid;
    std::unique_ptr<StageControls> view;
    std::unique_ptr<Integrator> integrator;
    UniqueVec u, lambda;     // the state; the adjoint (SetAdjoint)
    StageTransfer transfer;  // from the previous stage's grid
  };
  const std::vector<ControlsStage> *layout_ = nullptr;
  std::unique_ptr<StageControls> view0_;
  std::vector<std::unique_ptr<Stage>> stages_;
  bool configured_ = false;  // SetUp gave the first stage's integrator its span
};

}  // namespace ctflow
