// ConvergenceStudy: ctflow's refinement mode. The same continuous problem (controls θ(x, y, h, t) and
// initial data f(x, y) on fixed Ω_x × Ω_y × Ω_h × [0, T]) is solved on levels k = 0 … L−1, level 0 being
// the problem the ordinary ctflow options describe and level k scaling each refined variable by 2^k:
// N_x, N_y, N_h ← 2^k N (the domain lengths of level 0 kept; on a two-dimensional Ω_y, y is N_y1 and N_y2, each of
// which may also be refined alone as y1, y2), Δt ← Δt / 2^k. Every level's final state is
// restricted to the level-0 grid by cell averages (discretization/grid_transfer.hpp) and compared with a
// reference there:
//
//   finest      u* = R u_{L−1}
//   richardson  u* = u_{L−1} + (u_{L−1} − u_{L−2}) / (2^p − 1),  p = log2(‖u_{L−2} − u_{L−3}‖ / ‖u_{L−1} − u_{L−2}‖)
//               (all restricted; p is the observed order of the three finest levels in the L2 norm)
//
//   e_L2 = (Σ_{k,l} (u − u*)²_{k,l} Δx_0 Δy_0)^{1/2},  e_max = max_{k,l} |u − u*|_{k,l}   (level-0 cells)
//   observed order between levels k and k+1:  p_k = log2(e_k / e_{k+1})
//
// modelled on MFEM's ConvergenceStudy (fem/convergence.hpp: rate = log(e_{k−1}/e_k) / log(h_{k−1}/h_k)).
// With the finest reference the last orders are biased low/high by the reference's own error
// (e_k ∝ h_k^p − h_{L−1}^p); Richardson's last order equals p by construction.
//
// Every level is a Problem (solver/problem/problem.hpp) configured the same way — by default from the options
// database, or by a function the program gives (SetProblemConfiguration) — and then given its sizes, lengths,
// Δt and trajectory path through setters; the options database is never written.
//
// Options (each with a setter): -study_levels L (≥ 2; giving it selects this mode; SetLevels), -study_refine
// x,y,h,t (any subset, default t; SetRefinement; y1, y2 on a two-dimensional Ω_y, SetImageRefinement), -study_reference
// finest|richardson (default finest; richardson needs L ≥ 3; SetRichardson), -study_csv FILE (default convergence.csv,
// 'none': no file; SetCsvFile). Every other ctflow option describes level 0. No trajectory is written unless level 0's
// has a path given (-traj FILE); then level k writes FILE with '_level<k>' before its extension. Rejected: an unknown
// variable; refining x or y of a state read from a file (-u0, -image); refining t of a -dt_schedule; refining h when no
// operator of the scheme integrates over heads (the refinement would change nothing); -restart.
//
// Sensitivity (-study_sensitivity LIST, SetSensitivity; solver/problem/controls_perturbation.hpp): every level is also
// solved with each perturbed control θ' (e.g. seed:5, scale:0) and S_k = ‖R u_k(θ) − R u_k(θ')‖ reported. The
// limits of θ and θ' differ by at least S_{L−1} − 2 (d + d') in the max norm, d and d' being the differences of the
// two finest levels of θ and θ' (the error e_{L−1} ≤ d/(2^p − 1) is at most 2d for an observed order p ≥ 0.6): the
// study reports that the limit depends on the controls when this bound is positive, and otherwise that no dependence
// is resolved (a limit that forgets its controls: S_k falls like the discretization error).
#pragma once
#include <petscvec.h>

#include <functional>
#include <string>
#include <vector>

#include "solver/problem/controls_perturbation.hpp"
#include "solver/problem/problem.hpp"

namespace ctflow {

class ConvergenceStudy {
 public:
  struct Row {
    PetscInt level, Nx, Ny, Nh;
    PetscReal dt;
    PetscReal e_l2, e_max;  // < 0: the reference level (no error)
  };
  // The difference of every level's solution to that of perturbed controls θ', restricted to level 0.
  struct Sensitivity {
    ControlsPerturbation perturbation;
    std::vector<PetscReal> l2, max;    // S_k in the L2 and max norms
    PetscReal d = 0, d_perturbed = 0;  // ‖R u_{L−1} − R u_{L−2}‖_max of θ and of θ'
    // The limits of θ and θ' differ at least by this, if positive: S_{L−1} − 2 (d + d').
    PetscReal LowerBound() const { return max.back() - 2 * (d + d_perturbed); }
    bool Depends() const { return LowerBound() > 0; }
  };
  // Configures a level's problem before its sizes and step are set (default: Problem::SetFromOptions).
  using Configuration = std::function<PetscErrorCode(Problem &)>;

  explicit ConvergenceStudy(MPI_Comm comm) : comm_(comm) {}
  PetscErrorCode SetFromOptions();
  void SetLevels(PetscInt levels) { levels_ = levels; }
  // Which of x, y, h, t are refined by 2 per level.
  void SetRefinement(bool x, bool y, bool h, bool t) { refine_[0] = x, refine_[1] = y, refine_[2] = h, refine_[3] = t; }
  // On a two-dimensional Ω_y (-Ny1, -Ny2): which of y1, y2 are refined (y refines both).
  void SetImageRefinement(bool y1, bool y2) { image_refine_[0] = y1, image_refine_[1] = y2; }
  void SetRichardson(bool richardson) { richardson_ = richardson; }
  void SetCsvFile(const std::string &path) { csv_ = path; }
  void SetProblemConfiguration(Configuration configure) { configure_ = std::move(configure); }
  // Perturbations θ' of the controls whose solutions every level also computes (empty: none).
  void SetSensitivity(const std::vector<ControlsPerturbation> &perturbations) { sensitivity_ = perturbations; }
  // -study_levels was given (or SetLevels).
  bool Enabled() const { return levels_ > 0; }
  // Builds level 0 and the finest level: every setting is checked before anything runs.
  PetscErrorCode SetUp();
  // Runs every level and computes the errors.
  PetscErrorCode Run();
  // The table (level, N_x, N_y, N_h, Δt, e_L2, order, e_max, order) and, unless 'none', the CSV file.
  PetscErrorCode View(PetscViewer viewer) const;
  const std::vector<Row> &Rows() const { return rows_; }
  const std::vector<Sensitivity> &Sensitivities() const { return sensitivity_results_; }

 private:
  // Level k; with a perturbation, its problem with the perturbed controls of `of` (level k itself, set up).
  // n · 2^k if `refined`, else n; an error naming the variable if it does not fit PetscInt.
  PetscErrorCode Refined(PetscInt n, bool refined, PetscInt k, const char variable[], PetscInt *out) const;
  PetscErrorCode BuildLevel(PetscInt k, std::unique_ptr<Problem> *level, const ControlsPerturbation *perturbation = nullptr,
                            const Problem *of = nullptr);
  PetscErrorCode ComputeSensitivity(const std::vector<UniqueVec> &u, const std::vector<std::vector<UniqueVec>> &perturbed);
  PetscErrorCode ViewSensitivity(PetscViewer viewer) const;
  PetscErrorCode CheckBase() const;
  PetscErrorCode ComputeErrors(const std::vector<UniqueVec> &u);
  PetscErrorCode WriteCsv() const;

  MPI_Comm comm_;
  PetscInt levels_ = 0;
  bool refine_[4] = {false, false, false, true};  // x, y, h, t
  bool image_refine_[2] = {false, false};         // y1, y2
  bool richardson_ = false;
  std::string csv_ = "convergence.csv", traj_;
  Configuration configure_;
  std::unique_ptr<Problem> base_;
  // Level 0's sizes, lengths and step, which the other levels scale.
  PetscInt N0_[3] = {0, 0, 0};
  PetscReal L0_[3] = {0, 0, 0}, dt0_ = 0, p_ = 0;
  PetscInt image_N0_[2] = {0, 0};  // level 0's pixels, if Ω_y is two-dimensional
  PetscReal image_L0_[2] = {0, 0};
  double seconds_ = 0;  // estimated (solver/problem/cost_estimate.hpp)
  std::vector<Row> rows_;
  std::vector<ControlsPerturbation> sensitivity_;
  std::vector<Sensitivity> sensitivity_results_;
  std::string header_;
};

}  // namespace ctflow
