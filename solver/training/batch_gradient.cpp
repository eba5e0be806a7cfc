#include "solver/training/batch_gradient.hpp"

#include "discretization/base/simd_clones.hpp"

namespace ctflow {

namespace {

PetscReal Total(const PetscReal part[8]) { return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])); }

}  // namespace

CTFLOW_SIMD_CLONES PetscReal BatchMean(size_t n, const PetscReal *__restrict s, PetscReal b, PetscReal *__restrict g) {
  PetscReal part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int i = 0; i < 8; ++i) {
      g[k + i] = s[k + i] / b;
      part[i] += g[k + i] * g[k + i];
    }
  for (; k < n; ++k) {
    g[k] = s[k] / b;
    part[0] += g[k] * g[k];
  }
  return Total(part);
}

CTFLOW_SIMD_CLONES PetscReal SumOfSquares(size_t n, const PetscReal *g) {
  PetscReal part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int i = 0; i < 8; ++i) part[i] += g[k + i] * g[k + i];
  for (; k < n; ++k) part[0] += g[k] * g[k];
  return Total(part);
}

}  // namespace ctflow
