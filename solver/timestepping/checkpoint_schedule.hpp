// Binomial checkpointing (Griewank 1992; Griewank & Walther, ACM TOMS 26, 2000, "revolve"): reversing l steps with
// c free checkpoints beyond the initial state, the fewest forward recomputations are achieved by storing the state
// after m steps and recursing on [m, l) with c − 1 checkpoints and on [0, m) with c. With t the smallest integer for
// which β(c, t) = C(c + t, t) ≥ l, any m with l − β(c − 1, t) ≤ m ≤ β(c, t − 1) is optimal; we take the smallest
// (at least 1). c = 0 recomputes every step from the start (l(l − 1)/2 steps).
#pragma once
#include <petscsys.h>

namespace ctflow {

// β(c, t) = (c + t)! / (c! t!), saturating at PETSC_MAX_INT.
PetscInt CheckpointBinomial(PetscInt c, PetscInt t);
// The split m ∈ [1, l − 1] for reversing l ≥ 2 steps with c ≥ 1 free checkpoints.
PetscInt CheckpointSplit(PetscInt l, PetscInt c);

}  // namespace ctflow
