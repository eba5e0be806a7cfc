// The projections of attention, eq. (3)–(5), as one matrix [W^Q | W^K | W^V] (N_y × 3 N_h d_head, the heads side by
// side) so that Q, K, V of a block of tokens are two wide GEMMs, and the gradient with respect to that matrix back in
// the kernels' (N_h, N_y, d_head) layout. Element loops, not copies per head: at d_head = 8 a call per head costs more
// than the data.
#pragma once
#include <vector>

#include "discretization/controls.hpp"

namespace ctflow {

// W ← [W^Q | W^K | W^V] of k (resized to N_y × 3 N_h d).
void PackProjections(const AttentionKernels &k, PetscInt Ny, PetscInt Nh, std::vector<PetscReal> *W);
// dk->WQ, WK, WV ← the blocks of dW (N_y × 3 N_h d), each in the kernels' (N_h, N_y, d) layout.
void UnpackProjections(const std::vector<PetscReal> &dW, PetscInt Ny, PetscInt Nh, PetscInt d, AttentionKernels *dk);

}  // namespace ctflow
