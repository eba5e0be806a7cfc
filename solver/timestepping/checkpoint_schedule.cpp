#include "solver/timestepping/checkpoint_schedule.hpp"

#include <algorithm>

namespace ctflow {

PetscInt CheckpointBinomial(PetscInt c, PetscInt t) {
  // C(c + t, t) = Π_{i=1..t} (c + i) / i, exact in integers at every step.
  long double b = 1;
  for (PetscInt i = 1; i <= t; ++i) {
    b = b * (c + i) / i;
    if (b >= (long double)PETSC_MAX_INT) return PETSC_MAX_INT;
  }
  return (PetscInt)(b + 0.5L);
}

PetscInt CheckpointSplit(PetscInt l, PetscInt c) {
  PetscInt t = 0;
  while (CheckpointBinomial(c, t) < l) ++t;
  return std::clamp<PetscInt>(l - CheckpointBinomial(c - 1, t), 1, l - 1);
}

}  // namespace ctflow
