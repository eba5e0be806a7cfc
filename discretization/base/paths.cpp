#include "discretization/base/paths.hpp"

#include <unistd.h>

#include <filesystem>

namespace ctflow {

namespace fs = std::filesystem;

std::string PathDirectory(const std::string &path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

std::string PathFileName(const std::string &path) { return fs::path(path).filename().string(); }

std::string PathWithExtension(const std::string &path, const std::string &replacement) {
  return fs::path(path).replace_extension().string() + replacement;
}

std::string PathWithTag(const std::string &path, const std::string &tag) {
  const fs::path p(path);
  return PathWithExtension(path, tag + p.extension().string());
}

PetscErrorCode CheckWritableFile(MPI_Comm comm, const std::string &path, const char option[]) {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  const std::string dir = PathDirectory(path);
  if (rank == 0) ok = access(dir.c_str(), W_OK | X_OK) == 0 && (access(path.c_str(), F_OK) != 0 || access(path.c_str(), W_OK) == 0);
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot write the %s file '%s': its directory '%s' does not exist or is not writable", option,
             path.c_str(), dir.c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
