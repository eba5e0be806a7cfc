#include "discretization/state_file.hpp"

#include "discretization/base/collective.hpp"
#include "discretization/base/paths.hpp"

namespace ctflow {

namespace {

herr_t InnermostMessage(unsigned n, const H5E_error2_t *e, void *data) {
  auto *reason = static_cast<std::string *>(data);
  if (n == 0 && e->desc) *reason = e->desc;
  return 0;
}

// Closes an HDF5 identifier at the end of a scope.
struct Closer {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Closer() {
    if (id >= 0) close(id);
  }
};

}  // namespace

std::string Hdf5ErrorReason() {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, InnermostMessage, &reason);
  // The file drivers report the operating system's reason as "…, error message = '…', …".
  const std::string key = "error message = '";
  const size_t a = reason.find(key);
  if (a != std::string::npos) {
    const size_t b = reason.find('\'', a + key.size());
    reason = reason.substr(a + key.size(), b == std::string::npos ? std::string::npos : b - a - key.size());
  }
  return reason;
}

StateFile::~StateFile() {
  if (file_ >= 0 && !broken_) H5Fclose(file_);
}

PetscErrorCode StateFile::Agree(bool ok, const std::string &message, PetscErrorCode code) const {
  const PetscErrorCode e = AgreeOnFailure(comm_, ok, message, code);
  if (e) broken_ = true;
  return e;
}

PetscErrorCode StateFile::Start(const std::string &path, bool create) {
  PetscFunctionBeginUser;
  PetscCheck(file_ < 0, comm_, PETSC_ERR_ORDER, "StateFile: '%s' is still open", path_.c_str());
  path_ = path;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm_, MPI_INFO_NULL);
  // Metadata is written by rank 0 alone, so that a rank that cannot write (a full disk) fails in its own data only.
  H5AC_cache_config_t cache;
  cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Pget_mdc_config(fapl, &cache) >= 0) {
    cache.metadata_write_strategy = H5AC_METADATA_WRITE_STRATEGY__PROCESS_0_ONLY;
    H5Pset_mdc_config(fapl, &cache);
  }
  file_ = create ? H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  const std::string reason = file_ < 0 ? Hdf5ErrorReason() : "";
  H5Pclose(fapl);
  PetscCall(Agree(file_ >= 0, "could not " + std::string(create ? "create" : "open") + " '" + path + "'" + (reason.empty() ? "" : ": " + reason),
                  create ? PETSC_ERR_FILE_WRITE : PETSC_ERR_FILE_OPEN));
  PetscFunctionReturn(0);
}

PetscErrorCode StateFile::Create(const std::string &path) { return Start(path, true); }

PetscErrorCode StateFile::Open(const std::string &path) { return Start(path, false); }

PetscErrorCode StateFile::Close() {
  PetscFunctionBeginUser;
  if (file_ < 0) PetscFunctionReturn(0);
  const bool ok = H5Fclose(file_) >= 0;
  std::string reason = ok ? "" : WriteFailureReason(path_, 0);
  if (reason.empty() && !ok) reason = Hdf5ErrorReason();
  file_ = -1;
  PetscCall(Agree(ok, "could not write '" + path_ + "'" + (reason.empty() ? "" : ": " + reason)));
  PetscFunctionReturn(0);
}

// This rank's rows [first, first + rows) of u, N_y values each.
static PetscErrorCode OwnedRows(Vec u, PetscInt Ny, hsize_t *first, hsize_t *rows, hsize_t *total) {
  PetscInt lo, hi, N;
  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(u, &lo, &hi));
  PetscCall(VecGetSize(u, &N));
  *first = (hsize_t)(lo / Ny), *rows = (hsize_t)((hi - lo) / Ny), *total = (hsize_t)(N / Ny);
  PetscFunctionReturn(0);
}

namespace {

// (N_x, features…) as text.
std::string ShapeText(hsize_t total, const std::vector<hsize_t> &features) {
  std::string text = "(" + std::to_string(total);
  for (hsize_t n : features) text += ", " + std::to_string(n);
  return text + ")";
}

hsize_t Product(const std::vector<hsize_t> &features) {
  hsize_t n = 1;
  for (hsize_t f : features) n *= f;
  return n;
}

}  // namespace

std::vector<hsize_t> StateFeatures(const Grid &grid) {
  if (grid.TwoDimensional()) return {(hsize_t)grid.Image().N[0], (hsize_t)grid.Image().N[1]};
  return {(hsize_t)grid.Ny()};
}

PetscErrorCode StateFile::Write(const std::string &name, Vec u, const std::vector<hsize_t> &features) const {
  hsize_t first, rows, total;
  const PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(OwnedRows(u, (PetscInt)Product(features), &first, &rows, &total));
  std::vector<hsize_t> dims, start, count;
  PetscCallCXX(dims = {total}; start = {first}; count = {rows});
  for (hsize_t n : features) PetscCallCXX(dims.push_back(n); start.push_back(0); count.push_back(n));
  const int rank = (int)dims.size();
  Closer space{H5Screate_simple(rank, dims.data(), nullptr), H5Sclose}, lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose},
      dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER);
  Closer ds{H5Dcreate2(file_, name.c_str(), H5T_NATIVE_DOUBLE, space.id, lcpl.id, dcpl.id, H5P_DEFAULT), H5Dclose};
  const std::string where = "the dataset " + name + " of '" + path_ + "'";
  PetscCall(Agree(ds.id >= 0, "could not create " + where));
  Closer fspace{H5Dget_space(ds.id), H5Sclose}, mspace{H5Screate_simple(rank, count.data(), nullptr), H5Sclose};
  PetscCall(VecGetArrayRead(u, &a));
  const bool ok = H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) >= 0 &&
                  H5Dwrite(ds.id, H5T_NATIVE_DOUBLE, mspace.id, fspace.id, H5P_DEFAULT, a) >= 0;
  std::string reason = ok ? "" : WriteFailureReason(path_, 0);
  if (reason.empty()) reason = ok ? "" : Hdf5ErrorReason();
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCall(Agree(ok, "could not write " + where + (reason.empty() ? "" : ": " + reason)));
  PetscFunctionReturn(0);
}

PetscErrorCode StateFile::Read(const std::string &name, Vec u, const std::vector<hsize_t> &features) const {
  hsize_t first, rows, total;
  PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(OwnedRows(u, (PetscInt)Product(features), &first, &rows, &total));
  std::vector<hsize_t> dims, start, count;
  PetscCallCXX(dims.assign(features.size() + 1, 0); start = {first}; count = {rows});
  for (hsize_t n : features) PetscCallCXX(start.push_back(0); count.push_back(n));
  const int rank = (int)dims.size();
  const std::string where = "the dataset " + name + " of '" + path_ + "'";
  Closer ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
  Closer fspace{ds.id >= 0 ? H5Dget_space(ds.id) : -1, H5Sclose};
  bool shaped = fspace.id >= 0 && H5Sget_simple_extent_ndims(fspace.id) == rank &&
                H5Sget_simple_extent_dims(fspace.id, dims.data(), nullptr) == rank && dims[0] == total;
  for (size_t d = 0; d < features.size(); ++d) shaped = shaped && dims[d + 1] == features[d];
  PetscCall(Agree(shaped, "could not read " + where + ": it is missing or not of shape " + ShapeText(total, features), PETSC_ERR_FILE_UNEXPECTED));
  Closer mspace{H5Screate_simple(rank, count.data(), nullptr), H5Sclose};
  PetscCall(VecGetArrayWrite(u, &a));
  const bool ok = H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) >= 0 &&
                  H5Dread(ds.id, H5T_NATIVE_DOUBLE, mspace.id, fspace.id, H5P_DEFAULT, a) >= 0;
  const std::string reason = ok ? "" : Hdf5ErrorReason();
  PetscCall(VecRestoreArrayWrite(u, &a));
  PetscCall(Agree(ok, "could not read " + where + (reason.empty() ? " (corrupt?)" : ": " + reason), PETSC_ERR_FILE_READ));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
