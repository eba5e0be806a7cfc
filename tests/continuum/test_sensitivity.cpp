// The sensitivity part of a convergence study (-study_sensitivity; solver/problem/controls_perturbation.hpp):
//
// * ScaledControls multiplies every flow by s and nothing else: the attention and feed-forward right-hand sides of
//   the scaled controls are s times those of the base controls (to 1e-13 relative: the same sums, one factor
//   applied earlier), the layer-norm projection and λ are the base's;
// * a study driven from C++ (SetProblemConfiguration, SetSensitivity) tells the paper's hard model, whose limit
//   forgets the controls, from its relaxation form, and leaves the options database as it found it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "discretization/analytic_controls.hpp"
#include "discretization/scaled_controls.hpp"
#include "operators/operator.hpp"
#include "solver/problem/convergence_study.hpp"
#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

Matrix Apply(const ctflow::Grid &grid, const ctflow::Controls &controls, const char *name, Vec u) {
  std::unique_ptr<ctflow::Operator> op;
  Vec v;
  Matrix out;
  EXPECT_EQ(ctflow::OperatorCreate(name, {&grid, &controls}, &op), 0);
  EXPECT_EQ(VecDuplicate(u, &v), 0);
  if (op->Kind() == ctflow::OperatorKind::Flow) {
    EXPECT_EQ(op->Rhs(0.3, u, v), 0);
  } else {
    EXPECT_EQ(VecCopy(u, v), 0);
    EXPECT_EQ(op->Project(0.3, v), 0);
  }
  EXPECT_EQ(GatherToAll(v, &out), 0);
  VecDestroy(&v);
  return out;
}

TEST(ScaledControls, MultiplyEveryFlowAndNothingElse) {
  PetscOptionsInsertString(nullptr, "-Nx 5 -Ny 7 -Nh 3 -Lx 3 -Ly 2.45 -Lh 1.2");
  ctflow::Grid grid(PETSC_COMM_WORLD);
  ctflow::AnalyticControls base(PETSC_COMM_WORLD);
  ASSERT_EQ(grid.SetFromOptions(), 0);
  ASSERT_EQ(base.SetFromOptions(), 0);
  ASSERT_EQ(grid.SetUp(), 0);
  PetscOptionsClear(nullptr);
  base.SetRelaxationRate(2.5);
  const Matrix u0 = RandomState(5, 7, 11);
  Vec u;
  ASSERT_EQ(CreateState(grid, &u0, nullptr, &u), 0);
  const double s = -1.7;
  const ctflow::ScaledControls scaled(base, s);
  for (const char *name : {"attention", "ffn1", "ffn2"}) {
    Matrix a = Apply(grid, base, name, u);
    double amax = 0;
    for (double x : a) amax = std::max(amax, std::abs(x));
    EXPECT_GT(amax, 1e-2) << name;  // a flow that does something here
    for (double &x : a) x *= s;
    EXPECT_LE(MaxRelativeDifference(Apply(grid, scaled, name, u), a), 1e-13) << name;
  }
  for (const char *name : {"layernorm", "relax_layernorm", "relax_relu"}) EXPECT_EQ(Apply(grid, scaled, name, u), Apply(grid, base, name, u)) << name;
  const Matrix zero = Apply(grid, ctflow::ScaledControls(base, 0), "attention", u);
  for (double x : zero) EXPECT_EQ(x, 0);
  VecDestroy(&u);
}

std::string AllOptions() {
  char *all;
  PetscOptionsGetAll(nullptr, &all);
  std::string s = all;
  PetscFree(all);
  return s;
}

// The paper's model, Lie, Δt = T/32 … T/512: asymptotic for both forms (docs/convergence.md, sensitivity table).
std::vector<ctflow::ConvergenceStudy::Sensitivity> Study(ctflow::ProjectionForm form) {
  ctflow::ConvergenceStudy study(PETSC_COMM_WORLD);
  study.SetProblemConfiguration([form](ctflow::Problem &p) {
    PetscFunctionBeginUser;
    PetscCall(p.SetFromOptions());
    PetscCall(p.GetGrid().SetSizes(8, 6, 1));
    p.GetIntegrator().SetFinalTime(0.5);
    p.GetIntegrator().SetTimeStep(0.5 / 32);
    p.GetIntegrator().SetProjectionForm(form);
    p.GetTrajectory().SetPath("none");
    PetscFunctionReturn(0);
  });
  study.SetLevels(5);
  study.SetCsvFile("none");
  study.SetSensitivity({{ctflow::ControlsPerturbation::Kind::Seed, 5}, {ctflow::ControlsPerturbation::Kind::Scale, 0}});
  EXPECT_EQ(study.Run(), 0);
  return study.Sensitivities();
}

TEST(ConvergenceStudy, SensitivityTellsTheHardLimitFromTheRelaxedOne) {
  const std::string before = AllOptions();
  const auto hard = Study(ctflow::ProjectionForm::Hard), relax = Study(ctflow::ProjectionForm::Relax);
  EXPECT_EQ(AllOptions(), before);
  ASSERT_EQ(hard.size(), 2u);
  ASSERT_EQ(relax.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(hard[i].Depends()) << hard[i].perturbation.Label();
    EXPECT_NEAR(std::log2(hard[i].max[3] / hard[i].max[4]), 1.0, 0.15) << hard[i].perturbation.Label();  // S falls like Δt
    EXPECT_TRUE(relax[i].Depends()) << relax[i].perturbation.Label();
    EXPECT_GT(relax[i].LowerBound(), 0.1) << relax[i].perturbation.Label();
  }
}

}  // namespace
