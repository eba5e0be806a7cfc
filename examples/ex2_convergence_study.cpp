//                         ctflow example 2: a convergence study driven from C++
//
// Build:    cmake --build build --target ex2_convergence_study
//
// Sample runs:
//   mpirun -n 2 build/examples/ex2_convergence_study
//   mpirun -n 2 build/examples/ex2_convergence_study -scheme lie
//   mpirun -n 4 build/examples/ex2_convergence_study -levels 5 -scheme strang
//
// Description: the observed order in Δt of a splitting scheme for the smooth part of the continuous Transformer,
//
//   u_t = ∫_Ωh ⟨γ(x, ·, h; u), V(·, y, h; u)⟩_Ωx dh + Σ_{j=1,2} (⟨W_j(·, y, t), u(x, ·)⟩_Ωy + b_j(x, y, t)),
//
// (attention and two feed-forward flows, no projections; the analytic controls of
// discretization/analytic_controls.hpp), each flow substep solved by PETSc's RK4 (`ts`), so that the splitting
// error is what remains. A ConvergenceStudy solves the same Problem on levels k = 0 … L−1 with Δt / 2^k and
// compares the final states with the finest level (e_k = ‖u_k − u_{L−1}‖_L2): for a scheme of order p,
// e_k ∝ Δt_k^p − Δt_{L−1}^p and log2(e_{k}/e_{k+1}) → p. The problem of every level is configured by a function
// of this program, not by the options database.
static char help[] = "ctflow example 2: the observed order in Δt of a splitting scheme, by a convergence study.\n\n";

#include <cmath>

#include "discretization/base/mpi_transport.hpp"
#include "operators/blas_kernels.hpp"
#include "solver/problem/convergence_study.hpp"

// Step 1: this program's options (ProcessOptions, as PETSc's tutorials).
struct Options {
  PetscInt levels = 4;
  char scheme[64] = "strang";
};

static PetscErrorCode ProcessOptions(MPI_Comm comm, Options *o) {
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, "", "Example 2 options", "");
  PetscCall(PetscOptionsInt("-levels", "Levels of the study (Δt halved per level)", "", o->levels, &o->levels, nullptr));
  PetscCall(PetscOptionsString("-scheme", "Splitting scheme (lie, strang, symmetric, ...)", "", o->scheme, o->scheme, sizeof(o->scheme), nullptr));
  PetscOptionsEnd();
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(MPI_Comm comm) {
  Options o;
  PetscFunctionBeginUser;
  PetscCall(ProcessOptions(comm, &o));
  // Step 2: the problem of every level, in code: sizes, scheme, substeps; no trajectory.
  ctflow::ConvergenceStudy study(comm);
  const std::string scheme = o.scheme;
  study.SetProblemConfiguration([scheme](ctflow::Problem &p) {
    PetscFunctionBeginUser;
    PetscCall(p.GetGrid().SetSizes(8, 6, 1));
    ctflow::Integrator &integrator = p.GetIntegrator();
    integrator.SetFinalTime(0.5);
    integrator.SetTimeStep(0.0625);
    integrator.SetScheme(scheme);
    integrator.SetOrder("attention, ffn1, ffn2");
    integrator.SetSubstepType("ts");
    p.GetTrajectory().SetPath("none");
    PetscFunctionReturn(0);
  });
  // Step 3: refine t only, L levels, reference: the finest level; no CSV file.
  study.SetLevels(o.levels);
  study.SetRefinement(false, false, false, true);
  study.SetCsvFile("none");
  PetscCall(study.SetUp());
  PetscCall(study.Run());
  PetscCall(study.View(PETSC_VIEWER_STDOUT_(comm)));
  // Step 4: the order the two coarsest levels show (the finest reference biases the last pairs).
  const auto &rows = study.Rows();
  PetscCall(PetscPrintf(comm, "observed order of %s in dt: p = %.2f\n", o.scheme, (double)std::log2(rows[0].e_l2 / rows[1].e_l2)));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv) {
  ctflow::BlasSelectKernels(&argc, &argv);  // the CPU's best BLAS kernels (may re-execute the program), before MPI starts
  ctflow::MpiSelectTransport();             // how ranks on a node copy messages, read by MPI_Init
  PetscCall(PetscInitialize(&argc, &argv, nullptr, help));
  PetscCall(Run(PETSC_COMM_WORLD));
  PetscCall(PetscFinalize());
  return 0;
}
