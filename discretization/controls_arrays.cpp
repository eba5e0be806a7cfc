#include "discretization/controls_arrays.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

#include "discretization/hdf5_input.hpp"

namespace ctflow {

ControlsArrays::ControlsArrays(const ControlsArrays &other) { *this = other; }

ControlsArrays &ControlsArrays::operator=(const ControlsArrays &other) {
  if (this == &other) return *this;
  arrays_ = other.arrays_;
  storage_.assign(other.Values(), other.Values() + other.size_);
  block_ = storage_.data(), external_ = false, size_ = other.size_, last_ = 0;
  Rebase();
  return *this;
}

ControlsArrays &ControlsArrays::operator=(ControlsArrays &&other) noexcept {
  if (this == &other) return *this;
  arrays_ = std::move(other.arrays_);
  storage_ = std::move(other.storage_);
  block_ = other.external_ ? other.block_ : storage_.data(), external_ = other.external_, size_ = other.size_, last_ = 0;
  Rebase();
  other.arrays_.clear(), other.storage_.clear();
  other.block_ = nullptr, other.external_ = false, other.size_ = 0, other.last_ = 0;
  return *this;
}

void ControlsArrays::Rebase() {
  PetscReal *p = block_;
  for (ControlsArray &a : arrays_) {
    a.values = ControlsValues(p, a.values.size());
    p += a.values.size();
  }
}

void ControlsArrays::SetStorage(PetscReal *data) {
  storage_ = std::vector<PetscReal>();
  block_ = data, external_ = true;
  Rebase();
}

PetscErrorCode ControlsArrays::Add(MPI_Comm comm, const std::string &name, const std::vector<hsize_t> &shape, bool attribute) {
  PetscFunctionBeginUser;
  if (ControlsArray *a = Find(name)) {
    PetscCheck(a->shape == shape, comm, PETSC_ERR_PLIB, "controls array %s added with shapes %s and %s", name.c_str(), ShapeString(a->shape).c_str(),
               ShapeString(shape).c_str());
    PetscFunctionReturn(0);
  }
  PetscCheck(!external_, comm, PETSC_ERR_PLIB, "controls array %s added to arrays whose values are the caller's", name.c_str());
  const size_t n = std::accumulate(shape.begin(), shape.end(), size_t(1), [](size_t p, hsize_t s) { return p * s; });
  PetscCallCXX(storage_.resize(size_ + n, 0.0));
  PetscCallCXX(arrays_.push_back({name, shape, attribute, ControlsValues(nullptr, n)}));
  block_ = storage_.data(), size_ += n;
  Rebase();
  PetscFunctionReturn(0);
}

PetscErrorCode ControlsArrays::Reserve(MPI_Comm comm, size_t n) {
  PetscFunctionBeginUser;
  PetscCheck(!external_, comm, PETSC_ERR_PLIB, "room reserved in controls arrays whose values are the caller's");
  PetscCallCXX(storage_.reserve(n));
  block_ = storage_.data();
  Rebase();
  PetscFunctionReturn(0);
}

ControlsArray *ControlsArrays::Find(const std::string &name) { return const_cast<ControlsArray *>(std::as_const(*this).Find(name)); }

const ControlsArray *ControlsArrays::Find(const std::string &name) const {
  const size_t n = arrays_.size();
  for (size_t i = 0; i < n; ++i) {  // from the last array found: visitors look up each array in order, some twice
    const size_t j = (last_ + i) % n;
    if (arrays_[j].name == name) {
      last_ = j;
      return &arrays_[j];
    }
  }
  return nullptr;
}

ControlsArrays ControlsArrays::ZerosLike() const {
  ControlsArrays z;
  z.arrays_ = arrays_;
  z.storage_.assign(size_, 0.0);
  z.block_ = z.storage_.data(), z.size_ = size_;
  z.Rebase();
  return z;
}

void ControlsArrays::SetZero() { std::fill_n(block_, size_, 0.0); }

void ControlsArrays::Scale(PetscReal s) {
  for (size_t k = 0; k < size_; ++k) block_[k] *= s;
}

PetscErrorCode ControlsArrays::Axpy(MPI_Comm comm, PetscReal s, const ControlsArrays &x) {
  PetscFunctionBeginUser;
  PetscCheck(x.arrays_.size() == arrays_.size(), comm, PETSC_ERR_ARG_SIZ, "controls arrays of different layouts");
  for (size_t i = 0; i < arrays_.size(); ++i) {
    PetscCheck(x.arrays_[i].name == arrays_[i].name && x.arrays_[i].values.size() == arrays_[i].values.size(), comm, PETSC_ERR_ARG_SIZ,
               "controls arrays of different layouts (%s, %s)", arrays_[i].name.c_str(), x.arrays_[i].name.c_str());
    for (size_t k = 0; k < arrays_[i].values.size(); ++k) arrays_[i].values[k] += s * x.arrays_[i].values[k];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode ControlsArrays::Dot(MPI_Comm comm, const ControlsArrays &x, PetscReal *dot) const {
  PetscFunctionBeginUser;
  PetscCheck(x.arrays_.size() == arrays_.size(), comm, PETSC_ERR_ARG_SIZ, "controls arrays of different layouts");
  *dot = 0;
  for (size_t i = 0; i < arrays_.size(); ++i) {
    PetscCheck(x.arrays_[i].values.size() == arrays_[i].values.size(), comm, PETSC_ERR_ARG_SIZ, "controls arrays of different layouts (%s)",
               arrays_[i].name.c_str());
    for (size_t k = 0; k < arrays_[i].values.size(); ++k) *dot += arrays_[i].values[k] * x.arrays_[i].values[k];
  }
  PetscFunctionReturn(0);
}

// In place, the block in pieces of at most kChunk values (MPI's int counts).
PetscErrorCode ControlsArrays::SumOverRanks(MPI_Comm comm) {
  constexpr size_t kChunk = 1 << 20;
  PetscMPIInt size;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size == 1) PetscFunctionReturn(0);
  for (size_t k = 0; k < size_; k += kChunk)
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, block_ + k, (PetscMPIInt)std::min(kChunk, size_ - k), MPIU_REAL, MPIU_SUM, comm));
  PetscFunctionReturn(0);
}

namespace {

// Creates the groups of path (everything before the last '/') that do not exist yet; the parent group's name.
std::string EnsureParent(hid_t file, const std::string &path) {
  size_t pos = 0;
  while ((pos = path.find('/', pos + 1)) != std::string::npos) {
    const std::string group = path.substr(0, pos);
    if (H5Lexists(file, group.c_str(), H5P_DEFAULT) <= 0) H5Gclose(H5Gcreate2(file, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  }
  const size_t last = path.find_last_of('/');
  return last == 0 ? "/" : path.substr(0, last);
}

bool WriteOne(hid_t file, const ControlsArray &a) {
  const std::string parent = EnsureParent(file, a.name);
  const std::string leaf = a.name.substr(a.name.find_last_of('/') + 1);
  hid_t space = a.shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple((int)a.shape.size(), a.shape.data(), nullptr);
  herr_t status;
  if (a.attribute) {
    hid_t group = H5Oopen(file, parent.c_str(), H5P_DEFAULT);
    hid_t attr = H5Acreate2(group, leaf.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT);
    status = attr >= 0 ? H5Awrite(attr, H5T_NATIVE_DOUBLE, a.values.data()) : -1;
    if (attr >= 0) H5Aclose(attr);
    H5Oclose(group);
  } else {
    hid_t ds = H5Dcreate2(file, a.name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    status = ds >= 0 ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.values.data()) : -1;
    if (ds >= 0) H5Dclose(ds);
  }
  H5Sclose(space);
  return status >= 0;
}

}  // namespace

PetscErrorCode ControlsArrays::Write(MPI_Comm comm, hid_t file) const {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0)
    for (const ControlsArray &a : arrays_) ok = ok && WriteOne(file, a);
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "writing the controls arrays failed");
  PetscFunctionReturn(0);
}

}  // namespace ctflow
