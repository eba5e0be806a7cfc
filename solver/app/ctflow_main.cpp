static char help[] =
    "ctflow: the continuous Transformer of Tai, Liu, Li & Chan (2025) as an evolution problem.\n\n"
    "  u_t = ∫_Ωh ⟨γ(x, ·, h; u), V(·, y, h; u)⟩_Ωx dh  + ∂I_S1(σ1, σ2)(u)\n"
    "        + Σ_j (⟨W_j(·, y), u(x, ·)⟩_Ωy + b_j(x, y)) + ∂I_S2(u),   u(x, y, 0) = f(x, y)\n\n"
    "solved by operator splitting on a cell-centred grid of Ω_x × Ω_y × Ω_h, tokens distributed over ranks.\n"
    "Examples:\n"
    "  mpirun -n 2 ctflow                                  # analytic controls, writes ctflow.h5\n"
    "  mpirun -n 2 ctflow -controls model.h5 -u0 x.h5 -traj run.h5\n"
    "  ctflow -Nx 64 -Ny 32 -T 2 -dt 0.05 -layernorm_eps 1e-5\n"
    "  mpirun -n 2 ctflow -study_levels 4 -study_refine t -split strang -split_substep ts   # convergence study\n\n";

#include <hdf5.h>

#include <exception>

#include "discretization/base/mpi_transport.hpp"
#include "operators/blas_kernels.hpp"
#include "solver/app/command_line.hpp"
#include "solver/app/error_reporting.hpp"
#include "solver/app/run_driver.hpp"

// PETSc, the run, and the report of its first error; the exit status.
static int Run(int argc, char **argv) {
  PetscCall(PetscInitialize(&argc, &argv, nullptr, help));
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // HDF5's own error stacks would bury our message
  PetscCall(ctflow::ErrorReporterPush());
  PetscErrorCode ierr;
  try {
    ierr = ctflow::RunCtflow(PETSC_COMM_WORLD);
  } catch (const std::exception &e) {  // last resort: every call that can throw is caught where it is made
    ierr = ctflow::ErrorFromException(e.what());
  }
  if (ierr) return ctflow::ErrorReport(ierr);
  PetscCall(ctflow::ErrorReporterPop());
  PetscCall(PetscFinalize());
  return 0;
}

int main(int argc, char **argv) {
  ctflow::BlasSelectKernels(&argc, &argv);  // may re-execute the process on better BLAS kernels, before MPI starts
  ctflow::MpiSelectTransport();             // how ranks on a node copy messages, read by MPI_Init
  // HDF5 must not close, at exit or in MPI_Finalize, a file abandoned after a failed write (parallel HDF5 1.10 can
  // crash or wait there; discretization/state_file.hpp): started before MPI, and with no exit hook, it never does.
  // Every other file is closed explicitly.
  H5dont_atexit();
  H5open();
  // MPI first, so that a command line PETSc cannot start with is reported once, before PetscInitialize reads it.
  MPI_Init(&argc, &argv);
  int status = ctflow::CheckCommandLine(MPI_COMM_WORLD, argc, argv);
  if (!status) status = Run(argc, argv);
  MPI_Finalize();
  return status;
}
