// Grid transfer for refinement studies: restriction of a state on a fine grid (r_x N_x tokens, r_y N_y
// features, same Ω_x × Ω_y) to the coarse grid (N_x, N_y) by cell averages,
//
//   (R u)_{k,l} = 1/(r_x r_y) Σ_{a<r_x} Σ_{b<r_y} u_{r_x k + a, r_y l + b},
//
// the mean of the fine cells that tile coarse cell (k, l) (they have equal measure). Fine cell averages
// restrict to exact coarse cell averages; fine point values (the midpoint rule's) restrict to the coarse
// cell averages up to O(h_fine²). Any integer ratios r_x, r_y ≥ 1.
//
// Parallel: the two DMDAs distribute their tokens independently; a VecScatter brings to each rank the
// fine tokens under its coarse tokens (contiguous, nothing gathered on one rank), and each coarse value is
// summed in the fixed order above, so R u is the same bit for bit on any number of ranks.
#pragma once
#include <petscvec.h>

#include "discretization/base/petsc_handle.hpp"
#include "discretization/grid.hpp"

namespace ctflow {

class GridRestriction {
 public:
  // Both grids set up on the same communicator; fine sizes integer multiples of the coarse ones and the
  // same domain lengths, else an error naming the mismatch.
  PetscErrorCode SetUp(const Grid &fine, const Grid &coarse);
  // coarse ← R fine (vectors of the two grids' layouts).
  PetscErrorCode Apply(Vec fine, Vec coarse) const;
  PetscInt RatioX() const { return rx_; }
  PetscInt RatioY() const { return ry_[0] * ry_[1]; }

 private:
  UniqueScatter scatter_;
  UniqueVec local_;                                             // the fine tokens under the owned coarse tokens
  PetscInt rx_ = 1, ry_[2] = {1, 1}, Ny_[2] = {0, 1}, xm_ = 0;  // ratios, coarse N_y (N_y1, N_y2 of images), owned coarse tokens
};

}  // namespace ctflow
