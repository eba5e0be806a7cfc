// Restriction by cell averages (discretization/grid_transfer.hpp), on 1, 2 and 3 ranks: fine cell
// averages of a polynomial restrict to its exact coarse cell averages (the coarse cell is the union of its
// fine cells), and each rank's result equals, bit for bit, the serial formula applied to the whole fine
// vector, so the restriction is the same on every number of ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "discretization/grid_transfer.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow::Grid;
using ctflow_test::Matrix;

// p(x) q(y) with antiderivatives: p = 1 − 2x + 3x² − x³/2, q = 2 + y − y²; cell averages are exact differences.
double P(double x) { return x - x * x + x * x * x - x * x * x * x / 8; }
double Q(double y) { return 2 * y + y * y / 2 - y * y * y / 3; }

void MakeGrid(Grid *grid, PetscInt Nx, PetscInt Ny) {
  const std::string opts = "-Nx " + std::to_string(Nx) + " -Ny " + std::to_string(Ny) + " -Lx 3 -Ly 2.5";
  PetscOptionsInsertString(nullptr, opts.c_str());
  ASSERT_EQ(grid->SetFromOptions(), 0);
  ASSERT_EQ(grid->SetUp(), 0);
  for (const char *o : {"-Nx", "-Ny", "-Lx", "-Ly"}) PetscOptionsClearValue(nullptr, o);
}

// Cell averages of p(x) q(y) on the grid's owned cells.
void FillCellAverages(const Grid &g, Vec u) {
  PetscScalar *a;
  VecGetArrayWrite(u, &a);
  for (PetscInt k = 0; k < g.XLocal(); ++k) {
    const double x0 = (g.XStart() + k) * g.dx(), px = (P(x0 + g.dx()) - P(x0)) / g.dx();
    for (PetscInt l = 0; l < g.Ny(); ++l) a[k * g.Ny() + l] = px * (Q((l + 1) * g.dy()) - Q(l * g.dy())) / g.dy();
  }
  VecRestoreArrayWrite(u, &a);
}

class Restriction : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(Restriction, MapsCellAveragesToCellAveragesOnAnyNumberOfRanks) {
  const auto [rx, ry] = GetParam();
  Grid coarse(PETSC_COMM_WORLD), fine(PETSC_COMM_WORLD);
  MakeGrid(&coarse, 5, 4);
  MakeGrid(&fine, 5 * rx, 4 * ry);
  Vec uf, uc, exact;
  DMCreateGlobalVector(fine.Layout(), &uf);
  DMCreateGlobalVector(coarse.Layout(), &uc);
  VecDuplicate(uc, &exact);
  FillCellAverages(fine, uf);
  FillCellAverages(coarse, exact);
  ctflow::GridRestriction R;
  ASSERT_EQ(R.SetUp(fine, coarse), 0);
  ASSERT_EQ(R.Apply(uf, uc), 0);
  Matrix f, c, e;
  ASSERT_EQ(ctflow_test::GatherToAll(uf, &f), 0);
  ASSERT_EQ(ctflow_test::GatherToAll(uc, &c), 0);
  ASSERT_EQ(ctflow_test::GatherToAll(exact, &e), 0);
  const PetscInt Nyf = 4 * ry;
  for (PetscInt k = 0; k < 5; ++k)
    for (PetscInt l = 0; l < 4; ++l) {
      // Exact up to the round-off of the averages themselves (values of size ~10, differences of P, Q).
      EXPECT_NEAR(c[k * 4 + l], e[k * 4 + l], 1e-13 * (1 + std::abs(e[k * 4 + l]))) << "cell " << k << ", " << l;
      double sum = 0;
      for (PetscInt a = 0; a < rx; ++a)
        for (PetscInt b = 0; b < ry; ++b) sum += f[(k * rx + a) * Nyf + l * ry + b];
      EXPECT_EQ(c[k * 4 + l], 1.0 / (rx * ry) * sum) << "cell " << k << ", " << l;
    }
  VecDestroy(&uf);
  VecDestroy(&uc);
  VecDestroy(&exact);
}

INSTANTIATE_TEST_SUITE_P(Ratios, Restriction,
                         ::testing::Values(std::make_tuple(1, 1), std::make_tuple(2, 2), std::make_tuple(4, 1), std::make_tuple(3, 2),
                                           std::make_tuple(8, 4)));

TEST(RestrictionSetUp, RejectsSizesThatAreNotMultiples) {
  Grid coarse(PETSC_COMM_WORLD), fine(PETSC_COMM_WORLD);
  MakeGrid(&coarse, 5, 4);
  MakeGrid(&fine, 10, 6);
  ctflow::GridRestriction R;
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  EXPECT_NE(R.SetUp(fine, coarse), 0);
  PetscPopErrorHandler();
}

}  // namespace
