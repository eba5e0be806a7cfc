#include "discretization/base/sizes.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <fstream>
#include <limits>

namespace ctflow {

bool CheckedProduct(std::initializer_list<size_t> factors, size_t *product) {
  size_t p = 1;
  for (size_t f : factors)
    if (__builtin_mul_overflow(p, f, &p)) return false;
  *product = p;
  return true;
}

PetscErrorCode SizeToPetscInt(MPI_Comm comm, const char what[], std::initializer_list<size_t> factors, PetscInt *n) {
  size_t p = 0;
  std::string text;
  PetscFunctionBeginUser;
  for (size_t f : factors) PetscCallCXX(text += (text.empty() ? "" : " x ") + std::to_string(f));
  const bool fits = CheckedProduct(factors, &p) && p <= (size_t)PETSC_MAX_INT;
  PetscCheck(fits, comm, PETSC_ERR_USER_INPUT,
             "%s = %s entries does not fit PETSc's %d-bit indices (at most %" PetscInt_FMT
             "); for larger problems build ctflow with -DCTFLOW_PETSC64=ON (Debian: petsc64-dev)",
             what, text.c_str(), (int)(8 * sizeof(PetscInt)), PETSC_MAX_INT);
  *n = (PetscInt)p;
  PetscFunctionReturn(0);
}

double NodeMemoryBytes() {
  double bytes = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
  // A container's limit: cgroup v2, then v1 ("max" or a huge number: no limit).
  for (const char *path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    double limit;
    if (in >> limit && limit > 0) bytes = std::min(bytes, limit);
  }
  return bytes;
}

std::string FormatBytes(double bytes) {
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000 && u < 6) bytes /= 1000, ++u;
  char text[48];
  std::snprintf(text, sizeof(text), u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return text;
}

// This process's address-space limit (ulimit -v) and the address space it uses now, in bytes; limit 0: none.
static void AddressSpace(double *limit, double *used) {
  struct rlimit rl;
  *limit = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : 0;
  std::ifstream statm("/proc/self/statm");
  double pages = 0;
  *used = statm >> pages ? pages * (double)sysconf(_SC_PAGE_SIZE) : 0;
}

PetscErrorCode MemoryCheck(MPI_Comm comm, double bytes, const std::string &what) {
  MPI_Comm node;
  PetscMPIInt rank, node_size;
  double on_node = bytes, limit, used;
  struct {
    double ratio;
    int rank;
  } worst;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &on_node, 1, MPI_DOUBLE, MPI_SUM, node));
  PetscCallMPI(MPI_Comm_size(node, &node_size));
  PetscCallMPI(MPI_Comm_free(&node));
  AddressSpace(&limit, &used);
  // The node's memory shared by its ranks, and this rank's own limit if it has one: the tighter of the two.
  const double node_ratio = on_node / NodeMemoryBytes(), rank_ratio = limit > 0 ? (used + bytes) / limit : 0;
  double facts[6] = {rank_ratio > node_ratio ? 1.0 : 0.0, on_node, NodeMemoryBytes(), (double)node_size, limit, bytes};
  worst.ratio = std::max(node_ratio, rank_ratio);
  worst.rank = rank;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_DOUBLE_INT, MPI_MAXLOC, comm));
  if (worst.ratio <= 1) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Bcast(facts, 6, MPI_DOUBLE, worst.rank, comm));
  if (facts[0])
    SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s needs %s more on rank %d than its address-space limit (ulimit -v) of %s allows", what.c_str(),
            FormatBytes(facts[5]).c_str(), worst.rank, FormatBytes(facts[4]).c_str());
  SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s needs %s on a node (%d rank(s)), more than the node's memory of %s", what.c_str(),
          FormatBytes(facts[1]).c_str(), (int)facts[3], FormatBytes(facts[2]).c_str());
}

PetscErrorCode WorkSpaceCheck(MPI_Comm comm, const std::string &what, const std::vector<WorkArray> &arrays) {
  std::vector<double> counts(arrays.size(), 1);
  double bytes = 0;
  PetscFunctionBeginUser;
  for (size_t i = 0; i < arrays.size(); ++i) {
    for (size_t n : arrays[i].dims) counts[i] *= (double)n;  // in double: no overflow, exact below 2^53
    bytes += counts[i] * sizeof(PetscScalar);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, counts.data(), (PetscMPIInt)counts.size(), MPI_DOUBLE, MPI_MAX, comm));
  for (size_t i = 0; i < arrays.size(); ++i)
    PetscCheck(counts[i] <= INT_MAX, comm, PETSC_ERR_USER_INPUT,
               "%s: its array %s would hold %.17g entries on one rank, more than the %d that BLAS and MPI address with an int; use more ranks "
               "or smaller sizes",
               what.c_str(), arrays[i].name, counts[i], INT_MAX);
  PetscCall(MemoryCheck(comm, bytes, what));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
