#include "solver/app/error_reporting.hpp"

#include <string>

namespace ctflow {

namespace {

struct FirstError {
  bool recorded = false;
  std::string message, where;
  PetscMPIInt comm_size = 0;
  PetscErrorCode code = 0;
} first_error;

// Codes that mean "bad input"; for anything else the message also names the source location.
bool IsInputError(PetscErrorCode n) {
  return n == PETSC_ERR_USER_INPUT || n == PETSC_ERR_FILE_OPEN || n == PETSC_ERR_FILE_READ || n == PETSC_ERR_FILE_WRITE ||
         n == PETSC_ERR_FILE_UNEXPECTED || n == PETSC_ERR_FP || n == PETSC_ERR_ARG_OUTOFRANGE;
}

PetscErrorCode RecordError(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *) {
  if (p == PETSC_ERROR_INITIAL && !first_error.recorded) {
    first_error.recorded = true;
    first_error.code = n;
    first_error.message = mess && mess[0] ? mess : "PETSc error " + std::to_string(n);
    first_error.where = std::string(fun ? fun : "?") + " (" + (file ? file : "?") + ":" + std::to_string(line) + ")";
    if (MPI_Comm_size(comm, &first_error.comm_size)) first_error.comm_size = 1;
  }
  return n;
}

}  // namespace

PetscErrorCode ErrorReporterPush() {
  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(RecordError, nullptr));
  PetscFunctionReturn(0);
}

PetscErrorCode ErrorFromException(const char what[]) {
  return PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_LIB, PETSC_ERROR_INITIAL, "C++ exception: %s", what);
}

int ErrorReport(PetscErrorCode code) {
  PetscMPIInt world_rank = 0, world_size = 1;
  MPI_Comm_rank(PETSC_COMM_WORLD, &world_rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &world_size);
  std::string text = first_error.recorded ? first_error.message : "error " + std::to_string(code);
  if (first_error.recorded && !IsInputError(first_error.code)) text += "\n  in " + first_error.where;
  if (first_error.comm_size < world_size) {
    fprintf(stderr, "ctflow: error on rank %d: %s\n", world_rank, text.c_str());
    fflush(stderr);
    MPI_Abort(PETSC_COMM_WORLD, code ? (int)code : 1);
  }
  if (world_rank == 0) {
    fprintf(stderr, "ctflow: error: %s\n", text.c_str());
    fflush(stderr);
  }
  (void)PetscPopErrorHandler();
  (void)PetscFinalize();
  return code ? (int)code : 1;
}

}  // namespace ctflow
