// Integrator: advances u from t = 0 to T in steps of Δt with a splitting scheme (solver/composition.hpp).
//
// Options: -T (final time), -dt (step; the last step is shortened to end exactly at T), -split NAME
// (a registered scheme, solver/splitting_schemes.hpp), -split_tree EXPR (an explicit composition, which
// overrides -split). Defaults come from the controls: T = t_L and Δt = 1 for layered controls, T = 1 and
// Δt = 1/8 for the analytic ones. The time loop is the log stage "Integrate".
#pragma once
#include <functional>
#include <memory>

#include "solver/composition.hpp"

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
  PetscErrorCode Solve(Vec u, const Monitor &monitor);

  PetscReal FinalTime() const { return T_; }
  PetscReal TimeStep() const { return dt_; }
  PetscInt NumSteps() const;
  std::string Scheme() const;

 private:
  MPI_Comm Comm() const { return ctx_.grid->Comm(); }
  OperatorContext ctx_;
  PetscReal T_ = 0, dt_ = 0;
  std::string scheme_ = "lie", tree_;
  std::unique_ptr<SplittingNode> root_;
};

}  // namespace ctflow
