// Checks on the options database that PETSc's readers do not make (docs/errors.md):
//   - every rank must have been given the same options (an MPMD launch or a per-rank PETSC_OPTIONS can differ, and
//     ranks that read different sizes or times wait for each other forever);
//   - PETSc copies a string value into the reader's buffer and cuts what does not fit (4,095 characters for
//     ctflow's buffers), so a longer value would run as a different one;
//   - PETSc converts an integer with strtol and a cast, so 99999999999999999999 becomes -1.
#pragma once
#include <petscsys.h>

#include <map>
#include <string>

namespace ctflow {

// The longest option value ctflow reads (its buffers are PETSC_MAX_PATH_LEN bytes).
constexpr size_t kMaxOptionValue = PETSC_MAX_PATH_LEN - 1;

// Declared right after PetscOptionsBegin: frees what it allocated if an error (a value PETSc cannot convert) returns
// from inside the block, past PetscOptionsEnd (PETSc's macros leak it then):
//   PetscOptionsBegin(comm, prefix, "Grid", "Grid");
//   OptionsBlockGuard guard(PetscOptionsObject);
class OptionsBlockGuard {
 public:
  explicit OptionsBlockGuard(PetscOptionItems *items) : items_(items) {}
  ~OptionsBlockGuard() {  // after PetscOptionsEnd these are NULL already
    (void)PetscFree(items_->prefix);
    (void)PetscFree(items_->title);
  }
  OptionsBlockGuard(const OptionsBlockGuard &) = delete;
  OptionsBlockGuard &operator=(const OptionsBlockGuard &) = delete;

 private:
  PetscOptionItems *items_;
};

// PetscOptionsGetAll's "-name value -name value …" as a map; a value runs to the next "-<letter>".
std::map<std::string, std::string> OptionMap(const std::string &all);

// Collective: fails on every rank unless every rank of comm holds the same options (one hash of
// PetscOptionsGetAll compared by one allreduce); the message names the first option that differs.
PetscErrorCode OptionsCheckSameOnAllRanks(MPI_Comm comm);
// Collective: fails if an option not yet read has a value longer than kMaxOptionValue. Call before the
// options are read (it sees the options that nothing has used yet, without marking them used).
PetscErrorCode OptionsCheckValueLengths(MPI_Comm comm);
// Fails if option prefix+name is given a value that is not an integer within PetscInt's range.
PetscErrorCode OptionsCheckInt(MPI_Comm comm, const char prefix[], const char name[]);
// PetscOptionsInt after OptionsCheckInt, inside a PetscOptionsBegin block: every integer option ctflow reads.
PetscErrorCode OptionsIntChecked(PetscOptionItems *items, const char name[], const char text[], const char man[], PetscInt current, PetscInt *value,
                                 PetscBool *set);
#define CtflowOptionsInt(name, text, man, current, value, set) OptionsIntChecked(PetscOptionsObject, name, text, man, current, value, set)
// The same for a comma-separated list of integers (PETSc's ranges a-b allowed) or of reals; call before PETSc's
// array readers, which leak their tokenizer when an entry cannot be converted.
PetscErrorCode OptionsCheckIntList(MPI_Comm comm, const char prefix[], const char name[]);
PetscErrorCode OptionsCheckRealList(MPI_Comm comm, const char prefix[], const char name[]);

}  // namespace ctflow
