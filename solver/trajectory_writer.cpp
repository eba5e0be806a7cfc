#include "solver/trajectory_writer.hpp"

#include <petscviewerhdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "operators/attention_maps.hpp"
#include "solver/state_diagnostics.hpp"

namespace ctflow {

static const char *const kFinalNorm = "final_norm";  // the frame of the controls' final projection (solver/integrator.hpp)

TrajectoryWriter::~TrajectoryWriter() {
  for (Vec &v : frame_vecs_) (void)VecDestroy(&v);
  (void)PetscViewerDestroy(&viewer_);
  if (!created_) return;
  PetscMPIInt rank = 0;
  MPI_Comm_rank(comm_, &rank);
  MPI_Barrier(comm_);  // every rank has closed the file
  if (rank == 0) {
    std::remove(path_.c_str());
    for (const char *suffix : {"", "_substeps", "_attention"}) std::remove(XdmfPathFor(path_, suffix).c_str());
  }
}

PetscErrorCode TrajectoryWriter::SetFromOptions() {
  char path[PETSC_MAX_PATH_LEN], restart[PETSC_MAX_PATH_LEN] = "";
  PetscBool traj_set, restart_set, substeps = PETSC_FALSE, maps = PETSC_FALSE, entropy = PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(path, path_.c_str(), sizeof(path)));
  PetscOptionsBegin(comm_, nullptr, "Trajectory output", "TrajectoryWriter");
  PetscCall(PetscOptionsString("-traj", "Trajectory file (HDF5, with an XDMF index FILE.xmf beside it); 'none' writes no file",
                               "TrajectoryWriter", path, path, sizeof(path), &traj_set));
  PetscCall(PetscOptionsInt("-traj_every", "Save every k-th step (the initial and final states are always saved)", "TrajectoryWriter",
                            every_, &every_, nullptr));
  PetscCall(PetscOptionsBool("-traj_substeps", "Also save a frame after every substep of the saved steps (each layer: attention, norm, FFN, ReLU, skip), indexed by FILE_substeps.xmf",
                             "TrajectoryWriter", substeps, &substeps, nullptr));
  PetscCall(PetscOptionsBool("-traj_attention", "Also save the attention maps gamma(x, eta, h) of every saved state, indexed by FILE_attention.xmf (needs an attention leaf)",
                             "TrajectoryWriter", maps, &maps, nullptr));
  PetscCall(PetscOptionsInt("-traj_attention_max_mb", "Largest attention map of one state (N_h N_x^2 doubles) that -traj_attention accepts, in MB",
                            "TrajectoryWriter", max_mb_, &max_mb_, nullptr));
  PetscCall(PetscOptionsBool("-traj_entropy", "Also save the mean attention entropy of every saved state (needs an attention leaf; costs about half an attention evaluation per saved state)",
                             "TrajectoryWriter", entropy, &entropy, nullptr));
  PetscCall(PetscOptionsString("-restart", "Continue the interrupted run of this trajectory file from its last complete state, appending to it",
                               "TrajectoryWriter", restart, restart, sizeof(restart), &restart_set));
  PetscOptionsEnd();
  PetscCheck(every_ >= 1, comm_, PETSC_ERR_USER_INPUT, "-traj_every must be at least 1, got %" PetscInt_FMT, every_);
  PetscCheck(max_mb_ >= 0, comm_, PETSC_ERR_USER_INPUT, "-traj_attention_max_mb must not be negative, got %" PetscInt_FMT, max_mb_);
  PetscCheck(path[0], comm_, PETSC_ERR_USER_INPUT, "-traj needs a file name (or 'none')");
  PetscCheck(!restart_set || restart[0], comm_, PETSC_ERR_USER_INPUT, "-restart needs the trajectory file of the run to continue");
  PetscCheck(!restart_set || !traj_set || std::string(path) == restart, comm_, PETSC_ERR_USER_INPUT,
             "-traj '%s' differs from -restart '%s': a restart appends to the file it continues", path, restart);
  restart_ = restart_set;
  path_ = restart_ ? restart : path;
  PetscCheck(!Enabled() || XdmfPathFor(path_) != path_, comm_, PETSC_ERR_USER_INPUT,
             "-traj '%s' would be overwritten by its XDMF index: give the trajectory another extension, e.g. .h5", path_.c_str());
  PetscCheck(Enabled() || !(substeps || maps), comm_, PETSC_ERR_USER_INPUT, "-traj_substeps and -traj_attention save into the trajectory file, but -traj is 'none'");
  content_.frames = substeps;
  maps_requested_ = maps;
  entropy_requested_ = entropy;
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::SetUp(const Grid &grid, const Controls &controls, const std::string &scheme, bool has_attention) {
  PetscFunctionBeginUser;
  PetscCheck(!maps_requested_ || has_attention, comm_, PETSC_ERR_USER_INPUT,
             "-traj_attention saves the weights of the 'attention' operator, but the splitting scheme '%s' has no 'attention' leaf", scheme.c_str());
  PetscCheck(!entropy_requested_ || has_attention, comm_, PETSC_ERR_USER_INPUT,
             "-traj_entropy is the entropy of the 'attention' operator's weights, but the splitting scheme '%s' has no 'attention' leaf", scheme.c_str());
  const double mb = (double)grid.Nh() * grid.Nx() * grid.Nx() * sizeof(PetscReal) / (1 << 20);
  PetscCheck(!maps_requested_ || mb <= max_mb_, comm_, PETSC_ERR_USER_INPUT,
             "-traj_attention: the attention map of one state, N_h N_x^2 = %" PetscInt_FMT " x %" PetscInt_FMT "^2 doubles (%.1f MB), exceeds -traj_attention_max_mb %" PetscInt_FMT,
             grid.Nh(), grid.Nx(), mb, max_mb_);
  controls_ = &controls;
  content_.maps = maps_requested_;
  content_.entropy = entropy_requested_;
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

// An empty dataset growable along its first dimension: (0,) or (0, width) (intermediate groups are created).
static PetscErrorCode CreateSeries(MPI_Comm comm, hid_t file, const std::string &name, hid_t type, hsize_t width = 0) {
  PetscFunctionBeginUser;
  const int rank = width ? 2 : 1;
  const hsize_t zero[2] = {0, width}, unlimited[2] = {H5S_UNLIMITED, width}, chunk[2] = {64, width};
  hid_t space = H5Screate_simple(rank, zero, unlimited);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  H5Pset_chunk(dcpl, rank, chunk);
  hid_t ds = H5Dcreate2(file, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Pclose(lcpl);
  H5Sclose(space);
  PetscCheck(ds >= 0, comm, PETSC_ERR_FILE_WRITE, "could not create dataset %s in the trajectory file", name.c_str());
  H5Dclose(ds);
  PetscFunctionReturn(0);
}

// Cuts a series back to n entries along its first dimension.
static PetscErrorCode TruncateSeries(MPI_Comm comm, hid_t file, const std::string &path, const std::string &name, hsize_t n) {
  PetscFunctionBeginUser;
  hid_t ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  herr_t status = -1;
  if (ds >= 0) {
    hid_t space = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    H5Sclose(space);
    dims[0] = n;
    status = H5Dset_extent(ds, dims);
    H5Dclose(ds);
  }
  PetscCheck(status >= 0, comm, PETSC_ERR_FILE_WRITE, "-restart file '%s': could not truncate %s", path.c_str(), name.c_str());
  PetscFunctionReturn(0);
}

// Removes group/NNNNNN for NNNNNN = first, first + 1, … while they exist.
static PetscErrorCode RemoveFrom(MPI_Comm comm, hid_t file, const std::string &path, const char group[], PetscInt first) {
  PetscFunctionBeginUser;
  if (H5Lexists(file, group, H5P_DEFAULT) <= 0) PetscFunctionReturn(0);
  for (PetscInt k = first;; ++k) {
    char name[64];
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s/%06" PetscInt_FMT, group, k));
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) break;
    PetscCheck(H5Ldelete(file, name, H5P_DEFAULT) >= 0, comm, PETSC_ERR_FILE_WRITE, "-restart file '%s': could not remove the incomplete %s",
               path.c_str(), name);
  }
  PetscFunctionReturn(0);
}

static hid_t SeriesType(const std::string &name) { return name == "/step" || name == "/substeps/step" ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE; }

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

  std::vector<PetscReal> x(grid.Nx()), y(grid.Ny()), h(grid.Nh());
  for (PetscInt k = 0; k < grid.Nx(); ++k) x[k] = grid.x(k);
  for (PetscInt l = 0; l < grid.Ny(); ++l) y[l] = grid.y(l);
  for (PetscInt m = 0; m < grid.Nh(); ++m) h[m] = grid.h(m);
  PetscCall(WriteSmallArray(comm_, file, "/grid/x", x));
  PetscCall(WriteSmallArray(comm_, file, "/grid/y", y));
  PetscCall(WriteSmallArray(comm_, file, "/grid/h", h));
  for (const std::string &name : TrajectorySeriesNames(content_)) PetscCall(CreateSeries(comm_, file, name, SeriesType(name)));
  if (content_.frames) {
    // A frame's name is a node's expression, a part of the whole scheme's, or "final_norm".
    hid_t text = H5Tcopy(H5T_C_S1);
    H5Tset_size(text, std::max(meta.splitting.size(), std::strlen(kFinalNorm)));
    H5Tset_strpad(text, H5T_STR_NULLPAD);
    for (const std::string &name : FrameSeriesNames())
      PetscCall(CreateSeries(comm_, file, name, name == "/substeps/name" ? text : SeriesType(name), name == "/substeps/interval" ? 2 : 0));
    H5Tclose(text);
  }
  grid_ = &grid;
  saved_ = frames_ = 0;
  times_.clear();
  frame_times_.clear();
  step_start_ = 0;
  PetscCall(Flush());
  PetscCall(WriteIndexes());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Resume(const Grid &grid, const Metadata &meta, PetscInt num_steps, Vec u, PetscInt *step) {
  RestartPoint point;
  PetscViewer in;
  PetscReal norm;
  char name[32];
  hid_t file;
  PetscFunctionBeginUser;
  PetscCall(TrajectoryRestartInspect(comm_, path_, grid, meta, content_, num_steps, &point));
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
  for (const std::string &series : TrajectorySeriesNames(content_)) PetscCall(TruncateSeries(comm_, file, path_, series, point.saved));
  PetscCall(RemoveFrom(comm_, file, path_, "/u", point.saved));
  PetscCall(RemoveFrom(comm_, file, path_, "/attention", point.saved));
  if (content_.frames) {
    for (const std::string &series : FrameSeriesNames()) PetscCall(TruncateSeries(comm_, file, path_, series, point.frames));
    PetscCall(RemoveFrom(comm_, file, path_, "/substeps/u", point.frames));
  }
  grid_ = &grid;
  saved_ = point.saved;
  times_ = point.times;
  frames_ = point.frames;
  frame_times_ = point.frame_times;
  step_start_ = times_.back();
  PetscCall(Flush());
  PetscCall(WriteIndexes());
  *step = point.step;
  PetscFunctionReturn(0);
}

// Appends `rows` entries at `offset` to a series (1-D, or 2-D of any width), written by rank 0.
PetscErrorCode TrajectoryWriter::AppendRows(const std::string &name, hid_t type, hsize_t offset, hsize_t rows, const void *values) {
  hid_t file;
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  hid_t ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  hid_t fspace = H5Dget_space(ds);
  const int ndims = H5Sget_simple_extent_ndims(fspace);
  hsize_t dims[2] = {0, 1}, start[2] = {offset, 0};
  H5Sget_simple_extent_dims(fspace, dims, nullptr);
  H5Sclose(fspace);
  dims[0] = offset + rows;
  herr_t status = H5Dset_extent(ds, dims);
  dims[0] = rows;
  fspace = H5Dget_space(ds);
  hid_t mspace = H5Screate_simple(ndims, dims, nullptr);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, dims, nullptr);
  if (rank) {
    H5Sselect_none(fspace);
    H5Sselect_none(mspace);
  }
  if (status >= 0) status = H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, values);
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

// u as the (N_x, N_y) dataset group/NNNNNN.
PetscErrorCode TrajectoryWriter::WriteVec(const char group[], PetscInt index, Vec u) {
  const PetscScalar *a;
  PetscInt n, N;
  Vec rows;
  char name[32];
  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(name, sizeof(name), "%06" PetscInt_FMT, index));
  PetscCall(PetscViewerHDF5PushGroup(viewer_, group));
  // The state is viewed through a DM-less vector of block size N_y on the same memory, which PETSc writes
  // as the same (N_x, N_y) dataset: PETSc 3.18's DMDA path picks an HDF5 chunk wider than N_y for a
  // 1-D DMDA with many degrees of freedom on several ranks, and H5Dcreate fails.
  PetscCall(VecGetLocalSize(u, &n));
  PetscCall(VecGetSize(u, &N));
  PetscCall(VecGetArrayRead(u, &a));
  PetscCall(VecCreateMPIWithArray(comm_, grid_->Ny(), n, N, a, &rows));
  PetscCall(PetscObjectSetName((PetscObject)rows, name));
  PetscCall(VecView(rows, viewer_));
  PetscCall(VecDestroy(&rows));
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCall(PetscViewerHDF5PopGroup(viewer_));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Frame(const std::string &node, PetscReal t0, PetscReal t1, Vec u) {
  const size_t i = buffered_.size();
  PetscFunctionBeginUser;
  if (i == frame_vecs_.size()) {
    Vec v;
    PetscCall(VecDuplicate(u, &v));
    PetscCallCXX(frame_vecs_.push_back(v));
  }
  PetscCall(VecCopy(u, frame_vecs_[i]));
  PetscCallCXX(buffered_.push_back({node, t0, t1}));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::DiscardFrames() {
  PetscFunctionBeginUser;
  buffered_.clear();
  PetscFunctionReturn(0);
}

// The buffered frames of the step [step_start_, t] ending with `step`: datasets, flush, then the series.
PetscErrorCode TrajectoryWriter::WriteFrames(PetscInt step, PetscReal t) {
  const size_t M = buffered_.size();
  hid_t file;
  PetscFunctionBeginUser;
  for (size_t i = 0; i < M; ++i) PetscCall(WriteVec("/substeps/u", frames_ + (PetscInt)i, frame_vecs_[i]));
  PetscCall(Flush());
  PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
  hid_t ds = H5Dopen2(file, "/substeps/name", H5P_DEFAULT), text = H5Dget_type(ds);
  const size_t width = H5Tget_size(text);
  H5Dclose(ds);
  std::vector<long long> steps(M, step);
  std::vector<char> names(M * width, '\0');
  std::vector<PetscReal> intervals(2 * M), times(M);
  bool fits = true;
  for (size_t i = 0; i < M; ++i) {
    fits = fits && buffered_[i].node.size() <= width;
    std::memcpy(&names[i * width], buffered_[i].node.data(), std::min(width, buffered_[i].node.size()));
    intervals[2 * i] = buffered_[i].t0;
    intervals[2 * i + 1] = buffered_[i].t1;
    times[i] = i + 1 == M ? t : step_start_ + (PetscReal)(i + 1) / M * (t - step_start_);  // strictly increasing in the step
  }
  PetscCheck(fits, comm_, PETSC_ERR_PLIB, "a substep name is longer than the splitting expression");
  PetscCall(AppendRows("/substeps/step", H5T_NATIVE_LLONG, frames_, M, steps.data()));
  PetscCall(AppendRows("/substeps/name", text, frames_, M, names.data()));
  PetscCall(AppendRows("/substeps/interval", H5T_NATIVE_DOUBLE, frames_, M, intervals.data()));
  PetscCall(AppendRows("/substeps/time", H5T_NATIVE_DOUBLE, frames_, M, times.data()));
  H5Tclose(text);
  PetscCall(Flush());
  frames_ += (PetscInt)M;
  PetscCallCXX(frame_times_.insert(frame_times_.end(), times.begin(), times.end()));
  PetscFunctionReturn(0);
}

// γ of u at t (row blocks of at most kMapBlockDoubles values), written to /attention/NNNNNN if -traj_attention,
// and the mean differential entropy of the rows.
PetscErrorCode TrajectoryWriter::WriteAttention(PetscReal t, Vec u, PetscReal *entropy) {
  const PetscInt Nx = grid_->Nx(), Nh = grid_->Nh(), xs = grid_->XStart(), xm = grid_->XLocal();
  const PetscInt rows = std::max<PetscInt>(1, kMapBlockDoubles / (Nh * Nx));
  PetscInt blocks = (xm + rows - 1) / rows;
  PetscReal sum = 0;
  std::vector<PetscReal> gamma;
  AttentionMaps maps(*grid_, *controls_);
  hid_t file, ds = -1, dxpl = -1;
  int ok = 1;
  PetscFunctionBeginUser;
  // Layered controls are defined on [0, T): the final state's maps use the controls of the last step.
  PetscCall(maps.SetUp(t < controls_->EndTime() ? t : step_start_, u));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &blocks, 1, MPIU_INT, MPI_MAX, comm_));
  if (content_.maps) {
    char name[40];
    const hsize_t dims[3] = {(hsize_t)Nh, (hsize_t)Nx, (hsize_t)Nx};
    PetscCall(PetscViewerHDF5GetFileId(viewer_, &file));
    PetscCall(PetscSNPrintf(name, sizeof(name), "/attention/%06" PetscInt_FMT, saved_));
    hid_t space = H5Screate_simple(3, dims, nullptr), lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    ds = H5Dcreate2(file, name, H5T_NATIVE_DOUBLE, space, lcpl, dcpl, H5P_DEFAULT);
    H5Sclose(space);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    PetscCheck(ds >= 0, comm_, PETSC_ERR_FILE_WRITE, "could not create dataset %s in the trajectory file '%s'", name, path_.c_str());
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  }
  // Every rank takes part in every collective write, with an empty selection once its rows are done.
  for (PetscInt b = 0; b < blocks; ++b) {
    const PetscInt k0 = b * rows, n = std::max<PetscInt>(0, std::min(rows, xm - k0));
    if (n > 0) {
      PetscCall(maps.Rows(k0, n, &gamma));
      sum += AttentionEntropySum(gamma, Nx, grid_->dx());
    }
    if (ds < 0) continue;
    const hsize_t start[3] = {0, (hsize_t)(xs + k0), 0}, count[3] = {(hsize_t)Nh, (hsize_t)std::max<PetscInt>(n, 1), (hsize_t)Nx};
    hid_t fspace = H5Dget_space(ds), mspace = H5Screate_simple(3, count, nullptr);
    if (n > 0) H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
    else H5Sselect_none(fspace), H5Sselect_none(mspace);
    const PetscReal none = 0;  // a valid buffer for an empty selection
    ok = H5Dwrite(ds, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, n > 0 ? gamma.data() : &none) >= 0 && ok;
    H5Sclose(mspace);
    H5Sclose(fspace);
  }
  if (ds >= 0) {
    H5Pclose(dxpl);
    H5Dclose(ds);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "could not write the attention map of state %" PetscInt_FMT " to '%s'", saved_, path_.c_str());
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &sum, 1, MPIU_REAL, MPIU_SUM, comm_));
  *entropy = sum / (Nx * Nh);
  PetscFunctionReturn(0);
}

XdmfSeries TrajectoryWriter::StateSeries(const std::string &group, const std::vector<PetscReal> &times) const {
  return {group, "u", {{"/grid/x", grid_->Nx()}, {"/grid/y", grid_->Ny()}}, times};
}

PetscErrorCode TrajectoryWriter::WriteIndexes() const {
  PetscFunctionBeginUser;
  PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_), path_, StateSeries("/u", times_)));
  if (content_.frames) PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_, "_substeps"), path_, StateSeries("/substeps/u", frame_times_)));
  if (content_.maps) {
    const XdmfSeries maps = {"/attention", "gamma", {{"/grid/h", grid_->Nh()}, {"/grid/x", grid_->Nx()}, {"/grid/x", grid_->Nx()}}, times_};
    PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_, "_attention"), path_, maps));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Write(PetscInt step, PetscReal t, Vec u, bool final) {
  static PetscLogEvent event = 0;
  std::array<PetscReal, kNumDiagnostics> diagnostics;
  PetscReal entropy = 0;
  PetscFunctionBeginUser;
  if (viewer_ && (step % every_ == 0 || final)) {
    if (!event) PetscCall(PetscLogEventRegister("TrajectoryWrite", 0, &event));
    PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
    if (content_.frames && !buffered_.empty()) PetscCall(WriteFrames(step, t));
    PetscCall(WriteVec("/u", saved_, u));
    if (content_.maps || content_.entropy) PetscCall(WriteAttention(t, u, &entropy));
    PetscCall(Flush());
    // The state is on disk; now list it, /time last (the order of TrajectorySeriesNames).
    PetscCall(StateDiagnostics(*grid_, u, &diagnostics));
    const long long step_ll = step;
    PetscCall(AppendRows("/step", H5T_NATIVE_LLONG, saved_, 1, &step_ll));
    for (int i = 0; i < kNumDiagnostics; ++i)
      PetscCall(AppendRows(std::string("/diagnostics/") + kDiagnosticNames[i], H5T_NATIVE_DOUBLE, saved_, 1, &diagnostics[i]));
    if (content_.entropy) PetscCall(AppendRows(std::string("/diagnostics/") + kAttentionEntropyName, H5T_NATIVE_DOUBLE, saved_, 1, &entropy));
    PetscCall(AppendRows("/time", H5T_NATIVE_DOUBLE, saved_, 1, &t));
    PetscCall(Flush());
    ++saved_;
    PetscCallCXX(times_.push_back(t));
    PetscCall(WriteIndexes());
    PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  }
  buffered_.clear();  // the frames of an unsaved step are not kept
  step_start_ = t;
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
