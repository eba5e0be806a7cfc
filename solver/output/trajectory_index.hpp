// TrajectoryIndex: a trajectory's index file run.h5 (attributes, grid coordinates, the 1-D series and the external
// links to the states' segment files run.d/NNNNNN.h5; docs/trajectory-format.md), replaced atomically.
//
// Rank 0 holds the index in memory (HDF5's core driver, no backing store); Commit writes its whole image to
// run.h5.part and renames that over run.h5. rename(2) is atomic, so a process killed at any moment leaves
// either the previous index or the new one on disk, each a complete HDF5 file that lists only what was
// written before it. The index is small (no state data), so rewriting it costs O(saved states) bytes.
//
// The editing methods act on rank 0 and do nothing on the other ranks; the first failure is kept and
// reported by the next Commit on every rank (one message, no hang).
#pragma once
#include <hdf5.h>
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

// Whether path is a trajectory index that ctflow wrote (an HDF5 file with the attribute ctflow_version).
bool IsTrajectoryIndex(const std::string &path);

class TrajectoryIndex {
 public:
  explicit TrajectoryIndex(MPI_Comm comm) : comm_(comm) {}
  ~TrajectoryIndex();
  TrajectoryIndex(const TrajectoryIndex &) = delete;
  TrajectoryIndex &operator=(const TrajectoryIndex &) = delete;

  // Collective. A new, empty index for path (written by the first Commit), or the index at path, to continue it.
  PetscErrorCode Create(const std::string &path);
  PetscErrorCode Load(const std::string &path);

  void Attribute(const char name[], const std::string &value);  // fixed-length string attribute of /
  void Attribute(const char name[], PetscInt value);
  void Attribute(const char name[], PetscReal value);
  void Array(const std::string &name, const std::vector<PetscReal> &values);  // a 1-D float64 dataset
  // An empty series growable along its first dimension, (0,) or (0, width); type: a native type or a string type.
  void Series(const std::string &name, hid_t type, hsize_t width = 0);
  // Writes `rows` entries at `offset` (the series grows to offset + rows; values in the series' own type).
  void Append(const std::string &name, hid_t type, hsize_t offset, hsize_t rows, const void *values);
  void Truncate(const std::string &name, hsize_t rows);
  // name → object `target` in `file` (a path relative to the index's directory).
  void Link(const std::string &name, const std::string &file, const std::string &target);
  // Removes the links group/NNNNNN for NNNNNN = first, first + 1, … while they exist.
  void UnlinkFrom(const std::string &group, PetscInt first);

  // Rank 0: "FILE:/object" of the links group/000000 … group/(n − 1) (empty on the other ranks; "" for a
  // link that is not external).
  std::vector<std::string> LinkTargets(const std::string &group, PetscInt n) const;

  // Collective: writes the index (run.h5.part, renamed over run.h5); fails on every rank if any edit since the
  // last Commit, or the write, failed.
  PetscErrorCode Commit();
  // Rank 0 removes run.h5.part (a failed new run's cleanup).
  void RemoveScratch() const;

 private:
  bool Active() const { return file_ >= 0 && error_.empty(); }
  void Fail(const std::string &what);
  PetscErrorCode Open(const std::string &path, bool create);

  MPI_Comm comm_;
  std::string path_, error_;
  hid_t file_ = -1;
};

}  // namespace ctflow
