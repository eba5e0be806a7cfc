#include "solver/timestepping/progress_monitor.hpp"

#include <cmath>

namespace ctflow {

namespace {

// Seconds as "0.81s", "12.3s", "4m05s", "2h13m".
std::string Duration(double s) {
  char text[32];
  if (!std::isfinite(s)) return "?";
  if (s < 100) std::snprintf(text, sizeof(text), "%.3gs", s);
  else if (s < 3600) std::snprintf(text, sizeof(text), "%dm%02ds", (int)(s / 60), (int)std::fmod(s, 60));
  else std::snprintf(text, sizeof(text), "%.0fh%02dm", std::floor(s / 3600), (int)std::fmod(s / 60, 60));
  return text;
}

}  // namespace

void ProgressMonitor::Start(PetscInt n0, PetscReal t0, PetscInt steps, PetscReal T) {
  n0_ = n0, t0_ = t0, steps_ = steps, T_ = T;
  start_ = MPI_Wtime();
}

PetscErrorCode ProgressMonitor::Step(MPI_Comm comm, PetscInt n, PetscReal t, PetscReal dt) const {
  PetscFunctionBeginUser;
  if (!enabled_) PetscFunctionReturn(0);
  double wall = MPI_Wtime() - start_;
  PetscCallMPI(MPI_Bcast(&wall, 1, MPI_DOUBLE, 0, comm));  // rank 0's clock, so every rank prints the same
  const double done = steps_ > 0 ? (double)(n - n0_) / (steps_ - n0_) : (t - t0_) / (T_ - t0_);
  const double left = done > 0 ? wall * (1 - done) / done : INFINITY;
  PetscCall(PetscPrintf(comm, "%s%4" PetscInt_FMT " step dt %g time %g wall %s left %s\n", prefix_.c_str(), n, (double)dt, (double)t,
                        Duration(wall).c_str(), Duration(left).c_str()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
