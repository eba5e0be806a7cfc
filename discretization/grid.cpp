#include "discretization/grid.hpp"

#include "discretization/base/option_checks.hpp"
#include "discretization/base/sizes.hpp"

namespace ctflow {

static const char *const kSizeOption[3] = {"-Nx", "-Ny", "-Nh"};
static const char *const kLengthOption[3] = {"-Lx", "-Ly", "-Lh"};
// Copies of the state a run holds at least (u, the substep's right-hand side and stage, a branch copy).
static const int kStateCopies = 4;

Grid::Grid(MPI_Comm comm) : comm_(comm) {}

PetscErrorCode Grid::SetOptionsPrefix(const char prefix[]) {
  PetscFunctionBeginUser;
  prefix_ = prefix ? prefix : "";
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SetFromOptions() {
  static const char *const size_help[3] = {"Number of tokens N_x (cells in x)", "Number of features N_y (cells in y)",
                                           "Number of heads N_h (cells in h)"};
  static const char *const length_help[3] = {"Token domain length L_x (default: N_x for layered controls, else 1)",
                                             "Feature domain length L_y (default: the file's N_y for layered controls, else 1)",
                                             "Head domain length L_h (default: the file's N_h for layered controls, else 1)"};
  PetscBool N_set[3], L_set[3];
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d) PetscCall(OptionsCheckInt(comm_, prefix_.c_str(), kSizeOption[d]));
  PetscOptionsBegin(comm_, prefix_.c_str(), "Grid on Ω_x × Ω_y × Ω_h", "Grid");
  OptionsBlockGuard guard(PetscOptionsObject);
  for (int d = 0; d < 3; ++d) PetscCall(PetscOptionsInt(kSizeOption[d], size_help[d], "Grid", N_[d], &N_[d], &N_set[d]));
  for (int d = 0; d < 3; ++d) PetscCall(PetscOptionsReal(kLengthOption[d], length_help[d], "Grid", L_[d], &L_[d], &L_set[d]));
  PetscOptionsEnd();
  for (int d = 0; d < 3; ++d) N_set_[d] = (PetscBool)(N_set_[d] || N_set[d]), L_set_[d] = (PetscBool)(L_set_[d] || L_set[d]);
  for (int d = 0; d < 3; ++d) {
    PetscCheck(N_[d] > 0, comm_, PETSC_ERR_USER_INPUT, "%s must be positive, got %" PetscInt_FMT, kSizeOption[d], N_[d]);
    PetscCheck(!L_set_[d] || (L_[d] > 0 && PetscIsNormalReal(L_[d])), comm_, PETSC_ERR_USER_INPUT, "%s must be positive and finite, got %g",
               kLengthOption[d], (double)L_[d]);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SetSizes(PetscInt Nx, PetscInt Ny, PetscInt Nh) {
  const PetscInt N[3] = {Nx, Ny, Nh};
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d) {
    if (N[d] == PETSC_DECIDE) continue;
    PetscCheck(N[d] > 0, comm_, PETSC_ERR_USER_INPUT, "%s must be positive, got %" PetscInt_FMT, kSizeOption[d], N[d]);
    N_[d] = N[d], N_set_[d] = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SetLengths(PetscReal Lx, PetscReal Ly, PetscReal Lh) {
  const PetscReal L[3] = {Lx, Ly, Lh};
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d) {
    if (L[d] == PETSC_DECIDE) continue;
    PetscCheck(L[d] > 0 && PetscIsNormalReal(L[d]), comm_, PETSC_ERR_USER_INPUT, "%s must be positive and finite, got %g", kLengthOption[d],
               (double)L[d]);
    L_[d] = L[d], L_set_[d] = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::RequireSize(const char option[], PetscInt required, const char source[]) {
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d) {
    if (std::string(option) != kSizeOption[d]) continue;
    PetscCheck(!N_set_[d] || N_[d] == required, comm_, PETSC_ERR_USER_INPUT, "%s %" PetscInt_FMT " does not match %s, which has %s = %" PetscInt_FMT,
               option, N_[d], source, option + 1, required);
    PetscCheck(N_source_[d].empty() || N_[d] == required, comm_, PETSC_ERR_USER_INPUT, "%s has %s = %" PetscInt_FMT " but %s has %s = %" PetscInt_FMT,
               source, option + 1, required, N_source_[d].c_str(), option + 1, N_[d]);
    N_[d] = required;
    if (N_source_[d].empty()) N_source_[d] = source;
    PetscFunctionReturn(0);
  }
  SETERRQ(comm_, PETSC_ERR_ARG_WRONG, "Unknown grid size option %s", option);
}

PetscErrorCode Grid::RequireRefinableSize(const char option[], PetscInt cells, const char source[], PetscInt *factor) {
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d) {
    if (std::string(option) != kSizeOption[d]) continue;
    if (!N_set_[d]) {
      PetscCall(RequireSize(option, cells, source));
    } else {
      PetscCheck(N_[d] % cells == 0, comm_, PETSC_ERR_USER_INPUT,
                 "%s %" PetscInt_FMT " does not match %s, which has %s = %" PetscInt_FMT "; a refined grid needs a multiple of %" PetscInt_FMT,
                 option, N_[d], source, option + 1, cells, cells);
      if (N_source_[d].empty()) N_source_[d] = source;
    }
    data_cells_[d] = cells;
    *factor = N_[d] / cells;
    PetscFunctionReturn(0);
  }
  SETERRQ(comm_, PETSC_ERR_ARG_WRONG, "Unknown grid size option %s", option);
}

PetscErrorCode Grid::SetUp() {
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d)
    if (!L_set_[d]) L_[d] = unit_spacing_ ? (PetscReal)(data_cells_[d] ? data_cells_[d] : N_[d]) : 1.0;
  PetscMPIInt size;
  PetscCallMPI(MPI_Comm_size(comm_, &size));
  PetscCheck(N_[0] >= size, comm_, PETSC_ERR_USER_INPUT,
             "N_x = %" PetscInt_FMT " tokens cannot be distributed over %d ranks (each rank owns whole tokens)", N_[0], size);
  // Before the DMDA allocates anything: u must be indexable, and u with the work vectors of a step must fit.
  PetscInt entries;
  PetscCall(SizeToPetscInt(comm_, "the state u: N_x N_y", {(size_t)N_[0], (size_t)N_[1]}, &entries));
  PetscCall(MemoryCheck(comm_, kStateCopies * sizeof(PetscScalar) * ((double)entries / size),
                        "the state u (N_x N_y = " + std::to_string(entries) + " doubles) with the work vectors of a step"));
  PetscCall(DMDACreate1d(comm_, DM_BOUNDARY_NONE, N_[0], N_[1], 0, nullptr, da_.Out()));
  PetscCall(DMSetUp(da_));
  PetscCall(DMDAGetCorners(da_, &xs_, nullptr, nullptr, &xm_, nullptr, nullptr));
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "Grid: N_x = %" PetscInt_FMT ", N_y = %" PetscInt_FMT ", N_h = %" PetscInt_FMT
                                   "; L_x = %g, L_y = %g, L_h = %g (Δx = %g, Δy = %g, Δh = %g)\n",
                                   N_[0], N_[1], N_[2], (double)L_[0], (double)L_[1], (double)L_[2], (double)dx(), (double)dy(), (double)dh()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
