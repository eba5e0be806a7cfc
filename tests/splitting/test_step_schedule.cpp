// Variable Δt (-dt_schedule, solver/timestepping/step_schedule.hpp) and the errors of scheme selection: a schedule of
// equal steps gives the uniform -dt solution; partial sums hit layer boundaries exactly; bad schedules,
// unknown schemes and bad hybrid groupings fail with one clear message each.
#include <gtest/gtest.h>

#include "discretization/analytic_controls.hpp"
#include "solver/timestepping/integrator.hpp"
#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

class StepSchedule : public ::testing::Test {
 protected:
  void SetUp() override { PetscOptionsInsertString(nullptr, "-Nx 6 -Ny 4 -Nh 1"); }
  void TearDown() override { PetscOptionsClear(nullptr); }
  Matrix Solve(const char *options) {
    Matrix u;
    PetscOptionsInsertString(nullptr, options);
    EXPECT_EQ(SolveAnalytic(PETSC_COMM_WORLD, &u), 0);
    return u;
  }
  // The integrator's options error ("" if none); times: its t^n.
  std::string SetUpError(const char *options, std::vector<PetscReal> *times = nullptr) {
    ctflow::Grid grid(PETSC_COMM_WORLD);
    ctflow::AnalyticControls controls(PETSC_COMM_WORLD);
    PetscOptionsInsertString(nullptr, options);
    EXPECT_EQ(grid.SetFromOptions(), 0);
    EXPECT_EQ(controls.SetFromOptions(), 0);
    ctflow::Integrator integrator(grid, controls);
    PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
    const PetscErrorCode ierr = integrator.SetFromOptions();
    PetscPopErrorHandler();
    if (times && !ierr) *times = integrator.StepTimes();
    if (!ierr) return "";
    const char *text;
    char *specific;
    PetscErrorMessage(ierr, &text, &specific);
    return specific;
  }
};

TEST_F(StepSchedule, EqualStepsGiveTheUniformSolution) {
  const Matrix uniform = Solve("-T 0.5 -dt 0.125 -split strang");
  PetscOptionsClearValue(nullptr, "-dt");
  EXPECT_EQ(Solve("-dt_schedule 0.125,0.125,0.125,0.125"), uniform);
  PetscOptionsClearValue(nullptr, "-dt_schedule");
  EXPECT_EQ(Solve("-dt_schedule geometric:0.125,1"), uniform);
}

TEST_F(StepSchedule, LastStepEndsExactlyAtTAndPartialSumsHitBoundaries) {
  std::vector<PetscReal> t;
  // Ten steps of 0.1 add up to 0.9999999999999999 in naive floating point; the schedule's t^10 is 1 exactly.
  ASSERT_EQ(SetUpError("-T 1.5 -dt_schedule 0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.7", &t), "");
  ASSERT_EQ(t.size(), 12u);
  EXPECT_EQ(t[10], 1.0);
  EXPECT_EQ(t.back(), 1.5);
  PetscOptionsClearValue(nullptr, "-dt_schedule");
  ASSERT_EQ(SetUpError("-T 1 -dt_schedule geometric:0.1,1.5", &t), "");
  EXPECT_EQ(t.back(), 1.0);
  for (size_t n = 1; n < t.size(); ++n) EXPECT_GT(t[n], t[n - 1]);
}

TEST_F(StepSchedule, BadSchedulesAreErrors) {
  const std::pair<const char *, const char *> cases[] = {
      {"-T 1 -dt_schedule 0.5,-0.25,0.75", "step 2 is -0.25; steps must be positive"},
      {"-T 1 -dt_schedule 0.5,0,0.5", "step 2 is 0"},
      {"-T 1 -dt_schedule 0.25,0.25", "add up to 0.5 and do not reach T = 1"},
      {"-T 1 -dt_schedule 0.5,0.5,0.5", "the 1 step(s) after it would lie beyond T"},
      {"-T 1 -dt_schedule geometric:0.25,0.5", "never reach T = 1"},
      {"-T 1 -dt_schedule geometric:0,2", "steps must be positive"},
      {"-T 1 -dt_schedule geometric:0.1", "expected 'geometric:dt0,ratio'"},
      {"-split strangg", "unknown splitting scheme 'strangg'; known schemes: lie, strang, parallel, parallel_add, symmetric, hybrid"},
      {"-split hybrid -split_groups 2,1", "group sizes add up to 3 but -split_order has 4 operators"},
      {"-split lie -split_order attention,,ffn1", "-split_order 'attention,,ffn1': empty entry 2"},
      {"-split_tree relu -split_order relu", "cannot be combined with -split_tree"},
  };
  for (const auto &c : cases) {
    EXPECT_NE(SetUpError(c.first).find(c.second), std::string::npos) << c.first << " gave: " << SetUpError(c.first);
    PetscOptionsClear(nullptr);
    PetscOptionsInsertString(nullptr, "-Nx 6 -Ny 4 -Nh 1");
  }
}

}  // namespace
