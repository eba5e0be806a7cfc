// The gradient file of -gradient FILE (docs/controls-format.md, "Gradient files"): dL/dθ in exactly the layout and names
// of the controls file that was read (so that a gradient opens like a controls file), dL/du0 as the dataset /u0
// (N_x, N_y), and the attributes loss (the value of L), loss_function, controls, ctflow_version. Written collectively
// to FILE.part and renamed to FILE when complete: no file that looks complete is left by a failure.
#pragma once
#include <petscvec.h>

#include <string>

#include "discretization/controls_arrays.hpp"
#include "discretization/grid.hpp"

namespace ctflow {

struct GradientFileAttributes {
  PetscReal loss;
  std::string loss_function, controls;
};

PetscErrorCode GradientFileWrite(MPI_Comm comm, const std::string &path, const ControlsArrays &g, Vec du0, const Grid &grid,
                                 const GradientFileAttributes &a);

}  // namespace ctflow
