# What ctflow builds on, found the same way for the build and for a project that uses an installed ctflow
# (ctflowConfig.cmake includes this file): PETSc and OpenBLAS through pkg-config, BLIS, FFTW, MPI, parallel HDF5.
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
# BLIS for ctflow's BLAS (bench/RESULTS.md: faster than OpenBLAS's best kernels), OpenBLAS for LAPACK (as
# PETSc's). BLIS is linked first, so that its cblas_dgemm and dgemm_ are the ones the executables call.
pkg_check_modules(OpenBLAS REQUIRED IMPORTED_TARGET GLOBAL openblas)
find_library(BLIS_LIBRARY NAMES blis REQUIRED)
find_path(BLIS_INCLUDE_DIR blis.h PATH_SUFFIXES blis x86_64-linux-gnu/blis-openmp x86_64-linux-gnu/blis-pthread x86_64-linux-gnu/blis-serial REQUIRED)
find_dependency(MPI COMPONENTS C CXX)
find_library(FFTW3_LIBRARY fftw3 REQUIRED)  # Debian's PETSc links it; ctflow's convolutions call it directly
set(HDF5_PREFER_PARALLEL TRUE)
find_dependency(HDF5 COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "ctflow needs parallel HDF5 (Debian: libhdf5-openmpi-dev)")
endif()
