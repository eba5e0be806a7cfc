#include "discretization/controls_arrays.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

#include "discretization/hdf5_input.hpp"

namespace ctflow {

PetscErrorCode ControlsArrays::Add(MPI_Comm comm, const std::string &name, const std::vector<hsize_t> &shape, bool attribute) {
  PetscFunctionBeginUser;
  if (ControlsArray *a = Find(name)) {
    PetscCheck(a->shape == shape, comm, PETSC_ERR_PLIB, "controls array %s added with shapes %s and %s", name.c_str(), ShapeString(a->shape).c_str(),
               ShapeString(shape).c_str());
    PetscFunctionReturn(0);
  }
  const size_t n = std::accumulate(shape.begin(), shape.end(), size_t(1), [](size_t p, hsize_t s) { return p * s; });
  PetscCallCXX(arrays_.push_back({name, shape, attribute, std::vector<PetscReal>(n, 0.0)}));
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

size_t ControlsArrays::Size() const {
  size_t n = 0;
  for (const ControlsArray &a : arrays_) n += a.values.size();
  return n;
}

ControlsArrays ControlsArrays::ZerosLike() const {
  ControlsArrays z;
  z.arrays_.reserve(arrays_.size());
  for (const ControlsArray &a : arrays_) z.arrays_.push_back({a.name, a.shape, a.attribute, std::vector<PetscReal>(a.values.size())});
  return z;
}

void ControlsArrays::SetZero() {
  for (ControlsArray &a : arrays_) std::fill(a.values.begin(), a.values.end(), 0.0);
}

void ControlsArrays::Scale(PetscReal s) {
  for (ControlsArray &a : arrays_)
    for (PetscReal &v : a.values) v *= s;
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

// In place, with a work space of at most kChunk values: large arrays go in chunks of kChunk, consecutive small ones
// packed together (a whole-model buffer would double the gradient's memory at the end of the adjoint).
PetscErrorCode ControlsArrays::SumOverRanks(MPI_Comm comm) {
  constexpr size_t kChunk = 1 << 20;
  PetscMPIInt size;
  std::vector<PetscReal> pack;
  size_t first = 0;  // the arrays [first, i) are in pack
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size == 1) PetscFunctionReturn(0);
  const auto flush = [&](size_t end) -> PetscErrorCode {
    PetscFunctionBeginUser;
    if (!pack.empty()) PetscCall(MPIU_Allreduce(MPI_IN_PLACE, pack.data(), (PetscMPIInt)pack.size(), MPIU_REAL, MPIU_SUM, comm));
    for (size_t k = 0; first < end; ++first) {
      std::copy_n(pack.data() + k, arrays_[first].values.size(), arrays_[first].values.data());
      k += arrays_[first].values.size();
    }
    pack.clear();
    PetscFunctionReturn(0);
  };
  for (size_t i = 0; i < arrays_.size(); ++i) {
    std::vector<PetscReal> &v = arrays_[i].values;
    if (v.size() < kChunk) {
      if (pack.size() + v.size() > kChunk) PetscCall(flush(i));
      PetscCallCXX(pack.insert(pack.end(), v.begin(), v.end()));
      continue;
    }
    PetscCall(flush(i));
    for (size_t k = 0; k < v.size(); k += kChunk)
      PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &v[k], (PetscMPIInt)std::min(kChunk, v.size() - k), MPIU_REAL, MPIU_SUM, comm));
    first = i + 1;
  }
  PetscCall(flush(arrays_.size()));
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
