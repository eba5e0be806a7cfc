#include "operators/attention_projections.hpp"

namespace ctflow {

void PackProjections(const AttentionKernels &k, PetscInt Ny, PetscInt Nh, std::vector<PetscReal> *W) {
  const PetscInt d = k.d_head, D = Nh * d;
  const PetscReal *kernel[3] = {k.WQ.data(), k.WK.data(), k.WV.data()};
  W->resize(Ny * 3 * D);
  for (PetscInt i = 0; i < Ny; ++i)
    for (int q = 0; q < 3; ++q)
      for (PetscInt m = 0; m < Nh; ++m) {
        const PetscReal *s = kernel[q] + (m * Ny + i) * d;
        PetscReal *w = W->data() + (i * 3 + q) * D + m * d;
        for (PetscInt r = 0; r < d; ++r) w[r] = s[r];
      }
}

void UnpackProjections(const std::vector<PetscReal> &dW, PetscInt Ny, PetscInt Nh, PetscInt d, AttentionKernels *dk) {
  const PetscInt D = Nh * d;
  std::vector<PetscReal> *out[3] = {&dk->WQ, &dk->WK, &dk->WV};
  for (int q = 0; q < 3; ++q) {
    out[q]->resize(Nh * Ny * d);
    for (PetscInt m = 0; m < Nh; ++m)
      for (PetscInt i = 0; i < Ny; ++i) {
        const PetscReal *w = dW.data() + (i * 3 + q) * D + m * d;
        PetscReal *s = out[q]->data() + (m * Ny + i) * d;
        for (PetscInt r = 0; r < d; ++r) s[r] = w[r];
      }
  }
}

}  // namespace ctflow
