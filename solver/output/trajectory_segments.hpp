// The segment files of a trajectory (docs/trajectory-format.md): run.h5 keeps its states in run.d/NNNNNN.h5, one
// per saved state, written collectively and immutable once the index lists them. Names, removal, and the state
// as an (N_x, N_y) or (N_x, N_y1, N_y2) dataset.
#pragma once
#include <hdf5.h>
#include <petscvec.h>

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

// A new run over an earlier trajectory keeps it in DIR/previous (DIR: the segment directory) until the new run ends:
// KeepPreviousIndex hard-links its index (as index.h5) and XDMF files there (before the new index replaces them),
// MoveSegmentsToPrevious moves its segments there (once the new index is in place); RestorePrevious puts all of
// it back (the new run failed), RemovePrevious deletes it (the new run ended). The index's links name
// DIR/NNNNNN.h5, valid again once restored. Rank 0's file operations; false on a failure.
std::string PreviousDir(const std::string &dir);
bool KeepPreviousIndex(const std::string &index, const std::string &dir);
bool MoveSegmentsToPrevious(const std::string &dir);
void RestorePrevious(const std::string &index, const std::string &dir);
void RemovePrevious(const std::string &dir);

// What a segment's state /u records about itself (attributes of /u), which -restart checks against the index:
// a segment of another run, of another state of the run, or whose data changed is refused.
struct SegmentIdentity {
  std::string run;                  // the run's id: the index's attribute run_id
  long long state = 0;              // its number n: the index lists it as /u/NNNNNN
  long long step = 0;               // its time step: the index's /step[n]
  double time = 0;                  // its t: the index's /time[n]
  unsigned long long checksum = 0;  // StateChecksum of its /u
};
// Collective: writes the identity as attributes of `object` in a file every rank has open (StateFile).
PetscErrorCode SegmentIdentityWrite(MPI_Comm comm, hid_t file, const std::string &object, const SegmentIdentity &id);
// The identity recorded on `object` (reached through the index's link); false if it has none.
bool SegmentIdentityRead(hid_t file, const std::string &object, SegmentIdentity *id);
// Collective: a 64-bit checksum of u (N_y values per token) that does not depend on how the tokens are distributed
// over the ranks: the sum over tokens x_k of a hash of (k, the bits of u(x_k, ·)).
PetscErrorCode StateChecksum(Vec u, PetscInt Ny, unsigned long long *checksum);
// A new run's id: 32 hexadecimal digits drawn on rank 0, the same on every rank.
PetscErrorCode NewRunId(MPI_Comm comm, std::string *id);

}  // namespace ctflow
