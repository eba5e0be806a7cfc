#include "solver/app/error_reporting.hpp"

#include <time.h>

#include <cctype>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

namespace ctflow {

namespace {

// How long the ranks that failed wait for the others before they abort the run. Ranks that fail on the same input
// arrive within milliseconds; a rank that does not arrive is computing or waiting in a collective call.
constexpr double kAgreeSeconds = 10;
// A duplicate of PETSC_COMM_WORLD used only by ErrorReport, so its barrier cannot match another collective call.
MPI_Comm agree_comm = MPI_COMM_NULL;

struct FirstError {
  bool recorded = false;
  std::string message, where;
  PetscErrorCode code = 0;
  bool option_value = false;  // raised by PETSc's conversion of an option value
} first_error;

// PETSc's conversions of option values ("Input string abc has no numeric value", "Unknown logical value: maybe")
// do not name the option: find it by its value in the options database.
std::string WithOptionName(const std::string &message) {
  std::string value;
  for (const auto &[before, after] : {std::pair<std::string, std::string>{"Input string ", " has no"}, {"Unknown logical value: ", ""}}) {
    const size_t a = message.find(before);
    if (a == std::string::npos) continue;
    const size_t b = after.empty() ? std::string::npos : message.find(after, a + before.size());
    value = message.substr(a + before.size(), b == std::string::npos ? std::string::npos : b - a - before.size());
  }
  char *all = nullptr;
  if (value.empty() || PetscOptionsGetAll(nullptr, &all) || !all) return message;
  std::istringstream words(all);
  std::string word, name, found;
  while (words >> word && found.empty()) {
    if (word.size() > 1 && word[0] == '-' && std::isalpha((unsigned char)word[1])) name = word;
    else if (!name.empty() && ("," + word + ",").find("," + value + ",") != std::string::npos) found = name + " " + word;  // also in a list
  }
  (void)PetscFree(all);
  return found.empty() ? message : found + ": " + message;
}

// Codes that mean "bad input"; for anything else the message also names the source location.
bool IsInputError(PetscErrorCode n) {
  return n == PETSC_ERR_USER_INPUT || n == PETSC_ERR_FILE_OPEN || n == PETSC_ERR_FILE_READ || n == PETSC_ERR_FILE_WRITE ||
         n == PETSC_ERR_FILE_UNEXPECTED || n == PETSC_ERR_FP || n == PETSC_ERR_ARG_OUTOFRANGE ||
         n == PETSC_ERR_ARG_UNKNOWN_TYPE;  // a PETSc object's -*_type naming no registered type (-tao_type foo)
}

PetscErrorCode RecordError(MPI_Comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *) {
  if (p == PETSC_ERROR_INITIAL && !first_error.recorded) {
    first_error.recorded = true;
    first_error.code = n;
    first_error.message = mess && mess[0] ? mess : "PETSc error " + std::to_string(n);
    first_error.where = std::string(fun ? fun : "?") + " (" + (file ? file : "?") + ":" + std::to_string(line) + ")";
    first_error.option_value = fun && std::strncmp(fun, "PetscOptionsStringTo", 20) == 0;
  }
  return n;
}

// Whether every rank reaches ErrorReport within kAgreeSeconds (a non-blocking barrier on agree_comm).
bool AllRanksFailed() {
  MPI_Request request;
  int done = 0;
  if (agree_comm == MPI_COMM_NULL || MPI_Ibarrier(agree_comm, &request) != MPI_SUCCESS) return false;
  const double start = MPI_Wtime();
  const struct timespec pause = {0, 1000000};
  while (MPI_Test(&request, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done && MPI_Wtime() - start < kAgreeSeconds) nanosleep(&pause, nullptr);
  return done;
}

}  // namespace

PetscErrorCode ErrorReporterPush() {
  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(RecordError, nullptr));
  PetscCallMPI(MPI_Comm_dup(PETSC_COMM_WORLD, &agree_comm));
  PetscFunctionReturn(0);
}

PetscErrorCode ErrorReporterPop() {
  PetscFunctionBeginUser;
  PetscCall(PetscPopErrorHandler());
  if (agree_comm != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&agree_comm));
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
  if (first_error.option_value) text = WithOptionName(text);
  else if (first_error.recorded && !IsInputError(first_error.code)) text += "\n  in " + first_error.where;
  if (world_size > 1 && !AllRanksFailed()) {
    fprintf(stderr, "ctflow: error on rank %d: %s\n", world_rank, text.c_str());
    fflush(stderr);
    MPI_Abort(PETSC_COMM_WORLD, code ? (int)code : 1);
  }
  if (world_rank == 0) {
    fprintf(stderr, "ctflow: error: %s\n", text.c_str());
    fflush(stderr);
  }
  (void)ErrorReporterPop();
  (void)PetscFinalize();
  return code ? (int)code : 1;
}

}  // namespace ctflow
