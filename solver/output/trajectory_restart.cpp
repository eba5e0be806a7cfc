#include "solver/output/trajectory_restart.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <iterator>
#include <map>

#include "discretization/base/number_format.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/hdf5_links.hpp"
#include "solver/output/state_diagnostics.hpp"
#include "solver/output/trajectory_segments.hpp"

namespace ctflow {

std::vector<std::string> TrajectorySeriesNames(const TrajectoryContent &content) {
  std::vector<std::string> names = {"/step"};
  for (const char *d : kDiagnosticNames) names.push_back(std::string("/diagnostics/") + d);
  if (content.entropy) names.push_back(std::string("/diagnostics/") + kAttentionEntropyName);
  names.push_back("/time");
  return names;
}

std::vector<std::string> FrameSeriesNames() { return {"/substeps/step", "/substeps/name", "/substeps/interval", "/substeps/time"}; }

namespace {

// Closes an HDF5 identifier when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  hid_t operator*() const { return id_; }
  bool Ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// The shape of a saved state: (N_x, N_y), or (N_x, N_y1, N_y2) on a two-dimensional feature domain.
std::vector<hsize_t> StateShape(const Grid &grid) {
  if (grid.TwoDimensional()) return {(hsize_t)grid.Nx(), (hsize_t)grid.Image().N[0], (hsize_t)grid.Image().N[1]};
  return {(hsize_t)grid.Nx(), (hsize_t)grid.Ny()};
}

bool ReadString(hid_t file, const char name[], std::string *value) {
  if (H5Aexists(file, name) <= 0) return false;
  Handle attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  if (!attr.Ok()) return false;
  Handle type(H5Aget_type(*attr), H5Tclose), space(H5Aget_space(*attr), H5Sclose);
  if (!type.Ok() || H5Tget_class(*type) != H5T_STRING || H5Tis_variable_str(*type) != 0 || H5Sget_simple_extent_npoints(*space) != 1) return false;
  std::vector<char> text(H5Tget_size(*type) + 1, '\0');
  if (H5Aread(*attr, *type, text.data()) < 0) return false;
  *value = text.data();
  return true;
}

// A scalar numeric attribute converted to mem_type (H5T_NATIVE_DOUBLE or H5T_NATIVE_LLONG).
bool ReadNumber(hid_t file, const char name[], hid_t mem_type, void *value) {
  if (H5Aexists(file, name) <= 0) return false;
  Handle attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  if (!attr.Ok()) return false;
  Handle type(H5Aget_type(*attr), H5Tclose), space(H5Aget_space(*attr), H5Sclose);
  const H5T_class_t cls = type.Ok() ? H5Tget_class(*type) : H5T_NO_CLASS;
  if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || H5Sget_simple_extent_npoints(*space) != 1) return false;
  return H5Aread(*attr, mem_type, value) >= 0;
}

// Shape of a dataset of the given class (8-byte numbers; strings of any length); false if absent or of another class.
bool Shape(hid_t file, const std::string &name, H5T_class_t cls, std::vector<hsize_t> *shape) {
  if (!H5PathExists(file, name)) return false;
  Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.Ok()) return false;
  Handle type(H5Dget_type(*ds), H5Tclose), space(H5Dget_space(*ds), H5Sclose);
  const int rank = space.Ok() ? H5Sget_simple_extent_ndims(*space) : -1;
  if (!type.Ok() || H5Tget_class(*type) != cls || (cls != H5T_STRING && H5Tget_size(*type) != 8) || rank < 0) return false;
  shape->assign(rank, 0);
  return H5Sget_simple_extent_dims(*space, shape->data(), nullptr) >= 0;
}

// The first n entries of a 1-D dataset.
bool ReadPrefix(hid_t file, const std::string &name, hid_t mem_type, hsize_t n, void *values) {
  Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.Ok() || n == 0) return ds.Ok();
  Handle fspace(H5Dget_space(*ds), H5Sclose), mspace(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const hsize_t start = 0;
  return H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, &start, nullptr, &n, nullptr) >= 0 &&
         H5Dread(*ds, mem_type, *mspace, *fspace, H5P_DEFAULT, values) >= 0;
}

bool OnlySteersOutput(const std::string &name) {
  for (const char *exact : {"-traj", "-traj_every", "-restart", "-info", "-help", "-monitor"})
    if (name == exact) return true;
  for (const char *prefix : {"-log", "-options_", "-malloc"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

// The options of PetscOptionsGetAll's text that define the problem (OptionMap without OnlySteersOutput's).
std::map<std::string, std::string> ProblemOptions(const std::string &all) {
  std::map<std::string, std::string> options = OptionMap(all);
  for (auto it = options.begin(); it != options.end();) it = OnlySteersOutput(it->first) ? options.erase(it) : std::next(it);
  return options;
}

// The frames to keep: the complete ones (listed in every /substeps series) of the steps up to point->step.
std::string InspectFrames(hid_t file, const std::string &what, const Grid &grid, RestartPoint *point) {
  hsize_t n = 0;
  bool first = true;
  for (const std::string &name : FrameSeriesNames()) {
    std::vector<hsize_t> shape;
    const H5T_class_t cls = name == "/substeps/step" ? H5T_INTEGER : name == "/substeps/name" ? H5T_STRING : H5T_FLOAT;
    const size_t rank = name == "/substeps/interval" ? 2 : 1;
    if (!Shape(file, name, cls, &shape) || shape.size() != rank || (rank == 2 && shape[1] != 2))
      return what + " has no frame series '" + name + "' (was it written with -traj_substeps?)";
    n = first ? shape[0] : std::min(n, shape[0]);
    first = false;
  }
  std::vector<long long> steps(n);
  if (!ReadPrefix(file, "/substeps/step", H5T_NATIVE_LLONG, n, steps.data())) return what + " is corrupt: reading /substeps/step failed";
  hsize_t keep = 0;
  while (keep < n && steps[keep] <= point->step) ++keep;
  for (hsize_t k = 0; k < keep; ++k) {
    char frame[40];
    std::vector<hsize_t> shape;
    snprintf(frame, sizeof(frame), "/substeps/u/%06llu", (unsigned long long)k);
    if (!Shape(file, frame, H5T_FLOAT, &shape) || shape != StateShape(grid))
      return what + " is corrupt: frame '" + frame + "' is missing or not a float64 dataset of the state's shape";
  }
  point->frames = (PetscInt)keep;
  point->frame_times.resize(keep);
  if (!ReadPrefix(file, "/substeps/time", H5T_NATIVE_DOUBLE, keep, point->frame_times.data()))
    return what + " is corrupt: reading /substeps/time failed";
  return "";
}

// Runs on rank 0; returns the reason the file cannot be restarted from, or "".
std::string Inspect(const std::string &path, const Grid &grid, const TrajectoryMetadata &meta, const TrajectoryContent &content,
                    const std::string &options, PetscInt num_steps, RestartPoint *point) {
  const std::string what = "-restart file '" + path + "'";
  const std::string problem = InputFileProblem(path);
  if (!problem.empty()) return what + " " + problem;
  if (access(path.c_str(), W_OK) != 0) return what + " is not writable";
  if (H5Fis_hdf5(path.c_str()) <= 0) return what + " is not an HDF5 file";
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.Ok()) return what + " cannot be opened by HDF5 (truncated or corrupt)";
  std::string text;
  if (!ReadString(*file, "ctflow_version", &text)) return what + " is not a ctflow trajectory (no attribute 'ctflow_version')";
  if (!ReadString(*file, "status", &text)) return what + " is not a ctflow trajectory (no attribute 'status')";
  if (text == "complete") return what + " holds a finished run (status 'complete'): there is nothing to restart";
  if (text != "incomplete") return what + " has an unknown status '" + text + "'";
  if (!ReadString(*file, "run_id", &point->run_id))
    return what + " has no attribute 'run_id' (written by a ctflow before " + CTFLOW_VERSION + "?): its segments cannot be verified";

  const std::string differs = what + " was written by a different run: ";
  const std::pair<const char *, PetscInt> sizes[] = {{"N_x", grid.Nx()}, {"N_y", grid.Ny()}, {"N_h", grid.Nh()}};
  for (const auto &[name, here] : sizes) {
    long long there;
    if (!ReadNumber(*file, name, H5T_NATIVE_LLONG, &there)) return what + " is not a ctflow trajectory (no attribute '" + name + "')";
    if (there != here) return differs + name + " = " + std::to_string(there) + " there, " + std::to_string(here) + " here";
  }
  const std::pair<const char *, PetscReal> reals[] = {{"L_x", grid.Lx()}, {"L_y", grid.Ly()}, {"L_h", grid.Lh()}, {"T", meta.T}, {"dt", meta.dt}};
  for (const auto &[name, here] : reals) {
    double there;
    if (!ReadNumber(*file, name, H5T_NATIVE_DOUBLE, &there)) return what + " is not a ctflow trajectory (no attribute '" + name + "')";
    if (there != here) return differs + name + " = " + FormatExact(there) + " there, " + FormatExact(here) + " here";
  }
  const std::pair<const char *, std::string> strings[] = {
      {"splitting", meta.splitting}, {"controls", meta.controls}, {"initial_state", meta.initial_state}, {"options", options}};
  for (const auto &[name, here] : strings) {
    if (!ReadString(*file, name, &text)) return what + " is not a ctflow trajectory (no attribute '" + name + "')";
    if (std::string(name) != "options" && text != here) return differs + name + " '" + text + "' there, '" + here + "' here";
  }
  const auto there = ProblemOptions(text), here = ProblemOptions(options);
  for (const auto &mine : {there, here})
    for (const auto &[name, value] : mine) {
      const auto a = there.find(name), b = here.find(name);
      if (a == there.end() || b == here.end() || a->second != b->second)
        return differs + "option " + name + (a == there.end() ? " unset" : " '" + a->second + "'") + " there," +
               (b == here.end() ? " unset" : " '" + b->second + "'") + " here";
    }

  hsize_t n = 0;
  bool first = true;
  for (const std::string &name : TrajectorySeriesNames(content)) {
    std::vector<hsize_t> shape;
    if (!Shape(*file, name, name == "/step" ? H5T_INTEGER : H5T_FLOAT, &shape) || shape.size() != 1)
      return what + " is not a ctflow trajectory (no 1-D dataset '" + name + "')";
    n = first ? shape[0] : std::min(n, shape[0]);
    first = false;
  }
  if (n == 0) return what + " holds no complete state";
  for (hsize_t k = 0; k < n; ++k) {
    char state[32];
    std::vector<hsize_t> shape;
    snprintf(state, sizeof(state), "/u/%06llu", (unsigned long long)k);
    if (!Shape(*file, state, H5T_FLOAT, &shape) || shape != StateShape(grid))
      return what + " is corrupt: state '" + state + "' is missing or not a float64 dataset of the state's shape";
    snprintf(state, sizeof(state), "/attention/%06llu", (unsigned long long)k);
    const std::vector<hsize_t> map_shape = {(hsize_t)grid.Nh(), (hsize_t)grid.Nx(), (hsize_t)grid.Nx()};
    if (content.maps && (!Shape(*file, state, H5T_FLOAT, &shape) || shape != map_shape))
      return what + " is corrupt: attention map '" + state + "' is missing or not a (N_h, N_x, N_x) float64 dataset";
  }
  std::vector<long long> steps(n);
  point->times.resize(n);
  if (!ReadPrefix(*file, "/step", H5T_NATIVE_LLONG, n, steps.data()) || !ReadPrefix(*file, "/time", H5T_NATIVE_DOUBLE, n, point->times.data()))
    return what + " is corrupt: reading /step or /time failed";
  if (steps[n - 1] < 0 || steps[n - 1] > num_steps)
    return what + " is corrupt: its last step " + std::to_string(steps[n - 1]) + " is not in [0, " + std::to_string(num_steps) + "]";
  for (hsize_t k = 0; k < n; ++k) {
    char state[32];
    SegmentIdentity id;
    snprintf(state, sizeof(state), "/u/%06llu", (unsigned long long)k);
    if (!SegmentIdentityRead(*file, state, &id)) return what + " is corrupt: the segment of state " + state + " records no identity";
    if (id.run != point->run_id) return what + " is corrupt: state " + state + " links to a segment of another run (" + id.run + ")";
    if (id.state != (long long)k || id.step != steps[k] || id.time != point->times[k])
      return what + " is corrupt: state " + state + " links to the segment of state " + std::to_string(id.state) + " (step " +
             std::to_string(id.step) + ", t = " + FormatExact(id.time) + "), but the index lists step " + std::to_string(steps[k]) +
             ", t = " + FormatExact(point->times[k]);
    point->checksum = id.checksum;
  }
  point->saved = (PetscInt)n;
  point->step = (PetscInt)steps[n - 1];
  return content.frames ? InspectFrames(*file, what, grid, point) : "";
}

}  // namespace

PetscErrorCode TrajectoryRestartInspect(MPI_Comm comm, const std::string &path, const Grid &grid, const TrajectoryMetadata &meta,
                                        const TrajectoryContent &content, PetscInt num_steps, RestartPoint *point) {
  PetscMPIInt rank;
  std::string error;
  char *options;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscOptionsGetAll(nullptr, &options));
  if (rank == 0) PetscCallCXX(error = Inspect(path, grid, meta, content, options, num_steps, point));
  PetscCall(PetscFree(options));
  int length = (int)error.size();
  PetscCallMPI(MPI_Bcast(&length, 1, MPI_INT, 0, comm));
  PetscCallCXX(error.resize(length));
  PetscCallMPI(MPI_Bcast(error.data(), length, MPI_CHAR, 0, comm));
  PetscCheck(error.empty(), comm, PETSC_ERR_FILE_UNEXPECTED, "%s", error.c_str());
  PetscInt counts[3] = {point->saved, point->step, point->frames};
  PetscCallMPI(MPI_Bcast(counts, 3, MPIU_INT, 0, comm));
  PetscCallMPI(MPI_Bcast(&point->checksum, 1, MPI_UNSIGNED_LONG_LONG, 0, comm));
  char run_id[33] = "";
  PetscCall(PetscStrncpy(run_id, point->run_id.c_str(), sizeof(run_id)));
  PetscCallMPI(MPI_Bcast(run_id, sizeof(run_id), MPI_CHAR, 0, comm));
  PetscCallCXX(point->run_id = run_id);
  point->saved = counts[0];
  point->step = counts[1];
  point->frames = counts[2];
  PetscCallCXX(point->times.resize(point->saved));
  PetscCallMPI(MPI_Bcast(point->times.data(), (PetscMPIInt)point->saved, MPIU_REAL, 0, comm));
  PetscCallCXX(point->frame_times.resize(point->frames));
  PetscCallMPI(MPI_Bcast(point->frame_times.data(), (PetscMPIInt)point->frames, MPIU_REAL, 0, comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
