// Sizes and the memory they imply, checked before anything is allocated (docs/errors.md).
//
// Sizes come from the user (options, the dimensions a file declares), so their products are formed in size_t
// with overflow checks (CheckedProduct), never in int. A size that PETSc stores (a vector's length, a DMDA's
// N_x N_y) must fit a PetscInt: 2^31 − 1 with Debian's default PETSc, 2^63 − 1 with petsc64-dev (CMake option
// CTFLOW_PETSC64). BLAS (OpenBLAS's cblas) and MPI count in int. MemoryCheck compares the bytes the ranks of
// each node are about to allocate with that node's memory, so a size that cannot fit is refused up front with
// the bytes it needs instead of being tried.
#pragma once
#include <petscsys.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace ctflow {

// The product of the factors, or false if it does not fit a size_t.
bool CheckedProduct(std::initializer_list<size_t> factors, size_t *product);
// Collective (the same factors on every rank): the product as a PetscInt; fails if it does not fit one. what
// names the quantity, e.g. "the state u (N_x N_y)".
PetscErrorCode SizeToPetscInt(MPI_Comm comm, const char what[], std::initializer_list<size_t> factors, PetscInt *n);
// Physical memory of this node in bytes: the smaller of its RAM and a cgroup (container) limit.
double NodeMemoryBytes();
// Collective: fails on every rank, naming `what` and the bytes, if on some node the ranks together would need
// more than the node's memory for an allocation of `bytes` on this rank, or if a rank would exceed its own
// address-space limit (ulimit -v).
PetscErrorCode MemoryCheck(MPI_Comm comm, double bytes, const std::string &what);
// An array of doubles a computation allocates: its name and its dimensions (element count: their product).
struct WorkArray {
  const char *name;
  std::vector<size_t> dims;
};
// Collective (the same arrays on every rank, their dimensions may differ): fails on every rank unless every
// array's element count fits an int (they are BLAS operands and MPI messages) and the arrays together fit the
// memory of every node (MemoryCheck). what names the computation, e.g. "attention (-attention_tile 256)".
PetscErrorCode WorkSpaceCheck(MPI_Comm comm, const std::string &what, const std::vector<WorkArray> &arrays);
// Bytes for messages: "512 B", "3.2 MB", "80.0 GB", "8.0 PB" (powers of 1000).
std::string FormatBytes(double bytes);

}  // namespace ctflow
