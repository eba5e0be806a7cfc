// The batch gradient of a training step from the ranks' summed contributions, vectorised for the CPU that runs it:
// θ-sized passes that every rank repeats, so they are the serial part of a data-parallel step (docs/training.md).
#pragma once
#include <petscsys.h>

#include <cstddef>

namespace ctflow {

// g ← s / b: the mean over the batch's b samples of the summed per-sample gradients; returns Σ g_k².
PetscReal BatchMean(size_t n, const PetscReal *s, PetscReal b, PetscReal *g);
// Σ g_k², in eight independent partial sums.
PetscReal SumOfSquares(size_t n, const PetscReal *g);

}  // namespace ctflow
