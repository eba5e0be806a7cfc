#include "solver/output/trajectory_index.hpp"

#include <cerrno>
#include <cstdio>

#include "discretization/base/paths.hpp"
#include "discretization/hdf5_attributes.hpp"
#include "discretization/hdf5_links.hpp"

namespace ctflow {

bool IsTrajectoryIndex(const std::string &path) {
  if (H5Fis_hdf5(path.c_str()) <= 0) return false;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const bool ours = file >= 0 && H5Aexists(file, "ctflow_version") > 0;
  if (file >= 0) H5Fclose(file);
  return ours;
}

TrajectoryIndex::~TrajectoryIndex() {
  if (file_ >= 0) H5Fclose(file_);
}

void TrajectoryIndex::Fail(const std::string &what) {
  if (error_.empty()) error_ = "could not " + what + " in the trajectory index '" + path_ + "'";
}

PetscErrorCode TrajectoryIndex::Open(const std::string &path, bool create) {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  path_ = path;
  error_.clear();
  if (rank == 0) {
    // The core driver keeps the file in memory (and, without a backing store, never writes it): Commit does.
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    file_ = create ? H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    ok = file_ >= 0;
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_OPEN, "could not %s the trajectory index '%s'", create ? "create" : "open", path.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode TrajectoryIndex::Create(const std::string &path) { return Open(path, true); }

PetscErrorCode TrajectoryIndex::Load(const std::string &path) { return Open(path, false); }

void TrajectoryIndex::Attribute(const char name[], const std::string &value) {
  if (Active() && !H5AttributeWrite(file_, "/", name, value)) Fail(std::string("write the attribute ") + name);
}

void TrajectoryIndex::Attribute(const char name[], PetscInt value) {
  if (Active() && !H5AttributeWrite(file_, "/", name, (long long)value)) Fail(std::string("write the attribute ") + name);
}

void TrajectoryIndex::Attribute(const char name[], PetscReal value) {
  if (Active() && !H5AttributeWrite(file_, "/", name, value)) Fail(std::string("write the attribute ") + name);
}

static hid_t CreateIntermediate() {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  return lcpl;
}

void TrajectoryIndex::Array(const std::string &name, const std::vector<PetscReal> &values) {
  if (!Active()) return;
  const hsize_t n = values.size();
  hid_t space = H5Screate_simple(1, &n, nullptr), lcpl = CreateIntermediate();
  hid_t ds = H5Dcreate2(file_, name.c_str(), H5T_NATIVE_DOUBLE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0;
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
  if (!ok) Fail("write the dataset " + name);
}

void TrajectoryIndex::Series(const std::string &name, hid_t type, hsize_t width) {
  if (!Active()) return;
  const int rank = width ? 2 : 1;
  const hsize_t zero[2] = {0, width}, unlimited[2] = {H5S_UNLIMITED, width}, chunk[2] = {64, width};
  hid_t space = H5Screate_simple(rank, zero, unlimited), lcpl = CreateIntermediate(), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, rank, chunk);
  hid_t ds = H5Dcreate2(file_, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Pclose(lcpl);
  H5Sclose(space);
  if (ds < 0) return Fail("create the dataset " + name);
  H5Dclose(ds);
}

// Sets the length of a series along its first dimension; the dataset stays open in *ds (or -1 on failure).
static bool Resize(hid_t file, const std::string &name, hsize_t rows, hid_t *ds, int *ndims) {
  *ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (*ds < 0) return false;
  hid_t space = H5Dget_space(*ds);
  hsize_t dims[2] = {0, 0};
  *ndims = H5Sget_simple_extent_ndims(space);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  H5Sclose(space);
  dims[0] = rows;
  return H5Dset_extent(*ds, dims) >= 0;
}

void TrajectoryIndex::Append(const std::string &name, hid_t type, hsize_t offset, hsize_t rows, const void *values) {
  if (!Active()) return;
  hid_t ds;
  int ndims = 1;
  bool ok = Resize(file_, name, offset + rows, &ds, &ndims);
  if (ok) {
    hid_t fspace = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0}, start[2] = {offset, 0};
    H5Sget_simple_extent_dims(fspace, dims, nullptr);
    dims[0] = rows;
    hid_t mspace = H5Screate_simple(ndims, dims, nullptr);
    ok = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, dims, nullptr) >= 0 &&
         H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, values) >= 0;
    H5Sclose(mspace);
    H5Sclose(fspace);
  }
  if (ds >= 0) H5Dclose(ds);
  if (!ok) Fail("append to " + name);
}

void TrajectoryIndex::Truncate(const std::string &name, hsize_t rows) {
  if (!Active()) return;
  hid_t ds;
  int ndims;
  const bool ok = Resize(file_, name, rows, &ds, &ndims);
  if (ds >= 0) H5Dclose(ds);
  if (!ok) Fail("truncate " + name);
}

void TrajectoryIndex::Link(const std::string &name, const std::string &file, const std::string &target) {
  if (!Active()) return;
  hid_t lcpl = CreateIntermediate();
  if (H5PathExists(file_, name)) H5Ldelete(file_, name.c_str(), H5P_DEFAULT);
  const bool ok = H5Lcreate_external(file.c_str(), target.c_str(), file_, name.c_str(), lcpl, H5P_DEFAULT) >= 0;
  H5Pclose(lcpl);
  if (!ok) Fail("link " + name + " to " + file + ":" + target);
}

void TrajectoryIndex::UnlinkFrom(const std::string &group, PetscInt first) {
  if (!Active() || H5Lexists(file_, group.c_str(), H5P_DEFAULT) <= 0) return;
  for (PetscInt k = first;; ++k) {
    char name[64];
    snprintf(name, sizeof(name), "%s/%06lld", group.c_str(), (long long)k);
    if (H5Lexists(file_, name, H5P_DEFAULT) <= 0) return;
    if (H5Ldelete(file_, name, H5P_DEFAULT) < 0) return Fail(std::string("remove ") + name);
  }
}

std::vector<std::string> TrajectoryIndex::LinkTargets(const std::string &group, PetscInt n) const {
  std::vector<std::string> targets;
  if (file_ < 0) return targets;
  for (PetscInt k = 0; k < n; ++k) {
    char name[64];
    snprintf(name, sizeof(name), "%s/%06lld", group.c_str(), (long long)k);
    H5L_info_t info;
    std::string target;
    if (H5Lget_info(file_, name, &info, H5P_DEFAULT) >= 0 && info.type == H5L_TYPE_EXTERNAL) {
      std::vector<char> value(info.u.val_size);
      const char *file = nullptr, *object = nullptr;
      unsigned flags;
      if (H5Lget_val(file_, name, value.data(), value.size(), H5P_DEFAULT) >= 0 &&
          H5Lunpack_elink_val(value.data(), value.size(), &flags, &file, &object) >= 0)
        target = std::string(file) + ":" + object;
    }
    targets.push_back(target);
  }
  return targets;
}

PetscErrorCode TrajectoryIndex::Commit() {
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  if (rank == 0 && Active()) {
    // The whole in-memory file, flushed, as it would be on disk; written beside the index and renamed over it.
    std::vector<char> image;
    const std::string scratch = path_ + ".part";
    ssize_t size = H5Fflush(file_, H5F_SCOPE_LOCAL) >= 0 ? H5Fget_file_image(file_, nullptr, 0) : -1;
    if (size > 0) {
      image.resize(size);
      size = H5Fget_file_image(file_, image.data(), image.size());
    }
    errno = 0;
    FILE *f = size > 0 ? std::fopen(scratch.c_str(), "wb") : nullptr;
    bool ok = f && std::fwrite(image.data(), 1, image.size(), f) == image.size();
    if (f) ok = std::fclose(f) == 0 && ok;
    ok = ok && std::rename(scratch.c_str(), path_.c_str()) == 0;
    if (!ok) {
      const std::string reason = WriteFailureReason(path_, errno);
      std::remove(scratch.c_str());
      if (error_.empty()) error_ = "could not write the trajectory index '" + path_ + "'" + (reason.empty() ? "" : ": " + reason);
    }
  }
  int length = (int)error_.size();
  PetscCallMPI(MPI_Bcast(&length, 1, MPI_INT, 0, comm_));
  std::string error(length, '\0');
  if (rank == 0) error = error_;
  PetscCallMPI(MPI_Bcast(&error[0], length, MPI_CHAR, 0, comm_));
  PetscCheck(error.empty(), comm_, PETSC_ERR_FILE_WRITE, "%s", error.c_str());
  PetscFunctionReturn(0);
}

void TrajectoryIndex::RemoveScratch() const {
  PetscMPIInt rank = 0;
  MPI_Comm_rank(comm_, &rank);
  if (rank == 0 && !path_.empty()) std::remove((path_ + ".part").c_str());
}

}  // namespace ctflow
