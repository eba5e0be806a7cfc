// TrajectoryWriter: the run's states u(·, ·, t^n) in one HDF5 file, written collectively by all ranks,
// with an XDMF index beside it for ParaView (run.h5 → run.xmf, solver/xdmf_index.hpp).
//
// Layout (docs/trajectory-format.md):
//   /u/NNNNNN     (N_x, N_y) float64, the NNNNNN-th saved state (PETSc HDF5 viewer, parallel)
//   /step, /diagnostics/<name>, /time   1-D, one entry per complete state (solver/state_diagnostics.hpp)
//   /grid/x, /grid/y   cell centres
//   attributes of /: status ("incomplete" until the run ends cleanly, then "complete"), ctflow_version,
//   options, splitting, controls, initial_state, N_x, N_y, N_h, L_x, L_y, L_h, T, dt.
// Each state is written, flushed, then listed in the 1-D series (/time last), flushed again and only then
// added to the XDMF index, so a run killed at any moment leaves every listed state complete.
//
// Options: -traj FILE (default ctflow.h5; "none": no file), -traj_every k (save every k-th step; the
// initial and the final state are always saved), -restart FILE (continue the interrupted run of FILE
// from its last complete state, appending to FILE; solver/trajectory_restart.hpp).
#pragma once
#include <hdf5.h>
#include <petscviewer.h>

#include <string>
#include <vector>

#include "discretization/grid.hpp"
#include "solver/trajectory_restart.hpp"

namespace ctflow {

class TrajectoryWriter {
 public:
  using Metadata = TrajectoryMetadata;

  explicit TrajectoryWriter(MPI_Comm comm) : comm_(comm) {}
  // A new run's file that was not closed (the run stopped with an error) is removed with its index: a
  // failed run leaves no output that looks usable. A killed run runs no destructor and leaves its
  // complete states for -restart; a failed restart leaves the file it was given as it was.
  ~TrajectoryWriter();
  PetscErrorCode SetFromOptions();
  bool Enabled() const { return path_ != "none"; }
  bool Restarting() const { return restart_; }
  const std::string &Path() const { return path_; }
  // Fails (collectively) when the file cannot be created; call before any output exists.
  PetscErrorCode CheckWritable() const;
  // Creates the file (and its XDMF index) for a new run.
  PetscErrorCode Open(const Grid &grid, const Metadata &meta);
  // With -restart: checks the file against this run, loads its last complete state into u, drops what
  // follows it and reopens the file for appending. *step: the step of that state. num_steps: of the run.
  PetscErrorCode Resume(const Grid &grid, const Metadata &meta, PetscInt num_steps, Vec u, PetscInt *step);
  // Saves u if step is a multiple of -traj_every or final is true.
  PetscErrorCode Write(PetscInt step, PetscReal t, Vec u, bool final);
  // A small 1-D dataset, the same on every rank (e.g. a ViT's /logits).
  PetscErrorCode WriteArray(const char name[], const std::vector<PetscReal> &a);
  // Marks the file complete and closes it.
  PetscErrorCode Close();
  PetscInt NumSaved() const { return saved_; }

 private:
  PetscErrorCode AppendScalar(const std::string &name, hid_t type, const void *value);
  PetscErrorCode Flush() const;

  MPI_Comm comm_;
  std::string path_ = "ctflow.h5";
  bool restart_ = false, created_ = false;
  PetscInt every_ = 1, saved_ = 0;
  std::vector<PetscReal> times_;
  const Grid *grid_ = nullptr;
  PetscViewer viewer_ = nullptr;
};

}  // namespace ctflow
