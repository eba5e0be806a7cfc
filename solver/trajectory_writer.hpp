// TrajectoryWriter: the run's states u(·, ·, t^n) in one HDF5 file, written collectively by all ranks.
//
// Layout (docs/trajectory-format.md):
//   /u/NNNNNN     (N_x, N_y) float64, the NNNNNN-th saved state (PETSc HDF5 viewer, parallel)
//   /time, /step  1-D, one entry per saved state, grown as states are written
//   /grid/x, /grid/y   cell centres
//   attributes of /: status ("incomplete" until the run ends cleanly, then "complete"), ctflow_version,
//   options, splitting, controls, initial_state, N_x, N_y, N_h, L_x, L_y, L_h, T, dt.
// The file is flushed after every state, so an interrupted run leaves every written state readable.
//
// Options: -traj FILE (default ctflow.h5; "none": no file), -traj_every k (save every k-th step; the
// initial and the final state are always saved).
#pragma once
#include <hdf5.h>
#include <petscviewer.h>

#include <string>

#include "discretization/grid.hpp"

namespace ctflow {

class TrajectoryWriter {
 public:
  struct Metadata {
    std::string splitting, controls, initial_state;
    PetscReal T, dt;
  };

  explicit TrajectoryWriter(MPI_Comm comm) : comm_(comm) {}
  ~TrajectoryWriter();
  PetscErrorCode SetFromOptions();
  bool Enabled() const { return path_ != "none"; }
  const std::string &Path() const { return path_; }
  // Fails (collectively) when the file cannot be created; call before any output exists.
  PetscErrorCode CheckWritable() const;
  PetscErrorCode Open(const Grid &grid, const Metadata &meta);
  // Saves u if step is a multiple of -traj_every or final is true.
  PetscErrorCode Write(PetscInt step, PetscReal t, Vec u, bool final);
  // Marks the file complete and closes it.
  PetscErrorCode Close();
  PetscInt NumSaved() const { return saved_; }

 private:
  PetscErrorCode AppendScalar(const char name[], hid_t type, const void *value);

  MPI_Comm comm_;
  std::string path_ = "ctflow.h5";
  PetscInt every_ = 1, saved_ = 0;
  PetscViewer viewer_ = nullptr;
};

}  // namespace ctflow
