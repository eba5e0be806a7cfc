// RandomiseVector: a PETSc vector's local entries drawn from N(0, 1), for the dot-product tests of the transposes.
#pragma once
#include <petscvec.h>

#include <random>

namespace ctflow_test {

// v's local entries ← standard normal draws from rng (seed it by the rank's first index for rank-dependent entries).
inline void RandomiseVector(Vec v, std::mt19937_64 &rng) {
  std::normal_distribution<double> normal;
  PetscScalar *a;
  PetscInt n;
  VecGetLocalSize(v, &n);
  VecGetArray(v, &a);
  for (PetscInt i = 0; i < n; ++i) a[i] = normal(rng);
  VecRestoreArray(v, &a);
}

}  // namespace ctflow_test
