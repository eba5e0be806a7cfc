# What ctflow builds on, found the same way for the build and for a project that uses an installed ctflow
# (ctflowConfig.cmake includes this file): PETSc and OpenBLAS through pkg-config, MPI, parallel HDF5.
# CTFLOW_PETSC64: Debian's PETSc with 64-bit indices (petsc64-dev, pkg-config module PETSc64) instead of the default
# one (32-bit PetscInt), for states of more than 2^31 − 1 entries.
include(CMakeFindDependencyMacro)
find_dependency(PkgConfig)
option(CTFLOW_PETSC64 "Build against Debian's 64-bit-index PETSc (petsc64-dev)" OFF)
if(CTFLOW_PETSC64)
  pkg_check_modules(PETSc REQUIRED IMPORTED_TARGET GLOBAL PETSc64)
else()
  pkg_check_modules(PETSc REQUIRED IMPORTED_TARGET GLOBAL PETSc)
endif()
pkg_check_modules(OpenBLAS REQUIRED IMPORTED_TARGET GLOBAL openblas)
find_dependency(MPI COMPONENTS C CXX)
set(HDF5_PREFER_PARALLEL TRUE)
find_dependency(HDF5 COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "ctflow needs parallel HDF5 (Debian: libhdf5-openmpi-dev)")
endif()
