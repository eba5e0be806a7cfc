#include "discretization/base/collective.hpp"

#include <climits>

namespace ctflow {

PetscErrorCode AgreeOnFailure(MPI_Comm comm, bool ok, const std::string &message, PetscErrorCode code) {
  PetscMPIInt rank;
  int first;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  first = ok ? INT_MAX : rank;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm));
  if (first == INT_MAX) PetscFunctionReturn(0);
  int shared[2] = {(int)message.size(), (int)code};
  PetscCallMPI(MPI_Bcast(shared, 2, MPI_INT, first, comm));
  std::string text;
  PetscCallCXX(text = rank == first ? message : std::string(shared[0], '\0'));
  PetscCallMPI(MPI_Bcast(text.data(), shared[0], MPI_CHAR, first, comm));
  SETERRQ(comm, (PetscErrorCode)shared[1], "%s", text.c_str());
}

PetscErrorCode AgreeOnError(MPI_Comm comm, PetscErrorCode local) {
  std::string message;
  PetscFunctionBeginUser;
  if (local) {
    const char *generic = nullptr;
    char *specific = nullptr;
    (void)PetscErrorMessage(local, &generic, &specific);
    PetscCallCXX(message = specific && specific[0] ? specific : generic ? generic : "error " + std::to_string(local));
  }
  PetscCall(AgreeOnFailure(comm, local == 0, message, local));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
