// TrajectoryWriter: the run's states u(·, ·, t^n) in one HDF5 file, written collectively by all ranks,
// with XDMF indexes beside it for ParaView (run.h5 → run.xmf, run_substeps.xmf, run_attention.xmf;
// solver/xdmf_index.hpp).
//
// Layout (docs/trajectory-format.md):
//   /u/NNNNNN     (N_x, N_y) float64, the NNNNNN-th saved state (PETSc HDF5 viewer, parallel)
//   /step, /diagnostics/<name>, /time   1-D, one entry per complete state (solver/state_diagnostics.hpp)
//   /grid/x, /grid/y, /grid/h   cell centres
//   /substeps/u/NNNNNN, /substeps/{step, name, interval, time}   frames after every substep (-traj_substeps)
//   /attention/NNNNNN  (N_h, N_x, N_x) float64, γ(x, η, h) of saved state NNNNNN (-traj_attention)
//   attributes of /: status ("incomplete" until the run ends cleanly, then "complete"), ctflow_version,
//   options, splitting, controls, initial_state, N_x, N_y, N_h, L_x, L_y, L_h, T, dt.
// For each saved step: its frames are written, flushed and listed (/substeps/time last); then the state
// and its map are written, flushed, listed in the 1-D series (/time last), flushed again, and only then
// added to the XDMF indexes. So a run killed at any moment leaves every listed state complete, and a
// restart drops the frames of the steps whose state was not listed.
//
// Frames: with -traj_substeps, the integrator hands every frame of a step to Frame (solver/composition.hpp
// says which nodes make frames); they are buffered (one vector each) and written with the state of the
// step when it is saved, dropped by DiscardFrames (a rejected attempt) or when the step is not saved. The
// i-th of the M frames of the step [t^n, t^{n+1}] gets the time t^n + (i + 1)/M (t^{n+1} − t^n) (strictly
// increasing, for ParaView's time slider; the last frame is the state at t^{n+1}) and keeps its node's
// true sub-interval [t0, t1] in /substeps/interval (all of the step's leaves span [t^n, t^{n+1}] in the
// paper's Lie scheme).
//
// Attention: with an `attention` leaf in the composition, every saved state gets the mean attention
// entropy (solver/state_diagnostics.hpp; -traj_entropy false turns it off) and, with -traj_attention, its
// maps γ(x, η, h) = AttentionMaps (operators/attention_maps.hpp) of the controls at t, or at the start of
// the last step for the final state when the controls end at T (layered controls). Both are computed by
// blocks of owned rows of at most kMapBlockDoubles values; the maps are written collectively, each rank
// its rows (hyperslabs), so the file does not depend on the number of ranks.
//
// Options: -traj FILE (default ctflow.h5; "none": no file), -traj_every k (save every k-th step; the
// initial and the final state are always saved), -traj_substeps, -traj_attention, -traj_attention_max_mb
// (bound on one state's map, N_h N_x² × 8 bytes; default 256), -traj_entropy (default true), -restart FILE
// (continue the interrupted run of FILE from its last complete state, appending to FILE;
// solver/trajectory_restart.hpp).
#pragma once
#include <hdf5.h>
#include <petscviewer.h>

#include <string>
#include <vector>

#include "discretization/controls.hpp"
#include "discretization/grid.hpp"
#include "solver/trajectory_restart.hpp"
#include "solver/xdmf_index.hpp"

namespace ctflow {

class TrajectoryWriter {
 public:
  using Metadata = TrajectoryMetadata;
  static constexpr PetscInt kMapBlockDoubles = 1 << 21;  // 16 MB of γ per row block

  explicit TrajectoryWriter(MPI_Comm comm) : comm_(comm) {}
  // A new run's file that was not closed (the run stopped with an error) is removed with its indexes: a
  // failed run leaves no output that looks usable. A killed run runs no destructor and leaves its
  // complete states for -restart; a failed restart leaves the file it was given as it was.
  ~TrajectoryWriter();
  PetscErrorCode SetFromOptions();
  // Decides what is saved beyond the states, from the composition `scheme` (has_attention: it has an
  // `attention` leaf). Fails (collectively) on -traj_attention without an attention leaf or with a map larger than
  // -traj_attention_max_mb. Call before Open or Resume; without it only states and diagnostics are saved.
  PetscErrorCode SetUp(const Grid &grid, const Controls &controls, const std::string &scheme, bool has_attention);
  bool Enabled() const { return path_ != "none"; }
  bool Restarting() const { return restart_; }
  bool Substeps() const { return content_.frames; }
  const std::string &Path() const { return path_; }
  // Fails (collectively) when the file cannot be created; call before any output exists.
  PetscErrorCode CheckWritable() const;
  // Creates the file (and its XDMF indexes) for a new run.
  PetscErrorCode Open(const Grid &grid, const Metadata &meta);
  // With -restart: checks the file against this run, loads its last complete state into u, drops what
  // follows it (states, maps, and the frames of later steps) and reopens the file for appending.
  // *step: the step of that state. num_steps: of the run.
  PetscErrorCode Resume(const Grid &grid, const Metadata &meta, PetscInt num_steps, Vec u, PetscInt *step);
  // Called after every accepted step (and with step 0 for the initial state): saves u, with the step's
  // frames, if step is a multiple of -traj_every or final is true.
  PetscErrorCode Write(PetscInt step, PetscReal t, Vec u, bool final);
  // -traj_substeps (Integrator::SubstepMonitor): buffers a frame of the current step: the state u after
  // node `node` advanced it over [t0, t1].
  PetscErrorCode Frame(const std::string &node, PetscReal t0, PetscReal t1, Vec u);
  // Drops the frames buffered since the last accepted step.
  PetscErrorCode DiscardFrames();
  // A small 1-D dataset, the same on every rank (e.g. a ViT's /logits).
  PetscErrorCode WriteArray(const char name[], const std::vector<PetscReal> &a);
  // Marks the file complete and closes it.
  PetscErrorCode Close();
  PetscInt NumSaved() const { return saved_; }

 private:
  struct Buffered {
    std::string node;
    PetscReal t0, t1;
  };
  PetscErrorCode AppendRows(const std::string &name, hid_t type, hsize_t offset, hsize_t rows, const void *values);
  PetscErrorCode WriteVec(const char group[], PetscInt index, Vec u);
  PetscErrorCode WriteFrames(PetscInt step, PetscReal t);
  PetscErrorCode WriteAttention(PetscReal t, Vec u, PetscReal *entropy);
  PetscErrorCode WriteIndexes() const;
  PetscErrorCode Flush() const;
  XdmfSeries StateSeries(const std::string &group, const std::vector<PetscReal> &times) const;

  MPI_Comm comm_;
  std::string path_ = "ctflow.h5";
  bool restart_ = false, created_ = false, maps_requested_ = false, entropy_requested_ = true;
  PetscInt every_ = 1, saved_ = 0, frames_ = 0, max_mb_ = 256;
  TrajectoryContent content_;
  std::vector<PetscReal> times_, frame_times_;
  PetscReal step_start_ = 0;  // t of the last accepted step (the start of the current one)
  std::vector<Buffered> buffered_;
  std::vector<Vec> frame_vecs_;  // buffered_[i]'s state is frame_vecs_[i]; reused from step to step
  const Grid *grid_ = nullptr;
  const Controls *controls_ = nullptr;
  PetscViewer viewer_ = nullptr;
};

}  // namespace ctflow
