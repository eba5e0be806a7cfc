// Adaptive Δt (-dt_adapt, solver/timestepping/step_adapt.hpp) on a smooth problem whose operators do not commute:
// fewer steps than the uniform step of the same accuracy, errors that follow the tolerance, exact replay
// of the saved steps (-dt_schedule file:), rank independence, steps that land on layer boundaries, and the
// controller's answer to a trial step that blew up.
//
// Problem: flows only, -split_order attention,ffn1, 'ts' substeps (classical RK4 with 8 steps per substep,
// so that the splitting error dominates and the scheme's order shows: the uniform errors below fall by 2
// per halving for Lie and by 4 for Strang), -Nx 8 -Ny 6 -Nh 1, T = 1, controls PulsedControls
// (pulsed_controls.hpp): the analytic problem of seed 0 at rate a(t) = 0.2 + 20.8 e^{−t/0.05}. The splitting error
// of a step is Δt^{p+1} times commutators of the two flows, which scale with a(t)^{p+1}: it is large
// during the transient (the first few τ = 0.05) and small after it, where the rate is 0.2. A uniform step
// must be as small everywhere as the transient needs; an adaptive one only there.
// Reference: Strang with 2048 uniform steps, whose error (≈ 3e-8 · 16^-2 ≈ 1e-10, extrapolated from the
// measured Strang errors) is below 1e-2 of every error compared here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "discretization/initial_state.hpp"
#include "discretization/layered_controls.hpp"
#include "pulsed_controls.hpp"
#include "solver/timestepping/integrator.hpp"
#include "solver/timestepping/step_adapt.hpp"
#include "support/layered_model.hpp"
#include "support/observed_order.hpp"

using namespace ctflow_test;

namespace {

const char *const kProblem =
    "-Nx 8 -Ny 6 -Nh 1 -T 1 -controls_seed 0 -split_order attention,ffn1 -split_substep ts -split_attention_ts_steps 8 -split_ffn1_ts_steps 8";

struct Result {
  Matrix u;                      // final state, on every rank
  std::vector<PetscReal> times;  // t^0..t^N
  PetscInt monitored = 0;        // monitor calls (accepted steps)
};

// Runs the integrator on comm with the options database plus `options` (cleared afterwards); u0 given or
// the analytic initial state.
PetscErrorCode Integrate(ctflow::Grid &grid, const ctflow::Controls &controls, const Matrix *u0, Result *run) {
  Vec u;
  ctflow::InitialState f;
  PetscFunctionBeginUser;
  ctflow::Integrator integrator(grid, controls);
  PetscCall(integrator.SetFromOptions());
  if (!u0) PetscCall(f.SetFromOptions(&grid, controls));
  PetscCall(grid.SetUp());
  PetscCall(CreateState(grid, u0, &f, &u));
  PetscCall(integrator.SetUp(u));
  run->monitored = 0;
  PetscCall(integrator.Solve(u, [run](PetscInt, PetscReal, Vec) {
    ++run->monitored;
    return PetscErrorCode(0);
  }));
  run->times = integrator.StepTimes();
  PetscCall(GatherToAll(u, &run->u));
  PetscCall(VecDestroy(&u));
  PetscFunctionReturn(0);
}

Result SolvePulsed(const std::string &options, MPI_Comm comm = PETSC_COMM_WORLD) {
  Result run;
  PetscOptionsInsertString(nullptr, kProblem);
  PetscOptionsInsertString(nullptr, options.c_str());
  ctflow::Grid grid(comm);
  PulsedControls controls(comm, 21, 0.2, 0.05);
  EXPECT_EQ(grid.SetFromOptions(), 0);
  EXPECT_EQ(controls.SetFromOptions(), 0);
  EXPECT_EQ(Integrate(grid, controls, nullptr, &run), 0) << options;
  PetscOptionsClear(nullptr);
  return run;
}

Result Uniform(const std::string &scheme, PetscInt N) { return SolvePulsed("-split " + scheme + " -dt " + std::to_string(1.0 / N)); }

const Matrix &Reference() {
  static const Matrix reference = Uniform("strang", 2048).u;
  return reference;
}

std::string Adaptive(const std::string &scheme, double tol) {
  char options[128];
  std::snprintf(options, sizeof(options), "-split %s -dt_adapt -dt_adapt_rtol %g -dt_adapt_atol %g", scheme.c_str(), tol, tol);
  return options;
}

int Size(MPI_Comm comm) {
  int size;
  MPI_Comm_size(comm, &size);
  return size;
}

// The fewest uniform steps whose error is at most E: doubling, then bisection (the uniform error decreases
// monotonically in N here, as the measured sequence shows: 2e-4, 1.5e-4, 8.6e-5, ... for Lie).
PetscInt FewestUniformSteps(const std::string &scheme, double E) {
  PetscInt hi = 1;
  while (MaxDifference(Uniform(scheme, hi).u, Reference()) > E) hi *= 2;
  PetscInt lo = hi / 2;  // error > E (or 0)
  while (hi - lo > 1) {
    const PetscInt mid = (lo + hi) / 2;
    (MaxDifference(Uniform(scheme, mid).u, Reference()) > E ? lo : hi) = mid;
  }
  return hi;
}

class AdaptiveVsUniform : public ::testing::TestWithParam<std::pair<std::string, double>> {};

// Measured (np 1): Lie, tolerance 1e-6: 11 accepted steps, error 6.0e-6, uniform needs ~33;
// Strang, 1e-7: 11 steps, error 4.9e-8, uniform needs ~100.
TEST_P(AdaptiveVsUniform, FewerStepsThanTheUniformStepOfTheSameError) {
  const auto [scheme, tol] = GetParam();
  const Result adaptive = SolvePulsed(Adaptive(scheme, tol));
  const double E = MaxDifference(adaptive.u, Reference());
  ASSERT_EQ(adaptive.monitored + 1, (PetscInt)adaptive.times.size());
  ASSERT_GT(E, 0);
  const PetscInt N = FewestUniformSteps(scheme, E);
  PetscPrintf(PETSC_COMM_WORLD, "%s, tolerance %g: %d adaptive steps reach error %.3e; uniform steps need N = %d\n", scheme.c_str(), tol,
              (int)adaptive.monitored, E, (int)N);
  EXPECT_LT(adaptive.monitored, N) << scheme;
}

INSTANTIATE_TEST_SUITE_P(Schemes, AdaptiveVsUniform,
                         ::testing::Values(std::make_pair(std::string("lie"), 1e-6), std::make_pair(std::string("strang"), 1e-7)),
                         [](const auto &info) { return info.param.first; });

TEST(AdaptiveDt, TighterToleranceGivesSmallerError) {
  for (const char *scheme : {"lie", "strang"}) {
    double previous = 1;
    for (double tol : {1e-5, 1e-6, 1e-7}) {
      const double E = MaxDifference(SolvePulsed(Adaptive(scheme, tol)).u, Reference());
      PetscPrintf(PETSC_COMM_WORLD, "%s, tolerance %g: error %.3e\n", scheme, tol, E);
      EXPECT_LT(E, previous) << scheme << " at tolerance " << tol;
      previous = E;
    }
  }
}

// The saved steps, replayed as a list schedule, take the same time points and give the same final state to
// the last bit: the adaptive run advances its clock exactly as the list schedule does.
TEST(AdaptiveDt, ReplayOfTheSavedStepsIsBitwiseIdentical) {
  for (const char *scheme : {"lie", "strang"}) {
    const std::string path = "steps_" + std::string(scheme) + "_np" + std::to_string(Size(PETSC_COMM_WORLD)) + ".txt";
    const Result adaptive = SolvePulsed(Adaptive(scheme, 1e-6) + " -dt_adapt_save " + path);
    const Result replay = SolvePulsed("-split " + std::string(scheme) + " -dt_schedule file:" + path);
    EXPECT_GT(adaptive.monitored, 3);
    EXPECT_EQ(adaptive.times, replay.times) << scheme;
    EXPECT_TRUE(adaptive.u == replay.u) << scheme << ": max difference " << MaxDifference(adaptive.u, replay.u);
  }
}

// On every rank of PETSC_COMM_WORLD alone (PETSC_COMM_SELF) and on all of them. The states of the two runs
// differ by round-off (~1e-16), but the estimate u − v is a difference of nearly equal states, |u − v| ~ 1e-7
// at these tolerances, so its relative round-off, and that of the steps, is ~1e-16/1e-7 = 1e-9 (measured at
// np 2: 2.4e-12 in the times). The final state depends on the steps only through the splitting error
// (~6e-6), so it moves by ~1e-9 · 6e-6: 1e-12 is a generous bound for it.
TEST(AdaptiveDt, SameRunOnOneAndSeveralRanks) {
  const Result world = SolvePulsed(Adaptive("lie", 1e-6));
  const Result self = SolvePulsed(Adaptive("lie", 1e-6), PETSC_COMM_SELF);
  EXPECT_EQ(world.monitored, self.monitored);
  ASSERT_EQ(world.times.size(), self.times.size());
  double dt = 0;
  for (size_t n = 0; n < world.times.size(); ++n) dt = std::max(dt, std::abs(world.times[n] - self.times[n]));
  PetscPrintf(PETSC_COMM_WORLD, "np %d vs 1: times differ by %.2e, states by %.2e\n", Size(PETSC_COMM_WORLD), dt, MaxDifference(world.u, self.u));
  EXPECT_LT(dt, 1e-9);
  EXPECT_LT(MaxDifference(world.u, self.u), 1e-12);
}

// Layered controls jump at the layer times t = 1, 2: every adaptive step ends exactly on them (never across),
// also in the replay.
TEST(AdaptiveDt, StepsLandExactlyOnLayerTimes) {
  const int Nx = 6, Ny = 4, layers = 3;
  const std::string controls_path = "layers_np" + std::to_string(Size(PETSC_COMM_WORLD)) + ".h5";
  const std::string steps_path = "layer_steps_np" + std::to_string(Size(PETSC_COMM_WORLD)) + ".txt";
  ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, controls_path, RandomModel(Nx, Ny, 1, 1, layers, 0.5, false, 7)), 0);
  const Matrix u0 = RandomState(Nx, Ny, 8);
  auto solve = [&](const std::string &options) {
    Result run;
    PetscOptionsInsertString(nullptr, ("-split_order attention,ffn1 " + options).c_str());
    ctflow::Grid grid(PETSC_COMM_WORLD);
    ctflow::LayeredControls controls(PETSC_COMM_WORLD);
    EXPECT_EQ(grid.SetFromOptions(), 0);
    EXPECT_EQ(grid.RequireSize("-Nx", Nx, "the test"), 0);
    EXPECT_EQ(controls.Load(controls_path, &grid), 0);
    EXPECT_EQ(Integrate(grid, controls, &u0, &run), 0) << options;
    PetscOptionsClear(nullptr);
    return run;
  };
  const Result adaptive = solve("-dt 0.3 -dt_adapt -dt_adapt_rtol 1e-3 -dt_adapt_atol 1e-3 -dt_adapt_save " + steps_path);
  const std::vector<PetscReal> &t = adaptive.times;
  ASSERT_GT(t.size(), 4u);
  EXPECT_EQ(t.back(), (PetscReal)layers);
  for (PetscReal boundary = 1; boundary < layers; ++boundary) {
    EXPECT_NE(std::find(t.begin(), t.end(), boundary), t.end()) << "no step ends at t = " << boundary;
    for (size_t n = 0; n + 1 < t.size(); ++n) EXPECT_FALSE(t[n] < boundary && boundary < t[n + 1]) << "step " << n << " crosses " << boundary;
  }
  const Result replay = solve("-dt_schedule file:" + steps_path);
  EXPECT_EQ(adaptive.times, replay.times);
  EXPECT_TRUE(adaptive.u == replay.u) << "max difference " << MaxDifference(adaptive.u, replay.u);
}

// A trial state with a NaN or an Inf (a step that blew up) has error ∞ on every rank, is rejected, and the next
// trial step is exactly half the step (solver/timestepping/step_adapt.hpp), not the clip's lower bound that a huge finite
// error gets. The bad entry sits on the last rank only.
TEST(AdaptiveDt, NonFiniteTrialStateIsRejectedAndHalvesTheStep) {
  MPI_Comm comm = PETSC_COMM_WORLD;
  for (const PetscReal bad : {(PetscReal)NAN, (PetscReal)INFINITY}) {
    ASSERT_EQ(PetscOptionsInsertString(nullptr, "-dt_adapt -dt_adapt_clip 0.01,10"), 0);
    ctflow::StepAdapt adapt(comm);
    ASSERT_EQ(adapt.SetFromOptions(1.0, 0.25), 0);
    ASSERT_EQ(PetscOptionsClear(nullptr), 0);
    Vec u, v;
    PetscInt N;
    ASSERT_EQ(VecCreateMPI(comm, 3, PETSC_DECIDE, &u), 0);
    ASSERT_EQ(VecSet(u, 1.0), 0);
    ASSERT_EQ(VecDuplicate(u, &v), 0);
    ASSERT_EQ(VecCopy(u, v), 0);
    ASSERT_EQ(VecGetSize(v, &N), 0);
    ASSERT_EQ(VecSetValue(v, N - 1, bad, INSERT_VALUES), 0);
    ASSERT_EQ(VecAssemblyBegin(v), 0);
    ASSERT_EQ(VecAssemblyEnd(v), 0);
    PetscReal err;
    bool accept = true;
    ASSERT_EQ(adapt.ErrorNorm(u, v, &err), 0);
    EXPECT_TRUE(std::isinf(err)) << "entry " << bad << ": error " << err;
    ASSERT_EQ(adapt.Judge(0, 0.25, err, false, &accept), 0);
    EXPECT_FALSE(accept);
    EXPECT_EQ(adapt.Proposal(), 0.125) << "entry " << bad;
    // a finite but huge error is cut by the clip instead: 0.9 · (1e12)^(−1/2) < 0.01
    ASSERT_EQ(adapt.Judge(0, 0.125, 1e12, false, &accept), 0);
    EXPECT_FALSE(accept);
    EXPECT_EQ(adapt.Proposal(), 0.125 * 0.01);
    ASSERT_EQ(VecDestroy(&u), 0);
    ASSERT_EQ(VecDestroy(&v), 0);
  }
}

}  // namespace
