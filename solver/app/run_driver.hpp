// The ctflow run: build the problem from the options, integrate, write the trajectory.
#pragma once
#include <petscsys.h>

namespace ctflow {

// Runs the whole job on comm; with -help, lists every option and returns without integrating.
PetscErrorCode RunCtflow(MPI_Comm comm);

// Fails, naming them, if options were given that nothing read (misspellings). Call after every
// object has read its options.
PetscErrorCode CheckAllOptionsUsed(MPI_Comm comm);

}  // namespace ctflow
