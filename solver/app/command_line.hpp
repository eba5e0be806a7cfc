// Checks of the command line made before PetscInitialize, which would wait forever reading a FIFO given as
// -options_file, recurse until the stack overflows into an options file that includes itself, and print PETSc's
// multi-line error for a missing one; and an option given the empty value '' would silently keep its default.
#pragma once
#include <mpi.h>

#include <string>

namespace ctflow {

// "" or why the command line (with the options files it names, and PETSC_OPTIONS) cannot be used.
std::string CommandLineProblem(int argc, char **argv);
// Collective on comm (MPI initialised, PETSc not yet): 0 if the command line can be used on every rank; else the
// lowest rank with a problem prints it ("ctflow: error: …") and every rank returns 1.
int CheckCommandLine(MPI_Comm comm, int argc, char **argv);

}  // namespace ctflow
