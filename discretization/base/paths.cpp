#include "discretization/base/paths.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "discretization/base/sizes.hpp"

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

std::string InputFileProblem(const std::string &path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return "does not exist";
  if (S_ISDIR(info.st_mode)) return "is a directory";
  if (!S_ISREG(info.st_mode)) return "is not a regular file (a FIFO, a socket or a device)";
  if (access(path.c_str(), R_OK) != 0) return "is not readable";
  return "";
}

std::string WriteFailureReason(const std::string &path, int errno_value) {
  struct statvfs fs;
  if (statvfs(PathDirectory(path).c_str(), &fs) == 0 && (double)fs.f_bavail * fs.f_frsize < (1 << 20)) return "no space left on the file system";
  return errno_value ? std::strerror(errno_value) : "";
}

PetscErrorCode CheckFreeSpace(MPI_Comm comm, const std::string &path, double bytes) {
  PetscMPIInt rank;
  double free = -1;  // unknown
  struct statvfs fs;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0 && statvfs(PathDirectory(path).c_str(), &fs) == 0) free = (double)fs.f_bavail * fs.f_frsize;
  PetscCallMPI(MPI_Bcast(&free, 1, MPI_DOUBLE, 0, comm));
  PetscCheck(free < 0 || free >= bytes, comm, PETSC_ERR_FILE_WRITE, "cannot write '%s': its file system has %s free, and it needs about %s",
             path.c_str(), FormatBytes(free).c_str(), FormatBytes(bytes).c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode CheckDistinctOutputs(MPI_Comm comm, const OutputFiles &outputs) {
  std::vector<std::string> where(outputs.size());
  PetscFunctionBeginUser;
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::error_code error;  // weakly_canonical resolves the existing part of the path; on failure compare it as given
    const fs::path canonical = fs::weakly_canonical(fs::absolute(outputs[i].second, error), error);
    PetscCallCXX(where[i] = error ? fs::absolute(outputs[i].second).lexically_normal().string() : canonical.string());
    for (size_t j = 0; j < i; ++j)
      PetscCheck(where[j] != where[i], comm, PETSC_ERR_USER_INPUT, "%s '%s' and %s '%s' name the same file: give each output its own",
                 outputs[j].first.c_str(), outputs[j].second.c_str(), outputs[i].first.c_str(), outputs[i].second.c_str());
  }
  PetscFunctionReturn(0);
}

bool SameFile(const std::string &a, const std::string &b) {
  struct stat x, y;
  return stat(a.c_str(), &x) == 0 && stat(b.c_str(), &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

bool FileStartsWith(const std::string &path, const std::string &text) {
  std::ifstream in(path, std::ios::binary);
  std::string head(text.size(), '\0');
  return in.read(&head[0], (std::streamsize)head.size()) && head == text;
}

PetscErrorCode CheckWritableFile(MPI_Comm comm, const std::string &path, const char option[], const std::string &signature,
                                 const InputFiles &inputs) {
  PetscMPIInt rank;
  std::string problem;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  const std::string dir = PathDirectory(path);
  struct stat info;
  if (rank == 0) {
    if (access(dir.c_str(), W_OK | X_OK) != 0) problem = "its directory '" + dir + "' does not exist or is not writable";
    else if (stat(path.c_str(), &info) != 0) problem = "";
    else if (S_ISDIR(info.st_mode)) problem = "it is a directory";
    else if (!S_ISREG(info.st_mode)) problem = "it is not a regular file";
    else if (access(path.c_str(), W_OK) != 0) problem = "it is not writable";
    else if (const auto input = std::find_if(inputs.begin(), inputs.end(), [&](const auto &in) { return SameFile(path, in.second); });
             input != inputs.end())
      problem = "it is this run's " + input->first + " file";
    else if (!FileStartsWith(path, signature))
      problem = "it exists and was not written by ctflow (ctflow replaces only its own files; remove it or choose another name)";
  }
  int length = (int)problem.size();
  PetscCallMPI(MPI_Bcast(&length, 1, MPI_INT, 0, comm));
  PetscCallCXX(problem.resize(length));
  PetscCallMPI(MPI_Bcast(problem.data(), length, MPI_CHAR, 0, comm));
  PetscCheck(problem.empty(), comm, PETSC_ERR_FILE_WRITE, "cannot write the %s file '%s': %s", option, path.c_str(), problem.c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
