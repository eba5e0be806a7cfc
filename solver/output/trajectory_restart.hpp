// Restart from a trajectory file: finds the last complete state of an interrupted run and checks that
// the file belongs to a run with the same problem as this one.
//
// A state n is complete when it is listed in every 1-D series of the index (/time, /step,
// /diagnostics/*): the writer lists a state only after its segment is closed, in an index that replaces the
// previous one atomically (solver/output/trajectory_index.hpp, docs/trajectory-format.md), so every listed state is
// complete; the series may differ in length only in an index cut back by hand. Compatible means: status "incomplete"; equal
// N_x, N_y, N_h, L_x, L_y, L_h, T, dt, splitting, controls and initial_state attributes; and the same
// command-line options except those that only steer output (-traj, -traj_every, -restart, -log*,
// -options_*, -malloc*, -info, -help, -monitor). Trusted means: every complete state's segment records the index's
// run id, its own number, step and time (solver/output/trajectory_segments.hpp), so a segment of another run or
// of another state (swapped, copied, a link re-pointed) or an edited /step or /time is refused; the restart
// state's data are checked against the checksum its segment recorded (TrajectoryWriter::Resume). With -traj_substeps, the frames kept are the
// complete ones (listed in every /substeps series) of the steps up to the restart step; with -traj_attention, every complete state must have its map
// /attention/NNNNNN.
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

// What a trajectory records about the run that wrote it (attributes of /).
struct TrajectoryMetadata {
  std::string splitting, controls, initial_state;
  PetscReal T, dt;
};

// What a trajectory holds beyond the states (options -traj_substeps, -traj_attention, -traj_entropy).
struct TrajectoryContent {
  bool frames = false;   // /substeps: a frame after every substep of the saved steps
  bool maps = false;     // /attention/NNNNNN: γ(x, η, h) of every saved state
  bool entropy = false;  // /diagnostics/attention_entropy
};

struct RestartPoint {
  PetscInt saved = 0;                  // complete states: /u/000000 … /u/(saved − 1)
  PetscInt step = 0;                   // time-step number of the last of them
  std::vector<PetscReal> times;        // /time of the complete states
  PetscInt frames = 0;                 // frames kept: /substeps/u/000000 … (those of the steps up to `step`)
  std::vector<PetscReal> frame_times;  // /substeps/time of those frames
  std::string run_id;                  // the run's id (attribute run_id)
  unsigned long long checksum = 0;     // of the last complete state, as its segment recorded it
};

// The 1-D series grown with the states, /time last (the writer appends them in this order).
std::vector<std::string> TrajectorySeriesNames(const TrajectoryContent &content);
// The series grown with the frames (-traj_substeps), /substeps/time last.
std::vector<std::string> FrameSeriesNames();

// Collective: rank 0 inspects the file and every rank fails with the same message on a missing,
// unreadable, corrupt, foreign, finished or incompatible file. num_steps: steps of this run.
PetscErrorCode TrajectoryRestartInspect(MPI_Comm comm, const std::string &path, const Grid &grid, const TrajectoryMetadata &meta,
                                        const TrajectoryContent &content, PetscInt num_steps, RestartPoint *point);

}  // namespace ctflow
