#include "solver/timestepping/step_adapt.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "discretization/base/number_format.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"

namespace ctflow {

// How a -dt_adapt_save file begins (an existing file is replaced only if it does).
static const char *const kSaveSignature = "# ctflow -dt_adapt";

PetscErrorCode StepAdapt::SetFromOptions() {
  PetscInt nclip = 2;
  char save[PETSC_MAX_PATH_LEN] = "";
  PetscBool enabled = enabled_ ? PETSC_TRUE : PETSC_FALSE, monitor = monitor_ ? PETSC_TRUE : PETSC_FALSE, set[9] = {};
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(save, save_.c_str(), sizeof(save)));
  PetscCall(OptionsCheckRealList(comm_, nullptr, "-dt_adapt_clip"));
  PetscOptionsBegin(comm_, nullptr, "Adaptive time step from a splitting error estimate", "StepAdapt");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsBool("-dt_adapt",
                             "Adapt Δt to the difference between the scheme and its reversed-order counterpart; -dt is the first trial step",
                             "StepAdapt", enabled, &enabled, nullptr));
  PetscCall(PetscOptionsReal("-dt_adapt_rtol", "Relative tolerance of the weighted error norm", "StepAdapt", rtol_, &rtol_, &set[0]));
  PetscCall(PetscOptionsReal("-dt_adapt_atol", "Absolute tolerance of the weighted error norm", "StepAdapt", atol_, &atol_, &set[1]));
  PetscCall(PetscOptionsReal("-dt_adapt_safety", "Safety factor of the step-size rule", "StepAdapt", safety_, &safety_, &set[2]));
  PetscCall(PetscOptionsRealArray("-dt_adapt_clip", "Bounds lo,hi on the factor by which Δt changes between attempts", "StepAdapt", clip_, &nclip,
                                  &set[3]));
  PetscCall(PetscOptionsReal("-dt_adapt_dt_min", "Smallest trial step (default 1e-10 T); a smaller one is an error", "StepAdapt", dt_min_, &dt_min_,
                             &set[4]));
  PetscCall(PetscOptionsReal("-dt_adapt_dt_max", "Largest step (default T)", "StepAdapt", dt_max_, &dt_max_, &set[5]));
  PetscCall(CtflowOptionsInt("-dt_adapt_max_reject", "Consecutive rejected attempts allowed before an error", "StepAdapt", max_reject_, &max_reject_,
                             &set[6]));
  PetscCall(PetscOptionsBool("-dt_adapt_monitor", "Print t, Δt, error and the decision of every attempt", "StepAdapt", monitor, &monitor, &set[7]));
  PetscCall(PetscOptionsString("-dt_adapt_save", "Write the accepted steps to this file, for -dt_schedule file:FILE (exact replay)", "StepAdapt",
                               save, save, sizeof(save), &set[8]));
  PetscOptionsEnd();
  enabled_ = enabled, monitor_ = monitor, save_ = save;
  dt_min_set_ = dt_min_set_ || set[4], dt_max_set_ = dt_max_set_ || set[5];
  const char *names[] = {"rtol", "atol", "safety", "clip", "dt_min", "dt_max", "max_reject", "monitor", "save"};
  for (int k = 0; k < 9; ++k)
    PetscCheck(enabled_ || !set[k], comm_, PETSC_ERR_USER_INPUT, "-dt_adapt_%s is given but adaptive Δt is off (add -dt_adapt)", names[k]);
  PetscCheck(!set[3] || nclip == 2, comm_, PETSC_ERR_USER_INPUT, "-dt_adapt_clip expects two numbers lo,hi, got %" PetscInt_FMT, nclip);
  PetscFunctionReturn(0);
}

PetscErrorCode StepAdapt::SetFromOptions(PetscReal T, PetscReal dt0) {
  PetscFunctionBeginUser;
  PetscCall(SetFromOptions());
  PetscCall(SetUp(T, dt0));
  PetscFunctionReturn(0);
}

void StepAdapt::SetTolerances(PetscReal rtol, PetscReal atol) { rtol_ = rtol, atol_ = atol; }

void StepAdapt::SetStepBounds(PetscReal dt_min, PetscReal dt_max) {
  dt_min_ = dt_min, dt_max_ = dt_max;
  dt_min_set_ = dt_max_set_ = true;
}

PetscErrorCode StepAdapt::SetUp(PetscReal T, PetscReal dt0) {
  PetscFunctionBeginUser;
  if (!enabled_) PetscFunctionReturn(0);
  if (!dt_min_set_) dt_min_ = 1e-10 * T;
  if (!dt_max_set_) dt_max_ = T;
  PetscCheck(std::isfinite(rtol_) && std::isfinite(atol_) && rtol_ >= 0 && atol_ >= 0 && rtol_ + atol_ > 0, comm_, PETSC_ERR_USER_INPUT,
             "-dt_adapt_rtol and -dt_adapt_atol must be non-negative and not both zero, got %g and %g", (double)rtol_, (double)atol_);
  PetscCheck(std::isfinite(safety_) && safety_ > 0 && safety_ <= 1, comm_, PETSC_ERR_USER_INPUT, "-dt_adapt_safety must be in (0, 1], got %g",
             (double)safety_);
  PetscCheck(clip_[0] > 0 && clip_[0] < 1 && clip_[1] > 1 && std::isfinite(clip_[1]), comm_, PETSC_ERR_USER_INPUT,
             "-dt_adapt_clip lo,hi needs 0 < lo < 1 < hi, got %g,%g", (double)clip_[0], (double)clip_[1]);
  PetscCheck(std::isfinite(dt_min_) && std::isfinite(dt_max_) && dt_min_ > 0 && dt_max_ >= dt_min_, comm_, PETSC_ERR_USER_INPUT,
             "-dt_adapt_dt_min and -dt_adapt_dt_max need 0 < dt_min <= dt_max, got %g and %g", (double)dt_min_, (double)dt_max_);
  PetscCheck(max_reject_ >= 0, comm_, PETSC_ERR_USER_INPUT, "-dt_adapt_max_reject must be non-negative, got %" PetscInt_FMT, max_reject_);
  proposal_ = std::min(std::max(dt0, dt_min_), dt_max_);
  accepted_ = rejected_ = consecutive_ = 0;
  after_reject_ = false;
  if (!save_.empty()) PetscCall(CheckWritableFile(comm_, save_, "-dt_adapt_save", kSaveSignature));  // fail now, before any output
  PetscFunctionReturn(0);
}

PetscErrorCode StepAdapt::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  if (!enabled_) PetscFunctionReturn(0);
  PetscCall(PetscViewerASCIIPrintf(viewer, "  adaptive Δt: error of %s (order %" PetscInt_FMT ") against %s\n", scheme_.c_str(), order_,
                                   counterpart_.c_str()));
  PetscCall(PetscViewerASCIIPrintf(
      viewer, "    rtol %g, atol %g, safety %g, clip [%g, %g], Δt in [%g, %g], at most %" PetscInt_FMT " consecutive rejections\n", (double)rtol_,
      (double)atol_, (double)safety_, (double)clip_[0], (double)clip_[1], (double)dt_min_, (double)dt_max_, max_reject_));
  PetscFunctionReturn(0);
}

PetscErrorCode StepAdapt::ViewStatistics(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  if (enabled_)
    PetscCall(PetscViewerASCIIPrintf(viewer, "adaptive: %" PetscInt_FMT " accepted, %" PetscInt_FMT " rejected steps\n", accepted_, rejected_));
  PetscFunctionReturn(0);
}

PetscErrorCode StepAdapt::ErrorNorm(Vec u, Vec v, PetscReal *err) const {
  const PetscScalar *a, *b;
  PetscInt n, N;
  PetscReal sum = 0;
  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(u, &n));
  PetscCall(VecGetSize(u, &N));
  PetscCall(VecGetArrayRead(u, &a));
  PetscCall(VecGetArrayRead(v, &b));
  for (PetscInt i = 0; i < n; ++i) {
    const PetscReal d = PetscRealPart(a[i] - b[i]), tol = atol_ + rtol_ * std::max(PetscAbsScalar(a[i]), PetscAbsScalar(b[i]));
    if (d != 0) sum += (d / tol) * (d / tol);  // also NaN for NaN or Inf entries
  }
  PetscCall(VecRestoreArrayRead(v, &b));
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &sum, 1, MPIU_REAL, MPIU_SUM, PetscObjectComm((PetscObject)u)));
  *err = std::sqrt(sum / N);
  if (!std::isfinite(*err)) *err = std::numeric_limits<PetscReal>::infinity();  // not PETSC_INFINITY, which is finite
  PetscFunctionReturn(0);
}

PetscErrorCode StepAdapt::Judge(PetscReal t, PetscReal h, PetscReal err, bool lands, bool *accept) {
  const bool finite = std::isfinite(err);
  PetscReal factor = 0.5;  // a non-finite trial state: halve
  PetscFunctionBeginUser;
  *accept = finite && err <= 1;
  if (finite) {
    factor = err > 0 ? safety_ * std::pow(err, -1 / (PetscReal)(order_ + 1)) : clip_[1];
    factor = std::min(clip_[1], std::max(clip_[0], factor));
    if (after_reject_) factor = std::min<PetscReal>(factor, 1);
  }
  PetscReal next = std::min(dt_max_, h * factor);
  // A step cut short to end on T or a breakpoint is no evidence against the trial step it replaced.
  if (*accept && lands) next = std::max(next, proposal_);
  if (monitor_)
    PetscCall(PetscPrintf(comm_, "dt_adapt: t = %-12.6g dt = %-12.6e error = %-11.4e %s\n", (double)t, (double)h, (double)err,
                          *accept  ? "accept"
                          : finite ? "reject"
                                   : "reject (non-finite)"));
  after_reject_ = !*accept;
  consecutive_ = *accept ? 0 : consecutive_ + 1;
  (*accept ? accepted_ : rejected_)++;
  PetscCheck(consecutive_ <= max_reject_, comm_, PETSC_ERR_USER_INPUT,
             "-dt_adapt: %" PetscInt_FMT
             " consecutive rejected steps at t = %g (last dt = %g, error %g); raise -dt_adapt_max_reject or the tolerances",
             consecutive_, (double)t, (double)h, (double)err);
  PetscCheck(next >= dt_min_, comm_, PETSC_ERR_USER_INPUT,
             "-dt_adapt: the step size fell below -dt_adapt_dt_min %g at t = %g (dt = %g gave error %g, next dt %g)", (double)dt_min_, (double)t,
             (double)h, (double)err, (double)next);
  proposal_ = next;
  PetscFunctionReturn(0);
}

PetscErrorCode StepAdapt::Save(const std::vector<PetscReal> &steps, const std::string &description) const {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  if (save_.empty()) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) {
    FILE *f = std::fopen(save_.c_str(), "w");
    ok = f != nullptr;
    if (f) {
      std::fprintf(f, "%s: %zu accepted steps of %s\n# replay: -dt_schedule file:%s\n", kSaveSignature, steps.size(), description.c_str(),
                   save_.c_str());
      for (PetscReal dt : steps) std::fprintf(f, "%s\n", FormatExact(dt).c_str());
      ok = std::fclose(f) == 0;
    }
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "could not write the -dt_adapt_save file '%s'", save_.c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
