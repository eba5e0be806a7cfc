// The transfer between the grids of consecutive stages (discretization/stage_transfer.hpp) against its definition
// written out here, for token restriction, token prolongation and equal tokens, with pixel restriction, on every rank
// count (the grids distribute their tokens independently).
#include <gtest/gtest.h>

#include <random>

#include "discretization/stage_transfer.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow_test::Matrix;

struct Case {
  PetscInt Nx_from, N1_from, N2_from, Nx_to, N1_to, N2_to;
};

class StageTransferTest : public ::testing::TestWithParam<Case> {};

TEST_P(StageTransferTest, IsTheMultigridTransfer) {
  const Case c = GetParam();
  ctflow::Grid from(PETSC_COMM_WORLD), to(PETSC_COMM_WORLD);
  ASSERT_EQ(from.SetSizes(c.Nx_from, PETSC_DECIDE, 1), 0);
  ASSERT_EQ(from.SetImageSizes(c.N1_from, c.N2_from), 0);
  ASSERT_EQ(from.SetUp(), 0);
  ASSERT_EQ(to.SetSizes(c.Nx_to, PETSC_DECIDE, 1), 0);
  ASSERT_EQ(to.SetImageSizes(c.N1_to, c.N2_to), 0);
  ASSERT_EQ(to.SetUp(), 0);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  Matrix u0(c.Nx_from * c.N1_from * c.N2_from), out;
  for (double &e : u0) e = normal(rng);
  Vec u, v;
  ASSERT_EQ(ctflow_test::CreateState(from, &u0, nullptr, &u), 0);
  ASSERT_EQ(DMCreateGlobalVector(to.Layout(), &v), 0);
  ctflow::StageTransfer transfer;
  ASSERT_EQ(transfer.SetUp(from, to), 0);
  ASSERT_EQ(transfer.Apply(u, v), 0);
  ASSERT_EQ(ctflow_test::GatherToAll(v, &out), 0);
  const PetscInt p1 = c.N1_from / c.N1_to, p2 = c.N2_from / c.N2_to;
  for (PetscInt k = 0; k < c.Nx_to; ++k) {
    // The source tokens of token k: the r tokens it averages, or the one it was copied from.
    std::vector<PetscInt> sources;
    if (c.Nx_from >= c.Nx_to)
      for (PetscInt a = 0; a < c.Nx_from / c.Nx_to; ++a) sources.push_back(k * (c.Nx_from / c.Nx_to) + a);
    else sources.push_back(k / (c.Nx_to / c.Nx_from));
    for (PetscInt i = 0; i < c.N1_to; ++i)
      for (PetscInt j = 0; j < c.N2_to; ++j) {
        double sum = 0;
        for (PetscInt a : sources)
          for (PetscInt b = 0; b < p1; ++b)
            for (PetscInt e = 0; e < p2; ++e) sum += u0[(a * c.N1_from + i * p1 + b) * c.N2_from + j * p2 + e];
        EXPECT_NEAR(out[(k * c.N1_to + i) * c.N2_to + j], sum / (sources.size() * p1 * p2), 1e-15) << k << " " << i << " " << j;
      }
  }
  VecDestroy(&u);
  VecDestroy(&v);
}

INSTANTIATE_TEST_SUITE_P(Transfers, StageTransferTest,
                         ::testing::Values(Case{12, 8, 6, 4, 4, 3},   // tokens /3, pixels /2 x 2
                                           Case{4, 8, 6, 12, 8, 2},   // tokens x3, pixels /1 x 3
                                           Case{5, 6, 6, 5, 2, 3}));  // the same tokens

}  // namespace
