// Clean error reporting for the ctflow executable. PETSc's default handler prints a traceback on every
// error; a user who passed a bad file should instead read one line naming the problem. The handler
// keeps the first message; ErrorReport prints rank 0's once ("ctflow: error: ...") and returns the exit code
// when every rank failed (an input error, found by every rank or agreed on: discretization/base/collective.hpp).
// Ranks that failed while another rank did not arrive within seconds (a bug: an error found on fewer ranks
// than the whole run and not agreed on) print theirs with their rank and abort the run, so no rank waits forever.
#pragma once
#include <petscsys.h>

namespace ctflow {

// Installs the handler (after PetscInitialize); ErrorReporterPop removes it (before PetscFinalize).
PetscErrorCode ErrorReporterPush();
PetscErrorCode ErrorReporterPop();
// Records a C++ exception that reached main as an error of this rank; returns its code.
PetscErrorCode ErrorFromException(const char what[]);
// Prints the recorded error and returns a non-zero exit code; call instead of PetscFinalize's success path.
int ErrorReport(PetscErrorCode code);

}  // namespace ctflow
