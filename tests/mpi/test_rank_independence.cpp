// Rank independence: the solution on all ranks of the run equals the solution computed by each rank
// alone (PETSC_COMM_SELF), for the analytic problem on grids whose tokens do not divide evenly among
// the ranks and with attention tiles smaller than a rank's block (so the online softmax is exercised).
// Tolerance 1e-13 relative: only the summation order of the softmax and of the key blocks differs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "support/layered_model.hpp"

using namespace ctflow_test;

namespace {

struct Setting {
  const char *Nx, *Ny, *Nh, *tile, *dt;
};

class RankIndependence : public ::testing::TestWithParam<Setting> {
 protected:
  void SetUp() override {
    const Setting s = GetParam();
    PetscOptionsSetValue(nullptr, "-Nx", s.Nx);
    PetscOptionsSetValue(nullptr, "-Ny", s.Ny);
    PetscOptionsSetValue(nullptr, "-Nh", s.Nh);
    PetscOptionsSetValue(nullptr, "-attention_tile", s.tile);
    PetscOptionsSetValue(nullptr, "-dt", s.dt);
  }
  void TearDown() override {
    for (const char *o : {"-Nx", "-Ny", "-Nh", "-attention_tile", "-dt"}) PetscOptionsClearValue(nullptr, o);
  }
};

TEST_P(RankIndependence, SameSolutionOnAllRanksAsOnOne) {
  Matrix parallel, serial;
  ASSERT_EQ(SolveAnalytic(PETSC_COMM_WORLD, &parallel), 0);
  ASSERT_EQ(SolveAnalytic(PETSC_COMM_SELF, &serial), 0);
  ASSERT_EQ(parallel.size(), serial.size());
  double diff = 0, ref = 0;
  for (size_t i = 0; i < serial.size(); ++i) {
    diff = std::max(diff, std::abs(parallel[i] - serial[i]));
    ref = std::max(ref, std::abs(serial[i]));
  }
  EXPECT_LE(diff / ref, 1e-13);
}

INSTANTIATE_TEST_SUITE_P(Grids, RankIndependence,
                         ::testing::Values(Setting{"32", "16", "2", "256", "0.125"}, Setting{"13", "8", "3", "2", "0.25"},
                                           Setting{"47", "12", "1", "5", "0.1"}));

}  // namespace
