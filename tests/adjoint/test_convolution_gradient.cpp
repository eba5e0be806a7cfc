// The gradient of the convolutional models (paper §6; docs/adjoint.md) is the derivative of the loss the forward scheme
// computes: for a random direction δ = (δθ, δu0), r(ε) = |L(θ + ε δθ, u0 + ε δu0) − L(θ, u0) − ε ⟨∇L, δ⟩| = O(ε²), the
// observed slope log2(r(ε) / r(ε/2)) 2 ± 0.1 over four halvings of ε from 1e-4 (1e-5 for the file's model, whose ReLU
// kinks a step of 1e-4 crosses), with Δt < 1 (several steps per layer):
//  - the analytic convolutional controls (coefficients of the stencils, the embedding's too), one stage, the §6.2 order,
//    Strang with Euler substeps and Lie with RK4 (`ts`) substeps;
//  - a 2-stage model of a file (tests/adjoint/make_inputs.py conv.h5: token embedding, a 5 × 5 attention stencil on
//    FFTW, a token restriction between the stages) from u0, at the file's resolution and refined twice in y1 and y2
//    (stencils of 7 × 7 to 11 × 11 pixels on FFTW, the gradient summed back onto the file's cells);
//  - a 2-stage CvT classifier (cvt.h5: the image embedding, a token prolongation, the head) from an image, with the mse
//    loss on the last stage's state and with cross-entropy (δu0 = 0: the input is the image);
// and the staged model's gradient with two checkpoints per stage equals the stored one to 1e-13.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <random>

#include "solver/problem/problem.hpp"
#include "support/layered_model.hpp"

using ctflow_test::Matrix;

namespace {

std::string Input(const char *name) { return std::string(CTFLOW_ADJOINT_INPUTS) + "/" + name; }

// Rank 0 writes a random (rows, cols) target, once per name; collective.
std::string Target(const std::string &name, hsize_t rows, hsize_t cols, unsigned seed) {
  int rank, size;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  const std::string path = "conv_gradient_" + name + "_np" + std::to_string(size) + ".h5";
  if (rank == 0) {
    const Matrix v = ctflow_test::RandomState((int)rows, (int)cols, seed);
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {rows, cols};
    hid_t space = H5Screate_simple(2, dims, nullptr), ds = H5Dcreate2(file, "target", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(ds), H5Sclose(space), H5Fclose(file);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
  return path;
}

struct Case {
  std::string options;      // controls, grid, scheme, loss: as on the command line
  PetscInt Nx = 0, Ny = 0;  // u0 on the first stage's grid, random; 0: the input is -image
};

PetscErrorCode Build(const Case &c, const Matrix &u0, ctflow::Problem *p) {
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsInsertString(nullptr, c.options.c_str()));
  if (c.Nx) p->GetInitialState().SetValues(u0, c.Nx, c.Ny, "the test's u0");
  p->GetTrajectory().SetPath("none");
  PetscCall(p->SetFromOptions());
  p->SetAdjoint(true);
  PetscCall(p->SetUp());
  PetscCall(PetscOptionsClear(nullptr));
  PetscFunctionReturn(0);
}

struct Gradient {
  PetscReal L;
  ctflow::ControlsArrays theta, g;
  Matrix du0;
};

Gradient Evaluate(const Case &c, const Matrix &u0) {
  Gradient r;
  ctflow::Problem p(PETSC_COMM_WORLD);
  EXPECT_EQ(Build(c, u0, &p), 0);
  EXPECT_EQ(p.Solve(), 0);
  EXPECT_EQ(p.SolveAdjoint(), 0);
  r.L = p.LossValue();
  r.g = p.Gradient();
  EXPECT_EQ(p.GetControls().GetParameters(&r.theta), 0);
  EXPECT_EQ(ctflow_test::GatherToAll(p.GradientState(), &r.du0), 0);
  return r;
}

PetscReal Perturbed(const Case &c, const Matrix &u0, const Gradient &r, const ctflow::ControlsArrays &dtheta, const Matrix &du0, PetscReal eps) {
  ctflow::ControlsArrays t = r.theta;
  Matrix u = u0;
  for (size_t i = 0; i < u.size(); ++i) u[i] += eps * du0[i];
  EXPECT_EQ(t.Axpy(PETSC_COMM_WORLD, eps, dtheta), 0);
  ctflow::Problem p(PETSC_COMM_WORLD);
  EXPECT_EQ(Build(c, u, &p), 0);
  EXPECT_EQ(p.GetControls().SetParameters(t), 0);
  EXPECT_EQ(p.Solve(), 0);
  return p.LossValue();
}

void ExpectSecondOrder(const Case &c, PetscReal eps0 = 1e-4) {
  const Matrix u0 = c.Nx ? ctflow_test::RandomState((int)c.Nx, (int)c.Ny, 5) : Matrix();
  const Gradient r = Evaluate(c, u0);
  std::mt19937_64 rng(23);
  std::normal_distribution<double> normal;
  ctflow::ControlsArrays dtheta = r.g.ZerosLike();
  for (auto &a : dtheta.Arrays())
    for (PetscReal &v : a.values) v = normal(rng);
  Matrix du0(u0.size());
  for (double &v : du0) v = normal(rng);
  PetscReal directional;
  EXPECT_EQ(r.g.Dot(PETSC_COMM_WORLD, dtheta, &directional), 0);
  for (size_t i = 0; i < du0.size(); ++i) directional += r.du0[i] * du0[i];
  std::vector<double> residual;
  for (int k = 0; k < 5; ++k) {
    const PetscReal eps = eps0 / std::pow(2.0, k);
    residual.push_back(std::abs(Perturbed(c, u0, r, dtheta, du0, eps) - r.L - eps * directional));
  }
  for (int k = 0; k + 1 < 5; ++k) {
    const double slope = std::log2(residual[k] / residual[k + 1]);
    if (getenv("TAYLOR_VERBOSE")) PetscPrintf(PETSC_COMM_WORLD, "  eps %g residual %.3e slope %.3f\n", eps0 / std::pow(2.0, k), residual[k], slope);
    EXPECT_NEAR(slope, 2.0, 0.1) << c.options;
  }
}

TEST(ConvolutionGradient, AnalyticControlsCoefficients) {
  const std::string base = "-controls_type convolutional -controls_conv_width 0.5 -Nx 5 -Nh 2 -Ny1 8 -Ny2 6 -T 1 -dt 0.25 -loss mse -target " +
                           Target("analytic", 5, 48, 7);
  ExpectSecondOrder({base + " -split strang -split_substep euler", 5, 48});
  ExpectSecondOrder({base + " -split lie -split_substep ts", 5, 48});
}

TEST(ConvolutionGradient, StagedModelFromAFile) {
  const std::string base = "-controls " + Input("conv.h5") + " -dt 0.5 -split strang -loss mse -target ";
  ExpectSecondOrder({base + Target("staged", 3, 12, 8), 6, 48}, 1e-5);
}

TEST(ConvolutionGradient, StagedModelRefinedTwice) {
  ExpectSecondOrder({"-controls " + Input("conv.h5") + " -Ny1 16 -Ny2 12 -dt 0.5 -loss mse -target " + Target("refined", 3, 48, 9), 6, 192}, 1e-5);
}

TEST(ConvolutionGradient, CvtClassifierFromAnImage) {
  const std::string base = "-controls " + Input("cvt.h5") + " -image " + Input("cvt_image.h5") + " -dt 0.5 -split_substep ts ";
  ExpectSecondOrder({base + "-loss mse -target " + Target("cvt", 8, 12, 10)});
  ExpectSecondOrder({base + "-loss cross_entropy -label 3"});
}

TEST(ConvolutionGradient, CheckpointsPerStageRecomputeTheSameGradient) {
  const Case all{"-controls " + Input("conv.h5") + " -dt 0.5 -split strang -split_substep ts -loss mse -target " + Target("staged", 3, 12, 8), 6, 48};
  Case two = all;
  two.options += " -adjoint_checkpoints 2";
  const Matrix u0 = ctflow_test::RandomState(6, 48, 5);
  const Gradient a = Evaluate(all, u0), b = Evaluate(two, u0);
  Matrix ga, gb;
  for (size_t i = 0; i < a.g.Arrays().size(); ++i) {
    ga.insert(ga.end(), a.g.Arrays()[i].values.begin(), a.g.Arrays()[i].values.end());
    gb.insert(gb.end(), b.g.Arrays()[i].values.begin(), b.g.Arrays()[i].values.end());
  }
  EXPECT_LE(ctflow_test::MaxRelativeDifference(gb, ga), 1e-13);
  EXPECT_LE(ctflow_test::MaxRelativeDifference(b.du0, a.du0), 1e-13);
}

}  // namespace
