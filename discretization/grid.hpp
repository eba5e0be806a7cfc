// Grid: the uniform cell-centred tensor grid on Ω_x × Ω_y × Ω_h and the PETSc layout of u.
//
//   Ω_x = [0, L_x], Ω_y = [0, L_y], Ω_h = [0, L_h];  x_k = (k + 1/2) Δx, Δx = L_x / N_x (same for y, h).
//   u(x_k, y_l) is a DMDA vector over the N_x tokens with N_y degrees of freedom per token, so every
//   rank owns whole rows (tokens). Every discrete integral is the midpoint rule: ∫ f dy ≈ Σ_l f_l Δy.
//   With L = N (the paper's §3.4 choice) the spacings are 1 and the integrals are plain sums (eq. (25)).
//
// Ω_y may instead be two-dimensional, [0, L_y1] × [0, L_y2] with N_y1 × N_y2 cells (paper §6, images;
// discretization/image_shape.hpp): then N_y = N_y1 N_y2, L_y = L_y1 L_y2 and Δy = Δy1 Δy2, pixel (i, j) is feature i N_y2 + j.
//
// Options (prefix-able): -Nx -Ny -Nh (SetSizes) -Lx -Ly -Lh (SetLengths), -Ny1 -Ny2 (SetImageSizes; either makes Ω_y
// two-dimensional, the other defaulting to 1 cell) -Ly1 -Ly2 (SetImageLengths). Sizes may instead be imposed by data (RequireSize), or
// imposed up to an integer refinement factor (RequireRefinableSize: the data's cells split into r cells);
// lengths left unset become L = N_data under SetUnitSpacing (layered controls: discrete weights; one unit per
// cell of the data, so Δ = 1/r) and 1 otherwise.
//
// Sequences (SetSequences(b), before SetUp; no option): the grid holds b sequences side by side, each of the N_x tokens
// and length L_x set or imposed as above, so Nx() = b N_x, Lx() = b L_x and Δx is a sequence's. Token x belongs to
// sequence ⌊x / SequenceLength()⌋: attention stays within it (operators/attention.hpp); token-wise operators do not
// notice. The trainer solves a chunk of samples as one state this way (solver/training/trainer.hpp).
#pragma once
#include <petscdmda.h>

#include "discretization/base/petsc_handle.hpp"
#include "discretization/image_shape.hpp"

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
  // A two-dimensional Ω_y (as -Ny1 -Ny2, -Ly1 -Ly2); PETSC_DECIDE keeps a value as it is.
  PetscErrorCode SetImageSizes(PetscInt Ny1, PetscInt Ny2);
  PetscErrorCode SetImageLengths(PetscReal Ly1, PetscReal Ly2);
  // Fix a size imposed by data (a file); an explicit, different option value, or a different size imposed
  // by other data, is an error. option: -Nx, -Ny, -Nh, -Ny1 or -Ny2.
  PetscErrorCode RequireSize(const char option[], PetscInt required, const char source[]);
  // Fix a size imposed by data of `cells` cells that may be refined: an explicit option value must be a
  // multiple r·cells (each data cell split into r grid cells), else N = cells. *factor = r. Unit spacing
  // then means one unit per data cell: L = cells.
  PetscErrorCode RequireRefinableSize(const char option[], PetscInt cells, const char source[], PetscInt *factor);
  // b ≥ 1 sequences of the N_x tokens above side by side (default 1); call before SetUp.
  PetscErrorCode SetSequences(PetscInt b);
  PetscErrorCode SetUp();
  PetscErrorCode View(PetscViewer viewer) const;

  MPI_Comm Comm() const { return comm_; }
  DM Layout() const { return da_; }
  PetscInt Nx() const { return N_[0] * sequences_; }
  PetscInt Ny() const { return N_[1]; }
  PetscInt Nh() const { return N_[2]; }
  PetscReal Lx() const { return L_[0] * sequences_; }
  PetscReal Ly() const { return L_[1]; }
  PetscReal Lh() const { return L_[2]; }
  PetscReal dx() const { return L_[0] / N_[0]; }
  PetscReal dy() const { return L_[1] / N_[1]; }
  PetscReal dh() const { return L_[2] / N_[2]; }
  // Tokens per sequence (Nx() unless SetSequences), and the number of sequences.
  PetscInt SequenceLength() const { return N_[0]; }
  PetscInt Sequences() const { return sequences_; }
  bool Segmented() const { return sequences_ > 1; }
  PetscReal x(PetscInt k) const { return (k + 0.5) * dx(); }
  PetscReal y(PetscInt l) const { return (l + 0.5) * dy(); }
  PetscReal h(PetscInt m) const { return (m + 0.5) * dh(); }
  // The two-dimensional feature domain, if any (Image().Active()).
  bool TwoDimensional() const { return image_.Active(); }
  const ImageShape &Image() const { return image_; }
  // Tokens owned by this rank: [xstart, xstart + xlocal).
  PetscInt XStart() const { return xs_; }
  PetscInt XLocal() const { return xm_; }

 private:
  MPI_Comm comm_;
  std::string prefix_;
  PetscInt N_[3] = {32, 16, 2};  // N_x per sequence
  PetscInt sequences_ = 1;
  PetscReal L_[3] = {1, 1, 1};
  PetscBool unit_spacing_ = PETSC_FALSE;
  PetscBool N_set_[3] = {PETSC_FALSE, PETSC_FALSE, PETSC_FALSE};
  PetscBool L_set_[3] = {PETSC_FALSE, PETSC_FALSE, PETSC_FALSE};
  std::string N_source_[3];             // the data that imposed each size, if any
  PetscInt data_cells_[3] = {0, 0, 0};  // cells of refinable data (RequireRefinableSize), or 0
  // The two-dimensional Ω_y: sizes, lengths and the same bookkeeping as above, for y1 and y2.
  ImageShape image_;
  PetscBool image_N_set_[2] = {PETSC_FALSE, PETSC_FALSE}, image_L_set_[2] = {PETSC_FALSE, PETSC_FALSE};
  std::string image_source_[2];
  PetscInt image_cells_[2] = {0, 0};
  // The size slots of option (-Nx … -Ny2), or an error.
  PetscErrorCode SizeSlot(const char option[], PetscInt **N, PetscBool **set, std::string **source, PetscInt **cells);
  UniqueDM da_;
  PetscInt xs_ = 0, xm_ = 0;
};

}  // namespace ctflow
