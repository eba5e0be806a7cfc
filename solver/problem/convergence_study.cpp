#include "solver/app/convergence_study.hpp"

#include <petscdmda.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "discretization/grid_transfer.hpp"
#include "discretization/initial_state.hpp"
#include "solver/app/run_driver.hpp"
#include "solver/output/trajectory_writer.hpp"
#include "solver/timestepping/integrator.hpp"

namespace ctflow {

static const char *const kVariable[4] = {"x", "y", "h", "t"};
static const char *const kSizeOption[3] = {"-Nx", "-Ny", "-Nh"};
static const char *const kLengthOption[3] = {"-Lx", "-Ly", "-Lh"};

// One level's problem, assembled as the ctflow run assembles it.
struct ConvergenceStudy::Level {
  explicit Level(MPI_Comm comm) : grid(comm) {}
  ~Level() { (void)VecDestroy(&u); }
  Grid grid;
  std::unique_ptr<Controls> controls;
  InitialState initial;
  std::unique_ptr<Integrator> integrator;
  std::unique_ptr<TrajectoryWriter> traj;
  Vec u = nullptr;
};

static std::string Trim(const std::string &s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

static std::string Real(PetscReal v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", (double)v);
  return buf;
}

// FILE.h5 → FILE_level<k>.h5 (the suffix goes before the extension of the last path component).
static std::string LevelPath(const std::string &path, PetscInt k) {
  const size_t slash = path.find_last_of('/'), dot = path.find_last_of('.');
  const std::string tag = "_level" + std::to_string(k);
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + tag;
  return path.substr(0, dot) + tag + path.substr(dot);
}

PetscErrorCode ConvergenceStudy::SetFromOptions() {
  char refine[256] = "t", reference[64] = "finest", csv[PETSC_MAX_PATH_LEN], traj[PETSC_MAX_PATH_LEN] = "";
  PetscBool levels_set = PETSC_FALSE, refine_set = PETSC_FALSE, reference_set = PETSC_FALSE, csv_set = PETSC_FALSE, traj_set, restart, help;
  PetscInt levels = 0;
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(csv, csv_.c_str(), sizeof(csv)));
  PetscOptionsBegin(comm_, nullptr, "Convergence study (ctflow -study_levels L; docs/convergence.md)", "ConvergenceStudy");
  PetscCall(PetscOptionsInt("-study_levels", "Run a convergence study over L >= 2 levels, level k refining by 2^k (0: an ordinary run)",
                            "ConvergenceStudy", levels, &levels, &levels_set));
  PetscCall(PetscOptionsString("-study_refine", "Variables refined by 2 per level: a subset of x,y,h,t", "ConvergenceStudy", refine, refine,
                               sizeof(refine), &refine_set));
  PetscCall(PetscOptionsString("-study_reference",
                               "Reference of the errors: finest (the finest level) or richardson (extrapolated from the three finest)",
                               "ConvergenceStudy", reference, reference, sizeof(reference), &reference_set));
  PetscCall(
      PetscOptionsString("-study_csv", "CSV file of the study's error table ('none': no file)", "ConvergenceStudy", csv, csv, sizeof(csv), &csv_set));
  PetscOptionsEnd();
  PetscCall(PetscOptionsHasHelp(nullptr, &help));
  help_ = help;
  PetscCheck(levels_set || !(refine_set || reference_set || csv_set), comm_, PETSC_ERR_USER_INPUT,
             "-study_refine, -study_reference and -study_csv belong to a convergence study: give -study_levels L");
  if (!levels_set) PetscFunctionReturn(0);
  PetscCheck(levels >= 2, comm_, PETSC_ERR_USER_INPUT, "-study_levels must be at least 2 (a study compares levels), got %" PetscInt_FMT, levels);
  std::fill_n(refine_, 4, false);
  std::string list = refine;
  PetscCheck(!Trim(list).empty(), comm_, PETSC_ERR_USER_INPUT, "-study_refine needs at least one of x, y, h, t");
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string v = Trim(list.substr(start, comma - start));
    const int d = v == "x" ? 0 : v == "y" ? 1 : v == "h" ? 2 : v == "t" ? 3 : -1;
    PetscCheck(d >= 0, comm_, PETSC_ERR_USER_INPUT, "-study_refine '%s': unknown variable '%s' (choose from x, y, h, t)", refine, v.c_str());
    PetscCheck(!refine_[d], comm_, PETSC_ERR_USER_INPUT, "-study_refine '%s': variable '%s' given twice", refine, v.c_str());
    refine_[d] = true;
    start = comma + 1;
  }
  PetscCheck(!std::strcmp(reference, "finest") || !std::strcmp(reference, "richardson"), comm_, PETSC_ERR_USER_INPUT,
             "-study_reference must be finest or richardson, got '%s'", reference);
  richardson_ = !std::strcmp(reference, "richardson");
  PetscCheck(!richardson_ || levels >= 3, comm_, PETSC_ERR_USER_INPUT,
             "-study_reference richardson needs -study_levels >= 3 (its order is observed on the three finest levels), got %" PetscInt_FMT, levels);
  PetscCall(PetscOptionsHasName(nullptr, nullptr, "-restart", &restart));
  PetscCheck(!restart, comm_, PETSC_ERR_USER_INPUT, "-restart cannot be used in a convergence study (-study_levels)");
  PetscCall(PetscOptionsGetString(nullptr, nullptr, "-traj", traj, sizeof(traj), &traj_set));
  traj_ = traj_set && std::strcmp(traj, "none") ? traj : "";
  csv_ = csv;
  levels_ = levels;
  PetscFunctionReturn(0);
}

// Level k > 0 (k = 0: the options as given): refined sizes and step, level 0's domain lengths.
PetscErrorCode ConvergenceStudy::SetLevelOptions(PetscInt k) const {
  PetscFunctionBeginUser;
  if (k > 0) {
    for (int d = 0; d < 3; ++d) {
      PetscCall(PetscOptionsSetValue(nullptr, kSizeOption[d], std::to_string(refine_[d] ? N0_[d] << k : N0_[d]).c_str()));
      PetscCall(PetscOptionsSetValue(nullptr, kLengthOption[d], Real(L0_[d]).c_str()));
    }
    if (refine_[3]) PetscCall(PetscOptionsSetValue(nullptr, "-dt", Real(dt0_ / (PetscReal)(1 << k)).c_str()));
  }
  if (!traj_.empty()) PetscCall(PetscOptionsSetValue(nullptr, "-traj", LevelPath(traj_, k).c_str()));
  PetscFunctionReturn(0);
}

PetscErrorCode ConvergenceStudy::BuildLevel(PetscInt k, Level *level) const {
  PetscFunctionBeginUser;
  PetscCall(SetLevelOptions(k));
  PetscCall(level->grid.SetFromOptions());
  PetscCall(ControlsCreateFromOptions(&level->grid, &level->controls));
  PetscCall(level->initial.SetFromOptions(&level->grid, *level->controls));
  PetscCallCXX(level->integrator = std::make_unique<Integrator>(level->grid, *level->controls));
  PetscCall(level->integrator->SetFromOptions());
  if (!traj_.empty()) {
    PetscCallCXX(level->traj = std::make_unique<TrajectoryWriter>(comm_));
    PetscCall(level->traj->SetFromOptions());
  }
  PetscCall(level->grid.SetUp());
  PetscCall(DMCreateGlobalVector(level->grid.Layout(), &level->u));
  PetscCall(PetscObjectSetName((PetscObject)level->u, "u"));
  PetscCall(level->integrator->SetUp(level->u));
  PetscFunctionReturn(0);
}

// Refinements the base problem cannot take, or that would change nothing.
PetscErrorCode ConvergenceStudy::CheckBase(const Level &base) const {
  PetscBool schedule;
  PetscFunctionBeginUser;
  PetscCheck(base.initial.Analytic() || !(refine_[0] || refine_[1]), comm_, PETSC_ERR_USER_INPUT,
             "-study_refine %s: the initial state %s has a fixed grid; refining x or y needs the analytic initial state", refine_[0] ? "x" : "y",
             base.initial.Description().c_str());
  PetscCall(PetscOptionsHasName(nullptr, nullptr, "-dt_schedule", &schedule));
  PetscCheck(!refine_[3] || !schedule, comm_, PETSC_ERR_USER_INPUT, "-study_refine t halves a uniform step -dt; it does not refine a -dt_schedule");
  PetscCheck(!refine_[2] || base.integrator->Scheme().find("attention") != std::string::npos, comm_, PETSC_ERR_USER_INPUT,
             "-study_refine h changes nothing: no operator of the splitting '%s' integrates over heads (attention)",
             base.integrator->Scheme().c_str());
  if (!csv_.empty() && csv_ != "none") {  // fail before the runs, not after them
    PetscMPIInt rank;
    int ok = 1;
    PetscCallMPI(MPI_Comm_rank(comm_, &rank));
    const size_t slash = csv_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : csv_.substr(0, slash));
    if (rank == 0) ok = access(dir.c_str(), W_OK | X_OK) == 0 && (access(csv_.c_str(), F_OK) != 0 || access(csv_.c_str(), W_OK) == 0);
    PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
    PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "cannot write the -study_csv file '%s': its directory '%s' does not exist or is not writable",
               csv_.c_str(), dir.c_str());
  }
  PetscFunctionReturn(0);
}

PetscErrorCode ConvergenceStudy::Run() {
  std::vector<Vec> restricted(levels_, nullptr);
  PetscFunctionBeginUser;
  Level base(comm_);
  PetscCall(BuildLevel(0, &base));
  PetscCall(CheckBase(base));
  PetscCall(CheckAllOptionsUsed(comm_));
  if (help_) PetscFunctionReturn(0);
  for (int d = 0; d < 3; ++d) {
    N0_[d] = d == 0 ? base.grid.Nx() : d == 1 ? base.grid.Ny() : base.grid.Nh();
    L0_[d] = d == 0 ? base.grid.Lx() : d == 1 ? base.grid.Ly() : base.grid.Lh();
  }
  dt0_ = base.integrator->TimeStep();
  {  // the finest level's options are checked before anything runs
    Level finest(comm_);
    PetscCall(BuildLevel(levels_ - 1, &finest));
  }
  std::string refined;
  for (int d = 0; d < 4; ++d)
    if (refine_[d]) refined += (refined.empty() ? "" : ",") + std::string(kVariable[d]);
  header_ = "Convergence study: refine " + refined + ", " + std::to_string(levels_) + " levels, reference " +
            (richardson_ ? "Richardson extrapolation of the three finest" : "the finest level") + "\n  controls " + base.controls->Description() +
            ", initial state " + base.initial.Description() + "\n  splitting: " + base.integrator->Scheme() +
            ", T = " + Real(base.integrator->FinalTime()) + "\n";
  PetscCall(PetscPrintf(comm_, "ctflow %s\n%s", CTFLOW_VERSION, header_.c_str()));
  rows_.clear();
  for (PetscInt k = 0; k < levels_; ++k) {
    std::unique_ptr<Level> fresh;
    if (k > 0) {
      PetscCallCXX(fresh = std::make_unique<Level>(comm_));
      PetscCall(BuildLevel(k, fresh.get()));
    }
    Level &level = k > 0 ? *fresh : base;
    const PetscInt N = level.integrator->NumSteps();
    PetscCall(level.initial.Fill(level.grid, level.u));
    if (level.traj) {
      const TrajectoryWriter::Metadata meta = {level.integrator->Scheme(), level.controls->Description(), level.initial.Description(),
                                               level.integrator->FinalTime(), level.integrator->TimeStep()};
      PetscCall(level.traj->CheckWritable());
      PetscCall(level.traj->Open(level.grid, meta));
      PetscCall(level.traj->Write(0, 0, level.u, true));
    }
    PetscCall(level.integrator->Solve(
        level.u, [&](PetscInt step, PetscReal t, Vec v) { return level.traj ? level.traj->Write(step, t, v, step == N) : PetscErrorCode(0); }));
    if (level.traj) PetscCall(level.traj->Close());
    GridRestriction restriction;
    PetscCall(restriction.SetUp(level.grid, base.grid));
    PetscCall(VecDuplicate(base.u, &restricted[k]));
    PetscCall(restriction.Apply(level.u, restricted[k]));
    rows_.push_back({k, level.grid.Nx(), level.grid.Ny(), level.grid.Nh(), level.integrator->TimeStep(), -1, -1});
    PetscCall(PetscPrintf(comm_,
                          "  level %" PetscInt_FMT ": N_x = %" PetscInt_FMT ", N_y = %" PetscInt_FMT ", N_h = %" PetscInt_FMT
                          ", dt = %g, %" PetscInt_FMT " steps done\n",
                          k, level.grid.Nx(), level.grid.Ny(), level.grid.Nh(), (double)level.integrator->TimeStep(), N));
  }
  PetscCall(ComputeErrors(restricted, base));
  for (Vec &v : restricted) PetscCall(VecDestroy(&v));
  PetscCall(WriteCsv());
  PetscFunctionReturn(0);
}

// Errors of the restricted final states u[k] against the reference, on the level-0 cells.
PetscErrorCode ConvergenceStudy::ComputeErrors(const std::vector<Vec> &u, const Level &base) {
  const PetscInt L = levels_;
  const PetscReal measure = std::sqrt(base.grid.dx() * base.grid.dy());
  Vec ref, diff;
  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(u[L - 1], &ref));
  PetscCall(VecDuplicate(u[L - 1], &diff));
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
  PetscCall(VecDestroy(&ref));
  PetscCall(VecDestroy(&diff));
  PetscCheck(rows_[0].e_max > 0, comm_, PETSC_ERR_USER_INPUT,
             "refinement changed nothing: level 0 equals the reference to the last bit (does the problem depend on the refined variables?)");
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
  if (csv_ != "none") PetscCall(PetscViewerASCIIPrintf(viewer, "wrote %s\n", csv_.c_str()));
  PetscFunctionReturn(0);
}

// Rank 0 writes the table; empty fields where a level has no error (the reference) or no order (the last).
PetscErrorCode ConvergenceStudy::WriteCsv() const {
  FILE *fp;
  PetscFunctionBeginUser;
  if (csv_ == "none") PetscFunctionReturn(0);
  PetscCall(PetscFOpen(comm_, csv_.c_str(), "w", &fp));
  PetscCall(PetscFPrintf(comm_, fp, "level,Nx,Ny,Nh,dt,e_L2,order_L2,e_max,order_max\n"));
  for (size_t k = 0; k < rows_.size(); ++k) {
    const Row &r = rows_[k];
    const bool next = k + 1 < rows_.size();
    char e[2][32] = {"", ""};
    if (r.e_l2 >= 0) {
      std::snprintf(e[0], sizeof(e[0]), "%.16e", (double)r.e_l2);
      std::snprintf(e[1], sizeof(e[1]), "%.16e", (double)r.e_max);
    }
    PetscCall(PetscFPrintf(comm_, fp, "%" PetscInt_FMT ",%" PetscInt_FMT ",%" PetscInt_FMT ",%" PetscInt_FMT ",%.16e,%s,%s,%s,%s\n", r.level, r.Nx,
                           r.Ny, r.Nh, (double)r.dt, e[0], next ? Order(r.e_l2, rows_[k + 1].e_l2, "%.10f").c_str() : "", e[1],
                           next ? Order(r.e_max, rows_[k + 1].e_max, "%.10f").c_str() : ""));
  }
  PetscCall(PetscFClose(comm_, fp));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
