#include "discretization/hdf5_input.hpp"

#include <cmath>

#include "discretization/base/paths.hpp"
#include "discretization/base/sizes.hpp"
#include "discretization/hdf5_links.hpp"

namespace ctflow {

std::string ShapeString(const std::vector<hsize_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

PetscErrorCode H5Input::Open(MPI_Comm comm, const std::string &path, const std::string &what, H5Input *in) {
  PetscFunctionBeginUser;
  in->comm_ = comm;
  in->path_ = path;
  in->what_ = what;
  const std::string problem = InputFileProblem(path);
  PetscCheck(problem.empty(), comm, PETSC_ERR_FILE_OPEN, "%s file '%s' %s", what.c_str(), path.c_str(), problem.c_str());
  PetscCheck(H5Fis_hdf5(path.c_str()) > 0, comm, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s' is not an HDF5 file", what.c_str(), path.c_str());
  in->file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(in->file_ >= 0, comm, PETSC_ERR_FILE_READ, "%s file '%s' could not be opened by HDF5", what.c_str(), path.c_str());
  PetscFunctionReturn(0);
}

H5Input::~H5Input() {
  if (file_ >= 0) H5Fclose(file_);
}

bool H5Input::Has(const std::string &object) const { return H5PathExists(file_, object); }

PetscErrorCode H5Input::Shape(const std::string &dataset, std::vector<hsize_t> *shape) const {
  PetscFunctionBeginUser;
  PetscCheck(Has(dataset), comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s' has no dataset '%s'", what_.c_str(), path_.c_str(), dataset.c_str());
  hid_t ds = H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT);
  PetscCheck(ds >= 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': '%s' is not a dataset", what_.c_str(), path_.c_str(), dataset.c_str());
  hid_t type = H5Dget_type(ds), space = H5Dget_space(ds);
  const bool is_f64 = H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 8;
  const int rank = H5Sget_simple_extent_ndims(space);
  shape->assign(rank > 0 ? rank : 0, 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, shape->data(), nullptr);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(ds);
  PetscCheck(is_f64, comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': dataset '%s' must be float64", what_.c_str(), path_.c_str(), dataset.c_str());
  for (hsize_t n : *shape)
    PetscCheck(n <= (hsize_t)PETSC_MAX_INT, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "%s file '%s': dataset '%s' declares the shape %s, whose dimension %llu exceeds PETSc's integers here (at most %" PetscInt_FMT ")",
               what_.c_str(), path_.c_str(), dataset.c_str(), ShapeString(*shape).c_str(), (unsigned long long)n, PETSC_MAX_INT);
  PetscFunctionReturn(0);
}

PetscErrorCode H5Input::Read(const std::string &dataset, const std::vector<hsize_t> &shape, const char meaning[],
                             std::vector<PetscReal> *data) const {
  std::vector<hsize_t> actual;
  PetscFunctionBeginUser;
  PetscCall(Shape(dataset, &actual));
  PetscCheck(actual == shape, comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': dataset '%s' has shape %s, expected %s %s", what_.c_str(),
             path_.c_str(), dataset.c_str(), ShapeString(actual).c_str(), ShapeString(shape).c_str(), meaning);
  double n = 1;
  for (hsize_t d : shape) n *= (double)d;
  PetscCall(MemoryCheck(comm_, n * sizeof(PetscReal), what_ + " file '" + path_ + "': dataset '" + dataset + "' " + ShapeString(shape)));
  PetscCallCXX(data->resize((size_t)n));
  hid_t ds = H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT);
  herr_t status = H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data->data());
  H5Dclose(ds);
  PetscCheck(status >= 0, comm_, PETSC_ERR_FILE_READ, "%s file '%s': reading dataset '%s' failed", what_.c_str(), path_.c_str(), dataset.c_str());
  PetscCall(CheckFinite(comm_, data->data(), (PetscInt)data->size(), 0, what_ + " file '" + path_ + "': dataset '" + dataset + "'"));
  PetscFunctionReturn(0);
}

PetscErrorCode H5Input::FindAttribute(const std::string &object, const char name[], bool *found, bool *exists) const {
  PetscFunctionBeginUser;
  *exists = Has(object) && H5Aexists_by_name(file_, object.c_str(), name, H5P_DEFAULT) > 0;
  if (found) *found = *exists;
  PetscCheck(*exists || found, comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': '%s' has no attribute '%s'", what_.c_str(), path_.c_str(),
             object.c_str(), name);
  PetscFunctionReturn(0);
}

PetscErrorCode H5Input::ReadAttribute(const std::string &object, const char name[], PetscReal *value, bool *found) const {
  bool exists;
  PetscFunctionBeginUser;
  PetscCall(FindAttribute(object, name, found, &exists));
  if (!exists) PetscFunctionReturn(0);
  hid_t attr = H5Aopen_by_name(file_, object.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
  hid_t space = H5Aget_space(attr);
  const hssize_t npoints = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  herr_t status = npoints == 1 ? H5Aread(attr, H5T_NATIVE_DOUBLE, value) : -1;
  H5Aclose(attr);
  PetscCheck(status >= 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': attribute '%s' of '%s' must be a real scalar", what_.c_str(),
             path_.c_str(), name, object.c_str());
  PetscCheck(std::isfinite(*value), comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': attribute '%s' of '%s' is not finite (%g)", what_.c_str(),
             path_.c_str(), name, object.c_str(), (double)*value);
  PetscFunctionReturn(0);
}

PetscErrorCode H5Input::ReadCount(const std::string &object, const char name[], PetscInt *value) const {
  PetscReal x;
  PetscFunctionBeginUser;
  PetscCall(ReadAttribute(object, name, &x, nullptr));
  PetscCheck(x >= 1 && x <= PETSC_MAX_INT && x == std::floor(x), comm_, PETSC_ERR_FILE_UNEXPECTED,
             "%s file '%s': attribute '%s' of '%s' must be a positive integer, got %g", what_.c_str(), path_.c_str(), name, object.c_str(),
             (double)x);
  *value = (PetscInt)x;
  PetscFunctionReturn(0);
}

PetscErrorCode H5Input::ReadAttribute(const std::string &object, const char name[], std::string *value, bool *found) const {
  bool exists;
  PetscFunctionBeginUser;
  PetscCall(FindAttribute(object, name, found, &exists));
  if (!exists) PetscFunctionReturn(0);
  hid_t attr = H5Aopen_by_name(file_, object.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
  hid_t type = H5Aget_type(attr);
  herr_t status = -1;
  if (H5Tget_class(type) == H5T_STRING) {
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mem, H5Tget_cset(type));  // h5py writes UTF-8; HDF5 does not convert between character sets
    if (H5Tis_variable_str(type) > 0) {
      char *s = nullptr;
      H5Tset_size(mem, H5T_VARIABLE);
      status = H5Aread(attr, mem, &s);
      if (status >= 0 && s) *value = s;
      if (s) H5free_memory(s);
    } else {
      std::vector<char> buf(H5Tget_size(type) + 1, '\0');
      H5Tset_size(mem, buf.size());
      status = H5Aread(attr, mem, buf.data());
      if (status >= 0) *value = buf.data();
    }
    H5Tclose(mem);
  }
  H5Tclose(type);
  H5Aclose(attr);
  PetscCheck(status >= 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': attribute '%s' of '%s' must be a string", what_.c_str(), path_.c_str(),
             name, object.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode CheckFinite(MPI_Comm comm, const PetscReal *a, PetscInt n, PetscInt offset, const std::string &label) {
  PetscInt first = PETSC_MAX_INT;
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < n; ++i)
    if (!std::isfinite(a[i])) {
      first = offset + i;
      break;
    }
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &first, 1, MPIU_INT, MPI_MIN, comm));
  PetscCheck(first == PETSC_MAX_INT, comm, PETSC_ERR_FP, "%s contains a non-finite value (NaN or Inf) at flat index %" PetscInt_FMT, label.c_str(),
             first);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
