// Validated reads from HDF5 input files (controls, initial states).
//
// Every rank performs the same metadata reads, so every check below fails on all ranks together and the
// error is collective: one message, no hang. Messages name the file, the dataset and the problem.
#pragma once
#include <hdf5.h>
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

class H5Input {
 public:
  // what: how the user named the file, e.g. "-controls". Errors if missing, unreadable or not HDF5.
  static PetscErrorCode Open(MPI_Comm comm, const std::string &path, const std::string &what, H5Input *in);
  H5Input() = default;
  ~H5Input();
  H5Input(const H5Input &) = delete;
  H5Input &operator=(const H5Input &) = delete;

  bool Has(const std::string &object) const;
  // Shape of a float64 dataset; errors if missing or of another type, or if a dimension does not fit a PetscInt.
  PetscErrorCode Shape(const std::string &dataset, std::vector<hsize_t> *shape) const;
  // Whole float64 dataset of the given shape (meaning describes the axes, e.g. "(N_h, N_y, N_y)"),
  // rejecting NaN and Inf. Every rank reads all of it: its size is checked against the nodes' memory first.
  PetscErrorCode Read(const std::string &dataset, const std::vector<hsize_t> &shape, const char meaning[], std::vector<PetscReal> *data) const;
  // Scalar float64 attribute of an object; *found = false when absent (found == nullptr: required).
  PetscErrorCode ReadAttribute(const std::string &object, const char name[], PetscReal *value, bool *found) const;
  // Scalar attribute holding a count: a positive integer within PetscInt's range (required).
  PetscErrorCode ReadCount(const std::string &object, const char name[], PetscInt *value) const;
  // String attribute (fixed or variable length); *found = false when absent (found == nullptr: required).
  PetscErrorCode ReadAttribute(const std::string &object, const char name[], std::string *value, bool *found) const;
  const std::string &Path() const { return path_; }

 private:
  // *exists: whether object has the attribute; absent and required (found == nullptr) is an error.
  PetscErrorCode FindAttribute(const std::string &object, const char name[], bool *found, bool *exists) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::string path_, what_;
  hid_t file_ = -1;
};

std::string ShapeString(const std::vector<hsize_t> &shape);
// Collective: errors with the first non-finite entry's global index. label names the array.
PetscErrorCode CheckFinite(MPI_Comm comm, const PetscReal *a, PetscInt n, PetscInt offset, const std::string &label);

}  // namespace ctflow
