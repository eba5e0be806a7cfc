// The library face of ctflow (solver/problem/problem.hpp): a Problem configured by setters solves the same problem
// as the options that mirror them; SetUp and Solve may be repeated; controls given as C++ functions or registered
// by name; a convergence study leaves the options database as it found it.
#include <gtest/gtest.h>

#include <cmath>

#include "discretization/analytic_controls.hpp"
#include "discretization/function_controls.hpp"
#include "solver/problem/convergence_study.hpp"
#include "solver/problem/problem.hpp"
#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

int Size(MPI_Comm comm) {
  int size;
  MPI_Comm_size(comm, &size);
  return size;
}

Matrix FinalState(ctflow::Problem &p) {
  Matrix u;
  EXPECT_EQ(p.SetUp(), 0);
  EXPECT_EQ(p.Solve(), 0);
  EXPECT_EQ(GatherToAll(p.State(), &u), 0);
  return u;
}

std::string AllOptions() {
  char *all;
  PetscOptionsGetAll(nullptr, &all);
  std::string s = all;
  PetscFree(all);
  return s;
}

TEST(Problem, SettersSolveWhatTheMirroredOptionsSolve) {
  PetscOptionsInsertString(nullptr, "-Nx 12 -Ny 6 -Nh 2 -T 0.5 -dt 0.125 -split strang -split_order attention,ffn1,layernorm -traj none");
  ctflow::Problem by_options(PETSC_COMM_WORLD);
  ASSERT_EQ(by_options.SetFromOptions(), 0);
  const Matrix a = FinalState(by_options);
  PetscOptionsClear(nullptr);

  ctflow::Problem by_setters(PETSC_COMM_WORLD);
  ASSERT_EQ(by_setters.GetGrid().SetSizes(12, 6, 2), 0);
  ctflow::Integrator &integrator = by_setters.GetIntegrator();
  integrator.SetFinalTime(0.5);
  integrator.SetTimeStep(0.125);
  integrator.SetScheme("strang");
  integrator.SetOrder("attention,ffn1,layernorm");
  by_setters.GetTrajectory().SetPath("none");
  const Matrix b = FinalState(by_setters);
  EXPECT_EQ(a, b);
  EXPECT_EQ(by_setters.GetIntegrator().Scheme(), "seq(attention[0, 0.5], ffn1[0, 0.5], layernorm, ffn1[0.5, 1], attention[0.5, 1])");
}

TEST(Problem, SettersAfterSetFromOptionsWinAndSolveRepeats) {
  PetscOptionsInsertString(nullptr, "-Nx 8 -Ny 4 -Nh 1 -dt 0.25 -traj none");
  ctflow::Problem p(PETSC_COMM_WORLD);
  ASSERT_EQ(p.SetFromOptions(), 0);
  PetscOptionsClear(nullptr);
  p.GetIntegrator().SetTimeStep(0.5);
  const Matrix first = FinalState(p);
  EXPECT_EQ(p.GetIntegrator().NumSteps(), 2);
  EXPECT_EQ(p.Solve(), 0);  // again from f: the same answer
  Matrix again;
  ASSERT_EQ(GatherToAll(p.State(), &again), 0);
  EXPECT_EQ(first, again);
  // A new grid: SetUp again.
  ASSERT_EQ(p.GetGrid().SetSizes(16, PETSC_DECIDE, PETSC_DECIDE), 0);
  EXPECT_EQ(FinalState(p).size(), 16u * 4u);
}

// W^Q, W^K, W^V, W_1, b_1 and σ1, σ2 given as functions reproduce the analytic controls they copy.
TEST(Problem, FunctionControlsSampleLikeTheControlsTheyCopy) {
  MPI_Comm comm = PETSC_COMM_WORLD;
  ctflow::Grid grid(comm);
  ASSERT_EQ(grid.SetSizes(5, 4, 2), 0);
  ASSERT_EQ(grid.SetUp(), 0);
  ctflow::ControlFunctions f;
  f.WQ = [](PetscReal xi, PetscReal y, PetscReal h, PetscReal t) { return xi + 2 * y + 3 * h + 4 * t; };
  f.WK = [](PetscReal xi, PetscReal y, PetscReal h, PetscReal t) { return xi * y - h * t; };
  f.WV = [](PetscReal xi, PetscReal y, PetscReal, PetscReal) { return std::cos(xi - y); };
  f.W = {[](PetscReal xi, PetscReal y, PetscReal t) { return xi - y + t; }};
  f.b = {[](PetscReal x, PetscReal y, PetscReal t) { return x * y * t; }};
  f.sigma1 = [](PetscReal t) { return t / 2; };
  ctflow::FunctionControls controls(comm, f, "test");
  ASSERT_EQ(controls.SetUp(&grid), 0);
  ctflow::AttentionKernels a;
  ASSERT_EQ(controls.SampleAttention(0.5, grid, &a), 0);
  const PetscInt Ny = 4;
  for (PetscInt m = 0; m < 2; ++m)
    for (PetscInt i = 0; i < Ny; ++i)
      for (PetscInt l = 0; l < Ny; ++l) {
        EXPECT_DOUBLE_EQ(a.WQ[(m * Ny + i) * Ny + l], grid.y(i) + 2 * grid.y(l) + 3 * grid.h(m) + 2);
        EXPECT_DOUBLE_EQ(a.WK[(m * Ny + i) * Ny + l], grid.y(i) * grid.y(l) - grid.h(m) * 0.5);
      }
  EXPECT_EQ(a.scale, 1.0);
  ctflow::FeedForwardKernel k;
  ASSERT_EQ(controls.SampleFeedForward(1, 1.0, grid, &k), 0);
  EXPECT_DOUBLE_EQ(k.W[1 * Ny + 2], grid.y(1) - grid.y(2) + 1);
  for (PetscInt r = 0; r < grid.XLocal(); ++r) EXPECT_DOUBLE_EQ(k.b[r * Ny + 3], grid.x(grid.XStart() + r) * grid.y(3));
  ctflow::LayerNormTargets s;
  ASSERT_EQ(controls.SampleLayerNorm(0, 3.0, &s), 0);
  EXPECT_EQ(s.sigma1, 1.5);
  EXPECT_EQ(s.sigma2, 1.0);
}

// A program's own controls source, registered by name and selected by -controls_type, solves its problem.
PetscErrorCode ShearCreate(MPI_Comm comm, std::unique_ptr<ctflow::Controls> *controls) {
  ctflow::ControlFunctions f;
  f.WQ = f.WK = [](PetscReal xi, PetscReal y, PetscReal, PetscReal) { return std::cos(PETSC_PI * xi) * std::cos(PETSC_PI * y); };
  f.WV = [](PetscReal xi, PetscReal y, PetscReal, PetscReal) { return xi - y; };
  *controls = std::make_unique<ctflow::FunctionControls>(comm, f, "shear");
  return 0;
}

TEST(Problem, ControlsRegisteredByNameAreSelectedByOption) {
  ASSERT_EQ(ctflow::ControlsRegister("shear", ShearCreate), 0);
  PetscOptionsInsertString(nullptr, "-controls_type shear -Nx 6 -Ny 4 -Nh 1 -traj none");
  ctflow::Problem p(PETSC_COMM_WORLD);
  ASSERT_EQ(p.SetFromOptions(), 0);
  PetscOptionsClear(nullptr);
  EXPECT_EQ(p.GetControls().Description(), "shear");
  EXPECT_EQ(p.GetControls().NumFeedForward(), 0);
  const Matrix u = FinalState(p);
  EXPECT_EQ(p.GetIntegrator().Scheme(), "seq(attention, layernorm, layernorm)");
  for (double v : u) EXPECT_TRUE(std::isfinite(v));
}

// The study configures every level by setters: the options database is the same before and after, also when it
// writes trajectories and a CSV file.
TEST(ConvergenceStudy, LeavesTheOptionsDatabaseUnchanged) {
  const std::string tag = std::to_string(Size(PETSC_COMM_WORLD));
  const std::string options = "-Nx 8 -Ny 4 -Nh 1 -T 0.25 -dt 0.125 -split_order attention,ffn1 -study_levels 3 -study_refine t,x -traj study_np" +
                              tag + ".h5 -study_csv study_np" + tag + ".csv";
  PetscOptionsInsertString(nullptr, options.c_str());
  const std::string before = AllOptions();
  ctflow::ConvergenceStudy study(PETSC_COMM_WORLD);
  ASSERT_EQ(study.SetFromOptions(), 0);
  ASSERT_EQ(study.Run(), 0);
  EXPECT_EQ(AllOptions(), before);
  ASSERT_EQ(study.Rows().size(), 3u);
  EXPECT_EQ(study.Rows()[2].Nx, 32);
  EXPECT_EQ(study.Rows()[2].dt, 0.125 / 4);
  EXPECT_GT(study.Rows()[0].e_l2, study.Rows()[1].e_l2);
  PetscOptionsClear(nullptr);
}

}  // namespace
