// TrajectoryWriter: the run's states u(·, ·, t^n) as a trajectory that ParaView opens and that a run killed at
// any moment (kill -9) leaves readable and restartable (docs/trajectory-format.md):
//   run.h5          the index (solver/output/trajectory_index.hpp): attributes, /grid, the 1-D series, and links
//                   /u/NNNNNN, /attention/NNNNNN, /substeps/u/NNNNNN to the segments; replaced atomically
//   run.d/NNNNNN.h5 the segment of saved state NNNNNN, written collectively by all ranks (parallel HDF5):
//                   /u (N_x, N_y), or (N_x, N_y1, N_y2) on a two-dimensional Ω_y, /attention (N_h, N_x, N_x) with
//                   -traj_attention, /substeps/000000… the frames of its step with -traj_substeps
//   run.xmf, run_substeps.xmf, run_attention.xmf   XDMF indexes for ParaView (solver/output/xdmf_index.hpp)
// Index:
//   /u/NNNNNN, /substeps/u/NNNNNN, /attention/NNNNNN   external links into the segments
//   /step, /diagnostics/<name>, /time   1-D, one entry per saved state (solver/output/state_diagnostics.hpp)
//   /grid/x, /grid/y, /grid/h   cell centres (/grid/y1, /grid/y2 instead of /grid/y on a two-dimensional Ω_y); a staged
//                   model's later stages s = 1, 2, … (SetStage) under /grid/stage<s>/, and /stage_times
//   /substeps/{step, name, interval, time}   one entry per frame (-traj_substeps)
//   attributes of /: status ("incomplete" until the run ends cleanly, then "complete"), ctflow_version,
//   options, splitting, controls, initial_state, N_x, N_y, N_h, L_x, L_y, L_h, T, dt (and N_y1, N_y2, L_y1, L_y2 of an
//   image; all of the first stage's for a staged model).
// For each saved step the segment is written and closed first; then the index gains the links and the series
// entries of the state and its frames in one atomic replacement; then the XDMF files are replaced. A segment is
// immutable once listed, so at any moment the index and the XDMF files list only complete states, and a
// segment left half-written by a kill is listed nowhere (the restart that reaches its number rewrites it).
//
// Frames: with -traj_substeps, the integrator hands every frame of a step to Frame (solver/timestepping/composition.hpp
// says which nodes make frames); they are buffered (one vector each) and written with the state of the
// step when it is saved, dropped by DiscardFrames (a rejected attempt) or when the step is not saved. The
// i-th of the M frames of the step [t^n, t^{n+1}] gets the time t^n + (i + 1)/M (t^{n+1} − t^n) (strictly
// increasing, for ParaView's time slider; the last frame is the state at t^{n+1}) and keeps its node's
// true sub-interval [t0, t1] in /substeps/interval (all of the step's leaves span [t^n, t^{n+1}] in the
// paper's Lie scheme).
//
// Attention: with an `attention` or `conv_attention` leaf in the composition, -traj_entropy saves the mean attention
// entropy of every saved state and -traj_attention its maps γ(x, η, h) (solver/output/attention_map_output.hpp), with
// the controls at t, or those of the step that ended at t for the final state when the controls end at T (layered)
// and for the last state of a stage (a staged model).
//
// Options: -traj FILE (SetPath; default ctflow.h5; "none": no file), -traj_every k (SetEvery; save every k-th step; the
// initial and the final state are always saved), -traj_substeps, -traj_attention, -traj_attention_max_mb
// (bound on one state's map, N_h N_x² × 8 bytes; default 256), -traj_entropy (default false), -restart FILE
// (continue the interrupted run of FILE from its last complete state, appending to FILE;
// solver/output/trajectory_restart.hpp).
#pragma once
#include <petscvec.h>

#include <string>
#include <vector>

#include "discretization/base/paths.hpp"
#include "discretization/controls.hpp"
#include "discretization/grid.hpp"
#include "solver/output/frame_buffer.hpp"
#include "solver/output/trajectory_index.hpp"
#include "solver/output/trajectory_restart.hpp"
#include "solver/output/trajectory_segments.hpp"
#include "solver/output/xdmf_index.hpp"

namespace ctflow {

class TrajectoryWriter {
 public:
  using Metadata = TrajectoryMetadata;
  explicit TrajectoryWriter(MPI_Comm comm) : comm_(comm), segment_dir_(TrajectorySegmentDir(path_)), index_(comm) {}
  // A new run's files that were not closed (the run stopped with an error) are removed: index, segments and
  // XDMF files, so a failed run leaves no output that looks usable, and an earlier trajectory it was replacing
  // comes back (untouched if the run failed before its first state was listed; else from FILE.d/previous, where
  // it is kept until the new run ends). A run stopped by a failed write (a full disk) keeps the states it listed
  // (status incomplete), for -restart once there is room, and the earlier trajectory stays in FILE.d/previous. A killed run runs no destructor and
  // leaves its complete states for -restart; a failed restart leaves the file it was given as it was. Not collective (rank 0 removes), so that it
  // cannot wait for a rank that failed elsewhere.
  ~TrajectoryWriter();
  PetscErrorCode SetFromOptions();
  // The trajectory file ("none": no output); a path given this way or by -traj counts as given (PathGiven).
  void SetPath(const std::string &path);
  void SetEvery(PetscInt every) { every_ = every; }
  // Decides what is saved beyond the states, from the composition `scheme` (has_attention: it has an
  // `attention` leaf). Fails (collectively) on -traj_attention without an attention leaf or with a map larger than
  // -traj_attention_max_mb. Call before Open or Resume; without it only states and diagnostics are saved.
  PetscErrorCode SetUp(const Grid &grid, const Controls &controls, const std::string &scheme, bool has_attention);
  bool Enabled() const { return path_ != "none"; }
  bool Restarting() const { return restart_; }
  bool Substeps() const { return content_.frames; }
  const std::string &Path() const { return path_; }
  // The path was given (-traj, -restart or SetPath) rather than left at its default.
  bool PathGiven() const { return path_given_; }
  // Collective; call before any output exists. Fails unless the trajectory can be written without destroying
  // anything ctflow did not write: the directory is writable; an existing index, XDMF file or segment directory
  // belongs to a ctflow trajectory (a new run replaces it, keeping it until the new run's first state is listed);
  // none of them is one of the run's `inputs`. Then locks the trajectory (flock on its segment directory,
  // created here if needed) against a second run writing it at the same time, until Close or destruction.
  PetscErrorCode CheckWritable(const InputFiles &inputs);
  // Creates the file (and its XDMF indexes) for a new run.
  PetscErrorCode Open(const Grid &grid, const Metadata &meta);
  // A staged model (paper §6.2, K-stage CvT): the states and frames written from now on live on stage `stage`'s grid
  // (stage ≥ 1, in increasing order, after Open); its coordinates go to /grid/stage<stage>/. stage_times: t_0 … t_K.
  PetscErrorCode SetStage(PetscInt stage, const Grid &grid, const std::vector<PetscReal> &stage_times);
  // With -restart: checks the file against this run, loads its last complete state into u and drops from the
  // index whatever it lists beyond that state (states, maps, and the frames of later steps).
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
  std::string OutputProblem(const InputFiles &inputs, bool *replacing) const;
  PetscErrorCode Lock();
  void Unlock();
  PetscErrorCode CreateSegmentDir() const;
  PetscErrorCode RemoveEarlierRun() const;
  PetscErrorCode KeepPrevious() const;
  PetscErrorCode AdoptStagedSegment();
  PetscErrorCode WriteSegment(PetscInt step, PetscReal t, Vec u, size_t frames, PetscReal *entropy) const;
  void ListFrames(PetscInt step, PetscReal t, const std::string &segment);
  PetscErrorCode WriteIndexes() const;
  std::string SegmentName(PetscInt n) const;
  // The coordinates of grid under group (/grid or /grid/stage<s>) in the index; the XDMF axes of a state or map on it.
  void ListGrid(const std::string &group, const Grid &grid);
  XdmfAxes StateAxes() const;
  XdmfAxes MapAxes() const;
  std::string SegmentPath(PetscInt n) const;

  MPI_Comm comm_;
  std::string path_ = "ctflow.h5", segment_dir_;
  bool restart_ = false, path_given_ = false, created_ = false, open_ = false, maps_requested_ = false, entropy_requested_ = false;
  // replacing_: the path holds an earlier trajectory, replaced when this run lists its first state (committed_);
  // until then that state's segment has a staged name. made_dir_: this run created the segment directory.
  bool replacing_ = false, committed_ = false, made_dir_ = false;
  bool write_failed_ = false;  // a write of the trajectory failed: its listed states are kept
  int lock_ = -1;              // rank 0: the locked segment directory's descriptor
  std::string run_id_;         // NewRunId, or the restarted run's
  PetscInt every_ = 1, saved_ = 0, frames_ = 0, max_mb_ = 256;
  size_t name_width_ = 0;  // of /substeps/name: the longest name a frame can have
  TrajectoryContent content_;
  TrajectoryIndex index_;
  std::vector<PetscReal> times_, frame_times_;
  std::vector<std::string> state_items_, map_items_, frame_items_;  // rank 0: the segment datasets, for the XDMF files
  std::vector<XdmfAxes> state_axes_, map_axes_, frame_axes_;        // the grid of each item
  std::string grid_group_ = "/grid";                                // the coordinates of the current stage's grid
  PetscReal step_start_ = 0;                                        // t of the last accepted step (the start of the current one)
  bool stage_end_ = false;                                          // the state being written ends the run or a stage
  FrameBuffer buffer_;
  const Grid *grid_ = nullptr;
  const Controls *controls_ = nullptr;
};

}  // namespace ctflow
