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

// Collective: u as the (N_x, N_y1, N_y2) dataset group/name, each rank writing its tokens as a hyperslab.
static PetscErrorCode WriteImageDataset(PetscViewer viewer, const char group[], const char name[], Vec u, const Grid &grid) {
  const hsize_t dims[3] = {(hsize_t)grid.Nx(), (hsize_t)grid.Image().N[0], (hsize_t)grid.Image().N[1]};
  const hsize_t start[3] = {(hsize_t)grid.XStart(), 0, 0}, count[3] = {(hsize_t)grid.XLocal(), dims[1], dims[2]};
  const PetscScalar *a;
  hid_t file, where;
  int ok;
  PetscFunctionBeginUser;
  PetscCall(PetscViewerHDF5OpenGroup(viewer, group, &file, &where));
  hid_t space = H5Screate_simple(3, dims, nullptr), dcpl = H5Pcreate(H5P_DATASET_CREATE), dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  hid_t ds = H5Dcreate2(where, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ok = ds >= 0;
  if (ok) {
    hid_t mspace = H5Screate_simple(3, count, nullptr);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    PetscCall(VecGetArrayRead(u, &a));
    ok = H5Dwrite(ds, H5T_NATIVE_DOUBLE, mspace, space, dxpl, a) >= 0;
    PetscCall(VecRestoreArrayRead(u, &a));
    H5Sclose(mspace);
    H5Dclose(ds);
  }
  H5Sclose(space);
  H5Pclose(dcpl);
  H5Pclose(dxpl);
  H5Gclose(where);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, grid.Comm()));
  PetscCheck(ok, grid.Comm(), PETSC_ERR_FILE_WRITE, "could not write the state dataset %s/%s", group, name);
  PetscFunctionReturn(0);
}

PetscErrorCode WriteStateDataset(PetscViewer viewer, const char group[], const char name[], Vec u, const Grid &grid) {
  const PetscInt Ny = grid.Ny();
  const PetscScalar *a;
  PetscInt n, N;
  UniqueVec rows;
  MPI_Comm comm;
  PetscFunctionBeginUser;
  if (grid.TwoDimensional()) {
    PetscCall(WriteImageDataset(viewer, group, name, u, grid));
    PetscFunctionReturn(0);
  }
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
