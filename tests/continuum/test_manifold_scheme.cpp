// The projection method on the layer-norm manifold (-split_projections manifold, solver/timestepping/projection_forms.hpp)
// against the projected flow u_t = Π_{T_u S1} A(u), the limit Δt → 0 of the hard model, solved here independently.
//
// Order: attention (2 heads, random Q, K, V, scale 1/sqrt(N_y)) and the linear layer ffn1 as the flows of one layer
// of random layered controls (unit spacing, σ1, σ2 random and constant on [0, 1]), u0 random. The reference is
// classical RK4 with 2^12 steps on the projected flow from P_S1(u0), written out with loops in this file (its
// error, ~ (2^12/2^6)^-4 of the coarsest's, is round-off here). Strang splitting of the tangent flows with RK4
// substeps, at Δt = 2^-k, k = 3..6: the least-squares slope of log(max error) against log Δt must be 2 ± 0.15.
// The hard Strang scheme on the same operators ends with a flow off the manifold and is first order (< 1.3).
//
// Clustering (Geshkovski–Letrouit–Polyanskiy–Rigollet, β = 0): Q = K = V = I and attention scale 0, so A(u) is the
// mean token m and z_k = u_k/|u_k| (mean-free tokens on S1(0, 1)) follow z_k' = z̄ − ⟨z̄, z_k⟩ z_k. Near consensus
// D = 1 − |z̄|² decays like e^{−2t} (D' = −2 D + O(D²)); the rate measured between t = 5 and t = 10 (D ≈ 1e-3 … 1e-7,
// so the O(D) correction is below 0.1%) must be 2 to 1%.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "support/layered_model.hpp"
#include "support/observed_order.hpp"

using namespace ctflow_test;

namespace {

constexpr int kNx = 6, kNy = 5, kNh = 2;

// Per token: u ← σ2 (u − ū)/sqrt(var u) + σ1.
void Project(Matrix *u, int Nx, int Ny, double sigma1, double sigma2) {
  for (int k = 0; k < Nx; ++k) {
    double mean = 0, var = 0;
    for (int l = 0; l < Ny; ++l) mean += (*u)[k * Ny + l] / Ny;
    for (int l = 0; l < Ny; ++l) var += std::pow((*u)[k * Ny + l] - mean, 2) / Ny;
    for (int l = 0; l < Ny; ++l) (*u)[k * Ny + l] = sigma2 * ((*u)[k * Ny + l] - mean) / std::sqrt(var) + sigma1;
  }
}

// Π_{T_u S1} A(u) with A = attention + ffn1 of the layer, unit spacing.
Matrix ProjectedField(const LayeredModel &model, const Matrix &u) {
  const Layer &L = model.layers[0];
  const int Nx = model.Nx, Ny = model.Ny;
  const double s = L.scale >= 0 ? L.scale : 1 / std::sqrt((double)Ny);
  Matrix f(u.size(), 0.0);
  auto times = [&](const Matrix &W, int k, int l) {
    double v = 0;
    for (int i = 0; i < Ny; ++i) v += u[k * Ny + i] * W[i * Ny + l];
    return v;
  };
  for (int m = 0; m < model.Nh; ++m)
    for (int k = 0; k < Nx; ++k) {
      std::vector<double> a(Nx, 0.0);
      for (int j = 0; j < Nx; ++j)
        for (int l = 0; l < Ny; ++l) a[j] += s * times(L.WQ[m], k, l) * times(L.WK[m], j, l);
      const double amax = *std::max_element(a.begin(), a.end());
      double z = 0;
      for (double &e : a) z += (e = std::exp(e - amax));
      for (int j = 0; j < Nx; ++j)
        for (int l = 0; l < Ny; ++l) f[k * Ny + l] += a[j] / z * times(L.WV[m], j, l);
    }
  for (int j = 0; j < model.J; ++j)
    for (int k = 0; k < Nx; ++k)
      for (int l = 0; l < Ny; ++l) f[k * Ny + l] += times(L.W[j], k, l) + L.b[j][l];
  for (int k = 0; k < Nx; ++k) {  // the tangent projection
    double um = 0, fm = 0, fw = 0, ww = 0;
    for (int l = 0; l < Ny; ++l) um += u[k * Ny + l] / Ny, fm += f[k * Ny + l] / Ny;
    for (int l = 0; l < Ny; ++l) fw += (f[k * Ny + l] - fm) * (u[k * Ny + l] - um), ww += std::pow(u[k * Ny + l] - um, 2);
    for (int l = 0; l < Ny; ++l) f[k * Ny + l] -= fm + fw / ww * (u[k * Ny + l] - um);
  }
  return f;
}

Matrix ReferenceSolution(const LayeredModel &model, Matrix u, double T, int steps) {
  const double h = T / steps;
  Project(&u, model.Nx, model.Ny, model.layers[0].sigma1, model.layers[0].sigma2);
  auto axpy = [](const Matrix &x, double a, const Matrix &y) {
    Matrix r(x);
    for (size_t i = 0; i < r.size(); ++i) r[i] += a * y[i];
    return r;
  };
  for (int n = 0; n < steps; ++n) {
    const Matrix k1 = ProjectedField(model, u), k2 = ProjectedField(model, axpy(u, h / 2, k1)), k3 = ProjectedField(model, axpy(u, h / 2, k2)),
                 k4 = ProjectedField(model, axpy(u, h, k3));
    for (size_t i = 0; i < u.size(); ++i) u[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  }
  return u;
}

Matrix Solve(const std::string &path, const Matrix &u0, int Nx, const std::string &options) {
  Matrix u;
  PetscOptionsInsertString(nullptr, options.c_str());
  EXPECT_EQ(SolveLayered(PETSC_COMM_WORLD, path, u0, Nx, &u), 0);
  PetscOptionsClear(nullptr);
  return u;
}

// The observed order in Δt for Δt = 2^-k, k = 3..6.
double ObservedOrder(const std::string &path, const LayeredModel &model, const Matrix &u0, const Matrix &reference, const std::string &options) {
  std::vector<double> dts, errors;
  for (int k = 3; k <= 6; ++k) {
    dts.push_back(std::ldexp(1.0, -k));
    errors.push_back(MaxDifference(Solve(path, u0, model.Nx, options + " -dt " + std::to_string(dts.back())), reference));
  }
  return ctflow_test::ObservedOrder(dts, errors);
}

TEST(ManifoldScheme, StrangIsSecondOrderOnTheProjectedFlow) {
  LayeredModel model = RandomModel(kNx, kNy, kNh, 1, 1, 0.5, false, 1313);
  const std::string path = "manifold_order.h5";
  ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  const Matrix u0 = RandomState(kNx, kNy, 17), reference = ReferenceSolution(model, u0, 1.0, 4096);
  const std::string common = "-split strang -split_order attention,ffn1,layernorm -split_substep ts";
  const double manifold = ObservedOrder(path, model, u0, reference, common + " -split_projections manifold");
  const double hard = ObservedOrder(path, model, u0, reference, common);
  PetscPrintf(PETSC_COMM_WORLD, "observed order on the projected flow: manifold strang %.3f, hard strang %.3f\n", manifold, hard);
  EXPECT_NEAR(manifold, 2.0, 0.15);
  EXPECT_LT(hard, 1.3);
}

// D = 1 − |z̄|², z_k the mean-free tokens normalised.
double Dispersion(const Matrix &u, int Nx, int Ny) {
  std::vector<double> zbar(Ny, 0.0);
  for (int k = 0; k < Nx; ++k) {
    double mean = 0, norm = 0;
    for (int l = 0; l < Ny; ++l) mean += u[k * Ny + l] / Ny;
    for (int l = 0; l < Ny; ++l) norm += std::pow(u[k * Ny + l] - mean, 2);
    for (int l = 0; l < Ny; ++l) zbar[l] += (u[k * Ny + l] - mean) / std::sqrt(norm) / Nx;
  }
  double z2 = 0;
  for (double z : zbar) z2 += z * z;
  return 1 - z2;
}

TEST(ManifoldScheme, ClusteringRateIsTwo) {
  const int Nx = 12, Ny = 6, layers = 10;
  LayeredModel model = RandomModel(Nx, Ny, 1, 0, layers, 0.0, false, 7);
  for (Layer &L : model.layers) {
    Matrix I(Ny * Ny, 0.0);
    for (int l = 0; l < Ny; ++l) I[l * Ny + l] = 1;
    L.WQ = L.WK = L.WV = {I};
    L.sigma1 = 0, L.sigma2 = 1, L.scale = 0;
  }
  const std::string path = "clustering.h5";
  ASSERT_EQ(WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  const Matrix u0 = RandomState(Nx, Ny, 3);
  const std::string options = "-split_order attention,layernorm -split_projections manifold -split_substep ts -dt 0.25";
  const double D5 = Dispersion(Solve(path, u0, Nx, options + " -T 5"), Nx, Ny), D10 = Dispersion(Solve(path, u0, Nx, options + " -T 10"), Nx, Ny);
  const double rate = std::log(D5 / D10) / 5;
  PetscPrintf(PETSC_COMM_WORLD, "clustering: D(5) = %.3e, D(10) = %.3e, rate %.5f\n", D5, D10, rate);
  EXPECT_LT(D5, 1e-2);
  EXPECT_NEAR(rate, 2.0, 0.02);
}

}  // namespace
