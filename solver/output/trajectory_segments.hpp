// The segment files of a trajectory (docs/trajectory-format.md): run.h5 keeps its states in run.d/NNNNNN.h5, one
// per saved state, written collectively and immutable once the index lists them. Names, removal, and the state
// as an (N_x, N_y) or (N_x, N_y1, N_y2) dataset.
#pragma once
#include <petscvec.h>
#include <petscviewer.h>

#include <string>

#include "discretization/grid.hpp"

namespace ctflow {

// The directory of the segments of trajectory path: its extension (if any) replaced by ".d" (run.h5 → run.d).
std::string TrajectorySegmentDir(const std::string &path);
// NNNNNN, and group/NNNNNN.
std::string SixDigits(PetscInt n);
std::string Numbered(const std::string &group, PetscInt n);
// Removes the segment files NNNNNN.h5 in dir (nothing else); false if one could not be removed.
bool RemoveSegments(const std::string &dir);
// Collective: u as the (N_x, N_y) float64 dataset group/name of the viewer's file, or (N_x, N_y1, N_y2) when the grid's
// feature domain is two-dimensional (an image per token).
PetscErrorCode WriteStateDataset(PetscViewer viewer, const char group[], const char name[], Vec u, const Grid &grid);

}  // namespace ctflow
