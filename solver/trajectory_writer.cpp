#include "solver/trajectory_writer.hpp"

#include <petscviewerhdf5.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "solver/state_diagnostics.hpp"
#include "solver/xdmf_index.hpp"

namespace ctflow {

TrajectoryWriter::~TrajectoryWriter() {
  (void)PetscViewerDestroy(&viewer_);
  if (!created_) return;
  PetscMPIInt rank = 0;
  MPI_Comm_rank(comm_, &rank);
  MPI_Barrier(comm_);  // every rank has closed the file
  if (rank == 0) {
    std::remove(path_.c_str());
    std::remove(XdmfPathFor(path_).c_str());
  }
}

PetscErrorCode TrajectoryWriter::SetFromOptions() {
  char path[PETSC_MAX_PATH_LEN], restart[PETSC_MAX_PATH_LEN] = "";
  PetscBool traj_set, restart_set;
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(path, path_.c_str(), sizeof(path)));
  PetscOptionsBegin(comm_, nullptr, "Trajectory output", "TrajectoryWriter");
  PetscCall(PetscOptionsString("-traj", "Trajectory file (HDF5, with an XDMF index FILE.xmf beside it); 'none' writes no file",
                               "TrajectoryWriter", path, path, sizeof(path), &traj_set));
  PetscCall(PetscOptionsInt("-traj_every", "Save every k-th step (the initial and final states are always saved)", "TrajectoryWriter",
                            every_, &every_, nullptr));
  PetscCall(PetscOptionsString("-restart", "Continue the interrupted run of this trajectory file from its last complete state, appending to it",
                               "TrajectoryWriter", restart, restart, sizeof(restart), &restart_set));
  PetscOptionsEnd();
  PetscCheck(every_ >= 1, comm_, PETSC_ERR_USER_INPUT, "-traj_every must be at least 1, got %" PetscInt_FMT, every_);
  PetscCheck(path[0], comm_, PETSC_ERR_USER_INPUT, "-traj needs a file name (or 'none')");
  PetscCheck(!restart_set || restart[0], comm_, PETSC_ERR_USER_INPUT, "-restart needs the trajectory file of the run to continue");
  PetscCheck(!restart_set || !traj_set || std::string(path) == restart, comm_, PETSC_ERR_USER_INPUT,
             "-traj '%s' differs from -restart '%s': a restart appends to the file it continues", path, restart);
  restart_ = restart_set;
  path_ = restart_ ? restart : path;
  PetscCheck(!Enabled() || XdmfPathFor(path_) != path_, comm_, PETSC_ERR_USER_INPUT,
             "-traj '%s' would be overwritten by its XDMF index: give the trajectory another extension, e.g. .h5", path_.c_str());
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

// An empty, growable 1-D dataset (intermediate groups are created).
static PetscErrorCode CreateSeries(MPI_Comm comm, hid_t file, const std::string &name, hid_t type) {
  PetscFunctionBeginUser;
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = 64;
  hid_t space = H5Screate_simple(1, &zero, &unlimited);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  H5Pset_chunk(dcpl, 1, &chunk);
  hid_t ds = H5Dcreate2(file, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Pclose(lcpl);
  H5Sclose(space);
  PetscCheck(ds >= 0, comm, PETSC_ERR_FILE_WRITE, "could not create dataset %s in the trajectory file", name.c_str());
  H5Dclose(ds);
  PetscFunctionReturn(0);
}

static hid_t SeriesType(const std::string &name) { return name == "/step" ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE; }

PetscErrorCode TrajectoryWriter::Open(const Grid &grid, const Metadata &meta) {
  hid_t file;
  char *options;
  PetscFunctionBeginUser;
  PetscCall(PetscViewerHDF5Open(comm_, path_.c_str(), FILE_MODE_WRITE, &viewer_));
  created_ = true;
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
  for (const std::string &name : TrajectorySeriesNames()) PetscCall(CreateSeries(comm_, file, name, SeriesType(name)));
  grid_ = &grid;
  saved_ = 0;
  times_.clear();
  PetscCall(Flush());
  PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_), path_, grid.Nx(), grid.Ny(), times_));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Resume(const Grid &grid, const Metadata &meta, PetscInt num_steps, Vec u, PetscInt *step) {
  RestartPoint point;
  PetscViewer in;
  PetscReal norm;
  char name[32];
  hid_t file;
  PetscFunctionBeginUser;
  PetscCall(TrajectoryRestartInspect(comm_, path_, grid, meta, num_steps, &point));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%06" PetscInt_FMT, point.saved - 1));
  PetscCall(PetscViewerHDF5Open(comm_, path_.c_str(), FILE_MODE_READ, &in));
  PetscCall(PetscViewerHDF5PushGroup(in, "/u"));
  PetscCall(PetscObjectSetName((PetscObject)u, name));
  PetscCall(VecLoad(u, in));
  PetscCall(PetscViewerHDF5PopGroup(in));
  PetscCall(PetscViewerDestroy(&in));
  PetscCall(VecNorm(u, NORM_INFINITY, &norm));
  PetscCheck(std::isfinite(norm), comm_, PETSC_ERR_FILE_UNEXPECTED, "-restart file '%s' is corrupt: state /u/%s is not finite", path_.c_str(),
             name);

  // Drop what an interrupted write left beyond the last complete state (collective metadata changes).
  PetscCall(PetscViewerHDF5Open(comm_, path_.c_str(), FILE_MODE_APPEND, &viewer_));
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  const hsize_t n = point.saved;
  for (const std::string &series : TrajectorySeriesNames()) {
    hid_t ds = H5Dopen2(file, series.c_str(), H5P_DEFAULT);
    const herr_t status = ds >= 0 ? H5Dset_extent(ds, &n) : -1;
    if (ds >= 0) H5Dclose(ds);
    PetscCheck(status >= 0, comm_, PETSC_ERR_FILE_WRITE, "-restart file '%s': could not truncate %s", path_.c_str(), series.c_str());
  }
  for (PetscInt k = point.saved;; ++k) {
    char state[40];
    PetscCall(PetscSNPrintf(state, sizeof(state), "/u/%06" PetscInt_FMT, k));
    if (H5Lexists(file, state, H5P_DEFAULT) <= 0) break;
    PetscCheck(H5Ldelete(file, state, H5P_DEFAULT) >= 0, comm_, PETSC_ERR_FILE_WRITE, "-restart file '%s': could not remove the incomplete state %s",
               path_.c_str(), state);
  }
  grid_ = &grid;
  saved_ = point.saved;
  times_ = point.times;
  PetscCall(Flush());
  PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_), path_, grid.Nx(), grid.Ny(), times_));
  *step = point.step;
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::AppendScalar(const std::string &name, hid_t type, const void *value) {
  hid_t file;
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  hid_t ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
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
  PetscCheck(status >= 0, comm_, PETSC_ERR_FILE_WRITE, "could not append to %s in the trajectory file '%s'", name.c_str(), path_.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Flush() const {
  hid_t file;
  PetscFunctionBeginUser;
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  PetscCheck(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0, comm_, PETSC_ERR_FILE_WRITE, "could not flush the trajectory file '%s'", path_.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Write(PetscInt step, PetscReal t, Vec u, bool final) {
  static PetscLogEvent event = 0;
  std::array<PetscReal, kNumDiagnostics> diagnostics;
  char name[32];
  PetscFunctionBeginUser;
  if (!viewer_ || (step % every_ != 0 && !final)) PetscFunctionReturn(0);
  if (!event) PetscCall(PetscLogEventRegister("TrajectoryWrite", 0, &event));
  PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%06" PetscInt_FMT, saved_));
  PetscCall(PetscViewerHDF5PushGroup(viewer_, "/u"));
  {
    // The state is viewed through a DM-less vector of block size N_y on the same memory, which PETSc writes
    // as the same (N_x, N_y) dataset: PETSc 3.18's DMDA path picks an HDF5 chunk wider than N_y for a
    // 1-D DMDA with many degrees of freedom on several ranks, and H5Dcreate fails.
    const PetscScalar *a;
    PetscInt n, N;
    Vec rows;
    PetscCall(VecGetLocalSize(u, &n));
    PetscCall(VecGetSize(u, &N));
    PetscCall(VecGetArrayRead(u, &a));
    PetscCall(VecCreateMPIWithArray(comm_, grid_->Ny(), n, N, a, &rows));
    PetscCall(PetscObjectSetName((PetscObject)rows, name));
    PetscCall(VecView(rows, viewer_));
    PetscCall(VecDestroy(&rows));
    PetscCall(VecRestoreArrayRead(u, &a));
  }
  PetscCall(PetscViewerHDF5PopGroup(viewer_));
  PetscCall(Flush());
  // The state is on disk; now list it, /time last (the order of TrajectorySeriesNames).
  PetscCall(StateDiagnostics(*grid_, u, &diagnostics));
  const long long step_ll = step;
  PetscCall(AppendScalar("/step", H5T_NATIVE_LLONG, &step_ll));
  for (int i = 0; i < kNumDiagnostics; ++i)
    PetscCall(AppendScalar(std::string("/diagnostics/") + kDiagnosticNames[i], H5T_NATIVE_DOUBLE, &diagnostics[i]));
  PetscCall(AppendScalar("/time", H5T_NATIVE_DOUBLE, &t));
  PetscCall(Flush());
  ++saved_;
  PetscCallCXX(times_.push_back(t));
  PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_), path_, grid_->Nx(), grid_->Ny(), times_));
  PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::WriteArray(const char name[], const std::vector<PetscReal> &a) {
  hid_t file;
  PetscFunctionBeginUser;
  if (!viewer_) PetscFunctionReturn(0);
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  PetscCall(WriteSmallArray(comm_, file, name, a));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Close() {
  PetscFunctionBeginUser;
  if (!viewer_) PetscFunctionReturn(0);
  const char *status = "complete";
  PetscCall(PetscViewerHDF5WriteAttribute(viewer_, "/", "status", PETSC_STRING, status));
  PetscCall(PetscViewerDestroy(&viewer_));
  created_ = false;
  PetscFunctionReturn(0);
}

}  // namespace ctflow
