// Rank-local failures made collective (docs/errors.md). A fault that one rank meets alone (its part of a file
// cannot be read or written, an allocation) must not leave the other ranks waiting in the next collective call:
// the ranks agree on it first, and then all of them fail with the same error.
//
//   PetscCall(AgreeOnError(comm, ReadMyRows(...)));   // the local call's code, not PetscCall(ReadMyRows(...))
//
// The message is the failing rank's (the lowest one's, if several failed).
#pragma once
#include <petscsys.h>

#include <string>

namespace ctflow {

// Collective: 0 on every rank if `local` is 0 on every rank; otherwise every rank fails with the message of
// the lowest failing rank's error (PETSc's record of its last error).
PetscErrorCode AgreeOnError(MPI_Comm comm, PetscErrorCode local);
// Collective: 0 if ok on every rank; otherwise every rank fails with the lowest failing rank's message.
PetscErrorCode AgreeOnFailure(MPI_Comm comm, bool ok, const std::string &message, PetscErrorCode code = PETSC_ERR_FILE_WRITE);

}  // namespace ctflow
