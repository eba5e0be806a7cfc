// AttentionMaps: the attention weights γ(x, η, h) of eq. (6) / (37) as a materialised matrix, row block by
// row block, for output (trajectory attention maps and attention entropy) and as the reference
// ("materialised") path of attention, against which the streaming path of attention.cpp is checked.
//
// SetUp samples the attention kernels at t, computes the queries of the owned tokens and gathers the keys
// and values of all N_x tokens on every rank (collective; memory O(N_x N_h d_head) per rank). Rows and
// Apply then work on a block of owned tokens and are not collective (memory N_h × n × N_x).
#pragma once
#include <petscvec.h>

#include <vector>

#include "discretization/controls.hpp"
#include "discretization/grid.hpp"

namespace ctflow {

class AttentionMaps {
 public:
  AttentionMaps(const Grid &grid, const Controls &controls) : grid_(&grid), controls_(&controls) {}
  // Collective: kernels at t, Q of the owned tokens, K and V of all tokens. block_rows: the most rows a Rows or
  // Apply call will ask for; the work space for them is checked (discretization/base/sizes.hpp) with the rest.
  PetscErrorCode SetUp(PetscReal t, Vec U, PetscInt block_rows = 1);
  // γ(x_k, η_j, h_m) for the owned local rows k = k0 … k0 + n − 1 (local indices, 0 ≤ k0, k0 + n ≤
  // Grid::XLocal(); token XStart() + k) and all η_j, as point values of the
  // density in η (Σ_j γ Δx = 1; zero for η_j > x_k under causal controls), stored at
  // gamma[(m n + (k − k0)) N_x + j].
  PetscErrorCode Rows(PetscInt k0, PetscInt n, std::vector<PetscReal> *gamma) const;
  // A(t, u) of eq. (40) for the owned rows k0 … k0 + n − 1 computed from the materialised γ:
  // F[(k − k0) N_y + l]. The materialised path of attention (reference for the streaming one).
  PetscErrorCode Apply(PetscInt k0, PetscInt n, PetscReal *F) const;

 private:
  const Grid *grid_;
  const Controls *controls_;
  const AttentionKernels *kernels_ = nullptr;  // lent by the controls, or kernels_storage_
  AttentionKernels kernels_storage_;
  std::vector<PetscReal> Q_;      // owned tokens × N_h d_head (query bias included)
  std::vector<PetscReal> K_, V_;  // all N_x tokens × N_h d_head
  size_t checked_[2] = {0, 0};    // d_head and block rows whose work space was checked
};

}  // namespace ctflow
