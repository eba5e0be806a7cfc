// Time points t^0 = 0 < t^1 < ... < t^N = T of the integrator and the steps Δt^n between them:
//   uniform      Δt^n = Δt, t^n = nΔt; the last step is shortened to end exactly at T (-dt);
//   list         the given steps in order (-dt_schedule dt1,dt2,...); t^n is their compensated sum, so a
//                schedule built to match layer boundaries hits them to round-off; the step reaching T ends
//                exactly at T (shortened if it overshoots) and must be the last one;
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

PetscErrorCode StepScheduleUniform(MPI_Comm comm, PetscReal T, PetscReal dt, StepSchedule *s);
PetscErrorCode StepScheduleList(MPI_Comm comm, PetscReal T, const std::vector<PetscReal> &steps, StepSchedule *s);
PetscErrorCode StepScheduleGeometric(MPI_Comm comm, PetscReal T, PetscReal dt0, PetscReal ratio, StepSchedule *s);

}  // namespace ctflow
