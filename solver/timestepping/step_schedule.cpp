#include "solver/timestepping/step_schedule.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "discretization/base/number_format.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/base/sizes.hpp"

namespace ctflow {

namespace {

// Times within this of T count as T (StepClock::Tolerance).
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
  PetscCheck(std::isfinite(dt) && dt > 0, comm, PETSC_ERR_USER_INPUT, "-dt_schedule: %s %zu is %g; steps must be positive", what, n + 1, (double)dt);
  PetscFunctionReturn(0);
}

}  // namespace

StepClock::StepClock(PetscReal T, std::vector<PetscReal> breakpoints) : T_(T) {
  for (PetscReal b : breakpoints)
    if (b > Tolerance() && b < T - Tolerance()) breakpoints_.push_back(b);
}

PetscReal StepClock::Snap(PetscReal t, size_t *next) const {
  if (t >= T_ - Tolerance()) {
    *next = breakpoints_.size();
    return T_;
  }
  while (*next < breakpoints_.size() && breakpoints_[*next] < t - Tolerance()) ++*next;
  if (*next < breakpoints_.size() && std::abs(breakpoints_[*next] - t) <= Tolerance()) return breakpoints_[(*next)++];
  return t;
}

PetscReal StepClock::Peek(PetscReal dt) const {
  CompensatedSum sum{sum_, c_};
  size_t next = next_;
  return Snap(sum.Add(dt), &next);
}

PetscReal StepClock::Advance(PetscReal dt) {
  CompensatedSum sum{sum_, c_};
  const PetscReal raw = sum.Add(dt);
  t_ = Snap(raw, &next_);
  if (t_ == raw) sum_ = sum.sum, c_ = sum.c;
  else sum_ = t_, c_ = 0;  // snapped: the sum restarts at T or the breakpoint
  return t_;
}

PetscErrorCode StepScheduleUniform(MPI_Comm comm, PetscReal T, PetscReal dt, StepSchedule *s) {
  PetscFunctionBeginUser;
  PetscCheck(std::isfinite(dt) && dt > 0, comm, PETSC_ERR_USER_INPUT, "-dt must be positive, got %g", (double)dt);
  // Steps of Δt until T, the last one possibly shorter; a remainder below round-off is not a step.
  const double steps = std::ceil(T / dt - 1e-9);
  PetscCheck(steps <= (double)PETSC_MAX_INT, comm, PETSC_ERR_USER_INPUT,
             "-T %g with -dt %g is %.17g steps, more than PETSc's integers here count (%" PetscInt_FMT ")", (double)T, (double)dt, steps,
             PETSC_MAX_INT);
  PetscCall(
      MemoryCheck(comm, 2 * sizeof(PetscReal) * (steps + 1),
                  "the step schedule of -T " + FormatShortest(T) + " with -dt " + FormatShortest(dt) + " (" + FormatShortest(steps) + " steps)"));
  const PetscInt N = (PetscInt)steps;
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

PetscErrorCode StepScheduleList(MPI_Comm comm, PetscReal T, const std::vector<PetscReal> &steps, StepSchedule *s,
                                const std::vector<PetscReal> &breakpoints) {
  StepClock clock(T, breakpoints);
  PetscFunctionBeginUser;
  s->t.assign(1, 0);
  s->dt.clear();
  for (size_t n = 0; n < steps.size(); ++n) {
    PetscCall(CheckStep(comm, "step", n, steps[n]));
    const PetscReal t = clock.Time(), next = clock.Advance(steps[n]);
    PetscCallCXX(s->t.push_back(next));
    if (!clock.Done()) {
      PetscCallCXX(s->dt.push_back(steps[n]));
      continue;
    }
    PetscCheck(n + 1 == steps.size(), comm, PETSC_ERR_USER_INPUT,
               "-dt_schedule: step %zu already reaches T = %g; the %zu step(s) after it would lie beyond T", n + 1, (double)T, steps.size() - n - 1);
    PetscCallCXX(s->dt.push_back(T - t));
    PetscFunctionReturn(0);
  }
  SETERRQ(comm, PETSC_ERR_USER_INPUT, "-dt_schedule: the %zu steps add up to %g and do not reach T = %g", steps.size(), (double)(s->t.back()),
          (double)T);
}

PetscErrorCode StepScheduleParseList(MPI_Comm comm, const std::string &list, std::vector<PetscReal> *steps) {
  PetscFunctionBeginUser;
  steps->clear();
  std::istringstream entries(list);
  for (std::string entry; std::getline(entries, entry, ',');) {
    char *end;
    const double dt = std::strtod(entry.c_str(), &end);
    while (*end && std::isspace((unsigned char)*end)) ++end;
    PetscCheck(end != entry.c_str() && !*end, comm, PETSC_ERR_USER_INPUT, "-dt_schedule '%s': entry %zu ('%s') is not a number", list.c_str(),
               steps->size() + 1, entry.c_str());
    PetscCallCXX(steps->push_back(dt));
  }
  PetscFunctionReturn(0);
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
             "-dt_schedule geometric:%g,%g: the steps add up to at most dt0/(1 - ratio) = %g and never reach T = %g", (double)dt0, (double)ratio,
             (double)(dt0 / (1 - ratio)), (double)T);
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

namespace {

// The steps in the text of a schedule file, or an error message.
std::string ParseSteps(const std::string &path, std::istream &in, std::vector<PetscReal> *steps) {
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    line = line.substr(0, line.find('#'));
    for (char &c : line)
      if (c == ',') c = ' ';
    std::istringstream words(line);
    for (std::string word; words >> word;) {
      char *end;
      errno = 0;
      const double dt = std::strtod(word.c_str(), &end);
      if (*end || errno == ERANGE) return "-dt_schedule file:" + path + ": line " + std::to_string(lineno) + ": '" + word + "' is not a number";
      steps->push_back(dt);
      if (!(std::isfinite(dt) && dt > 0))
        return "-dt_schedule file:" + path + ": line " + std::to_string(lineno) + ": step " + std::to_string(steps->size()) + " is " + word +
               "; steps must be positive";
    }
  }
  if (in.bad()) return "-dt_schedule file:" + path + ": reading the file failed";
  if (steps->empty()) return "-dt_schedule file:" + path + ": the file lists no steps";
  return "";
}

}  // namespace

PetscErrorCode StepScheduleReadFile(MPI_Comm comm, const std::string &path, std::vector<PetscReal> *steps) {
  PetscMPIInt rank;
  std::string error;
  unsigned long long n[2] = {0, 0};  // steps, length of the error message
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  steps->clear();
  if (rank == 0) {
    const std::string problem = InputFileProblem(path);
    std::ifstream in;
    if (problem.empty()) in.open(path);
    if (!problem.empty()) PetscCallCXX(error = "-dt_schedule file:" + path + ": the file " + problem);
    else if (!in) PetscCallCXX(error = "-dt_schedule file:" + path + ": cannot open the file (" + std::strerror(errno) + ")");
    else PetscCallCXX(error = ParseSteps(path, in, steps));
    n[0] = steps->size(), n[1] = error.size();
  }
  PetscCallMPI(MPI_Bcast(n, 2, MPI_UNSIGNED_LONG_LONG, 0, comm));
  PetscCallCXX(error.resize(n[1]));
  PetscCallMPI(MPI_Bcast(&error[0], (PetscMPIInt)n[1], MPI_CHAR, 0, comm));
  PetscCheck(error.empty(), comm, PETSC_ERR_USER_INPUT, "%s", error.c_str());
  PetscCallCXX(steps->resize(n[0]));
  PetscCallMPI(MPI_Bcast(steps->data(), (PetscMPIInt)n[0], MPIU_REAL, 0, comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
