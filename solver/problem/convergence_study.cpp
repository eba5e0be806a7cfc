#include "solver/problem/convergence_study.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "discretization/base/number_format.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/grid_transfer.hpp"
#include "solver/problem/cost_estimate.hpp"

namespace ctflow {

static const char *const kVariable[6] = {"x", "y", "h", "t", "y1", "y2"};
static constexpr int kMaxLevels = 31;  // the finest level's factor 2^30 fits a 32-bit PetscInt
// The CSV file's first line (an existing file is replaced only if it begins with it).
static const char *const kCsvHeader = "level,Nx,Ny,Nh,dt,e_L2,order_L2,e_max,order_max";

static std::string Trim(const std::string &s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

PetscErrorCode ConvergenceStudy::SetFromOptions() {
  char refine[256] = "t", reference[64] = "finest", csv[PETSC_MAX_PATH_LEN], sensitivity[1024] = "";
  PetscBool levels_set = PETSC_FALSE, refine_set = PETSC_FALSE, reference_set = PETSC_FALSE, csv_set = PETSC_FALSE, sensitivity_set = PETSC_FALSE;
  PetscInt levels = levels_;
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(csv, csv_.c_str(), sizeof(csv)));
  PetscOptionsBegin(comm_, nullptr, "Convergence study (ctflow -study_levels L; docs/convergence.md)", "ConvergenceStudy");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(CtflowOptionsInt("-study_levels", "Run a convergence study over L >= 2 levels, level k refining by 2^k (0: an ordinary run)",
                             "ConvergenceStudy", levels, &levels, &levels_set));
  PetscCall(PetscOptionsString("-study_refine", "Variables refined by 2 per level: a subset of x,y,h,t", "ConvergenceStudy", refine, refine,
                               sizeof(refine), &refine_set));
  PetscCall(PetscOptionsString("-study_reference",
                               "Reference of the errors: finest (the finest level) or richardson (extrapolated from the three finest)",
                               "ConvergenceStudy", reference, reference, sizeof(reference), &reference_set));
  PetscCall(
      PetscOptionsString("-study_csv", "CSV file of the study's error table ('none': no file)", "ConvergenceStudy", csv, csv, sizeof(csv), &csv_set));
  PetscCall(PetscOptionsString("-study_sensitivity",
                               "Also solve every level with perturbed controls, e.g. 'seed:5,scale:0' (seed:n analytic seed n, scale:s flows times "
                               "s), and report whether the limit depends on them",
                               "ConvergenceStudy", sensitivity, sensitivity, sizeof(sensitivity), &sensitivity_set));
  PetscOptionsEnd();
  const bool study = levels_set && levels != 0;  // -study_levels 0: an ordinary run
  PetscCheck(study || !sensitivity_set, comm_, PETSC_ERR_USER_INPUT, "-study_sensitivity belongs to a convergence study: give -study_levels L");
  PetscCheck(study || !(refine_set || reference_set || csv_set), comm_, PETSC_ERR_USER_INPUT,
             "-study_refine, -study_reference and -study_csv belong to a convergence study: give -study_levels L");
  if (!study) PetscFunctionReturn(0);
  PetscCheck(levels >= 2, comm_, PETSC_ERR_USER_INPUT,
             "-study_levels must be 0 (no study) or at least 2 (a study compares levels), got %" PetscInt_FMT, levels);
  PetscCheck(levels <= kMaxLevels, comm_, PETSC_ERR_USER_INPUT,
             "-study_levels must be at most %d (the finest level refines by 2^(L - 1), which must fit PETSc's integers), got %" PetscInt_FMT,
             kMaxLevels, levels);
  bool r[6] = {false, false, false, false, false, false};  // x, y, h, t, y1, y2
  const std::string list = refine;
  PetscCheck(!Trim(list).empty(), comm_, PETSC_ERR_USER_INPUT, "-study_refine needs at least one of x, y, h, t");
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string v = Trim(list.substr(start, comma - start));
    const int d = v == "x" ? 0 : v == "y" ? 1 : v == "h" ? 2 : v == "t" ? 3 : v == "y1" ? 4 : v == "y2" ? 5 : -1;
    PetscCheck(d >= 0, comm_, PETSC_ERR_USER_INPUT, "-study_refine '%s': unknown variable '%s' (choose from x, y, h, t; y1, y2 of images)", refine,
               v.c_str());
    PetscCheck(!r[d], comm_, PETSC_ERR_USER_INPUT, "-study_refine '%s': variable '%s' given twice", refine, v.c_str());
    r[d] = true;
    start = comma + 1;
  }
  PetscCheck(!std::strcmp(reference, "finest") || !std::strcmp(reference, "richardson"), comm_, PETSC_ERR_USER_INPUT,
             "-study_reference must be finest or richardson, got '%s'", reference);
  SetRefinement(r[0], r[1], r[2], r[3]);
  SetImageRefinement(r[4], r[5]);
  SetRichardson(!std::strcmp(reference, "richardson"));
  SetCsvFile(csv);
  SetLevels(levels);
  if (sensitivity_set) {
    std::vector<ControlsPerturbation> list;
    PetscCall(ControlsPerturbationParseList(comm_, sensitivity, "-study_sensitivity", &list));
    SetSensitivity(list);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode ConvergenceStudy::Refined(PetscInt n, bool refined, PetscInt k, const char variable[], PetscInt *out) const {
  PetscFunctionBeginUser;
  PetscCheck(!refined || n <= (PETSC_MAX_INT >> k), comm_, PETSC_ERR_USER_INPUT,
             "-study_levels %" PetscInt_FMT ": level %" PetscInt_FMT " would have %" PetscInt_FMT " * 2^%" PetscInt_FMT
             " cells in %s, more than PETSc's integers hold",
             levels_, k, n, k, variable);
  *out = refined ? n << k : n;
  PetscFunctionReturn(0);
}

// Level k: the configured problem with level 0's domain lengths, its sizes and step scaled by 2^k in the refined
// variables, and its own trajectory path (none unless level 0 was given a path, -traj FILE). A perturbed level has
// level k's sizes and lengths (its controls may impose none) and no trajectory.
PetscErrorCode ConvergenceStudy::BuildLevel(PetscInt k, std::unique_ptr<Problem> *level, const ControlsPerturbation *perturbation,
                                            const Problem *of) {
  PetscFunctionBeginUser;
  PetscCallCXX(*level = std::make_unique<Problem>(comm_));
  Problem &p = **level;
  if (configure_) PetscCall(configure_(p));
  else PetscCall(p.SetFromOptions());
  if (perturbation) {  // the same grid and step as the level `of`, with other controls
    const Grid &g = of->GetGrid();
    PetscCall(ControlsPerturbationApply(*perturbation, *of, &p));
    if (g.Image().N[0]) {
      PetscCall(p.GetGrid().SetSizes(g.Nx(), PETSC_DECIDE, g.Nh()));
      PetscCall(p.GetGrid().SetLengths(g.Lx(), PETSC_DECIDE, g.Lh()));
      PetscCall(p.GetGrid().SetImageSizes(g.Image().N[0], g.Image().N[1]));
      PetscCall(p.GetGrid().SetImageLengths(g.Image().L[0], g.Image().L[1]));
    } else {
      PetscCall(p.GetGrid().SetSizes(g.Nx(), g.Ny(), g.Nh()));
      PetscCall(p.GetGrid().SetLengths(g.Lx(), g.Ly(), g.Lh()));
    }
    if (refine_[3]) p.GetIntegrator().SetTimeStep(dt0_ / std::ldexp(1.0, (int)k));
    p.GetTrajectory().SetPath("none");
    PetscCall(p.SetUp());
    PetscFunctionReturn(0);
  }
  if (k > 0 && image_N0_[0]) {  // a two-dimensional Ω_y: y refines y1 and y2
    PetscInt N[3], image[2];
    for (int d = 0; d < 3; ++d) PetscCall(Refined(N0_[d], refine_[d], k, kVariable[d], &N[d]));
    for (int a = 0; a < 2; ++a) PetscCall(Refined(image_N0_[a], refine_[1] || image_refine_[a], k, kVariable[4 + a], &image[a]));
    PetscCall(p.GetGrid().SetSizes(N[0], PETSC_DECIDE, N[2]));
    PetscCall(p.GetGrid().SetLengths(L0_[0], PETSC_DECIDE, L0_[2]));
    PetscCall(p.GetGrid().SetImageSizes(image[0], image[1]));
    PetscCall(p.GetGrid().SetImageLengths(image_L0_[0], image_L0_[1]));
    if (refine_[3]) p.GetIntegrator().SetTimeStep(dt0_ / std::ldexp(1.0, (int)k));
  } else if (k > 0) {
    PetscInt N[3];
    for (int d = 0; d < 3; ++d) PetscCall(Refined(N0_[d], refine_[d], k, kVariable[d], &N[d]));
    PetscCall(p.GetGrid().SetSizes(N[0], N[1], N[2]));
    PetscCall(p.GetGrid().SetLengths(L0_[0], L0_[1], L0_[2]));
    if (refine_[3]) p.GetIntegrator().SetTimeStep(dt0_ / std::ldexp(1.0, (int)k));
  }
  p.GetIntegrator().Progress().SetPrefix("level " + std::to_string(k) + ": ");
  if (k == 0) traj_ = p.GetTrajectory().PathGiven() && p.GetTrajectory().Enabled() ? p.GetTrajectory().Path() : "";
  p.GetTrajectory().SetPath(traj_.empty() ? "none" : PathWithTag(traj_, "_level" + std::to_string(k)));
  PetscCall(p.SetUp());
  PetscFunctionReturn(0);
}

// Refinements the base problem cannot take, or that would change nothing.
PetscErrorCode ConvergenceStudy::CheckBase() const {
  const Problem &base = *base_;
  PetscFunctionBeginUser;
  PetscCheck(!base.GetTrajectory().Restarting(), comm_, PETSC_ERR_USER_INPUT, "-restart cannot be used in a convergence study (-study_levels)");
  PetscCheck(base.GradientFile().empty() && !base.GetLoss(), comm_, PETSC_ERR_USER_INPUT,
             "-loss and -gradient are for one run, not a convergence study (-study_levels), which compares states");
  PetscCheck(base.GetGrid().TwoDimensional() || !(image_refine_[0] || image_refine_[1]), comm_, PETSC_ERR_USER_INPUT,
             "-study_refine %s refines a two-dimensional feature domain (-Ny1, -Ny2); this one is one-dimensional", image_refine_[0] ? "y1" : "y2");
  PetscCheck(base.GetInitialState().Analytic() || !(refine_[0] || refine_[1] || image_refine_[0] || image_refine_[1]), comm_, PETSC_ERR_USER_INPUT,
             "-study_refine %s: the initial state %s has a fixed grid; refining x or y needs the analytic initial state", refine_[0] ? "x" : "y",
             base.GetInitialState().Description().c_str());
  PetscCheck(!refine_[3] || !base.GetIntegrator().HasSchedule(), comm_, PETSC_ERR_USER_INPUT,
             "-study_refine t halves a uniform step -dt; it does not refine a -dt_schedule");
  PetscCheck(!refine_[2] || base.GetIntegrator().HasOperator("attention") || base.GetIntegrator().HasOperator("conv_attention"), comm_,
             PETSC_ERR_USER_INPUT, "-study_refine h changes nothing: no operator of the splitting '%s' integrates over heads (attention)",
             base.GetIntegrator().Scheme().c_str());
  if (!csv_.empty() && csv_ != "none") PetscCall(CheckWritableFile(comm_, csv_, "-study_csv", kCsvHeader));  // fail before the runs, not after them
  PetscFunctionReturn(0);
}

PetscErrorCode ConvergenceStudy::SetUp() {
  std::unique_ptr<Problem> finest;
  PetscFunctionBeginUser;
  PetscCheck(levels_ >= 2, comm_, PETSC_ERR_USER_INPUT, "a convergence study needs at least 2 levels, got %" PetscInt_FMT, levels_);
  PetscCheck(!richardson_ || levels_ >= 3, comm_, PETSC_ERR_USER_INPUT,
             "-study_reference richardson needs -study_levels >= 3 (its order is observed on the three finest levels), got %" PetscInt_FMT, levels_);
  PetscCall(BuildLevel(0, &base_));
  PetscCall(CheckBase());
  const Grid &g = base_->GetGrid();
  for (int d = 0; d < 3; ++d) {
    N0_[d] = d == 0 ? g.Nx() : d == 1 ? g.Ny() : g.Nh();
    L0_[d] = d == 0 ? g.Lx() : d == 1 ? g.Ly() : g.Lh();
  }
  for (int a = 0; a < 2; ++a) image_N0_[a] = g.Image().N[a], image_L0_[a] = g.Image().L[a];
  dt0_ = base_->GetIntegrator().TimeStep();
  PetscCall(BuildLevel(levels_ - 1, &finest));          // the finest level's settings are checked before anything runs
  for (const ControlsPerturbation &p : sensitivity_) {  // and so is every perturbation
    std::unique_ptr<Problem> perturbed;
    PetscCall(BuildLevel(0, &perturbed, &p, base_.get()));
  }
  // The levels' costs grow at least geometrically (by 2 per level): at most twice the finest level's.
  seconds_ = 2 * EstimatedSeconds(*finest);
  PetscFunctionReturn(0);
}

PetscErrorCode ConvergenceStudy::Run() {
  std::vector<UniqueVec> restricted(levels_);
  std::vector<std::vector<UniqueVec>> perturbed(sensitivity_.size());
  PetscFunctionBeginUser;
  if (!base_) PetscCall(SetUp());
  const Problem &base = *base_;
  std::string refined;
  for (int d = 0; d < 6; ++d)
    if (d < 4 ? refine_[d] : image_refine_[d - 4]) refined += (refined.empty() ? "" : ",") + std::string(kVariable[d]);
  header_ = "Convergence study: refine " + refined + ", " + std::to_string(levels_) + " levels, reference " +
            (richardson_ ? "Richardson extrapolation of the three finest" : "the finest level") + "\n  controls " + base.GetControls().Description() +
            ", initial state " + base.GetInitialState().Description() + "\n  splitting: " + base.GetIntegrator().Scheme() +
            ", T = " + FormatExact(base.GetIntegrator().FinalTime()) + "\n";
  for (const ControlsPerturbation &p : sensitivity_) header_ += (&p == &sensitivity_[0] ? "  sensitivity to " : ", ") + p.Label();
  if (!sensitivity_.empty()) header_ += "\n";
  PetscCall(PetscPrintf(comm_, "ctflow %s\n%s", CTFLOW_VERSION, header_.c_str()));
  PetscCall(CostNote(comm_, seconds_, "this convergence study"));
  rows_.clear();
  for (PetscInt k = 0; k < levels_; ++k) {
    std::unique_ptr<Problem> fresh;
    if (k > 0) PetscCall(BuildLevel(k, &fresh));
    Problem &level = k > 0 ? *fresh : *base_;
    const Grid &g = level.FinalGrid();
    PetscCall(level.Solve());
    GridRestriction restriction;
    PetscCall(restriction.SetUp(g, base.FinalGrid()));
    PetscCall(VecDuplicate(base.State(), restricted[k].Out()));
    PetscCall(restriction.Apply(level.State(), restricted[k]));
    for (size_t i = 0; i < sensitivity_.size(); ++i) {
      std::unique_ptr<Problem> other;
      PetscCall(BuildLevel(k, &other, &sensitivity_[i], &level));
      PetscCall(other->Solve());
      PetscCallCXX(perturbed[i].resize(levels_));
      PetscCall(VecDuplicate(base.State(), perturbed[i][k].Out()));
      PetscCall(restriction.Apply(other->State(), perturbed[i][k]));
    }
    PetscCallCXX(rows_.push_back({k, g.Nx(), g.Ny(), g.Nh(), level.GetIntegrator().TimeStep(), -1, -1}));
    PetscCall(PetscPrintf(comm_,
                          "  level %" PetscInt_FMT ": N_x = %" PetscInt_FMT ", N_y = %" PetscInt_FMT ", N_h = %" PetscInt_FMT
                          ", dt = %g, %" PetscInt_FMT " steps done\n",
                          k, g.Nx(), g.Ny(), g.Nh(), (double)level.GetIntegrator().TimeStep(), level.GetIntegrator().NumSteps()));
  }
  PetscCall(ComputeErrors(restricted));
  PetscCall(ComputeSensitivity(restricted, perturbed));
  PetscCall(WriteCsv());
  PetscFunctionReturn(0);
}

// Errors of the restricted final states u[k] against the reference, on the level-0 cells.
PetscErrorCode ConvergenceStudy::ComputeErrors(const std::vector<UniqueVec> &u) {
  const PetscInt L = levels_;
  const PetscReal measure = std::sqrt(base_->FinalGrid().dx() * base_->FinalGrid().dy());
  UniqueVec ref, diff;
  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(u[L - 1], ref.Out()));
  PetscCall(VecDuplicate(u[L - 1], diff.Out()));
  PetscCall(VecCopy(u[L - 1], ref));
  if (richardson_) {
    // u* = u_{L−1} + (u_{L−1} − u_{L−2}) / (2^p − 1): the leading error term C h^p removed, p observed.
    PetscReal d_coarse, d_fine;
    PetscCall(VecWAXPY(diff, -1.0, u[L - 3], u[L - 2]));
    PetscCall(VecNorm(diff, NORM_2, &d_coarse));
    PetscCall(VecWAXPY(diff, -1.0, u[L - 2], u[L - 1]));
    PetscCall(VecNorm(diff, NORM_2, &d_fine));
    PetscCheck(d_fine > 0 && d_coarse > d_fine, comm_, PETSC_ERR_NOT_CONVERGED,
               "-study_reference richardson: the three finest levels do not converge (differences %g, then %g in L2); use -study_reference finest",
               (double)(d_coarse * measure), (double)(d_fine * measure));
    p_ = std::log2(d_coarse / d_fine);
    PetscCall(VecAXPY(ref, 1 / (std::pow(2.0, p_) - 1), diff));
  }
  for (PetscInt k = 0; k < L; ++k) {
    if (k == L - 1 && !richardson_) break;
    PetscCall(VecWAXPY(diff, -1.0, ref, u[k]));
    PetscCall(VecNorm(diff, NORM_2, &rows_[k].e_l2));
    PetscCall(VecNorm(diff, NORM_INFINITY, &rows_[k].e_max));
    rows_[k].e_l2 *= measure;
  }
  PetscCheck(rows_[0].e_max > 0, comm_, PETSC_ERR_USER_INPUT,
             "refinement changed nothing: level 0 equals the reference to the last bit (does the problem depend on the refined variables?)");
  PetscFunctionReturn(0);
}

// S_k = ‖u[k] − perturbed[i][k]‖ on the level-0 cells, and the differences of the two finest levels.
PetscErrorCode ConvergenceStudy::ComputeSensitivity(const std::vector<UniqueVec> &u, const std::vector<std::vector<UniqueVec>> &perturbed) {
  const PetscInt L = levels_;
  const PetscReal measure = std::sqrt(base_->GetGrid().dx() * base_->GetGrid().dy());
  UniqueVec diff;
  PetscFunctionBeginUser;
  sensitivity_results_.clear();
  if (sensitivity_.empty()) PetscFunctionReturn(0);
  PetscCall(VecDuplicate(u[0], diff.Out()));
  for (size_t i = 0; i < sensitivity_.size(); ++i) {
    Sensitivity r;
    r.perturbation = sensitivity_[i];
    PetscCallCXX(r.l2.resize(L));
    PetscCallCXX(r.max.resize(L));
    for (PetscInt k = 0; k < L; ++k) {
      PetscCall(VecWAXPY(diff, -1.0, perturbed[i][k], u[k]));
      PetscCall(VecNorm(diff, NORM_2, &r.l2[k]));
      PetscCall(VecNorm(diff, NORM_INFINITY, &r.max[k]));
      r.l2[k] *= measure;
    }
    PetscCall(VecWAXPY(diff, -1.0, u[L - 2], u[L - 1]));
    PetscCall(VecNorm(diff, NORM_INFINITY, &r.d));
    PetscCall(VecWAXPY(diff, -1.0, perturbed[i][L - 2], perturbed[i][L - 1]));
    PetscCall(VecNorm(diff, NORM_INFINITY, &r.d_perturbed));
    PetscCallCXX(sensitivity_results_.push_back(r));
  }
  PetscFunctionReturn(0);
}

static std::string Order(PetscReal coarse, PetscReal fine, const char *fmt) {
  char buf[32] = "";
  if (coarse > 0 && fine > 0) std::snprintf(buf, sizeof(buf), fmt, (double)std::log2(coarse / fine));
  return buf;
}

PetscErrorCode ConvergenceStudy::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  if (rows_.empty()) PetscFunctionReturn(0);
  if (richardson_) PetscCall(PetscViewerASCIIPrintf(viewer, "Richardson extrapolation with observed p = %.4f\n", (double)p_));
  PetscCall(PetscViewerASCIIPrintf(viewer, "%5s %6s %5s %5s %11s %11s %6s %11s %6s\n", "level", "N_x", "N_y", "N_h", "dt", "e_L2", "order", "e_max",
                                   "order"));
  for (size_t k = 0; k < rows_.size(); ++k) {
    const Row &r = rows_[k];
    const bool next = k + 1 < rows_.size();
    char e[2][32] = {"reference", "reference"};
    if (r.e_l2 >= 0) {
      std::snprintf(e[0], sizeof(e[0]), "%.4e", (double)r.e_l2);
      std::snprintf(e[1], sizeof(e[1]), "%.4e", (double)r.e_max);
    }
    PetscCall(PetscViewerASCIIPrintf(viewer, "%5" PetscInt_FMT " %6" PetscInt_FMT " %5" PetscInt_FMT " %5" PetscInt_FMT " %11.4e %11s %6s %11s %6s\n",
                                     r.level, r.Nx, r.Ny, r.Nh, (double)r.dt, e[0], next ? Order(r.e_l2, rows_[k + 1].e_l2, "%.3f").c_str() : "",
                                     e[1], next ? Order(r.e_max, rows_[k + 1].e_max, "%.3f").c_str() : ""));
  }
  PetscCall(ViewSensitivity(viewer));
  if (csv_ != "none") PetscCall(PetscViewerASCIIPrintf(viewer, "wrote %s\n", csv_.c_str()));
  PetscFunctionReturn(0);
}

// Per perturbation: S_k per level, its decay between levels, and whether the limit depends on the controls.
PetscErrorCode ConvergenceStudy::ViewSensitivity(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  for (const Sensitivity &r : sensitivity_results_) {
    const PetscInt L = (PetscInt)r.max.size();
    const std::string label = r.perturbation.Label();
    PetscCall(PetscViewerASCIIPrintf(viewer, "Sensitivity to the controls, θ' = %s: S = |u(θ) - u(θ')| on the level-0 cells\n", label.c_str()));
    PetscCall(PetscViewerASCIIPrintf(viewer, "%5s %11s %11s %6s %11s %6s\n", "level", "dt", "S_L2", "order", "S_max", "order"));
    for (PetscInt k = 0; k < L; ++k) {
      const bool next = k + 1 < L;
      PetscCall(PetscViewerASCIIPrintf(viewer, "%5" PetscInt_FMT " %11.4e %11.4e %6s %11.4e %6s\n", k, (double)rows_[k].dt, (double)r.l2[k],
                                       next ? Order(r.l2[k], r.l2[k + 1], "%.3f").c_str() : "", (double)r.max[k],
                                       next ? Order(r.max[k], r.max[k + 1], "%.3f").c_str() : ""));
    }
    if (r.Depends())
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "  the limit depends on the controls: the limits of θ and θ' differ by at least %.3e (max norm): S = %.3e at "
                                       "the finest level minus twice its level differences %.3e + %.3e\n",
                                       (double)r.LowerBound(), (double)r.max[L - 1], (double)r.d, (double)r.d_perturbed));
    else
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "  no dependence on the controls resolved: S = %.3e at the finest level is within twice its level differences "
                                       "%.3e + %.3e (max norm); S falls with order %s\n",
                                       (double)r.max[L - 1], (double)r.d, (double)r.d_perturbed, Order(r.max[L - 2], r.max[L - 1], "%.2f").c_str()));
  }
  PetscFunctionReturn(0);
}

// Rank 0 writes the table; empty fields where a level has no error (the reference) or no order (the last).
PetscErrorCode ConvergenceStudy::WriteCsv() const {
  FILE *fp;
  PetscFunctionBeginUser;
  if (csv_ == "none") PetscFunctionReturn(0);
  PetscCall(PetscFOpen(comm_, csv_.c_str(), "w", &fp));
  PetscCall(PetscFPrintf(comm_, fp, "%s", kCsvHeader));
  for (const Sensitivity &r : sensitivity_results_)
    PetscCall(PetscFPrintf(comm_, fp, ",S_L2(%s),S_max(%s)", r.perturbation.Label().c_str(), r.perturbation.Label().c_str()));
  PetscCall(PetscFPrintf(comm_, fp, "\n"));
  for (size_t k = 0; k < rows_.size(); ++k) {
    const Row &r = rows_[k];
    const bool next = k + 1 < rows_.size();
    char e[2][32] = {"", ""};
    if (r.e_l2 >= 0) {
      std::snprintf(e[0], sizeof(e[0]), "%.16e", (double)r.e_l2);
      std::snprintf(e[1], sizeof(e[1]), "%.16e", (double)r.e_max);
    }
    PetscCall(PetscFPrintf(comm_, fp, "%" PetscInt_FMT ",%" PetscInt_FMT ",%" PetscInt_FMT ",%" PetscInt_FMT ",%.16e,%s,%s,%s,%s", r.level, r.Nx,
                           r.Ny, r.Nh, (double)r.dt, e[0], next ? Order(r.e_l2, rows_[k + 1].e_l2, "%.10f").c_str() : "", e[1],
                           next ? Order(r.e_max, rows_[k + 1].e_max, "%.10f").c_str() : ""));
    for (const Sensitivity &s : sensitivity_results_) PetscCall(PetscFPrintf(comm_, fp, ",%.16e,%.16e", (double)s.l2[k], (double)s.max[k]));
    PetscCall(PetscFPrintf(comm_, fp, "\n"));
  }
  PetscCall(PetscFClose(comm_, fp));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
