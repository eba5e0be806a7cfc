#include "solver/step_schedule.hpp"

#include <cmath>

namespace ctflow {

namespace {

// Times within this of T count as T: the relative round-off of summing up to ~10^6 decimal steps, each
// rounded to double (n ε/2 ≈ 1e-10), and the tolerance LayeredControls uses at its breakpoints.
PetscReal Tolerance(PetscReal T) { return 1e-10 * T; }

// Neumaier's compensated sum: t is the correctly rounded sum of the steps added so far.
struct CompensatedSum {
  PetscReal sum = 0, c = 0;
  PetscReal Add(PetscReal x) {
    const PetscReal s = sum + x;
    c += std::abs(sum) >= std::abs(x) ? (sum - s) + x : (x - s) + sum;
    sum = s;
    return sum + c;
  }
};

PetscErrorCode CheckStep(MPI_Comm comm, const char *what, size_t n, PetscReal dt) {
  PetscFunctionBeginUser;
  PetscCheck(std::isfinite(dt) && dt > 0, comm, PETSC_ERR_USER_INPUT, "-dt_schedule: %s %zu is %g; steps must be positive", what, n + 1,
             (double)dt);
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode StepScheduleUniform(MPI_Comm comm, PetscReal T, PetscReal dt, StepSchedule *s) {
  PetscFunctionBeginUser;
  PetscCheck(std::isfinite(dt) && dt > 0, comm, PETSC_ERR_USER_INPUT, "-dt must be positive, got %g", (double)dt);
  // Steps of Δt until T, the last one possibly shorter; a remainder below round-off is not a step.
  const PetscInt N = (PetscInt)std::ceil(T / dt - 1e-9);
  s->t.assign(1, 0);
  s->dt.clear();
  for (PetscInt n = 0; n < N; ++n) {
    // t^n = nΔt, not a running sum, so that layer boundaries t = n are hit exactly.
    const PetscReal t = n * dt;
    PetscCallCXX(s->dt.push_back(std::min(dt, T - t)));
    PetscCallCXX(s->t.push_back(n + 1 == N ? T : t + dt));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode StepScheduleList(MPI_Comm comm, PetscReal T, const std::vector<PetscReal> &steps, StepSchedule *s) {
  CompensatedSum t;
  PetscFunctionBeginUser;
  s->t.assign(1, 0);
  s->dt.clear();
  for (size_t n = 0; n < steps.size(); ++n) {
    PetscCall(CheckStep(comm, "step", n, steps[n]));
    const PetscReal next = t.Add(steps[n]);
    if (next < T - Tolerance(T)) {
      PetscCallCXX(s->t.push_back(next));
      PetscCallCXX(s->dt.push_back(steps[n]));
      continue;
    }
    PetscCheck(n + 1 == steps.size(), comm, PETSC_ERR_USER_INPUT,
               "-dt_schedule: step %zu already reaches T = %g; the %zu step(s) after it would lie beyond T", n + 1, (double)T,
               steps.size() - n - 1);
    PetscCallCXX(s->t.push_back(T));
    PetscCallCXX(s->dt.push_back(T - s->t[n]));
    PetscFunctionReturn(0);
  }
  SETERRQ(comm, PETSC_ERR_USER_INPUT, "-dt_schedule: the %zu steps add up to %g and do not reach T = %g", steps.size(),
          (double)(s->t.back()), (double)T);
}

PetscErrorCode StepScheduleGeometric(MPI_Comm comm, PetscReal T, PetscReal dt0, PetscReal ratio, StepSchedule *s) {
  // A bound on the number of steps, against ratios barely large enough to reach T.
  const PetscInt max_steps = 10000000;
  CompensatedSum t;
  PetscFunctionBeginUser;
  PetscCall(CheckStep(comm, "geometric:dt0,ratio: step", 0, dt0));
  PetscCheck(std::isfinite(ratio) && ratio > 0, comm, PETSC_ERR_USER_INPUT, "-dt_schedule geometric:dt0,ratio: ratio must be positive, got %g",
             (double)ratio);
  PetscCheck(ratio >= 1 || dt0 / (1 - ratio) > T + Tolerance(T), comm, PETSC_ERR_USER_INPUT,
             "-dt_schedule geometric:%g,%g: the steps add up to at most dt0/(1 - ratio) = %g and never reach T = %g", (double)dt0,
             (double)ratio, (double)(dt0 / (1 - ratio)), (double)T);
  s->t.assign(1, 0);
  s->dt.clear();
  for (PetscInt n = 0; s->t.back() < T; ++n) {
    PetscCheck(n < max_steps, comm, PETSC_ERR_USER_INPUT, "-dt_schedule geometric:%g,%g needs more than %" PetscInt_FMT " steps to reach T = %g",
               (double)dt0, (double)ratio, max_steps, (double)T);
    const PetscReal dt = dt0 * std::pow(ratio, (PetscReal)n), next = t.Add(dt);
    const bool last = next >= T - Tolerance(T);
    PetscCallCXX(s->dt.push_back(last ? T - s->t.back() : dt));
    PetscCallCXX(s->t.push_back(last ? T : next));
  }
  PetscFunctionReturn(0);
}

}  // namespace ctflow
