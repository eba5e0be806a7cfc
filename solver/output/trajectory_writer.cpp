#include "solver/output/trajectory_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "discretization/base/mpi_transport.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/base/petsc_handle.hpp"
#include "discretization/state_file.hpp"
#include "operators/blas_kernels.hpp"
#include "solver/output/attention_map_output.hpp"
#include "solver/output/state_diagnostics.hpp"
#include "solver/output/trajectory_segments.hpp"

namespace ctflow {

static const char *const kFinalNorm = "final_norm";  // the frame of the controls' final projection (solver/timestepping/integrator.hpp)
static const char *const kStaged = ".new";           // the first segment of a run replacing a trajectory, until it is listed

// The type of /substeps/name: fixed-length strings of `width` characters, NUL-padded.
static hid_t FrameNameType(size_t width) {
  hid_t text = H5Tcopy(H5T_C_S1);
  H5Tset_size(text, width);
  H5Tset_strpad(text, H5T_STR_NULLPAD);
  return text;
}

TrajectoryWriter::~TrajectoryWriter() {
  PetscMPIInt rank = 0;
  MPI_Comm_rank(comm_, &rank);
  if (rank == 0 && created_) {
    std::remove((SegmentPath(0) + kStaged).c_str());
    index_.RemoveScratch();
    // This run's own files, unless a write failed after states were listed (a full disk): those stay, status
    // incomplete, for -restart. An earlier trajectory it replaced comes back from where it was kept.
    if ((!replacing_ || committed_) && !(write_failed_ && saved_ > 0)) {
      std::remove(path_.c_str());
      for (const char *suffix : {"", "_substeps", "_attention"}) std::remove(XdmfPathFor(path_, suffix).c_str());
      RemoveSegments(segment_dir_);
      if (replacing_) RestorePrevious(path_, segment_dir_);
    }
  }
  if (rank == 0 && made_dir_) {
    std::error_code error;
    std::filesystem::remove(segment_dir_, error);  // only if empty
  }
  Unlock();
}

PetscErrorCode TrajectoryWriter::SetFromOptions() {
  char path[PETSC_MAX_PATH_LEN], restart[PETSC_MAX_PATH_LEN] = "";
  PetscBool traj_set, restart_set, substeps = PETSC_FALSE, maps = PETSC_FALSE, entropy = PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(path, path_.c_str(), sizeof(path)));
  PetscOptionsBegin(comm_, nullptr, "Trajectory output", "TrajectoryWriter");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsString("-traj", "Trajectory file (HDF5, with an XDMF index FILE.xmf beside it); 'none' writes no file", "TrajectoryWriter",
                               path, path, sizeof(path), &traj_set));
  PetscCall(CtflowOptionsInt("-traj_every", "Save every k-th step (the initial and final states are always saved)", "TrajectoryWriter", every_,
                             &every_, nullptr));
  PetscCall(PetscOptionsBool(
      "-traj_substeps",
      "Also save a frame after every substep of the saved steps (each layer: attention, norm, FFN, ReLU, skip), indexed by FILE_substeps.xmf",
      "TrajectoryWriter", substeps, &substeps, nullptr));
  PetscCall(
      PetscOptionsBool("-traj_attention",
                       "Also save the attention maps gamma(x, eta, h) of every saved state, indexed by FILE_attention.xmf (needs an attention leaf)",
                       "TrajectoryWriter", maps, &maps, nullptr));
  PetscCall(CtflowOptionsInt("-traj_attention_max_mb", "Largest attention map of one state (N_h N_x^2 doubles) that -traj_attention accepts, in MB",
                             "TrajectoryWriter", max_mb_, &max_mb_, nullptr));
  PetscCall(PetscOptionsBool(
      "-traj_entropy",
      "Also save the mean attention entropy of every saved state (needs an attention leaf; costs about half an attention evaluation per saved state)",
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
  if (restart_ || traj_set) SetPath(restart_ ? restart : path);
  PetscCheck(!Enabled() || XdmfPathFor(path_) != path_, comm_, PETSC_ERR_USER_INPUT,
             "-traj '%s' would be overwritten by its XDMF index: give the trajectory another extension, e.g. .h5", path_.c_str());
  PetscCheck(!Enabled() || segment_dir_ != path_, comm_, PETSC_ERR_USER_INPUT,
             "-traj '%s' is the name of its own segment directory: give the trajectory another extension, e.g. .h5", path_.c_str());
  PetscCheck(Enabled() || !(substeps || maps), comm_, PETSC_ERR_USER_INPUT,
             "-traj_substeps and -traj_attention save into the trajectory file, but -traj is 'none'");
  content_.frames = substeps;
  maps_requested_ = maps;
  entropy_requested_ = entropy;
  PetscFunctionReturn(0);
}

void TrajectoryWriter::SetPath(const std::string &path) {
  PetscMPIInt rank = 0;
  MPI_Comm_rank(comm_, &rank);
  if (rank == 0 && made_dir_ && path != path_) {  // a directory made by CheckWritable for the previous path
    std::error_code error;
    std::filesystem::remove(segment_dir_, error);
  }
  if (path != path_) Unlock(), made_dir_ = false;
  path_ = path;
  segment_dir_ = TrajectorySegmentDir(path_);
  path_given_ = true;
}

PetscErrorCode TrajectoryWriter::SetUp(const Grid &grid, const Controls &controls, const std::string &scheme, bool has_attention) {
  PetscFunctionBeginUser;
  PetscCheck(!maps_requested_ || has_attention, comm_, PETSC_ERR_USER_INPUT,
             "-traj_attention saves the weights of the 'attention' operator, but the splitting scheme '%s' has no 'attention' leaf", scheme.c_str());
  PetscCheck(!entropy_requested_ || has_attention, comm_, PETSC_ERR_USER_INPUT,
             "-traj_entropy is the entropy of the 'attention' operator's weights, but the splitting scheme '%s' has no 'attention' leaf",
             scheme.c_str());
  const double mb = (double)grid.Nh() * grid.Nx() * grid.Nx() * sizeof(PetscReal) / (1 << 20);
  PetscCheck(!maps_requested_ || mb <= max_mb_, comm_, PETSC_ERR_USER_INPUT,
             "-traj_attention: the attention map of one state, N_h N_x^2 = %" PetscInt_FMT " x %" PetscInt_FMT
             "^2 doubles (%.1f MB), exceeds -traj_attention_max_mb %" PetscInt_FMT,
             grid.Nh(), grid.Nx(), mb, max_mb_);
  controls_ = &controls;
  content_.maps = maps_requested_;
  content_.entropy = entropy_requested_;
  PetscFunctionReturn(0);
}

// Rank 0: why the trajectory cannot be written without destroying what ctflow did not write, or "".
std::string TrajectoryWriter::OutputProblem(const InputFiles &inputs, bool *replacing) const {
  const std::string dir = PathDirectory(path_);
  const std::string xmf[3] = {XdmfPathFor(path_), XdmfPathFor(path_, "_substeps"), XdmfPathFor(path_, "_attention")};
  struct stat info;
  if (access(dir.c_str(), W_OK | X_OK) != 0) return "its directory '" + dir + "' does not exist or is not writable";
  for (const std::string &mine : {path_, xmf[0], xmf[1], xmf[2], segment_dir_})
    for (const auto &[option, input] : inputs)
      if (SameFile(mine, input)) return "'" + mine + "' is this run's " + option + " file";
  *replacing = false;
  if (stat(path_.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return "it is a directory";
    if (!S_ISREG(info.st_mode)) return "it is not a regular file";
    if (access(path_.c_str(), R_OK | W_OK) != 0) return "it is not readable and writable";
    if (!restart_ && !IsTrajectoryIndex(path_))
      return "it exists and is not a ctflow trajectory (ctflow replaces only its own files; remove it or choose another name)";
    *replacing = !restart_;
  }
  for (const std::string &x : xmf)
    if (stat(x.c_str(), &info) == 0 && !(S_ISREG(info.st_mode) && XdmfWrittenByCtflow(x)))
      return "its XDMF index '" + x + "' exists and was not written by ctflow (remove it or choose another name)";
  if (stat(segment_dir_.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode) || access(segment_dir_.c_str(), W_OK | X_OK) != 0)
      return "its segment directory '" + segment_dir_ + "' is not a writable directory";
    std::error_code error;
    if (!restart_ && !*replacing && !std::filesystem::is_empty(segment_dir_, error))
      return "its segment directory '" + segment_dir_ + "' holds files but there is no trajectory '" + path_ +
             "' they belong to (remove them or choose another name)";
  }
  return "";
}

PetscErrorCode TrajectoryWriter::CheckWritable(const InputFiles &inputs) {
  PetscMPIInt rank;
  std::string problem;
  int replacing = 0;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) {
    bool r = false;
    PetscCallCXX(problem = OutputProblem(inputs, &r));
    replacing = r;
  }
  int length = (int)problem.size();
  PetscCallMPI(MPI_Bcast(&length, 1, MPI_INT, 0, comm_));
  PetscCallCXX(problem.resize(length));
  PetscCallMPI(MPI_Bcast(problem.data(), length, MPI_CHAR, 0, comm_));
  PetscCheck(problem.empty(), comm_, PETSC_ERR_FILE_WRITE, "cannot write the %s file '%s': %s", restart_ ? "-restart" : "-traj", path_.c_str(),
             problem.c_str());
  PetscCallMPI(MPI_Bcast(&replacing, 1, MPI_INT, 0, comm_));
  replacing_ = replacing;
  PetscCall(Lock());
  PetscFunctionReturn(0);
}

// Rank 0 creates the segment directory if needed and takes an exclusive flock on it, which the kernel releases
// when the process ends however it ends. A file system without flock (ENOLCK, EOPNOTSUPP) is written unlocked.
PetscErrorCode TrajectoryWriter::Lock() {
  PetscMPIInt rank;
  int state = 0;  // 0 locked (or no locking), 1 directory not created, 2 held by another process
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0 && lock_ < 0) {
    struct stat info;
    if (stat(segment_dir_.c_str(), &info) != 0) {
      made_dir_ = mkdir(segment_dir_.c_str(), 0777) == 0;
      if (!made_dir_) state = 1;
    }
    if (!state) lock_ = open(segment_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_ >= 0 && flock(lock_, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) state = 2;
  }
  PetscCallMPI(MPI_Bcast(&state, 1, MPI_INT, 0, comm_));
  if (state) Unlock();
  PetscCheck(state != 1, comm_, PETSC_ERR_FILE_WRITE, "cannot write the -traj file '%s': could not create its segment directory '%s'", path_.c_str(),
             segment_dir_.c_str());
  PetscCheck(state != 2, comm_, PETSC_ERR_FILE_WRITE,
             "the trajectory '%s' is being written by another run (its segment directory '%s' is locked); wait for it or choose another -traj",
             path_.c_str(), segment_dir_.c_str());
  PetscFunctionReturn(0);
}

void TrajectoryWriter::Unlock() {
  if (lock_ >= 0) close(lock_);  // releases the flock
  lock_ = -1;
}

// Rank 0 creates the segment directory if needed.
PetscErrorCode TrajectoryWriter::CreateSegmentDir() const {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) {
    std::error_code error;
    std::filesystem::create_directory(segment_dir_, error);
    ok = !error && std::filesystem::is_directory(segment_dir_, error);
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "could not create the segment directory '%s' of the trajectory '%s'", segment_dir_.c_str(),
             path_.c_str());
  PetscFunctionReturn(0);
}

// A new run, once its empty index and XDMF files have replaced an earlier run's: rank 0 removes that run's
// segments and the XDMF files of content this run does not save.
PetscErrorCode TrajectoryWriter::RemoveEarlierRun() const {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) {
    ok = RemoveSegments(segment_dir_);
    if (!content_.frames) std::remove(XdmfPathFor(path_, "_substeps").c_str());
    if (!content_.maps) std::remove(XdmfPathFor(path_, "_attention").c_str());
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "could not remove the earlier segments in '%s'", segment_dir_.c_str());
  PetscFunctionReturn(0);
}

// The segment of saved state n, as the index's links name it: relative to the index's directory.
std::string TrajectoryWriter::SegmentName(PetscInt n) const {
  return Numbered(PathFileName(segment_dir_), n) + ".h5" + (replacing_ && !committed_ ? kStaged : "");
}

// The file of segment n (its final name).
std::string TrajectoryWriter::SegmentPath(PetscInt n) const { return PathDirectory(path_) + "/" + Numbered(PathFileName(segment_dir_), n) + ".h5"; }

PetscErrorCode TrajectoryWriter::Open(const Grid &grid, const Metadata &meta) {
  char *options;
  PetscFunctionBeginUser;
  PetscCall(CreateSegmentDir());
  created_ = true;
  PetscCall(NewRunId(comm_, &run_id_));
  PetscCall(index_.Create(path_));
  index_.Attribute("status", std::string("incomplete"));
  index_.Attribute("ctflow_version", std::string(CTFLOW_VERSION));
  index_.Attribute("blas", BlasDescription());
  index_.Attribute("mpi", MpiTransportDescription());
  index_.Attribute("run_id", run_id_);
  PetscCall(PetscOptionsGetAll(nullptr, &options));
  index_.Attribute("options", std::string(options));
  PetscCall(PetscFree(options));
  index_.Attribute("splitting", meta.splitting);
  index_.Attribute("controls", meta.controls);
  index_.Attribute("initial_state", meta.initial_state);
  index_.Attribute("N_x", grid.Nx());
  index_.Attribute("L_x", grid.Lx());
  index_.Attribute("N_y", grid.Ny());
  index_.Attribute("L_y", grid.Ly());
  index_.Attribute("N_h", grid.Nh());
  index_.Attribute("L_h", grid.Lh());
  if (grid.TwoDimensional()) {
    index_.Attribute("N_y1", grid.Image().N[0]);
    index_.Attribute("N_y2", grid.Image().N[1]);
    index_.Attribute("L_y1", grid.Image().L[0]);
    index_.Attribute("L_y2", grid.Image().L[1]);
  }
  index_.Attribute("T", meta.T);
  index_.Attribute("dt", meta.dt);
  grid_group_ = "/grid";
  ListGrid(grid_group_, grid);
  for (const std::string &name : TrajectorySeriesNames(content_)) index_.Series(name, name == "/step" ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE);
  // A frame's name is a node's expression, a part of the whole scheme's, or "final_norm".
  name_width_ = std::max(meta.splitting.size(), std::strlen(kFinalNorm));
  if (content_.frames) {
    hid_t text = FrameNameType(name_width_);
    index_.Series("/substeps/step", H5T_NATIVE_LLONG);
    index_.Series("/substeps/name", text);
    index_.Series("/substeps/interval", H5T_NATIVE_DOUBLE, 2);
    index_.Series("/substeps/time", H5T_NATIVE_DOUBLE);
    H5Tclose(text);
  }
  grid_ = &grid;
  saved_ = frames_ = 0;
  step_start_ = 0;
  open_ = true;
  committed_ = false;
  if (replacing_) PetscFunctionReturn(0);  // the earlier trajectory stays in place until the first state is listed (Write)
  PetscCall(index_.Commit());
  PetscCall(WriteIndexes());
  PetscCall(RemoveEarlierRun());
  PetscFunctionReturn(0);
}

void TrajectoryWriter::ListGrid(const std::string &group, const Grid &grid) {
  const auto centres = [](PetscInt n, PetscReal d) {
    std::vector<PetscReal> c(n);
    for (PetscInt i = 0; i < n; ++i) c[i] = (i + 0.5) * d;
    return c;
  };
  index_.Array(group + "/x", centres(grid.Nx(), grid.dx()));
  if (grid.TwoDimensional()) {
    index_.Array(group + "/y1", centres(grid.Image().N[0], grid.Image().d(0)));
    index_.Array(group + "/y2", centres(grid.Image().N[1], grid.Image().d(1)));
  } else {
    index_.Array(group + "/y", centres(grid.Ny(), grid.dy()));
  }
  index_.Array(group + "/h", centres(grid.Nh(), grid.dh()));
}

XdmfAxes TrajectoryWriter::StateAxes() const {
  if (grid_->TwoDimensional())
    return {{grid_group_ + "/x", grid_->Nx()}, {grid_group_ + "/y1", grid_->Image().N[0]}, {grid_group_ + "/y2", grid_->Image().N[1]}};
  return {{grid_group_ + "/x", grid_->Nx()}, {grid_group_ + "/y", grid_->Ny()}};
}

XdmfAxes TrajectoryWriter::MapAxes() const {
  return {{grid_group_ + "/h", grid_->Nh()}, {grid_group_ + "/x", grid_->Nx()}, {grid_group_ + "/x", grid_->Nx()}};
}

PetscErrorCode TrajectoryWriter::SetStage(PetscInt stage, const Grid &grid, const std::vector<PetscReal> &stage_times) {
  PetscFunctionBeginUser;
  PetscCheck(open_ && stage >= 1, comm_, PETSC_ERR_ORDER, "TrajectoryWriter::SetStage(%" PetscInt_FMT ") needs an open trajectory", stage);
  PetscCheck(buffer_.Size() == 0, comm_, PETSC_ERR_ORDER, "a stage changes between steps, not inside one");
  grid_group_ = "/grid/stage" + std::to_string(stage);
  ListGrid(grid_group_, grid);
  index_.Array("/stage_times", stage_times);
  PetscCall(index_.Commit());
  grid_ = &grid;
  PetscCall(buffer_.Reset());
  PetscFunctionReturn(0);
}

// Replacing an earlier trajectory: before the index listing this run's first state replaces the earlier index,
// rank 0 keeps that index and its XDMF files aside (PreviousDir, hard links).
PetscErrorCode TrajectoryWriter::KeepPrevious() const {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) ok = KeepPreviousIndex(path_, segment_dir_);
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "could not keep the trajectory '%s' that this run replaces in '%s'", path_.c_str(),
             PreviousDir(segment_dir_).c_str());
  PetscFunctionReturn(0);
}

// Replacing an earlier trajectory, once the index listing this run's first state (in its staged segment) has
// replaced the earlier one: rank 0 moves the earlier run's segments aside (PreviousDir), then gives the staged
// segment its final name (a hard link, then the index and XDMF files are relinked, then the staged name is
// removed), so that at every moment the index on disk lists only files that exist. Without hard links the staged
// name stays.
PetscErrorCode TrajectoryWriter::AdoptStagedSegment() {
  PetscMPIInt rank;
  int linked = 0, moved = 1;
  const std::string staged = SegmentPath(0) + kStaged;
  PetscFunctionBeginUser;
  committed_ = true;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) moved = MoveSegmentsToPrevious(segment_dir_);
  PetscCallMPI(MPI_Bcast(&moved, 1, MPI_INT, 0, comm_));
  PetscCheck(moved, comm_, PETSC_ERR_FILE_WRITE, "could not move the replaced trajectory's segments into '%s'", PreviousDir(segment_dir_).c_str());
  PetscCall(RemoveEarlierRun());
  if (rank == 0) linked = link(staged.c_str(), SegmentPath(0).c_str()) == 0;
  PetscCallMPI(MPI_Bcast(&linked, 1, MPI_INT, 0, comm_));
  if (!linked) PetscFunctionReturn(0);
  const std::string segment = SegmentName(0);
  index_.Link(Numbered("/u", 0), segment, "/u");
  if (content_.maps) index_.Link(Numbered("/attention", 0), segment, "/attention");
  PetscCall(index_.Commit());
  if (rank == 0) {
    state_items_[0] = segment + ":/u";
    if (content_.maps) map_items_[0] = segment + ":/attention";
  }
  PetscCall(WriteIndexes());
  if (rank == 0) std::remove(staged.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Resume(const Grid &grid, const Metadata &meta, PetscInt num_steps, Vec u, PetscInt *step) {
  RestartPoint point;
  StateFile in(comm_);
  PetscReal norm;
  unsigned long long checksum;
  PetscFunctionBeginUser;
  PetscCall(TrajectoryRestartInspect(comm_, path_, grid, meta, content_, num_steps, &point));
  // The state through the index's link (HDF5 follows it into the segment), checked against its checksum.
  const std::string name = Numbered("/u", point.saved - 1);
  PetscCall(in.Open(path_));
  PetscCall(in.Read(name, u, StateFeatures(grid)));
  PetscCall(in.Close());
  PetscCall(StateChecksum(u, grid.Ny(), &checksum));
  PetscCheck(checksum == point.checksum, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-restart file '%s' is corrupt: the data of state %s do not match the checksum its segment recorded", path_.c_str(), name.c_str());
  PetscCall(VecNorm(u, NORM_INFINITY, &norm));
  PetscCheck(std::isfinite(norm), comm_, PETSC_ERR_FILE_UNEXPECTED, "-restart file '%s' is corrupt: state %s is not finite", path_.c_str(),
             name.c_str());
  run_id_ = point.run_id;

  // Drop from the index whatever it lists beyond the restart point (a run stopped between its writes never
  // leaves such entries; an index cut back by hand may).
  PetscCall(CreateSegmentDir());
  PetscCall(index_.Load(path_));
  for (const std::string &series : TrajectorySeriesNames(content_)) index_.Truncate(series, point.saved);
  index_.UnlinkFrom("/u", point.saved);
  index_.UnlinkFrom("/attention", point.saved);
  if (content_.frames) {
    for (const std::string &series : FrameSeriesNames()) index_.Truncate(series, point.frames);
    index_.UnlinkFrom("/substeps/u", point.frames);
  }
  PetscCallCXX(state_items_ = index_.LinkTargets("/u", point.saved));
  if (content_.maps) PetscCallCXX(map_items_ = index_.LinkTargets("/attention", point.saved));
  if (content_.frames) PetscCallCXX(frame_items_ = index_.LinkTargets("/substeps/u", point.frames));
  PetscCall(index_.Commit());
  name_width_ = std::max(meta.splitting.size(), std::strlen(kFinalNorm));
  grid_ = &grid;
  grid_group_ = "/grid";
  PetscCallCXX(state_axes_.assign(state_items_.size(), StateAxes()));
  PetscCallCXX(map_axes_.assign(map_items_.size(), MapAxes()));
  PetscCallCXX(frame_axes_.assign(frame_items_.size(), StateAxes()));
  saved_ = point.saved;
  times_ = point.times;
  frames_ = point.frames;
  frame_times_ = point.frame_times;
  step_start_ = times_.back();
  open_ = true;
  PetscCall(WriteIndexes());
  *step = point.step;
  PetscFunctionReturn(0);
}

// Collective: the segment of the state to be saved (number saved_): the first `frames` buffered frames, u, and
// with -traj_attention its maps (with -traj_entropy, *entropy: their mean entropy). Closed when this returns.
PetscErrorCode TrajectoryWriter::WriteSegment(PetscInt step, PetscReal t, Vec u, size_t frames, PetscReal *entropy) const {
  StateFile segment(comm_);
  SegmentIdentity identity = {run_id_, saved_, step, t, 0};
  const std::string path = PathDirectory(path_) + "/" + SegmentName(saved_);
  const std::vector<hsize_t> features = StateFeatures(*grid_);
  // The states, the maps and room for HDF5's metadata and the index (a full disk is refused before writing).
  const double state = 8.0 * grid_->Nx() * grid_->Ny(), maps = content_.maps ? 8.0 * grid_->Nh() * grid_->Nx() * grid_->Nx() : 0;
  // The maps of a state at the end of the controls (layered: defined on [0, T)) or of a stage use the weights of the
  // step that ended there (on the stage's grid); every other state's those of the step starting at it.
  const bool end = content_.maps || content_.entropy ? t >= controls_->EndTime() || stage_end_ : false;
  const PetscReal map_time = end ? controls_->SubstepSampleTime(t, step_start_, t) : t;
  PetscFunctionBeginUser;
  PetscCall(CheckFreeSpace(comm_, path, (1 + frames) * state + maps + (1 << 20)));
  PetscCall(segment.Create(path));
  for (size_t i = 0; i < frames; ++i) PetscCall(segment.Write(Numbered("/substeps", (PetscInt)i), buffer_[i].u, features));
  PetscCall(segment.Write("/u", u, features));
  PetscCall(StateChecksum(u, grid_->Ny(), &identity.checksum));
  PetscCall(SegmentIdentityWrite(comm_, segment.Id(), "/u", identity));
  if (content_.maps || content_.entropy)
    PetscCall(AttentionMapsWrite(*grid_, *controls_, map_time, u, content_.maps ? segment.Id() : -1, "/attention", entropy));
  // Collective and agreed on: every rank has written its part of the segment before rank 0 lists it (a rank
  // killed after this point cannot leave the listed segment incomplete).
  PetscCall(segment.Close());
  PetscFunctionReturn(0);
}

// Index edits for the buffered frames of the step [step_start_, t] ending with `step`, stored in `segment`.
void TrajectoryWriter::ListFrames(PetscInt step, PetscReal t, const std::string &segment) {
  const size_t M = buffer_.Size();
  std::vector<long long> steps(M, step);
  std::vector<char> names(M * name_width_, '\0');
  std::vector<PetscReal> intervals(2 * M), times(M);
  for (size_t i = 0; i < M; ++i) {
    const FrameBuffer::Frame &f = buffer_[i];
    std::memcpy(&names[i * name_width_], f.node.data(), std::min(name_width_, f.node.size()));
    intervals[2 * i] = f.t0;
    intervals[2 * i + 1] = f.t1;
    times[i] = i + 1 == M ? t : step_start_ + (PetscReal)(i + 1) / M * (t - step_start_);  // strictly increasing in the step
    index_.Link(Numbered("/substeps/u", frames_ + (PetscInt)i), segment, Numbered("/substeps", (PetscInt)i));
    frame_items_.push_back(segment + ":" + Numbered("/substeps", (PetscInt)i));
    frame_axes_.push_back(StateAxes());
  }
  hid_t text = FrameNameType(name_width_);
  index_.Append("/substeps/step", H5T_NATIVE_LLONG, frames_, M, steps.data());
  index_.Append("/substeps/name", text, frames_, M, names.data());
  index_.Append("/substeps/interval", H5T_NATIVE_DOUBLE, frames_, M, intervals.data());
  index_.Append("/substeps/time", H5T_NATIVE_DOUBLE, frames_, M, times.data());
  H5Tclose(text);
  frames_ += (PetscInt)M;
  frame_times_.insert(frame_times_.end(), times.begin(), times.end());
}

PetscErrorCode TrajectoryWriter::Frame(const std::string &node, PetscReal t0, PetscReal t1, Vec u) { return buffer_.Add(node, t0, t1, u); }

PetscErrorCode TrajectoryWriter::DiscardFrames() {
  buffer_.Clear();
  return 0;
}

PetscErrorCode TrajectoryWriter::WriteIndexes() const {
  PetscFunctionBeginUser;
  PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_), path_, {"u", times_, state_items_, state_axes_}));
  if (content_.frames) PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_, "_substeps"), path_, {"u", frame_times_, frame_items_, frame_axes_}));
  if (content_.maps) PetscCall(XdmfIndexWrite(comm_, XdmfPathFor(path_, "_attention"), path_, {"gamma", times_, map_items_, map_axes_}));
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Write(PetscInt step, PetscReal t, Vec u, bool final) {
  static PetscLogEvent event = 0;
  std::array<PetscReal, kNumDiagnostics> diagnostics;
  PetscReal entropy = 0;
  PetscFunctionBeginUser;
  if (open_ && (step % every_ == 0 || final)) {
    if (!event) PetscCall(PetscLogEventRegister("TrajectoryWrite", 0, &event));
    PetscCall(PetscLogEventBegin(event, 0, 0, 0, 0));
    write_failed_ = true;  // until the state is listed
    PetscCheck(buffer_.LongestName() <= name_width_, comm_, PETSC_ERR_PLIB, "a substep name is longer than the splitting expression");
    const size_t frames = content_.frames ? buffer_.Size() : 0;
    stage_end_ = final;
    PetscCall(WriteSegment(step, t, u, frames, &entropy));
    PetscCall(StateDiagnostics(*grid_, u, &diagnostics));
    // Replacing a trajectory: its index and XDMF files are kept aside (hard links) before the new index replaces it.
    if (replacing_ && !committed_) PetscCall(KeepPrevious());
    // The segment is closed; now one atomic replacement of the index lists its frames and its state.
    const std::string segment = SegmentName(saved_);
    if (frames) ListFrames(step, t, segment);
    index_.Link(Numbered("/u", saved_), segment, "/u");
    if (content_.maps) index_.Link(Numbered("/attention", saved_), segment, "/attention");
    const long long step_ll = step;
    index_.Append("/step", H5T_NATIVE_LLONG, saved_, 1, &step_ll);
    for (int i = 0; i < kNumDiagnostics; ++i)
      index_.Append(std::string("/diagnostics/") + kDiagnosticNames[i], H5T_NATIVE_DOUBLE, saved_, 1, &diagnostics[i]);
    if (content_.entropy) index_.Append(std::string("/diagnostics/") + kAttentionEntropyName, H5T_NATIVE_DOUBLE, saved_, 1, &entropy);
    index_.Append("/time", H5T_NATIVE_DOUBLE, saved_, 1, &t);
    PetscCall(index_.Commit());
    ++saved_;
    PetscCallCXX(times_.push_back(t));
    PetscCallCXX(state_items_.push_back(segment + ":/u"));
    PetscCallCXX(state_axes_.push_back(StateAxes()));
    if (content_.maps) PetscCallCXX(map_items_.push_back(segment + ":/attention"));
    if (content_.maps) PetscCallCXX(map_axes_.push_back(MapAxes()));
    PetscCall(WriteIndexes());
    if (replacing_ && !committed_) PetscCall(AdoptStagedSegment());
    write_failed_ = false;
    PetscCall(PetscLogEventEnd(event, 0, 0, 0, 0));
  }
  buffer_.Clear();  // the frames of an unsaved step are not kept
  step_start_ = t;
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::WriteArray(const char name[], const std::vector<PetscReal> &a) {
  PetscFunctionBeginUser;
  if (!open_) PetscFunctionReturn(0);
  index_.Array(name, a);
  PetscCall(index_.Commit());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryWriter::Close() {
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  if (!open_) PetscFunctionReturn(0);
  index_.Attribute("status", std::string("complete"));
  write_failed_ = true;
  PetscCall(index_.Commit());
  write_failed_ = false;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0) RemovePrevious(segment_dir_);  // the run ended: the trajectory it replaced goes
  open_ = created_ = false;
  made_dir_ = false;
  Unlock();
  PetscFunctionReturn(0);
}

}  // namespace ctflow
