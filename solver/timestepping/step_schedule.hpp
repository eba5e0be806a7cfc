// Time points t^0 = 0 < t^1 < ... < t^N = T of the integrator and the steps Δt^n between them:
//   uniform      Δt^n = Δt, t^n = nΔt; the last step is shortened to end exactly at T (-dt);
//   list         the given steps in order (-dt_schedule dt1,dt2,... or -dt_schedule file:PATH); t^n is their
//                sum kept by a StepClock (below); the step reaching T ends exactly at T (shortened if it
//                overshoots) and must be the last one;
//   geometric    Δt^n = Δt^0 r^n (-dt_schedule geometric:dt0,r) until T, the last step shortened.
// Zero, negative or non-finite steps and schedules that do not reach T are errors.
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

struct StepSchedule {
  std::vector<PetscReal> t;   // t^0..t^N, t^N = T exactly
  std::vector<PetscReal> dt;  // Δt^0..Δt^{N-1}
  PetscInt NumSteps() const { return (PetscInt)dt.size(); }
};

// t^{n+1} from t^n and Δt^n, the same for list schedules and adaptive steps (solver/timestepping/step_adapt.hpp), so that
// the steps an adaptive run saves replay bit for bit: a compensated (Neumaier) sum of the steps, so ten steps
// of 0.1 end at 1 exactly; a time within round-off (1e-10 T) of T or of a breakpoint of the controls
// (Controls::Breakpoints) is that time exactly, and the sum restarts there.
class StepClock {
 public:
  StepClock(PetscReal T, std::vector<PetscReal> breakpoints);
  PetscReal Time() const { return t_; }
  bool Done() const { return t_ == T_; }
  // The first breakpoint after Time(), or T: a step that reaches it must end on it.
  PetscReal NextStop() const { return next_ < breakpoints_.size() ? breakpoints_[next_] : T_; }
  // The time a step dt from Time() ends at, without taking it.
  PetscReal Peek(PetscReal dt) const;
  // Takes the step; returns the new Time().
  PetscReal Advance(PetscReal dt);
  // Times this close count as equal (the relative round-off of ~10^6 summed steps, n ε/2 ≈ 1e-10, and the
  // tolerance LayeredControls uses at its breakpoints).
  PetscReal Tolerance() const { return 1e-10 * T_; }

 private:
  PetscReal Snap(PetscReal t, size_t *next) const;
  PetscReal T_, t_ = 0, sum_ = 0, c_ = 0;
  std::vector<PetscReal> breakpoints_;
  size_t next_ = 0;
};

PetscErrorCode StepScheduleUniform(MPI_Comm comm, PetscReal T, PetscReal dt, StepSchedule *s);
// breakpoints: of the controls; partial sums within round-off of one are that breakpoint exactly.
PetscErrorCode StepScheduleList(MPI_Comm comm, PetscReal T, const std::vector<PetscReal> &steps, StepSchedule *s,
                                const std::vector<PetscReal> &breakpoints = {});
PetscErrorCode StepScheduleGeometric(MPI_Comm comm, PetscReal T, PetscReal dt0, PetscReal ratio, StepSchedule *s);
// The steps of -dt_schedule 'dt1,dt2,...' (numbers; positivity is StepScheduleList's to check).
PetscErrorCode StepScheduleParseList(MPI_Comm comm, const std::string &list, std::vector<PetscReal> *steps);
// Reads the steps of a text file (-dt_schedule file:PATH): numbers separated by whitespace or commas, '#'
// starts a comment to the end of the line. Collective: rank 0 reads, every rank gets the steps or the same
// error (missing or unreadable file, an entry that is not a number, a step that is not positive, no steps).
PetscErrorCode StepScheduleReadFile(MPI_Comm comm, const std::string &path, std::vector<PetscReal> *steps);

}  // namespace ctflow
