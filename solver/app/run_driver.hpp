// The ctflow executable's two jobs, each a thin user of the library: one run of a Problem
// (solver/problem/problem.hpp), or with -study_levels a convergence study (solver/problem/convergence_study.hpp).
#pragma once
#include <petscsys.h>

namespace ctflow {

// Runs the job the options describe on comm; with -help, lists every option and returns without integrating;
// with -version, prints ctflow's version (after PETSc's) and returns. Checks first that every rank was given
// the same options and that none is longer than ctflow reads (discretization/base/option_checks.hpp).
PetscErrorCode RunCtflow(MPI_Comm comm);

// Fails, naming them, if options were given that nothing read (misspellings). Call after every
// object has read its options.
PetscErrorCode CheckAllOptionsUsed(MPI_Comm comm);

}  // namespace ctflow
