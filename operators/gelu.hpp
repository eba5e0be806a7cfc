// GELU activation of the lifted feed-forward network (operators/lifted_feed_forward.hpp) over a block of its hidden
// layer, vectorised: GELU(h) = h Φ(h) and its derivative Φ(h) + h φ(h) (operators/gelu_kernel.hpp: accuracy, special
// values). Each entry's result depends only on the entry (bitwise the same for every block shape, rank count and, with
// FMA, on AVX2 and AVX-512); AVX-512, AVX2/FMA and baseline versions are chosen at run time.
#pragma once
#include <petscsys.h>

namespace ctflow {

// z[k][c] ← GELU(z[k][c] + b[c]) for a rows × F block (row-major); pre (if not null) ← z + b, the pre-activation.
void GeluBias(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre);
// z ← GELU(pre), dz ← dz GELU'(pre) for a rows × F block; db (if not null) += the column sums of dz (the new values),
// added row by row in order.
void GeluBackward(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db);

}  // namespace ctflow
