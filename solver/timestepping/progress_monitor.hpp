// -monitor: one line per accepted step in the style of PETSc's -ts_monitor ("%3D TS dt %g time %g"), with the
// wall time since the solve started and an estimate of the time left:
//
//      3 step dt 0.125 time 0.375 wall 1.2s left 2.8s
//
// The estimate extrapolates the steps done so far: wall (N − n)/(n − n0) for a schedule of N steps started at
// step n0 (a restart), wall (T − t)/(t − t0) for adaptive steps. A convergence study prefixes its level.
#pragma once
#include <petscsys.h>

#include <string>

namespace ctflow {

class ProgressMonitor {
 public:
  void SetEnabled(bool enabled) { enabled_ = enabled; }
  bool Enabled() const { return enabled_; }
  // Text printed before every line, e.g. "level 2: ".
  void SetPrefix(const std::string &prefix) { prefix_ = prefix; }
  // The solve starts at step n0, time t0; it has `steps` steps to T (0: adaptive, unknown).
  void Start(PetscInt n0, PetscReal t0, PetscInt steps, PetscReal T);
  // Collective: the line of step n, which ended at t after a step dt.
  PetscErrorCode Step(MPI_Comm comm, PetscInt n, PetscReal t, PetscReal dt) const;

 private:
  bool enabled_ = false;
  std::string prefix_;
  PetscInt n0_ = 0, steps_ = 0;
  PetscReal t0_ = 0, T_ = 0;
  double start_ = 0;
};

}  // namespace ctflow
