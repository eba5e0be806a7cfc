// The gradient is the derivative of the loss the forward scheme computes (docs/adjoint.md): for every registered
// splitting scheme and every substep integrator, Δt < 1 (several steps per layer), non-commuting operators
// (attention, the layer norm, two feed-forward flows) and a random direction δ = (δθ, δu0),
//   r(ε) = |L(θ + ε δθ, u0 + ε δu0) − L(θ, u0) − ε ⟨∇L, δ⟩| = O(ε²):
// the observed slope log2(r(ε) / r(ε/2)) is 2 ± 0.1 over four halvings of ε. Also with adaptive Δt, whose gradient is
// that of the loss with the accepted steps held fixed (the perturbed runs replay them with -dt_schedule file:), and
// with two checkpoints (the others recomputed), whose gradient must equal the stored one.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <random>

#include "solver/problem/problem.hpp"
#include "solver/timestepping/splitting_schemes.hpp"
#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

const int kNx = 6, kNy = 4, kNh = 2;

int Rank(MPI_Comm comm) {
  int r;
  MPI_Comm_rank(comm, &r);
  return r;
}

// The controls, initial state and target files of this test (rank 0 writes, once per rank count).
struct Fixture {
  std::string controls, target;
  Matrix u0;
};

const Fixture &Files() {
  static Fixture f;
  if (!f.controls.empty()) return f;
  int size;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  const std::string tag = "_np" + std::to_string(size);
  f.controls = "taylor_controls" + tag + ".h5";
  f.target = "taylor_target" + tag + ".h5";
  EXPECT_EQ(WriteControlsFile(PETSC_COMM_WORLD, f.controls, RandomModel(kNx, kNy, kNh, 2, 2, 0.4, true, 17)), 0);
  f.u0 = RandomState(kNx, kNy, 18);
  const Matrix v = RandomState(kNx, kNy, 19);
  if (Rank(PETSC_COMM_WORLD) == 0) {
    hid_t file = H5Fcreate(f.target.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {(hsize_t)kNx, (hsize_t)kNy};
    hid_t space = H5Screate_simple(2, dims, nullptr), ds = H5Dcreate2(file, "target", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(ds), H5Sclose(space), H5Fclose(file);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
  return f;
}

struct Case {
  std::string scheme, order, substep;
  std::string extra;            // further options, e.g. -dt_adapt
  std::string perturbed_extra;  // the options of the perturbed runs, if others (replaying the steps)
  PetscInt checkpoints = PETSC_DETERMINE;
  bool analytic = false;  // the analytic controls (their coefficients) instead of the layered file
};

// A problem of this test: the layered controls (2 layers on [0, 2)), Δt = 0.5, mse loss, u0 given.
PetscErrorCode Build(const Case &s, const Matrix &u0, ctflow::Problem *p) {
  PetscFunctionBeginUser;
  const Fixture &f = Files();
  PetscCall(PetscOptionsInsertString(nullptr, ("-target " + f.target + " " + s.extra).c_str()));
  if (s.analytic) {
    PetscCall(p->SetControlsType("analytic"));
    PetscCall(p->GetGrid().SetSizes(kNx, kNy, kNh));
  } else PetscCall(p->SetControlsFile(f.controls));
  p->GetInitialState().SetValues(u0, kNx, kNy, "the test's u0");
  p->GetIntegrator().SetTimeStep(0.5);
  p->GetIntegrator().SetScheme(s.scheme);
  p->GetIntegrator().SetOrder(s.order);
  p->GetIntegrator().SetSubstepType(s.substep);
  p->GetTrajectory().SetPath("none");
  PetscCall(p->SetLoss("mse"));
  PetscCall(p->SetFromOptions());
  p->SetAdjoint(true);
  p->SetAdjointCheckpoints(s.checkpoints);
  PetscCall(p->SetUp());
  PetscCall(PetscOptionsClear(nullptr));
  PetscFunctionReturn(0);
}

struct Gradient {
  PetscReal L;
  ctflow::ControlsArrays theta, g;
  Matrix du0;
};

Gradient Evaluate(const Case &s, MPI_Comm comm = PETSC_COMM_WORLD) {
  Gradient r;
  ctflow::Problem p(comm);
  EXPECT_EQ(Build(s, Files().u0, &p), 0);
  EXPECT_EQ(p.Solve(), 0);
  EXPECT_EQ(p.SolveAdjoint(), 0);
  r.L = p.LossValue();
  r.g = p.Gradient();
  EXPECT_EQ(p.GetControls().GetParameters(&r.theta), 0);
  EXPECT_EQ(GatherToAll(p.GradientState(), &r.du0), 0);
  return r;
}

// L at θ + ε δθ, u0 + ε δu0.
PetscReal Perturbed(const Case &s, const ctflow::ControlsArrays &theta, const ctflow::ControlsArrays &dtheta, const Matrix &du0, PetscReal eps) {
  ctflow::ControlsArrays t = theta;
  Matrix u0 = Files().u0;
  for (size_t i = 0; i < u0.size(); ++i) u0[i] += eps * du0[i];
  EXPECT_EQ(t.Axpy(PETSC_COMM_WORLD, eps, dtheta), 0);
  ctflow::Problem p(PETSC_COMM_WORLD);
  Case plain = s;
  if (!s.perturbed_extra.empty()) plain.extra = s.perturbed_extra;
  EXPECT_EQ(Build(plain, u0, &p), 0);
  EXPECT_EQ(p.GetControls().SetParameters(t), 0);
  EXPECT_EQ(p.Solve(), 0);
  return p.LossValue();
}

// The observed slopes of the Taylor remainder over four halvings.
std::vector<double> TaylorSlopes(const Case &s, PetscReal eps0) {
  const Gradient r = Evaluate(s);
  std::mt19937_64 rng(23);
  std::normal_distribution<double> normal;
  ctflow::ControlsArrays dtheta = r.g.ZerosLike();
  for (auto &a : dtheta.Arrays())
    for (PetscReal &v : a.values) v = normal(rng);
  Matrix du0(r.du0.size());
  for (double &v : du0) v = normal(rng);
  PetscReal directional;
  EXPECT_EQ(r.g.Dot(PETSC_COMM_WORLD, dtheta, &directional), 0);
  for (size_t i = 0; i < du0.size(); ++i) directional += r.du0[i] * du0[i];
  std::vector<double> residual, slopes;
  for (int k = 0; k < 5; ++k) {
    const PetscReal eps = eps0 / std::pow(2.0, k);
    residual.push_back(std::abs(Perturbed(s, r.theta, dtheta, du0, eps) - r.L - eps * directional));
  }
  for (int k = 0; k + 1 < 5; ++k) slopes.push_back(std::log2(residual[k] / residual[k + 1]));
  if (getenv("TAYLOR_VERBOSE"))
    for (int k = 0; k < 5; ++k)
      printf("  eps %g residual %.3e %s\n", eps0 / std::pow(2.0, k), residual[k], k < 4 ? std::to_string(slopes[k]).c_str() : "");
  return slopes;
}

void ExpectSecondOrder(const Case &s, PetscReal eps0 = 1e-4) {
  const std::vector<double> slopes = TaylorSlopes(s, eps0);
  for (double p : slopes) EXPECT_NEAR(p, 2.0, 0.1) << s.scheme << " with " << s.substep << " (" << s.order << ") " << s.extra;
}

const char kOrder[] = "attention, layernorm, ffn1, ffn2";

class EveryScheme : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryScheme, WithEulerAndTsSubsteps) {
  for (const char *substep : {"euler", "ts"}) ExpectSecondOrder({GetParam(), kOrder, substep});
}

TEST_P(EveryScheme, WithImplicitAndExactAffineSubsteps) {
  for (const char *substep : {"implicit", "exact"})
    ExpectSecondOrder({GetParam(), std::string("attention, layernorm, ffn1@") + substep + ", ffn2@" + substep, "euler"});
}

INSTANTIATE_TEST_SUITE_P(Registered, EveryScheme, ::testing::ValuesIn([] {
                           (void)ctflow::SplittingSchemeRegisterAll();
                           return ctflow::SplittingSchemeNames();
                         }()));

TEST(Gradient, AdaptiveStepsAreReplayed) {
  int size;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  const std::string steps = "taylor_adaptive_steps_np" + std::to_string(size) + ".txt";
  Case s{"strang", kOrder, "euler", "-dt_adapt -dt_adapt_rtol 1e-3 -dt_adapt_atol 1e-3 -dt_adapt_save " + steps, "-dt_schedule file:" + steps};
  ExpectSecondOrder(s);
}

TEST(Gradient, CheckpointsRecomputeTheSameGradient) {
  const Case all{"strang", kOrder, "ts"};
  Case two = all;
  two.checkpoints = 2;
  ExpectSecondOrder(two);
  const Gradient a = Evaluate(all), b = Evaluate(two);
  PetscReal diff = 0, norm = 0;
  for (size_t i = 0; i < a.g.Arrays().size(); ++i)
    for (size_t k = 0; k < a.g.Arrays()[i].values.size(); ++k) {
      diff = std::max(diff, std::abs(a.g.Arrays()[i].values[k] - b.g.Arrays()[i].values[k]));
      norm = std::max(norm, std::abs(a.g.Arrays()[i].values[k]));
    }
  EXPECT_LE(diff, 1e-13 * norm);
  EXPECT_LE(MaxRelativeDifference(b.du0, a.du0), 1e-13);
}

// The relaxation form and the manifold scheme of docs/continuum.md (relax_*, tangent_* flows) have their gradient too.
TEST(Gradient, RelaxationAndManifoldForms) {
  ExpectSecondOrder({"strang", "attention, layernorm, ffn1, relu, ffn2", "ts", "-split_projections relax"});
  ExpectSecondOrder({"strang", "attention, layernorm, ffn1, ffn2", "ts", "-split_projections manifold"});
}

// The analytic controls' coefficients c_p (discretization/analytic_controls.hpp) are parameters too.
TEST(Gradient, AnalyticControlsCoefficients) {
  Case s{"strang", kOrder, "ts"};
  s.analytic = true;
  ExpectSecondOrder(s);
}

// The gradient starts from GetZeroParameters: θ's names, shapes and kinds, every value zero (layered and analytic).
TEST(Gradient, StartsFromZerosInTheLayoutOfTheParameters) {
  for (bool analytic : {false, true}) {
    Case s{"lie", kOrder, "euler"};
    s.analytic = analytic;
    ctflow::Problem p(PETSC_COMM_WORLD);
    ASSERT_EQ(Build(s, Files().u0, &p), 0);
    ctflow::ControlsArrays theta, zero;
    ASSERT_EQ(p.GetControls().GetParameters(&theta), 0);
    ASSERT_EQ(p.GetControls().GetZeroParameters(&zero), 0);
    ASSERT_FALSE(theta.Empty());
    ASSERT_EQ(zero.Arrays().size(), theta.Arrays().size());
    for (size_t i = 0; i < theta.Arrays().size(); ++i) {
      const ctflow::ControlsArray &a = theta.Arrays()[i], &z = zero.Arrays()[i];
      EXPECT_EQ(z.name, a.name);
      EXPECT_EQ(z.shape, a.shape) << a.name;
      EXPECT_EQ(z.attribute, a.attribute) << a.name;
      EXPECT_EQ(std::vector<PetscReal>(z.values.begin(), z.values.end()), std::vector<PetscReal>(a.values.size(), 0.0)) << a.name;
    }
  }
}

// The same problem on all ranks and on each rank alone: the same loss, parameter gradient and dL/du0 to round-off.
TEST(Gradient, IsTheSameOnEveryRankCount) {
  const Case s{"strang", kOrder, "ts"};
  const Gradient world = Evaluate(s), self = Evaluate(s, PETSC_COMM_SELF);
  EXPECT_NEAR(world.L, self.L, 1e-13 * std::abs(self.L));
  for (size_t i = 0; i < self.g.Arrays().size(); ++i) {
    const ctflow::ControlsValues &w = world.g.Arrays()[i].values, &s = self.g.Arrays()[i].values;
    EXPECT_LE(MaxRelativeDifference({w.begin(), w.end()}, {s.begin(), s.end()}), 1e-13) << self.g.Arrays()[i].name;
  }
  EXPECT_LE(MaxRelativeDifference(world.du0, self.du0), 1e-13);
}

}  // namespace
