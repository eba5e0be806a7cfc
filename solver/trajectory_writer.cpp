#include "solver/trajectory_writer.hpp"

#include <petscviewerhdf5.h>
#include <unistd.h>

#include <vector>

namespace ctflow {

TrajectoryWriter::~TrajectoryWriter() { (void)PetscViewerDestroy(&viewer_); }

PetscErrorCode TrajectoryWriter::SetFromOptions() {
  char path[PETSC_MAX_PATH_LEN];
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(path, path_.c_str(), sizeof(path)));
  PetscOptionsBegin(comm_, nullptr, "Trajectory output", "TrajectoryWriter");
  PetscCall(PetscOptionsString("-traj", "Trajectory file (HDF5); 'none' writes no file", "TrajectoryWriter", path, path, sizeof(path), nullptr));
  PetscCall(PetscOptionsInt("-traj_every", "Save every k-th step (the initial and final states are always saved)", "TrajectoryWriter",
                            every_, &every_, nullptr));
  PetscOptionsEnd();
  PetscCheck(every_ >= 1, comm_, PETSC_ERR_USER_INPUT, "-traj_every must be at least 1, got %" PetscInt_FMT, every_);
  PetscCheck(path[0], comm_, PETSC_ERR_USER_INPUT, "-traj needs a file name (or 'none')");
  path_ = path;
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::CheckWritable() const {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  if (rank == 0) ok = access(dir.c_str(), W_OK | X_OK) == 0 && (access(path_.c_str(), F_OK) != 0 || access(path_.c_str(), W_OK) == 0);
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "cannot write the -traj file '%s': its directory '%s' does not exist or is not writable",
             path_.c_str(), dir.c_str());
  PetscFunctionReturn(0);
}

// A small 1-D dataset of the same values on every rank, written by rank 0 (creation is collective).
static PetscErrorCode WriteSmallArray(MPI_Comm comm, hid_t file, const char name[], const std::vector<PetscReal> &a) {
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  const hsize_t n = a.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ds = H5Dcreate2(file, name, H5T_NATIVE_DOUBLE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  PetscCheck(ds >= 0, comm, PETSC_ERR_FILE_WRITE, "could not create dataset %s in the trajectory file", name);
  if (rank) H5Sselect_none(space);
  herr_t status = H5Dwrite(ds, H5T_NATIVE_DOUBLE, space, space, H5P_DEFAULT, a.data());
  H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
  PetscCheck(status >= 0, comm, PETSC_ERR_FILE_WRITE, "could not write dataset %s of the trajectory file", name);
  PetscFunctionReturn(0);
}

static PetscErrorCode CreateSeries(MPI_Comm comm, hid_t file, const char name[], hid_t type) {
  PetscFunctionBeginUser;
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = 64;
  hid_t space = H5Screate_simple(1, &zero, &unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(space);
  PetscCheck(ds >= 0, comm, PETSC_ERR_FILE_WRITE, "could not create dataset %s in the trajectory file", name);
  H5Dclose(ds);
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Open(const Grid &grid, const Metadata &meta) {
  hid_t file;
  char *options;
  PetscFunctionBeginUser;
  PetscCall(PetscViewerHDF5Open(comm_, path_.c_str(), FILE_MODE_WRITE, &viewer_));
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  const char *status = "incomplete";
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "status", PETSC_STRING, status));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "ctflow_version", PETSC_STRING, CTFLOW_VERSION));
  PetscCall(PetscOptionsGetAll(nullptr, &options));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "options", PETSC_STRING, options));
  PetscCall(PetscFree(options));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "splitting", PETSC_STRING, meta.splitting.c_str()));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "controls", PETSC_STRING, meta.controls.c_str()));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "initial_state", PETSC_STRING, meta.initial_state.c_str()));
  const PetscInt sizes[3] = {grid.Nx(), grid.Ny(), grid.Nh()};
  const PetscReal lengths[3] = {grid.Lx(), grid.Ly(), grid.Lh()};
  const char *size_names[3] = {"N_x", "N_y", "N_h"}, *length_names[3] = {"L_x", "L_y", "L_h"};
  for (int d = 0; d < 3; ++d) {
    PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", size_names[d], PETSC_INT, &sizes[d]));
    PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", length_names[d], PETSC_REAL, &lengths[d]));
  }
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "T", PETSC_REAL, &meta.T));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "dt", PETSC_REAL, &meta.dt));

  std::vector<PetscReal> x(grid.Nx()), y(grid.Ny());
  for (PetscInt k = 0; k < grid.Nx(); ++k) x[k] = grid.x(k);
  for (PetscInt l = 0; l < grid.Ny(); ++l) y[l] = grid.y(l);
  PetscCall(WriteSmallArray(comm_, file, "/grid/x", x));
  PetscCall(WriteSmallArray(comm_, file, "/grid/y", y));
  PetscCall(CreateSeries(comm_, file, "/time", H5T_NATIVE_DOUBLE));
  PetscCall(CreateSeries(comm_, file, "/step", H5T_NATIVE_LLONG));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::AppendScalar(const char name[], hid_t type, const void *value) {
  hid_t file;
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
  const hsize_t n = saved_ + 1, offset = saved_, one = 1;
  herr_t status = H5Dset_extent(ds, &n);
  hid_t fspace = H5Dget_space(ds), mspace = H5Screate_simple(1, &one, nullptr);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &offset, nullptr, &one, nullptr);
  if (rank) {
    H5Sselect_none(fspace);
    H5Sselect_none(mspace);
  }
  if (status >= 0) status = H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, value);
  H5Sclose(mspace);
  H5Sclose(fspace);
  H5Dclose(ds);
  PetscCheck(status >= 0, comm_, PETSC_ERR_FILE_WRITE, "could not append to %s in the trajectory file '%s'", name, path_.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Write(PetscInt step, PetscReal t, Vec u, bool final) {
  static PetscLogEvent event = 0;
  char name[32];
  hid_t file;
  PetscFunctionBeginUser;
  if (!viewer_ || (step % every_ != 0 && !final)) PetscFunctionReturn(0);
  if (!event) PetscCall(PetscLogEventRegister("TrajectoryWrite", 0, &event));
  PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%06" PetscInt_FMT, saved_));
  PetscCall(PetscObjectSetName((PetscObject)u, name));
  PetscCall(PetscViewerHDF5PushGroup(viewer_, "/u"));
  PetscCall(VecView(u, viewer_));
  PetscCall(PetscViewerHDF5PopGroup(viewer_));
  const long long step_ll = step;
  PetscCall(AppendScalar("/time", H5T_NATIVE_DOUBLE, &t));
  PetscCall(AppendScalar("/step", H5T_NATIVE_LLONG, &step_ll));
  ++saved_;
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  PetscCheck(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0, comm_, PETSC_ERR_FILE_WRITE, "could not flush the trajectory file '%s'", path_.c_str());
  PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Close() {
  PetscFunctionBeginUser;
  if (!viewer_) PetscFunctionReturn(0);
  const char *status = "complete";
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "status", PETSC_STRING, status));
  PetscCall(PetscViewerDestroy(&viewer_));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
