// StageTransfer: the state's transfer from the grid of one stage of a staged model to the next (paper §6.2: stages of
// different token counts and pixel resolutions, "based on the multigrid idea"), both grids covering the same Ω_x × Ω_y:
//   pixels  restriction by cell averages, p_a = N_ya(from) / N_ya(to) ≥ 1 in y1, y2 (p_a = 1: the same pixels);
//   tokens  restriction by the average of r = N_x(from) / N_x(to) tokens, or prolongation by injection into the
//           r = N_x(to) / N_x(from) sub-tokens of each token (piecewise constant), or the same tokens;
//
//   (T u)(x_k, (i, j)) = 1/(r p1 p2) Σ_{a < r} Σ_{b < p1, c < p2} u(x_{r k + a}, (p1 i + b, p2 j + c))   restriction in x
//   (T u)(x_k, (i, j)) = 1/(p1 p2) Σ_{b < p1, c < p2} u(x_{⌊k / r⌋}, (p1 i + b, p2 j + c))             prolongation in x
//
// the multigrid restriction and prolongation of cell averages. Each stage's kernels then act at its own scale
// (Δy_a of the stage). Sizes that do not divide are an error (the layered controls check them on reading).
// Parallel: a VecScatter brings each rank the source tokens of its destination tokens (one contiguous block), and every
// value is summed in the fixed order above, so T u is the same on any number of ranks.
//
// The transpose (the discrete adjoint, docs/adjoint.md): (Tᵀ λ)(x_i, y) = Σ over the destination cells (k, (i', j')) whose
// sum takes source cell (x_i, y) of w λ(x_k, (i', j')), w = 1/(r p1 p2) (restriction) or 1/(p1 p2) — each coarse value
// spread back evenly over its fine cells, and the sub-tokens of a prolongation summed onto their token; the gathered
// block goes back to its owners by the reverse scatter, adding.
#pragma once
#include <petscvec.h>

#include <string>

#include "discretization/base/petsc_handle.hpp"
#include "discretization/grid.hpp"

namespace ctflow {

class StageTransfer {
 public:
  // Both grids set up, with two-dimensional feature domains, on the same communicator.
  PetscErrorCode SetUp(const Grid &from, const Grid &to);
  // to ← T from (vectors of the two grids' layouts).
  PetscErrorCode Apply(Vec from, Vec to) const;
  // from ← Tᵀ to (the adjoint of Apply: `to` a vector of the destination grid, `from` of the source grid).
  PetscErrorCode ApplyTranspose(Vec to, Vec from) const;
  // e.g. "tokens x2 (prolongation), pixels /2x2 (restriction)".
  std::string Description() const;

 private:
  UniqueScatter scatter_;
  UniqueVec local_;                            // the source tokens of the owned destination tokens
  PetscInt restrict_ = 1, prolong_ = 1;        // token ratio: restriction or prolongation factor (one of them is 1)
  PetscInt pool_[2] = {1, 1}, N_[2] = {0, 0};  // pixel ratios, destination pixels
  PetscInt xs_ = 0, xm_ = 0, first_ = 0;       // owned destination tokens; the first source token gathered
};

}  // namespace ctflow
