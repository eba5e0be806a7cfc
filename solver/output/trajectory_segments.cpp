#include "solver/output/trajectory_segments.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "discretization/base/collective.hpp"
#include "discretization/base/paths.hpp"

namespace ctflow {

std::string TrajectorySegmentDir(const std::string &path) { return PathWithExtension(path, ".d"); }

std::string SixDigits(PetscInt n) {
  char digits[24];
  snprintf(digits, sizeof(digits), "%06lld", (long long)n);
  return digits;
}

std::string Numbered(const std::string &group, PetscInt n) { return group + "/" + SixDigits(n); }

namespace {

// A segment's file name: NNNNNN.h5.
bool IsSegmentName(const std::string &name) {
  return name.size() == 9 && name.compare(6, 3, ".h5") == 0 &&
         std::all_of(name.begin(), name.begin() + 6, [](char c) { return std::isdigit((unsigned char)c); });
}

}  // namespace

bool RemoveSegments(const std::string &dir) {
  std::error_code error;
  std::vector<std::filesystem::path> segments;
  for (const auto &entry : std::filesystem::directory_iterator(dir, error))
    if (IsSegmentName(entry.path().filename().string())) segments.push_back(entry.path());
  bool ok = !error;
  for (const auto &segment : segments) ok = std::filesystem::remove(segment, error) && ok;
  return ok;
}

std::string PreviousDir(const std::string &dir) { return dir + "/previous"; }

// The XDMF files of a trajectory index, by the suffixes of solver/output/xdmf_index.hpp.
static std::vector<std::string> XdmfFiles(const std::string &index) {
  std::vector<std::string> files;
  for (const char *suffix : {"", "_substeps", "_attention"}) files.push_back(PathWithExtension(index, std::string(suffix) + ".xmf"));
  return files;
}

bool KeepPreviousIndex(const std::string &index, const std::string &dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path previous = PreviousDir(dir);
  fs::remove_all(previous, error);  // what a replaced run, itself replaced before it ended, left there
  if (!fs::create_directory(previous, error)) return false;
  fs::create_hard_link(index, previous / "index.h5", error);
  if (error) return false;
  for (const std::string &xmf : XdmfFiles(index))
    if (fs::exists(xmf, error)) fs::create_hard_link(xmf, previous / fs::path(xmf).filename(), error);
  return !error;
}

bool MoveSegmentsToPrevious(const std::string &dir) {
  std::error_code error;
  std::vector<std::filesystem::path> segments;
  for (const auto &entry : std::filesystem::directory_iterator(dir, error))
    if (IsSegmentName(entry.path().filename().string())) segments.push_back(entry.path());
  bool ok = !error;
  for (const auto &segment : segments) {
    std::filesystem::rename(segment, std::filesystem::path(PreviousDir(dir)) / segment.filename(), error);
    ok = ok && !error;
  }
  return ok;
}

void RestorePrevious(const std::string &index, const std::string &dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path previous = PreviousDir(dir);
  if (!fs::is_directory(previous, error)) return;
  for (const auto &entry : fs::directory_iterator(previous, error)) {
    const std::string name = entry.path().filename().string();
    const fs::path to = name == "index.h5" ? fs::path(index) : IsSegmentName(name) ? fs::path(dir) / name : fs::path(PathDirectory(index)) / name;
    fs::rename(entry.path(), to, error);
  }
  fs::remove(previous, error);  // only if empty
}

void RemovePrevious(const std::string &dir) {
  std::error_code error;
  std::filesystem::remove_all(PreviousDir(dir), error);
}

namespace {

// SplitMix64's finaliser: a bijective mix of 64 bits.
unsigned long long Mix(unsigned long long x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool WriteAttribute(hid_t file, const std::string &object, const char name[], hid_t type, const void *value) {
  hid_t space = H5Screate(H5S_SCALAR), attr = H5Acreate_by_name(file, object.c_str(), name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = attr >= 0 && H5Awrite(attr, type, value) >= 0;
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  return ok;
}

bool ReadAttribute(hid_t file, const std::string &object, const char name[], hid_t type, void *value) {
  if (H5Aexists_by_name(file, object.c_str(), name, H5P_DEFAULT) <= 0) return false;
  hid_t attr = H5Aopen_by_name(file, object.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0) return false;
  hid_t space = H5Aget_space(attr), stored = H5Aget_type(attr);
  const bool ok = H5Sget_simple_extent_npoints(space) == 1 && H5Tget_class(stored) == H5Tget_class(type) &&
                  (H5Tget_class(type) != H5T_STRING || H5Tget_size(stored) == H5Tget_size(type)) && H5Aread(attr, type, value) >= 0;
  H5Tclose(stored);
  H5Sclose(space);
  H5Aclose(attr);
  return ok;
}

// The run id as a fixed-length string type.
hid_t RunIdType(size_t length) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, length);
  return type;
}

// 128 bits from the system's entropy source, the clock and the process id (std::random_device may throw).
void RandomBits(unsigned long long bits[2]) {
  std::random_device device;
  bits[0] = ((unsigned long long)device() << 32) ^ device() ^ (unsigned long long)std::chrono::steady_clock::now().time_since_epoch().count();
  bits[1] = ((unsigned long long)device() << 32) ^ device() ^ (unsigned long long)getpid();
}

}  // namespace

PetscErrorCode SegmentIdentityWrite(MPI_Comm comm, hid_t file, const std::string &object, const SegmentIdentity &id) {
  PetscFunctionBeginUser;
  hid_t text = RunIdType(id.run.size());
  const bool ok =
      WriteAttribute(file, object, "run_id", text, id.run.c_str()) && WriteAttribute(file, object, "state", H5T_NATIVE_LLONG, &id.state) &&
      WriteAttribute(file, object, "step", H5T_NATIVE_LLONG, &id.step) && WriteAttribute(file, object, "time", H5T_NATIVE_DOUBLE, &id.time) &&
      WriteAttribute(file, object, "checksum", H5T_NATIVE_ULLONG, &id.checksum);
  H5Tclose(text);
  PetscCall(AgreeOnFailure(comm, ok, "could not write the identity of " + object));
  PetscFunctionReturn(0);
}

bool SegmentIdentityRead(hid_t file, const std::string &object, SegmentIdentity *id) {
  char run[33] = "";
  hid_t text = RunIdType(32);
  const bool ok = ReadAttribute(file, object, "run_id", text, run) && ReadAttribute(file, object, "state", H5T_NATIVE_LLONG, &id->state) &&
                  ReadAttribute(file, object, "step", H5T_NATIVE_LLONG, &id->step) &&
                  ReadAttribute(file, object, "time", H5T_NATIVE_DOUBLE, &id->time) &&
                  ReadAttribute(file, object, "checksum", H5T_NATIVE_ULLONG, &id->checksum);
  H5Tclose(text);
  id->run = std::string(run, strnlen(run, 32));
  return ok;
}

PetscErrorCode StateChecksum(Vec u, PetscInt Ny, unsigned long long *checksum) {
  const PetscScalar *a;
  PetscInt lo, n;
  unsigned long long sum = 0;
  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(u, &lo, nullptr));
  PetscCall(VecGetLocalSize(u, &n));
  PetscCall(VecGetArrayRead(u, &a));
  for (PetscInt k = 0; k < n / Ny; ++k) {
    unsigned long long h = Mix((unsigned long long)(lo / Ny + k) + 0x9e3779b97f4a7c15ull);
    for (PetscInt l = 0; l < Ny; ++l) {
      unsigned long long bits;
      std::memcpy(&bits, &a[k * Ny + l], sizeof(bits));
      h = Mix(h ^ bits);
    }
    sum += h;  // modulo 2^64: the order of the tokens, and so their distribution, does not matter
  }
  PetscCall(VecRestoreArrayRead(u, &a));
  PetscCallMPI(MPI_Allreduce(&sum, checksum, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, PetscObjectComm((PetscObject)u)));
  PetscFunctionReturn(0);
}

PetscErrorCode NewRunId(MPI_Comm comm, std::string *id) {
  char text[33] = "";
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    unsigned long long bits[2];
    PetscCallCXX(RandomBits(bits));
    snprintf(text, sizeof(text), "%016llx%016llx", Mix(bits[0]), Mix(bits[1]));
  }
  PetscCallMPI(MPI_Bcast(text, sizeof(text), MPI_CHAR, 0, comm));
  PetscCallCXX(*id = text);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
