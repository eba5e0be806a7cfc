#include "operators/gelu.hpp"

#include "discretization/base/simd_clones.hpp"
#pragma GCC diagnostic ignored "-Wpsabi"  // see gelu_kernel.hpp
#include "operators/gelu_kernel.hpp"

namespace ctflow {

namespace {

using gelu_kernel::BackwardLoop;
using gelu_kernel::BiasLoop;

#if CTFLOW_HAVE_SIMD_CLONES
__attribute__((target("arch=x86-64-v4"))) void Forward(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  BiasLoop<Vec8, true>(rows, F, b, z, pre);
}
__attribute__((target("arch=x86-64-v3"))) void Forward(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  BiasLoop<Vec4, true>(rows, F, b, z, pre);
}
__attribute__((target("default"))) void Forward(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  BiasLoop<double, false>(rows, F, b, z, pre);
}
__attribute__((target("arch=x86-64-v4"))) void Backward(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<Vec8, true>(rows, F, pre, z, dz, db);
}
__attribute__((target("arch=x86-64-v3"))) void Backward(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<Vec4, true>(rows, F, pre, z, dz, db);
}
__attribute__((target("default"))) void Backward(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<double, false>(rows, F, pre, z, dz, db);
}
#else
void Forward(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  BiasLoop<double, gelu_kernel::kNativeFma>(rows, F, b, z, pre);
}
void Backward(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db) {
  BackwardLoop<double, gelu_kernel::kNativeFma>(rows, F, pre, z, dz, db);
}
#endif

}  // namespace

void GeluBias(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) { Forward(rows, F, b, z, pre); }

void GeluBackward(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db) { Backward(rows, F, pre, z, dz, db); }

}  // namespace ctflow
