//                         ctflow example 1: controls given as C++ functions
//
// Build:    cmake --build build --target ex1_function_controls   (or against an installed ctflow: see
//           examples/CMakeLists.txt, find_package(ctflow CONFIG) and ctflow::ctflow)
//
// Sample runs:
//   mpirun -n 2 build/examples/ex1_function_controls
//   mpirun -n 4 build/examples/ex1_function_controls -Nx 128 -Ny 32 -dt 0.02 -traj ex1.h5
//   mpirun -n 2 build/examples/ex1_function_controls -split strang -split_substep ts -dt 0.1
//   build/examples/ex1_function_controls -controls_type analytic          (swap the controls by name)
//
// Description: the continuous Transformer of Tai, Liu, Li & Chan (2025), eq. (38),
//
//   u_t = ∫_Ωh ⟨γ(x, ·, h; u), V(·, y, h; u)⟩_Ωx dh + ∂I_S1(σ1, σ2)(u) + ⟨W_1(·, y, t), u(x, ·)⟩_Ωy + b_1(x, y, t) + ∂I_S2(u),
//   γ = Softmax_2(⟨Q(x, ·, h), K(η, ·, h)⟩_Ωy / sqrt|Ω_y|),   Q, K, V = ⟨W^{Q,K,V}(·, y, h, t), u(x, ·)⟩_Ωy,
//
// on Ω_x = Ω_y = Ω_h = [0, 1], with kernels this program defines as functions of (ξ, y, h, t): no HDF5 file and no
// change to the library. The controls are registered under a name, so they are selected like the built-in ones
// (-controls_type rotating), and every ctflow option applies (-Nx, -dt, -split, -traj, ... ; -help lists them).
//
// The kernels: a query/key pair that compares the first cosine modes of a token, so that tokens with similar
// profiles attend to each other (attention weights that vary by tens of percent); a value kernel that turns
// slowly in time; one feed-forward layer that damps the second mode.
static char help[] = "ctflow example 1: a continuous Transformer whose controls are C++ functions.\n\n";

#include <cmath>

#include "discretization/base/mpi_transport.hpp"
#include "discretization/function_controls.hpp"
#include "operators/blas_kernels.hpp"
#include "solver/problem/problem.hpp"

// Step 1: the controls θ(t) as functions. ξ, y ∈ Ω_y, h ∈ Ω_h, x ∈ Ω_x, t ≥ 0.
static ctflow::ControlFunctions RotatingControls() {
  const PetscReal pi = PETSC_PI;
  ctflow::ControlFunctions f;
  f.WQ = [pi](PetscReal xi, PetscReal y, PetscReal h, PetscReal) { return 6 * std::cos(pi * xi) * std::cos(pi * y) * (1 + std::cos(pi * h)) / 2; };
  f.WK = [pi](PetscReal xi, PetscReal y, PetscReal h, PetscReal) {
    return 6 * std::cos(pi * xi) * std::cos(pi * y) + std::sin(pi * h) * std::cos(2 * pi * (xi - y));
  };
  f.WV = [pi](PetscReal xi, PetscReal y, PetscReal, PetscReal t) { return std::cos(pi * (xi - y) + t) / 2; };
  f.W = {[pi](PetscReal xi, PetscReal y, PetscReal) { return -std::cos(2 * pi * xi) * std::cos(2 * pi * y); }};
  f.b = {[pi](PetscReal x, PetscReal y, PetscReal t) { return std::sin(2 * pi * x) * std::cos(pi * y) * std::cos(t) / 10; }};
  f.sigma2 = [](PetscReal t) { return 1 + t / 4; };
  return f;
}

// Step 2: a creator, so the controls can be registered and chosen by name.
static PetscErrorCode RotatingControlsCreate(MPI_Comm comm, std::unique_ptr<ctflow::Controls> *controls) {
  PetscFunctionBeginUser;
  PetscCallCXX(*controls = std::make_unique<ctflow::FunctionControls>(comm, RotatingControls(), "rotating (examples/ex1_function_controls.cpp)"));
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(MPI_Comm comm) {
  PetscFunctionBeginUser;
  // Step 3: register the controls and make them the default of this program.
  PetscCall(ctflow::ControlsRegister("rotating", RotatingControlsCreate));
  ctflow::Problem problem(comm);
  PetscCall(problem.SetControlsType("rotating"));
  // Step 4: the program's defaults, set in code (each setter mirrors an option, which may still override it).
  PetscCall(problem.GetGrid().SetSizes(48, 16, 2));
  problem.GetIntegrator().SetTimeStep(0.05);
  problem.GetIntegrator().SetOrder("attention, layernorm, ffn1, layernorm");
  problem.GetInitialState().SetFunction([](PetscReal x, PetscReal y) { return std::cos(2 * PETSC_PI * (x + y)) + x * std::sin(5 * y); },
                                        "cos(2π(x + y)) + x sin(5y)");
  problem.GetTrajectory().SetPath("ex1.h5");
  PetscCall(problem.SetFromOptions());
  // Step 5: set up (sizes fixed, composition built), show the problem, solve, report.
  PetscCall(problem.SetUp());
  PetscCall(problem.View(PETSC_VIEWER_STDOUT_(comm)));
  PetscCall(problem.Solve());
  PetscReal norm;
  PetscCall(problem.StateNorm(&norm));
  PetscCall(PetscPrintf(comm, "t = %g: ||u||_L2 = %.12e\n", (double)problem.GetIntegrator().FinalTime(), (double)norm));
  if (problem.GetTrajectory().Enabled())
    PetscCall(PetscPrintf(comm, "wrote %" PetscInt_FMT " states to %s (open %s in ParaView)\n", problem.GetTrajectory().NumSaved(),
                          problem.GetTrajectory().Path().c_str(), "ex1.xmf"));
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
