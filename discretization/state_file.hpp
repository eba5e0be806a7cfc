// The state u in an HDF5 file opened by every rank (parallel HDF5): an (N_x, N_y) float64 dataset of which each
// rank reads or writes its own rows (independent I/O), the layout PETSc's VecLoad reads and writes.
//
// A part of a file that one rank alone cannot read or write (a corrupt chunk, a full disk) is a rank-local
// fault: every operation here is reached by every rank, and the ranks agree on the outcome before the next
// collective call (discretization/base/collective.hpp), so such a fault gives every rank the same error instead of
// leaving the others waiting in HDF5's collective calls. Messages name the file and the dataset, with the reason.
// A file on which an operation failed is abandoned, not closed: parallel HDF5 1.10 closes collectively and, after
// a failed write, can leave the ranks in different collective calls of its close (or crash closing it again);
// ctflow_main calls H5dont_atexit, so HDF5 leaves it alone at exit too. Metadata is written by rank 0 only.
#pragma once
#include <hdf5.h>
#include <petscvec.h>

#include <string>
#include <vector>

#include "discretization/grid.hpp"

namespace ctflow {

class StateFile {
 public:
  explicit StateFile(MPI_Comm comm) : comm_(comm) {}
  ~StateFile();  // closes the file if it is still open (an error path that every rank takes)
  StateFile(const StateFile &) = delete;
  StateFile &operator=(const StateFile &) = delete;

  // Collective: a new file (replacing one of the same name), or an existing one for reading.
  PetscErrorCode Create(const std::string &path);
  PetscErrorCode Open(const std::string &path);
  // Collective: closes the file (its metadata is written here); fails on every rank if it failed on one.
  PetscErrorCode Close();
  hid_t Id() const { return file_; }
  const std::string &Path() const { return path_; }

  // Collective: u (N_y = the product of `features` values per token, rows distributed like a DMDA's tokens) as the
  // dataset `name` of shape (N_x, features…) (intermediate groups created), or that dataset (float64; an external
  // link is followed) into u. `features` is {N_y}, or {N_y1, N_y2} for an image per token (StateFeatures).
  PetscErrorCode Write(const std::string &name, Vec u, const std::vector<hsize_t> &features) const;
  PetscErrorCode Read(const std::string &name, Vec u, const std::vector<hsize_t> &features) const;
  PetscErrorCode Write(const std::string &name, Vec u, PetscInt Ny) const { return Write(name, u, std::vector<hsize_t>{(hsize_t)Ny}); }
  PetscErrorCode Read(const std::string &name, Vec u, PetscInt Ny) const { return Read(name, u, std::vector<hsize_t>{(hsize_t)Ny}); }

 private:
  PetscErrorCode Start(const std::string &path, bool create);
  // AgreeOnFailure, marking the file broken (abandoned, never closed) when some rank failed.
  PetscErrorCode Agree(bool ok, const std::string &message, PetscErrorCode code = PETSC_ERR_FILE_WRITE) const;
  MPI_Comm comm_;
  std::string path_;
  hid_t file_ = -1;
  mutable bool broken_ = false;
};

// The feature dimensions of a state on grid: {N_y}, or {N_y1, N_y2} when Ω_y is two-dimensional.
std::vector<hsize_t> StateFeatures(const Grid &grid);

// The innermost message of HDF5's error stack of this thread (e.g. the operating system's reason), or "".
std::string Hdf5ErrorReason();

}  // namespace ctflow
