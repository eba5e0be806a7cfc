#include "discretization/base/option_checks.hpp"

#include <strings.h>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>

namespace ctflow {

std::map<std::string, std::string> OptionMap(const std::string &all) {
  std::map<std::string, std::string> options;
  std::istringstream words(all);
  std::string word, name;
  while (words >> word) {
    if (word.size() > 1 && word[0] == '-' && std::isalpha((unsigned char)word[1])) {
      name = word;
      options[name];
    } else if (!name.empty()) {
      std::string &value = options[name];
      value += (value.empty() ? "" : " ") + word;
    }
  }
  return options;
}

namespace {

std::string Shown(const std::map<std::string, std::string> &options, const std::string &name) {
  const auto it = options.find(name);
  if (it == options.end()) return "no " + name;
  const std::string value = it->second.size() > 40 ? it->second.substr(0, 40) + "…" : it->second;
  return name + (value.empty() ? "" : " " + value);
}

// The first option (in name order) in which two option sets differ, as "mine … / theirs …".
std::string FirstDifference(const std::map<std::string, std::string> &mine, const std::map<std::string, std::string> &theirs, int rank) {
  std::map<std::string, int> names;
  for (const auto &[name, value] : mine) names[name];
  for (const auto &[name, value] : theirs) names[name];
  for (const auto &[name, unused] : names) {
    const auto a = mine.find(name), b = theirs.find(name);
    if (a == mine.end() || b == theirs.end() || a->second != b->second)
      return "rank " + std::to_string(rank) + " has " + Shown(mine, name) + ", rank 0 has " + Shown(theirs, name);
  }
  return "rank " + std::to_string(rank) + "'s options differ from rank 0's";
}

unsigned long long Fnv1a(const char *s) {
  unsigned long long h = 14695981039346656037ull;
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

// Collective: a string of rank `root` on every rank.
PetscErrorCode Broadcast(MPI_Comm comm, int root, std::string *s) {
  unsigned long long length = s->size();
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, comm));
  PetscCallCXX(s->resize(length));
  PetscCallMPI(MPI_Bcast(s->data(), (PetscMPIInt)length, MPI_CHAR, root, comm));
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode OptionsCheckSameOnAllRanks(MPI_Comm comm) {
  char *all;
  PetscMPIInt rank;
  std::string mine, theirs, difference;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscOptionsGetAll(nullptr, &all));
  PetscCallCXX(mine = all);
  PetscCall(PetscFree(all));
  // Equal on every rank iff the largest hash equals the smallest.
  unsigned long long h[2] = {Fnv1a(mine.c_str()), ~Fnv1a(mine.c_str())};
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, h, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm));
  if (h[0] == ~h[1]) PetscFunctionReturn(0);
  PetscCallCXX(theirs = mine);
  PetscCall(Broadcast(comm, 0, &theirs));
  int first = theirs != mine ? rank : INT_MAX;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm));
  if (rank == first) PetscCallCXX(difference = FirstDifference(OptionMap(mine), OptionMap(theirs), rank));
  PetscCall(Broadcast(comm, first, &difference));
  SETERRQ(comm, PETSC_ERR_USER_INPUT, "the ranks were given different options (%s); every rank must be given the same options", difference.c_str());
}

PetscErrorCode OptionsCheckValueLengths(MPI_Comm comm) {
  PetscInt n;
  char **names, **values;
  std::string error;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsLeftGet(nullptr, &n, &names, &values));
  for (PetscInt i = 0; i < n && error.empty(); ++i)
    if (values[i] && std::strlen(values[i]) > kMaxOptionValue)
      PetscCallCXX(error = "-" + std::string(names[i]) + " has a value of " + std::to_string(std::strlen(values[i])) +
                           " characters; ctflow reads at most " + std::to_string(kMaxOptionValue) +
                           (std::strcmp(names[i], "dt_schedule") ? "" : " (long step lists: -dt_schedule file:PATH)"));
  PetscCall(PetscOptionsLeftRestore(nullptr, &n, &names, &values));
  PetscCheck(error.empty(), comm, PETSC_ERR_USER_INPUT, "%s", error.c_str());
  PetscFunctionReturn(0);
}

namespace {

// Whether text is a whole integer within PetscInt's range.
bool IsPetscInt(const std::string &text) {
  char *end;
  errno = 0;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  return !text.empty() && !*end && errno != ERANGE && n >= PETSC_MIN_INT && n <= PETSC_MAX_INT;
}

bool IsReal(const std::string &text) {
  char *end;
  errno = 0;
  std::strtod(text.c_str(), &end);
  return !text.empty() && !*end && errno != ERANGE;
}

// Each comma-separated entry of option prefix+name must pass `valid`.
PetscErrorCode CheckList(MPI_Comm comm, const char prefix[], const char name[], bool (*valid)(const std::string &), const char what[]) {
  const char *value;
  PetscBool set;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsFindPair(nullptr, prefix, name, &value, &set));
  if (!set || !value) PetscFunctionReturn(0);
  std::istringstream entries(value);
  size_t n = 0;
  for (std::string entry; std::getline(entries, entry, ',');) {
    ++n;
    PetscCheck(valid(entry), comm, PETSC_ERR_USER_INPUT, "-%s%s '%s': entry %zu ('%s') is not %s", prefix ? prefix : "", name + 1, value, n,
               entry.c_str(), what);
  }
  PetscFunctionReturn(0);
}

// An integer or a range a-b of PETSc's integer arrays.
bool IsIntOrRange(const std::string &text) {
  const size_t dash = text.find('-', 1);
  return IsPetscInt(text) || (dash != std::string::npos && IsPetscInt(text.substr(0, dash)) && IsPetscInt(text.substr(dash + 1)));
}

}  // namespace

PetscErrorCode OptionsCheckIntList(MPI_Comm comm, const char prefix[], const char name[]) {
  return CheckList(comm, prefix, name, IsIntOrRange, "an integer");
}

PetscErrorCode OptionsCheckRealList(MPI_Comm comm, const char prefix[], const char name[]) {
  return CheckList(comm, prefix, name, IsReal, "a number");
}

PetscErrorCode OptionsCheckInt(MPI_Comm comm, const char prefix[], const char name[]) {
  const char *value;
  PetscBool set;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsFindPair(nullptr, prefix, name, &value, &set));
  if (!set || !value) PetscFunctionReturn(0);
  for (const char *keyword : {"PETSC_DEFAULT", "DEFAULT", "PETSC_DECIDE", "DECIDE", "PETSC_DETERMINE", "DETERMINE"})
    if (!strcasecmp(value, keyword)) PetscFunctionReturn(0);  // PETSc's own names, converted by its reader
  char *end;
  errno = 0;
  const long long n = std::strtoll(value, &end, 10);
  const std::string full = std::string("-") + (prefix ? prefix : "") + (name + 1);
  PetscCheck(end != value && !*end, comm, PETSC_ERR_USER_INPUT, "%s '%s' is not an integer", full.c_str(), value);
  PetscCheck(errno != ERANGE && n >= PETSC_MIN_INT && n <= PETSC_MAX_INT, comm, PETSC_ERR_USER_INPUT,
             "%s %s is out of range (PETSc's integers here hold at most %" PetscInt_FMT ")", full.c_str(), value, PETSC_MAX_INT);
  PetscFunctionReturn(0);
}

PetscErrorCode OptionsIntChecked(PetscOptionItems *items, const char name[], const char text[], const char man[], PetscInt current, PetscInt *value,
                                 PetscBool *set) {
  PetscFunctionBeginUser;
  PetscCall(OptionsCheckInt(items->comm, items->prefix, name));
  PetscCall(PetscOptionsInt_Private(items, name, text, man, current, value, set, PETSC_MIN_INT, PETSC_MAX_INT));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
