// Attention maps and attention entropy of a saved state (-traj_attention, -traj_entropy;
// docs/trajectory-format.md): γ(x, η, h) of eq. (6) / (37) by AttentionMaps (operators/attention_maps.hpp), in
// blocks of at most kMapBlockDoubles values of owned rows, so the memory per rank stays bounded whatever N_x.
#pragma once
#include <hdf5.h>
#include <petscvec.h>

#include "discretization/controls.hpp"
#include "discretization/grid.hpp"

namespace ctflow {

constexpr PetscInt kMapBlockDoubles = 1 << 21;  // 16 MB of γ per row block

// Collective. The maps of u with the controls at t: written, when file ≥ 0, into the new (N_h, N_x, N_x) float64
// dataset `name` of file (each rank its rows, as hyperslabs of collective writes, so the dataset does not depend
// on the number of ranks), and the mean differential entropy of their rows (solver/output/state_diagnostics.hpp).
PetscErrorCode AttentionMapsWrite(const Grid &grid, const Controls &controls, PetscReal t, Vec u, hid_t file, const char name[], PetscReal *entropy);

}  // namespace ctflow
