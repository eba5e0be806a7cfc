// Spatial refinement: the midpoint quadratures of the operators of eq. (7) converge at their expected
// order for the smooth analytic controls of seed 0 (discretization/analytic_controls.hpp) and initial state.
//
// Each right-hand side A(t, u) is evaluated on grids refined by 3 in one variable (x: the η-integral of
// attention, eq. (40); y: the ξ-integral of the feed-forward layer, eq. (23); h: the head integral of
// eq. (40)); the centres of a grid are centres of its 3-fold refinement, so the values are compared
// there, point for point, against the finest grid. A cell-average restriction (as the convergence driver
// uses) would itself add an O(h²) difference between point values and cell averages and hide any order
// above 2. The error is the max norm over the coarsest grid's points; the order between grids n and 3n
// is log(e_n / e_3n) / log 3.
//
// What is true (Euler–Maclaurin: the midpoint rule's error is Σ_k c_k h^{2k} (f^{(2k−1)}(b) − f^{(2k−1)}(a))):
//   x: u_0 is periodic in x with period L_x, so the attention integrand γ(x, ·) V(·) is smooth and periodic:
//      the error decays faster than any power (spectral); with u_0 + x/L_x (not periodic) it is order 2.
//   y: the cosine kernels W_j(ξ, y) have ∂_ξ W = 0 at ξ = 0, L_y but u_0 does not (sin(2π(x + y))), so
//      ∂_ξ(W u) differs at the two ends: order 2.
//   h: the kernels depend on h only through cos(π h/L_h) (d_p ∈ {0, 1}), so the integrand is even about both
//      ends, every odd derivative vanishes there: spectral.
// Orders are required within ±0.15 of 2 (the next Euler–Maclaurin term, O(h⁴), is below 1% of the
// leading one on these grids); "spectral" means the error falls by more than 3^6 per refinement until
// round-off (measured: see docs/convergence.md).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "discretization/analytic_controls.hpp"
#include "discretization/initial_state.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow_test::Matrix;

struct Sizes {
  PetscInt Nx, Ny, Nh;
};

// The state: u_0 + (1 + y/L_y) g(x/L_x). (The analytic kernels' cosines in ξ are orthogonal to u_0's
// modes enough that attention vanishes on u_0 alone at t = 0.3; the added term gives it an O(1) value.)
using Profile = std::function<PetscReal(PetscReal)>;
const Profile kPeriodic = [](PetscReal x) { return std::cos(2 * PETSC_PI * x); };
const Profile kRamp = [](PetscReal x) { return x; };

// A(t = 0.3, u) on the grid of the given sizes, gathered on every rank.
Matrix Rhs(const char *op_name, Sizes n, const Profile &g) {
  ctflow::Grid grid(PETSC_COMM_WORLD);
  ctflow::AnalyticControls controls(PETSC_COMM_WORLD);
  ctflow::InitialState f;
  Matrix out;
  Vec u, F;
  PetscScalar *a;
  const std::string opts = "-controls_seed 0 -Nx " + std::to_string(n.Nx) + " -Ny " + std::to_string(n.Ny) + " -Nh " + std::to_string(n.Nh);
  PetscOptionsInsertString(nullptr, opts.c_str());
  EXPECT_EQ(grid.SetFromOptions(), 0);
  EXPECT_EQ(controls.SetFromOptions(), 0);
  EXPECT_EQ(f.SetFromOptions(&grid, controls), 0);
  EXPECT_EQ(grid.SetUp(), 0);
  for (const char *o : {"-controls_seed", "-Nx", "-Ny", "-Nh"}) PetscOptionsClearValue(nullptr, o);
  DMCreateGlobalVector(grid.Layout(), &u);
  VecDuplicate(u, &F);
  EXPECT_EQ(f.Fill(grid, u), 0);
  VecGetArray(u, &a);
  for (PetscInt k = 0; k < grid.XLocal(); ++k)
    for (PetscInt l = 0; l < grid.Ny(); ++l) a[k * grid.Ny() + l] += (1 + grid.y(l) / grid.Ly()) * g(grid.x(grid.XStart() + k) / grid.Lx());
  VecRestoreArray(u, &a);
  std::unique_ptr<ctflow::Operator> op;
  EXPECT_EQ(ctflow::OperatorCreate(op_name, {&grid, &controls}, &op), 0);
  EXPECT_EQ(op->Rhs(0.3, u, F), 0);
  EXPECT_EQ(ctflow_test::GatherToAll(F, &out), 0);
  VecDestroy(&u);
  VecDestroy(&F);
  return out;
}

// Max-norm errors of grids 0 … levels−2 against the finest, at the points of grid 0; variable d (0: x,
// 1: y, 2: h) refined by 3 per level.
std::vector<double> Errors(const char *op, Sizes base, int d, int levels, const Profile &g) {
  std::vector<Matrix> F;
  std::vector<Sizes> sizes;
  for (int k = 0, r = 1; k < levels; ++k, r *= 3) {
    Sizes n = base;
    (d == 0 ? n.Nx : d == 1 ? n.Ny : n.Nh) *= r;
    sizes.push_back(n);
    F.push_back(Rhs(op, n, g));
  }
  // Point (i, l) of grid 0 is point (r i + (r − 1)/2, r l + (r − 1)/2) of a grid refined r-fold in x (y).
  auto at = [&](int k, PetscInt i, PetscInt l) {
    const PetscInt r = (PetscInt)std::lround(std::pow(3, k));
    const PetscInt I = d == 0 ? r * i + (r - 1) / 2 : i, L = d == 1 ? r * l + (r - 1) / 2 : l;
    return F[k][I * sizes[k].Ny + L];
  };
  std::vector<double> e;
  for (int k = 0; k + 1 < levels; ++k) {
    double m = 0;
    for (PetscInt i = 0; i < base.Nx; ++i)
      for (PetscInt l = 0; l < base.Ny; ++l) m = std::max(m, std::abs(at(k, i, l) - at(levels - 1, i, l)));
    e.push_back(m);
  }
  for (size_t k = 0; k < e.size(); ++k)
    PetscPrintf(PETSC_COMM_WORLD, "%s, refine %c: level %zu error %.3e%s", op, "xyh"[d], k, e[k],
                k + 1 < e.size() ? (" order " + std::to_string(std::log(e[k] / e[k + 1]) / std::log(3.0)) + "\n").c_str() : "\n");
  return e;
}

double Order(const std::vector<double> &e, size_t k) { return std::log(e[k] / e[k + 1]) / std::log(3.0); }

// Faster than any power: every refinement gains more than 3^6 (sixth order) until round-off (1e-13 of
// right-hand sides of size 0.05 … 0.6), and the coarsest error is not already round-off.
void ExpectSpectral(const std::vector<double> &e) {
  EXPECT_GT(e[0], 1e-8);
  for (size_t k = 0; k + 1 < e.size(); ++k)
    if (e[k + 1] > 1e-13) EXPECT_GT(e[k] / e[k + 1], std::pow(3.0, 6)) << "level " << k;
}

void ExpectSecondOrder(const std::vector<double> &e) {
  for (size_t k = 0; k + 1 < e.size(); ++k) EXPECT_NEAR(Order(e, k), 2.0, 0.15) << "level " << k;
}

TEST(Quadrature, AttentionInXIsSpectralForPeriodicStatesAndSecondOrderOtherwise) {
  ExpectSpectral(Errors("attention", {4, 6, 1}, 0, 4, kPeriodic));  // measured 8.3e-5, 6e-17, 8e-17
  ExpectSecondOrder(Errors("attention", {4, 6, 1}, 0, 4, kRamp));   // measured orders 2.010, 2.096
}

TEST(Quadrature, FeedForwardInYIsSecondOrder) {
  ExpectSecondOrder(Errors("ffn1", {4, 4, 1}, 1, 4, kRamp));  // measured orders 2.103, 2.105
}

TEST(Quadrature, AttentionInHIsSpectral) {
  ExpectSpectral(Errors("attention", {4, 6, 1}, 2, 4, kRamp));  // measured 1.7e-2, 1.9e-5, 1e-13
}

// The analytic initial state is one function sampled at the cell centres of any grid (the controls'
// counterpart is tests/unit/test_operators.cpp, AnalyticControls.AreOneFunctionSampledOnAnyGrid).
TEST(Refinement, AnalyticInitialStateIsOneFunctionOnAnyGrid) {
  Matrix coarse, fine;
  for (int r : {1, 3}) {
    ctflow::Grid grid(PETSC_COMM_WORLD);
    ctflow::AnalyticControls controls(PETSC_COMM_WORLD);
    ctflow::InitialState f;
    Vec u;
    const std::string opts = "-Nx " + std::to_string(4 * r) + " -Ny " + std::to_string(5 * r);
    PetscOptionsInsertString(nullptr, opts.c_str());
    ASSERT_EQ(grid.SetFromOptions(), 0);
    ASSERT_EQ(f.SetFromOptions(&grid, controls), 0);
    ASSERT_EQ(grid.SetUp(), 0);
    for (const char *o : {"-Nx", "-Ny"}) PetscOptionsClearValue(nullptr, o);
    DMCreateGlobalVector(grid.Layout(), &u);
    ASSERT_EQ(f.Fill(grid, u), 0);
    ASSERT_EQ(ctflow_test::GatherToAll(u, r == 1 ? &coarse : &fine), 0);
    VecDestroy(&u);
  }
  for (PetscInt i = 0; i < 4; ++i)
    for (PetscInt l = 0; l < 5; ++l) EXPECT_NEAR(coarse[i * 5 + l], fine[(3 * i + 1) * 15 + 3 * l + 1], 1e-15);
}

}  // namespace
