#include "solver/output/trajectory_segments.hpp"

#include <petscviewerhdf5.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "discretization/base/paths.hpp"
#include "discretization/base/petsc_handle.hpp"

namespace ctflow {

std::string TrajectorySegmentDir(const std::string &path) { return PathWithExtension(path, ".d"); }

std::string SixDigits(PetscInt n) {
  char digits[24];
  snprintf(digits, sizeof(digits), "%06lld", (long long)n);
  return digits;
}

std::string Numbered(const std::string &group, PetscInt n) { return group + "/" + SixDigits(n); }

namespace {

// A segment's file name: NNNNNN.h5.
bool IsSegmentName(const std::string &name) {
  return name.size() == 9 && name.compare(6, 3, ".h5") == 0 &&
         std::all_of(name.begin(), name.begin() + 6, [](char c) { return std::isdigit((unsigned char)c); });
}

}  // namespace

bool RemoveSegments(const std::string &dir) {
  std::error_code error;
  std::vector<std::filesystem::path> segments;
  for (const auto &entry : std::filesystem::directory_iterator(dir, error))
    if (IsSegmentName(entry.path().filename().string())) segments.push_back(entry.path());
  bool ok = !error;
  for (const auto &segment : segments) ok = std::filesystem::remove(segment, error) && ok;
  return ok;
}

PetscErrorCode WriteStateDataset(PetscViewer viewer, const char group[], const char name[], Vec u, PetscInt Ny) {
  const PetscScalar *a;
  PetscInt n, N;
  UniqueVec rows;
  MPI_Comm comm;
  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)u, &comm));
  PetscCall(PetscViewerHDF5PushGroup(viewer, group));
  // The state is viewed through a DM-less vector of block size N_y on the same memory, which PETSc writes
  // as the same (N_x, N_y) dataset: PETSc 3.18's DMDA path picks an HDF5 chunk wider than N_y for a
  // 1-D DMDA with many degrees of freedom on several ranks, and H5Dcreate fails.
  PetscCall(VecGetLocalSize(u, &n));
  PetscCall(VecGetSize(u, &N));
  PetscCall(VecGetArrayRead(u, &a));
  PetscCall(VecCreateMPIWithArray(comm, Ny, n, N, a, rows.Out()));
  PetscCall(PetscObjectSetName((PetscObject)rows.Get(), name));
  PetscCall(VecView(rows, viewer));
  PetscCall(rows.Reset());
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCall(PetscViewerHDF5PopGroup(viewer));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
