// The discrete adjoint of the time loop (docs/adjoint.md): the steps in reverse, each one recomputed from its
// stored start with the composition recording its leaves' inputs and then transposed node by node; the controls'
// final expression transposed first. With fewer stored states than steps, a binomial schedule recomputes the rest.
#include "solver/timestepping/checkpoint_schedule.hpp"
#include "solver/timestepping/integrator.hpp"

namespace ctflow {

PetscErrorCode Integrator::SetAdjoint(bool enabled, PetscInt checkpoints) {
  PetscFunctionBeginUser;
  PetscCheck(checkpoints == PETSC_DETERMINE || checkpoints >= 1, Comm(), PETSC_ERR_USER_INPUT,
             "-adjoint_checkpoints must be at least 1 (the initial state), got %" PetscInt_FMT, checkpoints);
  adjoint_ = enabled, checkpoints_ = checkpoints;
  stored_.clear();
  PetscFunctionReturn(0);
}

// All states, or only the initial one (a checkpoint schedule recomputes from there).
PetscErrorCode Integrator::Store(PetscInt n, Vec u) {
  PetscFunctionBeginUser;
  if (!adjoint_ || (checkpoints_ != PETSC_DETERMINE && n > 0)) PetscFunctionReturn(0);
  PetscCallCXX(stored_.emplace_back());
  PetscCall(VecDuplicate(u, stored_.back().Out()));
  PetscCall(VecCopy(u, stored_.back()));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::AdvanceSteps(PetscInt a, PetscInt b, Vec u) {
  PetscFunctionBeginUser;
  for (PetscInt n = a; n < b; ++n) PetscCall(root_->Advance(schedule_.t[n], schedule_.dt[n], u));
  PetscFunctionReturn(0);
}

// Step n (and, for the last step, the final expression) recomputed from u_n while recording, then transposed.
PetscErrorCode Integrator::StepTranspose(PetscInt n, Vec u_n, Vec lambda, ControlsArrays *g) {
  const bool last = n + 1 == NumSteps();
  PetscFunctionBeginUser;
  if (!replay_) PetscCall(VecDuplicate(u_n, replay_.Out()));
  PetscCall(VecCopy(u_n, replay_));
  root_->SetRecording(true);
  PetscCall(root_->Advance(schedule_.t[n], schedule_.dt[n], replay_));
  root_->SetRecording(false);
  if (last && final_) {
    final_->SetRecording(true);
    PetscCall(final_->Advance(T_, 0, replay_));
    final_->SetRecording(false);
    PetscCall(final_->AdvanceTranspose(T_, 0, lambda, g));
  }
  PetscCall(root_->AdvanceTranspose(schedule_.t[n], schedule_.dt[n], lambda, g));
  PetscFunctionReturn(0);
}

PetscErrorCode Integrator::Reverse(PetscInt a, PetscInt b, Vec u_a, PetscInt c, Vec lambda, ControlsArrays *g) {
  PetscFunctionBeginUser;
  if (b - a == 1) {
    PetscCall(StepTranspose(a, u_a, lambda, g));
    PetscFunctionReturn(0);
  }
  UniqueVec u;
  PetscCall(VecDuplicate(u_a, u.Out()));
  if (c == 0) {  // no checkpoint left: every step recomputed from u_a
    for (PetscInt n = b - 1; n >= a; --n) {
      PetscCall(VecCopy(u_a, u));
      PetscCall(AdvanceSteps(a, n, u));
      PetscCall(StepTranspose(n, u, lambda, g));
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
  PetscCheck(adjoint_ && !stored_.empty(), Comm(), PETSC_ERR_ORDER, "Integrator::SolveAdjoint needs SetAdjoint before a completed Solve");
  if (checkpoints_ == PETSC_DETERMINE)
    for (PetscInt n = N; n-- > 0;) PetscCall(StepTranspose(n, stored_[n], lambda, g));
  else PetscCall(Reverse(0, N, stored_[0], checkpoints_ - 1, lambda, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
