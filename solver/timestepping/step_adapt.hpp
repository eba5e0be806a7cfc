// StepAdapt: adaptive Δt for a splitting scheme (-dt_adapt), the step-size controller of PETSc's TSAdapt
// "basic" driven by a splitting error estimate.
//
// Estimate: from u^n, one step of the scheme S (the step taken, u) and one of its reversed-order
// counterpart S' (v; solver/timestepping/splitting_schemes.hpp: Lie ↔ reversed Lie, Strang ↔ shifted Strang), both of
// order p, so u − v = O(Δt^{p+1}) estimates the local error of S. Its size is the weighted RMS norm of
// PETSc's TSErrorWeightedNorm2 (src/ts/interface/ts.c, PETSc 3.18), over all N unknowns on all ranks:
//   err = sqrt( (1/N) Σ_i ((u_i − v_i) / (atol + rtol max(|u_i|, |v_i|)))² ).
// Controller: accept if err ≤ 1; the next trial step is Δt · min(hi, max(lo, safety · err^(−1/(p+1)))), the
// factor capped at 1 for the step after a rejection (Hairer, Nørsett & Wanner, Solving ODEs I, §II.4), the
// result capped at dt_max; after an accepted step that was cut to end on T or a breakpoint, the trial step it
// replaced stays allowed. A non-finite trial state (err = ∞) is a rejection that halves Δt. More than max_reject
// consecutive rejections, or a trial step below dt_min, is an error naming t and Δt.
//
// Options: -dt_adapt (off; the first trial step is -dt), -dt_adapt_rtol, -dt_adapt_atol (1e-4 each, PETSc's
// -ts_rtol/-ts_atol defaults), -dt_adapt_safety (0.9), -dt_adapt_clip lo,hi (0.1,10), -dt_adapt_dt_min
// (1e-10 T, the round-off below which schedules identify times), -dt_adapt_dt_max (T), -dt_adapt_max_reject
// (10), -dt_adapt_monitor (one line per attempt), -dt_adapt_save FILE (the accepted steps, %.17g, for
// -dt_schedule file:FILE, which replays the run bit for bit).
#pragma once
#include <petscvec.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ctflow {

class StepAdapt {
 public:
  explicit StepAdapt(MPI_Comm comm) : comm_(comm) {}
  PetscErrorCode SetFromOptions();
  // Setters of the options (-dt_adapt, -dt_adapt_rtol/-dt_adapt_atol, -dt_adapt_dt_min/-dt_adapt_dt_max, -dt_adapt_save).
  void SetEnabled(bool enabled) { enabled_ = enabled; }
  void SetTolerances(PetscReal rtol, PetscReal atol);
  void SetStepBounds(PetscReal dt_min, PetscReal dt_max);
  void SetSaveFile(const std::string &path) { save_ = path; }
  const std::string &SaveFile() const { return save_; }
  // Validates the settings for a run to T whose first trial step is dt0 (dt_min, dt_max default to 1e-10 T and T)
  // and resets the controller. Checks that the -dt_adapt_save file can be written.
  PetscErrorCode SetUp(PetscReal T, PetscReal dt0);
  // SetFromOptions, then SetUp.
  PetscErrorCode SetFromOptions(PetscReal T, PetscReal dt0);
  bool Enabled() const { return enabled_; }
  // The scheme whose steps are adapted, its order p and the expression of its counterpart (for View).
  void SetScheme(const std::string &name, PetscInt order, const std::string &counterpart) {
    scheme_ = name, order_ = order, counterpart_ = counterpart;
  }
  PetscErrorCode View(PetscViewer viewer) const;
  // "adaptive: N accepted, M rejected steps".
  PetscErrorCode ViewStatistics(PetscViewer viewer) const;

  // The next trial step.
  PetscReal Proposal() const { return proposal_; }
  // The longest step that may end on T or a breakpoint rather than leave a sliver of less than a tenth of the
  // trial step before it.
  PetscReal Reach() const { return std::min(1.1 * proposal_, dt_max_); }
  // err of u and v as above (collective; ∞ if either holds a NaN or Inf).
  PetscErrorCode ErrorNorm(Vec u, Vec v, PetscReal *err) const;
  // Judges the attempt of step h from t with estimate err, prints the -dt_adapt_monitor line and sets the next
  // Proposal(). lands: h was chosen to end on T or a breakpoint instead of being the trial step.
  PetscErrorCode Judge(PetscReal t, PetscReal h, PetscReal err, bool lands, bool *accept);
  // Writes the accepted steps to the -dt_adapt_save file, if any (collective).
  PetscErrorCode Save(const std::vector<PetscReal> &steps, const std::string &description) const;

 private:
  MPI_Comm comm_;
  bool enabled_ = false, monitor_ = false, after_reject_ = false, dt_min_set_ = false, dt_max_set_ = false;
  PetscReal rtol_ = 1e-4, atol_ = 1e-4, safety_ = 0.9, clip_[2] = {0.1, 10}, dt_min_ = 0, dt_max_ = 0, proposal_ = 0;
  PetscInt max_reject_ = 10, order_ = 1, accepted_ = 0, rejected_ = 0, consecutive_ = 0;
  std::string scheme_, counterpart_, save_;
};

}  // namespace ctflow
