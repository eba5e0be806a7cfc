// Grid: the uniform cell-centred tensor grid on Ω_x × Ω_y × Ω_h and the PETSc layout of u.
//
//   Ω_x = [0, L_x], Ω_y = [0, L_y], Ω_h = [0, L_h];  x_k = (k + 1/2) Δx, Δx = L_x / N_x (same for y, h).
//   u(x_k, y_l) is a DMDA vector over the N_x tokens with N_y degrees of freedom per token, so every
//   rank owns whole rows (tokens). Every discrete integral is the midpoint rule: ∫ f dy ≈ Σ_l f_l Δy.
//   With L = N (the paper's §3.4 choice) the spacings are 1 and the integrals are plain sums (eq. (25)).
//
// Options (prefix-able): -Nx -Ny -Nh (SetSizes) -Lx -Ly -Lh (SetLengths). Sizes may instead be imposed by data (RequireSize), or
// imposed up to an integer refinement factor (RequireRefinableSize: the data's cells split into r cells);
// lengths left unset become L = N_data under SetUnitSpacing (layered controls: discrete weights; one unit per
// cell of the data, so Δ = 1/r) and 1 otherwise.
#pragma once
#include <petscdmda.h>

#include "discretization/base/petsc_handle.hpp"

#include <string>

namespace ctflow {

class Grid {
 public:
  explicit Grid(MPI_Comm comm);
  Grid(const Grid &) = delete;
  Grid &operator=(const Grid &) = delete;

  // Unset lengths default to L = N (unit spacing) instead of 1; call before SetUp.
  void SetUnitSpacing(PetscBool unit_spacing) { unit_spacing_ = unit_spacing; }
  PetscErrorCode SetOptionsPrefix(const char prefix[]);
  PetscErrorCode SetFromOptions();
  // Sizes and lengths as given explicitly (as -Nx ... -Lh); PETSC_DECIDE keeps a value as it is.
  PetscErrorCode SetSizes(PetscInt Nx, PetscInt Ny, PetscInt Nh);
  PetscErrorCode SetLengths(PetscReal Lx, PetscReal Ly, PetscReal Lh);
  // Fix a size imposed by data (a file); an explicit, different option value, or a different size imposed
  // by other data, is an error.
  PetscErrorCode RequireSize(const char option[], PetscInt required, const char source[]);
  // Fix a size imposed by data of `cells` cells that may be refined: an explicit option value must be a
  // multiple r·cells (each data cell split into r grid cells), else N = cells. *factor = r. Unit spacing
  // then means one unit per data cell: L = cells.
  PetscErrorCode RequireRefinableSize(const char option[], PetscInt cells, const char source[], PetscInt *factor);
  PetscErrorCode SetUp();
  PetscErrorCode View(PetscViewer viewer) const;

  MPI_Comm Comm() const { return comm_; }
  DM Layout() const { return da_; }
  PetscInt Nx() const { return N_[0]; }
  PetscInt Ny() const { return N_[1]; }
  PetscInt Nh() const { return N_[2]; }
  PetscReal Lx() const { return L_[0]; }
  PetscReal Ly() const { return L_[1]; }
  PetscReal Lh() const { return L_[2]; }
  PetscReal dx() const { return L_[0] / N_[0]; }
  PetscReal dy() const { return L_[1] / N_[1]; }
  PetscReal dh() const { return L_[2] / N_[2]; }
  PetscReal x(PetscInt k) const { return (k + 0.5) * dx(); }
  PetscReal y(PetscInt l) const { return (l + 0.5) * dy(); }
  PetscReal h(PetscInt m) const { return (m + 0.5) * dh(); }
  // Tokens owned by this rank: [xstart, xstart + xlocal).
  PetscInt XStart() const { return xs_; }
  PetscInt XLocal() const { return xm_; }

 private:
  MPI_Comm comm_;
  std::string prefix_;
  PetscInt N_[3] = {32, 16, 2};
  PetscReal L_[3] = {1, 1, 1};
  PetscBool unit_spacing_ = PETSC_FALSE;
  PetscBool N_set_[3] = {PETSC_FALSE, PETSC_FALSE, PETSC_FALSE};
  PetscBool L_set_[3] = {PETSC_FALSE, PETSC_FALSE, PETSC_FALSE};
  std::string N_source_[3];             // the data that imposed each size, if any
  PetscInt data_cells_[3] = {0, 0, 0};  // cells of refinable data (RequireRefinableSize), or 0
  UniqueDM da_;
  PetscInt xs_ = 0, xm_ = 0;
};

}  // namespace ctflow
