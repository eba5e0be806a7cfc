// The discrete adjoint of the time loop (docs/adjoint.md): the steps in reverse, each transposed node by node at the
// leaves' input states that the forward pass recorded on the tape, slot n for step n; the controls' final expression
// transposed first. With a bound on the stored states (-adjoint_checkpoints), the forward pass keeps only u^0 and the
// reverse sweep recomputes each step into slot 0 before transposing it, from checkpoints placed by a binomial schedule.
#include "solver/timestepping/checkpoint_schedule.hpp"
#include "solver/timestepping/integrator.hpp"

namespace ctflow {

PetscErrorCode Integrator::SetAdjoint(bool enabled, PetscInt checkpoints) {
  PetscFunctionBeginUser;
  PetscCheck(checkpoints == PETSC_DETERMINE || checkpoints >= 1, Comm(), PETSC_ERR_USER_INPUT,
             "-adjoint_checkpoints must be at least 1 (the initial state), got %" PetscInt_FMT, checkpoints);
  if (enabled && root_) PetscCall(root_->CheckTransposable(Comm()));
  if (enabled && final_) PetscCall(final_->CheckTransposable(Comm()));
  adjoint_ = enabled, checkpoints_ = checkpoints;
  stored_.clear();
  recorded_ = 0;
  PetscFunctionReturn(0);
}

// A new forward run: nothing recorded yet (Store records what the adjoint needs as the run goes).
PetscErrorCode Integrator::ResetTape() {
  PetscFunctionBeginUser;
  stored_.clear();
  recorded_ = 0;
  root_->SetTape(-1, false);
  if (final_) final_->SetTape(-1, false);
  PetscFunctionReturn(0);
}

// Before step n of the forward pass: every step records its leaves' inputs in slot n, or, with checkpoints, only the
// initial state is kept.
PetscErrorCode Integrator::Store(PetscInt n, Vec u) {
  PetscFunctionBeginUser;
  if (!adjoint_) PetscFunctionReturn(0);
  if (checkpoints_ == PETSC_DETERMINE) {
    root_->SetTape(n, true);
    if (final_) final_->SetTape(0, true);
    recorded_ = n + 1;
    PetscFunctionReturn(0);
  }
  if (n > 0 || !stored_.empty()) PetscFunctionReturn(0);
  PetscCallCXX(stored_.emplace_back());
  PetscCall(VecDuplicate(u, stored_.back().Out()));
  PetscCall(VecCopy(u, stored_.back()));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::AdvanceSteps(PetscInt a, PetscInt b, Vec u) {
  PetscFunctionBeginUser;
  root_->SetTape(-1, false);
  for (PetscInt n = a; n < b; ++n) PetscCall(root_->Advance(schedule_.t[n], schedule_.dt[n], u));
  PetscFunctionReturn(0);
}

// Step n transposed at the states of tape slot `slot` (for the last step, the final expression first).
PetscErrorCode Integrator::StepTranspose(PetscInt n, PetscInt slot, Vec lambda, ControlsArrays *g) {
  PetscFunctionBeginUser;
  if (n + 1 == NumSteps() && final_) {
    final_->SetTape(0, false);
    PetscCall(final_->AdvanceTranspose(T_, 0, lambda, g));
  }
  root_->SetTape(slot, false);
  PetscCall(root_->AdvanceTranspose(schedule_.t[n], schedule_.dt[n], lambda, g));
  PetscFunctionReturn(0);
}

// Step n recomputed from its start u_n into tape slot 0, then transposed.
PetscErrorCode Integrator::RecomputeAndTranspose(PetscInt n, Vec u_n, Vec lambda, ControlsArrays *g) {
  PetscFunctionBeginUser;
  if (!replay_) PetscCall(VecDuplicate(u_n, replay_.Out()));
  PetscCall(VecCopy(u_n, replay_));
  root_->SetTape(0, true);
  PetscCall(root_->Advance(schedule_.t[n], schedule_.dt[n], replay_));
  if (n + 1 == NumSteps() && final_) {
    final_->SetTape(0, true);
    PetscCall(final_->Advance(T_, 0, replay_));
  }
  PetscCall(StepTranspose(n, 0, lambda, g));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::Reverse(PetscInt a, PetscInt b, Vec u_a, PetscInt c, Vec lambda, ControlsArrays *g) {
  PetscFunctionBeginUser;
  if (b - a == 1) {
    PetscCall(RecomputeAndTranspose(a, u_a, lambda, g));
    PetscFunctionReturn(0);
  }
  UniqueVec u;
  PetscCall(VecDuplicate(u_a, u.Out()));
  if (c == 0) {  // no checkpoint left: every step recomputed from u_a
    for (PetscInt n = b - 1; n >= a; --n) {
      PetscCall(VecCopy(u_a, u));
      PetscCall(AdvanceSteps(a, n, u));
      PetscCall(RecomputeAndTranspose(n, u, lambda, g));
    }
    PetscFunctionReturn(0);
  }
  const PetscInt m = a + CheckpointSplit(b - a, c);
  PetscCall(VecCopy(u_a, u));
  PetscCall(AdvanceSteps(a, m, u));
  PetscCall(Reverse(m, b, u, c - 1, lambda, g));
  PetscCall(u.Reset());
  PetscCall(Reverse(a, m, u_a, c, lambda, g));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::SolveAdjoint(Vec lambda, ControlsArrays *g) {
  const PetscInt N = NumSteps();
  PetscFunctionBeginUser;
  PetscCheck(adjoint_ && (recorded_ == N || !stored_.empty()), Comm(), PETSC_ERR_ORDER,
             "Integrator::SolveAdjoint needs SetAdjoint before a completed Solve");
  if (checkpoints_ == PETSC_DETERMINE)
    for (PetscInt n = N; n-- > 0;) PetscCall(StepTranspose(n, n, lambda, g));
  else PetscCall(Reverse(0, N, stored_[0], checkpoints_ - 1, lambda, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
