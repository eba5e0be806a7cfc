// GoogleTest main for tests that run under mpiexec: PETSc/MPI initialised once, results printed by
// rank 0 only, and the exit status agreed by all ranks (a failure on any rank fails the test).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <petscsys.h>

#include "operators/blas_kernels.hpp"

int main(int argc, char **argv) {
  ctflow::BlasSelectKernels(&argc, &argv);  // the tests run on the kernels ctflow selects
  ::testing::InitGoogleTest(&argc, argv);
  PetscCall(PetscInitialize(&argc, &argv, nullptr, nullptr));
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  PetscMPIInt rank;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank != 0) {
    auto &listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, PETSC_COMM_WORLD));
  PetscCall(PetscFinalize());
  return failed;
}
