// The read-out G(B; u) = [1 0 … 0] u B + c of §4.2: the class token's row u(x_0, ·) (N_y values) times B (N_y × classes,
// row-major) plus c. The vision Transformer's head, and a convolutional one's with head = class_token (token 0's image
// of the last stage, §6.2 "with data pre- and post-processing as discussed in Section 4.2").
#pragma once
#include <petscvec.h>

#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

// One row: z ← row B + c.
void ClassTokenHead(PetscInt Ny, PetscInt classes, const PetscReal *B, const PetscReal *c, const PetscReal *row, PetscReal *z);
// Its transpose at that row: λ_row += B dz, dB += rowᵀ dz, dc += dz.
void ClassTokenHeadTranspose(PetscInt Ny, PetscInt classes, const PetscReal *B, const PetscReal *row, const PetscReal *dz, PetscReal *lambda_row,
                             PetscReal *dB, PetscReal *dc);
// On a distributed state: z on every rank (the rank that owns x_0 computes it and broadcasts).
PetscErrorCode ClassTokenHead(const Grid &grid, PetscInt classes, const PetscReal *B, const PetscReal *c, Vec u, std::vector<PetscReal> *z);
// The transpose on the rank that owns x_0 (dz the same on every rank; the others add nothing).
PetscErrorCode ClassTokenHeadTranspose(const Grid &grid, PetscInt classes, const PetscReal *B, Vec u, const PetscReal *dz, Vec lambda, PetscReal *dB,
                                       PetscReal *dc);

}  // namespace ctflow
