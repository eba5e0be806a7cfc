// Clean error reporting for the ctflow executable. PETSc's default handler prints a traceback on every
// error; a user who passed a bad file should instead read one line naming the problem. The handler
// keeps the first message; ErrorReport prints it once ("ctflow: error: ...") and returns the exit code.
// An error raised on fewer ranks than the whole run (a bug, not bad input: every input check is
// collective) is printed with its rank and aborts the run, so no rank waits forever.
#pragma once
#include <petscsys.h>

namespace ctflow {

PetscErrorCode ErrorReporterPush();
// Records a C++ exception that reached main as an error of this rank; returns its code.
PetscErrorCode ErrorFromException(const char what[]);
// Prints the recorded error and returns a non-zero exit code; call instead of PetscFinalize's success path.
int ErrorReport(PetscErrorCode code);

}  // namespace ctflow
