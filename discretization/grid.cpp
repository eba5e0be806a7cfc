#include "discretization/grid.hpp"

#include "discretization/base/option_checks.hpp"
#include "discretization/base/sizes.hpp"

namespace ctflow {

static const char *const kSizeOption[3] = {"-Nx", "-Ny", "-Nh"};
static const char *const kLengthOption[3] = {"-Lx", "-Ly", "-Lh"};
static const char *const kImageSizeOption[2] = {"-Ny1", "-Ny2"};
static const char *const kImageLengthOption[2] = {"-Ly1", "-Ly2"};
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
  static const char *const image_size_help[2] = {"Pixels N_y1 of a two-dimensional feature domain (cells in y1; paper §6)",
                                                 "Pixels N_y2 of a two-dimensional feature domain (cells in y2; paper §6)"};
  static const char *const image_length_help[2] = {"Length L_y1 of a two-dimensional feature domain (default as -Ly)",
                                                   "Length L_y2 of a two-dimensional feature domain (default as -Ly)"};
  PetscBool N_set[3], L_set[3], image_N_set[2], image_L_set[2];
  PetscInt image_N[2] = {image_.N[0] ? image_.N[0] : 1, image_.N[1] ? image_.N[1] : 1};
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm_, prefix_.c_str(), "Grid on Ω_x × Ω_y × Ω_h", "Grid");
  OptionsBlockGuard guard(PetscOptionsObject);
  for (int d = 0; d < 3; ++d) PetscCall(CtflowOptionsInt(kSizeOption[d], size_help[d], "Grid", N_[d], &N_[d], &N_set[d]));
  for (int d = 0; d < 3; ++d) PetscCall(PetscOptionsReal(kLengthOption[d], length_help[d], "Grid", L_[d], &L_[d], &L_set[d]));
  for (int a = 0; a < 2; ++a) PetscCall(CtflowOptionsInt(kImageSizeOption[a], image_size_help[a], "Grid", image_N[a], &image_N[a], &image_N_set[a]));
  for (int a = 0; a < 2; ++a)
    PetscCall(PetscOptionsReal(kImageLengthOption[a], image_length_help[a], "Grid", image_.L[a], &image_.L[a], &image_L_set[a]));
  PetscOptionsEnd();
  for (int d = 0; d < 3; ++d) N_set_[d] = (PetscBool)(N_set_[d] || N_set[d]), L_set_[d] = (PetscBool)(L_set_[d] || L_set[d]);
  for (int a = 0; a < 2; ++a) {
    if (image_N_set[a]) PetscCall(SetImageSizes(a == 0 ? image_N[0] : PETSC_DECIDE, a == 1 ? image_N[1] : PETSC_DECIDE));
    if (image_L_set[a]) PetscCall(SetImageLengths(a == 0 ? image_.L[0] : PETSC_DECIDE, a == 1 ? image_.L[1] : PETSC_DECIDE));
  }
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

PetscErrorCode Grid::SetImageSizes(PetscInt Ny1, PetscInt Ny2) {
  const PetscInt N[2] = {Ny1, Ny2};
  PetscFunctionBeginUser;
  for (int a = 0; a < 2; ++a) {
    if (N[a] == PETSC_DECIDE) continue;
    PetscCheck(N[a] > 0, comm_, PETSC_ERR_USER_INPUT, "%s must be positive, got %" PetscInt_FMT, kImageSizeOption[a], N[a]);
    image_.N[a] = N[a], image_N_set_[a] = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SetImageLengths(PetscReal Ly1, PetscReal Ly2) {
  const PetscReal L[2] = {Ly1, Ly2};
  PetscFunctionBeginUser;
  for (int a = 0; a < 2; ++a) {
    if (L[a] == PETSC_DECIDE) continue;
    PetscCheck(L[a] > 0 && PetscIsNormalReal(L[a]), comm_, PETSC_ERR_USER_INPUT, "%s must be positive and finite, got %g", kImageLengthOption[a],
               (double)L[a]);
    image_.L[a] = L[a], image_L_set_[a] = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SizeSlot(const char option[], PetscInt **N, PetscBool **set, std::string **source, PetscInt **cells) {
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d)
    if (std::string(option) == kSizeOption[d]) {
      *N = &N_[d], *set = &N_set_[d], *source = &N_source_[d], *cells = &data_cells_[d];
      PetscFunctionReturn(0);
    }
  for (int a = 0; a < 2; ++a)
    if (std::string(option) == kImageSizeOption[a]) {
      *N = &image_.N[a], *set = &image_N_set_[a], *source = &image_source_[a], *cells = &image_cells_[a];
      PetscFunctionReturn(0);
    }
  SETERRQ(comm_, PETSC_ERR_ARG_WRONG, "Unknown grid size option %s", option);
}

PetscErrorCode Grid::RequireSize(const char option[], PetscInt required, const char source[]) {
  PetscInt *N, *cells;
  PetscBool *set;
  std::string *from;
  PetscFunctionBeginUser;
  PetscCall(SizeSlot(option, &N, &set, &from, &cells));
  PetscCheck(!*set || *N == required, comm_, PETSC_ERR_USER_INPUT, "%s %" PetscInt_FMT " does not match %s, which has %s = %" PetscInt_FMT, option,
             *N, source, option + 1, required);
  PetscCheck(from->empty() || *N == required, comm_, PETSC_ERR_USER_INPUT, "%s has %s = %" PetscInt_FMT " but %s has %s = %" PetscInt_FMT, source,
             option + 1, required, from->c_str(), option + 1, *N);
  *N = required;
  if (from->empty()) *from = source;
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::RequireRefinableSize(const char option[], PetscInt cells, const char source[], PetscInt *factor) {
  PetscInt *N, *data_cells;
  PetscBool *set;
  std::string *from;
  PetscFunctionBeginUser;
  PetscCall(SizeSlot(option, &N, &set, &from, &data_cells));
  if (!*set) {
    PetscCall(RequireSize(option, cells, source));
  } else {
    PetscCheck(*N % cells == 0, comm_, PETSC_ERR_USER_INPUT,
               "%s %" PetscInt_FMT " does not match %s, which has %s = %" PetscInt_FMT "; a refined grid needs a multiple of %" PetscInt_FMT, option,
               *N, source, option + 1, cells, cells);
    if (from->empty()) *from = source;
  }
  *data_cells = cells;
  *factor = *N / cells;
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SetSequences(PetscInt b) {
  PetscFunctionBeginUser;
  PetscCheck(b >= 1, comm_, PETSC_ERR_ARG_OUTOFRANGE, "a grid holds at least one sequence, got %" PetscInt_FMT, b);
  sequences_ = b;
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::SetUp() {
  PetscFunctionBeginUser;
  for (int d = 0; d < 3; ++d)
    if (!L_set_[d]) L_[d] = unit_spacing_ ? (PetscReal)(data_cells_[d] ? data_cells_[d] : N_[d]) : 1.0;
  if (image_.N[0] || image_.N[1]) {  // a two-dimensional Ω_y: N_y = N_y1 N_y2, |Ω_y| = L_y1 L_y2
    PetscCheck(image_.N[0] && image_.N[1], comm_, PETSC_ERR_USER_INPUT, "a two-dimensional feature domain needs both -Ny1 and -Ny2 (got only %s)",
               image_.N[0] ? "-Ny1" : "-Ny2");
    PetscCheck(!L_set_[1], comm_, PETSC_ERR_USER_INPUT, "-Ly is the length of a one-dimensional feature domain; with -Ny1, -Ny2 give -Ly1, -Ly2");
    for (int a = 0; a < 2; ++a)
      if (!image_L_set_[a]) image_.L[a] = unit_spacing_ ? (PetscReal)(image_cells_[a] ? image_cells_[a] : image_.N[a]) : 1.0;
    const PetscInt pixels = image_.Pixels();
    PetscCheck(!(N_set_[1] || !N_source_[1].empty()) || N_[1] == pixels, comm_, PETSC_ERR_USER_INPUT,
               "N_y = %" PetscInt_FMT " (%s) does not match the image of N_y1 x N_y2 = %" PetscInt_FMT " x %" PetscInt_FMT " pixels", N_[1],
               N_source_[1].empty() ? "-Ny" : N_source_[1].c_str(), image_.N[0], image_.N[1]);
    N_[1] = pixels;
    L_[1] = image_.L[0] * image_.L[1];
  } else
    PetscCheck(!image_L_set_[0] && !image_L_set_[1], comm_, PETSC_ERR_USER_INPUT,
               "-Ly1, -Ly2 are the lengths of a two-dimensional feature domain (-Ny1, -Ny2, or convolutional controls); this one is "
               "one-dimensional: -Ly");
  PetscMPIInt size;
  PetscCallMPI(MPI_Comm_size(comm_, &size));
  PetscCheck(Nx() >= size, comm_, PETSC_ERR_USER_INPUT,
             "N_x = %" PetscInt_FMT " tokens cannot be distributed over %d ranks (each rank owns whole tokens)", Nx(), size);
  // Before the DMDA allocates anything: u must be indexable, and u with the work vectors of a step must fit.
  PetscInt entries;
  PetscCall(SizeToPetscInt(comm_, "the state u: N_x N_y", {(size_t)Nx(), (size_t)N_[1]}, &entries));
  PetscCall(MemoryCheck(comm_, kStateCopies * sizeof(PetscScalar) * ((double)entries / size),
                        "the state u (N_x N_y = " + std::to_string(entries) + " doubles) with the work vectors of a step"));
  PetscCall(DMDACreate1d(comm_, DM_BOUNDARY_NONE, Nx(), N_[1], 0, nullptr, da_.Out()));
  PetscCall(DMSetUp(da_));
  PetscCall(DMDAGetCorners(da_, &xs_, nullptr, nullptr, &xm_, nullptr, nullptr));
  PetscFunctionReturn(0);
}

PetscErrorCode Grid::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "Grid: N_x = %" PetscInt_FMT ", N_y = %" PetscInt_FMT ", N_h = %" PetscInt_FMT
                                   "; L_x = %g, L_y = %g, L_h = %g (Δx = %g, Δy = %g, Δh = %g)\n",
                                   Nx(), N_[1], N_[2], (double)Lx(), (double)L_[1], (double)L_[2], (double)dx(), (double)dy(), (double)dh()));
  if (Segmented())
    PetscCall(
        PetscViewerASCIIPrintf(viewer, "  %" PetscInt_FMT " sequences of %" PetscInt_FMT " tokens (attention within each)\n", sequences_, N_[0]));
  if (TwoDimensional())
    PetscCall(PetscViewerASCIIPrintf(
        viewer, "  Ω_y two-dimensional: N_y1 x N_y2 = %" PetscInt_FMT " x %" PetscInt_FMT " pixels; L_y1 = %g, L_y2 = %g (Δy1 = %g, Δy2 = %g)\n",
        image_.N[0], image_.N[1], (double)image_.L[0], (double)image_.L[1], (double)image_.d(0), (double)image_.d(1)));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
