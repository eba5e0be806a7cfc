#include "solver/adjoint/gradient_file.hpp"

#include <cstdio>

#include "discretization/hdf5_attributes.hpp"
#include "discretization/state_file.hpp"

namespace ctflow {

PetscErrorCode GradientFileWrite(MPI_Comm comm, const std::string &path, const ControlsArrays &g, Vec du0, const Grid &grid,
                                 const GradientFileAttributes &a) {
  const std::string part = path + ".part";
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  // Every rank writes its rows of /u0 (parallel HDF5); then rank 0 adds the parameters (replicated) with serial HDF5.
  {
    StateFile states(comm);
    PetscCall(states.Create(part));
    PetscCall(states.Write("/u0", du0, StateFeatures(grid)));
    PetscCall(states.Close());
  }
  hid_t file = -1;
  if (rank == 0) {
    file = H5Fopen(part.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ok = file >= 0 && H5AttributeWrite(file, "/", "loss", a.loss) && H5AttributeWrite(file, "/", "loss_function", a.loss_function) &&
         H5AttributeWrite(file, "/", "controls", a.controls) && H5AttributeWrite(file, "/", "ctflow_version", CTFLOW_VERSION);
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  if (!ok && file >= 0) H5Fclose(file);
  if (!ok && rank == 0) std::remove(part.c_str());
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot write the -gradient file '%s'", part.c_str());
  const PetscErrorCode ierr = g.Write(comm, file);
  if (file >= 0) H5Fclose(file);
  if (ierr && rank == 0) std::remove(part.c_str());
  PetscCall(ierr);
  PetscCallMPI(MPI_Barrier(comm));
  if (rank == 0) ok = std::rename(part.c_str(), path.c_str()) == 0;
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot rename '%s' to the -gradient file '%s'", part.c_str(), path.c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
