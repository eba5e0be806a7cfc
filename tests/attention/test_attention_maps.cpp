// The materialised attention weights (AttentionMaps) against eq. (6), (37), (40) written out with loops,
// and the streaming attention operator (online softmax, ring exchange of K and V) against the
// materialised one, on every rank count. Controls: random rank-d_head kernels with W^O, a query bias and
// a constant output c(y), causal and not; a grid with non-unit spacings; tiles that divide neither N_x
// nor the per-rank blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "operators/attention_maps.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"
#include "support/random_attention_controls.hpp"

namespace {

using ctflow_test::Matrix;

using ctflow_test::RandomAttentionControls;

// N_x = 37 tokens (prime: no rank count or tile divides it), N_y = 7, N_h = 3, d_head = 4; Δx = 2/37,
// Δy = 1.3/7, Δh = 0.3.
class AttentionMapsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_EQ(PetscOptionsInsertString(nullptr, "-Nx 37 -Ny 7 -Nh 3 -Lx 2 -Ly 1.3 -Lh 0.9"), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    ASSERT_EQ(DMCreateGlobalVector(grid_.Layout(), &u_), 0);
    ASSERT_EQ(VecDuplicate(u_, &f_), 0);
    u_all_ = ctflow_test::RandomState(37, 7, 11);
    for (double &v : u_all_) v = 1.5 * v + 0.3;
    PetscScalar *a;
    VecGetArrayWrite(u_, &a);
    std::copy_n(&u_all_[grid_.XStart() * 7], grid_.XLocal() * 7, a);
    VecRestoreArrayWrite(u_, &a);
  }
  void TearDown() override {
    VecDestroy(&u_);
    VecDestroy(&f_);
    for (const char *o : {"-Nx", "-Ny", "-Nh", "-Lx", "-Ly", "-Lh", "-attention_tile", "-attention_materialise"}) PetscOptionsClearValue(nullptr, o);
  }
  // The attention operator's right-hand side, gathered on every rank.
  Matrix Rhs(const char *options) {
    std::unique_ptr<ctflow::Operator> op;
    Matrix f;
    EXPECT_EQ(PetscOptionsInsertString(nullptr, options), 0);
    EXPECT_EQ(ctflow::OperatorCreate("attention", {&grid_, &controls_}, &op), 0);
    EXPECT_EQ(op->Rhs(0.5, u_, f_), 0);
    EXPECT_EQ(ctflow_test::GatherToAll(f_, &f), 0);
    PetscOptionsClearValue(nullptr, "-attention_tile");
    PetscOptionsClearValue(nullptr, "-attention_materialise");
    return f;
  }
  // γ of eq. (6)/(37) by the midpoint rule, written out: γ[m][k][j].
  std::vector<double> Gamma() const {
    const auto &K = controls_.Kernels();
    const int Nx = 37, Ny = 7, Nh = 3, d = 4;
    const double dx = grid_.dx(), dy = grid_.dy();
    auto proj = [&](const std::vector<double> &W, int m, int k, int r) {
      double s = 0;
      for (int i = 0; i < Ny; ++i) s += u_all_[k * Ny + i] * W[(m * Ny + i) * d + r] * dy;
      return s;
    };
    std::vector<double> gamma(Nh * Nx * Nx, 0.0);
    for (int m = 0; m < Nh; ++m)
      for (int k = 0; k < Nx; ++k) {
        const int valid = K.causal ? k + 1 : Nx;
        std::vector<double> a(valid);
        for (int j = 0; j < valid; ++j) {
          a[j] = 0;
          for (int r = 0; r < d; ++r) a[j] += K.scale * (proj(K.WQ, m, k, r) + K.bQ[m * d + r]) * proj(K.WK, m, j, r) * dy;
        }
        double z = 0;
        for (int j = 0; j < valid; ++j) z += std::exp(a[j]) * dx;
        for (int j = 0; j < valid; ++j) gamma[(m * Nx + k) * Nx + j] = std::exp(a[j]) / z;
      }
    return gamma;
  }

  ctflow::Grid grid_{PETSC_COMM_WORLD};
  RandomAttentionControls controls_{7, 3, 4, GetParam(), 5};
  Matrix u_all_;
  Vec u_ = nullptr, f_ = nullptr;
};

double MaxAbs(const Matrix &a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// Rows of γ against the loops of eq. (6)/(37): same sums in another order, so agreement to 1e-13
// relative (entries are O(1/Δx) = O(20); scores O(10), exp amplifies their round-off by |a| ≲ 10).
// Each row integrates to 1 (Σ_j γ Δx = 1, i.e. Σ_j γ = 1/Δx) to 1e-14, and under causal controls γ
// vanishes exactly for η > x.
TEST_P(AttentionMapsTest, RowsAreTheSoftmaxOfEq6AndIntegrateToOne) {
  ctflow::AttentionMaps maps(grid_, controls_);
  ASSERT_EQ(maps.SetUp(0.5, u_), 0);
  const std::vector<double> ref = Gamma();
  const PetscInt Nx = 37, Nh = 3, xs = grid_.XStart(), xm = grid_.XLocal();
  const PetscInt k0 = xm / 3, n = xm - k0;  // a block that is not the whole of the owned rows
  std::vector<PetscReal> gamma;
  ASSERT_EQ(maps.Rows(k0, n, &gamma), 0);
  ASSERT_EQ((PetscInt)gamma.size(), Nh * n * Nx);
  const double scale = MaxAbs(ref);
  for (PetscInt m = 0; m < Nh; ++m)
    for (PetscInt k = 0; k < n; ++k) {
      const PetscInt row = xs + k0 + k;
      double sum = 0;
      for (PetscInt j = 0; j < Nx; ++j) {
        const double g = gamma[(m * n + k) * Nx + j];
        sum += g;
        EXPECT_NEAR(g, ref[(m * Nx + row) * Nx + j], 1e-13 * scale) << "head " << m << " row " << row << " column " << j;
        if (GetParam() && j > row) EXPECT_EQ(g, 0.0);
      }
      EXPECT_NEAR(sum * grid_.dx(), 1.0, 1e-14) << "head " << m << " row " << row;
    }
}

// Materialised A(t, u) against eq. (40) written out with the reference γ (1e-13 relative, as above),
// and the streaming operator against the materialised one at tiles 5 and 3 (neither divides N_x = 37
// or any rank's block) and the default tile: the same quadrature in another summation order (online
// rescaling by exp(m_old − m_new)), so round-off only: 1e-13 relative to max |A|.
TEST_P(AttentionMapsTest, StreamingEqualsMaterialised) {
  const auto &K = controls_.Kernels();
  const int Nx = 37, Ny = 7, Nh = 3, d = 4;
  const std::vector<double> gamma = Gamma();
  const double dx = grid_.dx(), dy = grid_.dy(), dh = grid_.dh();
  Matrix ref(Nx * Ny);
  for (int k = 0; k < Nx; ++k)
    for (int l = 0; l < Ny; ++l) {
      double a = K.c[l];
      for (int m = 0; m < Nh; ++m)
        for (int r = 0; r < d; ++r) {
          double gv = 0;  // ∫ γ V(η, z_r, h_m) dη
          for (int j = 0; j < Nx; ++j) {
            double v = 0;
            for (int i = 0; i < Ny; ++i) v += u_all_[j * Ny + i] * K.WV[(m * Ny + i) * d + r] * dy;
            gv += gamma[(m * Nx + k) * Nx + j] * v * dx;
          }
          a += gv * K.WO[(m * d + r) * Ny + l] * dy * dh;
        }
      ref[k * Ny + l] = a;
    }
  const double scale = MaxAbs(ref);
  const Matrix materialised = Rhs("-attention_materialise -attention_tile 4");
  for (int i = 0; i < Nx * Ny; ++i) EXPECT_NEAR(materialised[i], ref[i], 1e-13 * scale) << "entry " << i;
  for (const char *tile : {"-attention_tile 5", "-attention_tile 3", ""}) {
    const Matrix streaming = Rhs(tile);
    for (int i = 0; i < Nx * Ny; ++i) EXPECT_NEAR(streaming[i], materialised[i], 1e-13 * scale) << tile << " entry " << i;
  }
}

// Scores spread over thousands (the attention scale × 3000): the streaming softmax moves a row's shift
// when a tile's maximum passes it by more than 64, and recomputes a row whose exponentials overflowed
// (a jump of more than 700); tiles of 1 and 3 keys take both branches on every rank count. Against the
// materialised path, which shifts by each row's exact maximum: scores of size ~1e4 carry absolute
// round-off ~1e-12, which the exponential turns into relative differences of that size, so 1e-10.
TEST_P(AttentionMapsTest, StreamingEqualsMaterialisedForWideScores) {
  controls_.MultiplyScale(3000);
  const Matrix materialised = Rhs("-attention_materialise -attention_tile 4");
  const double scale = MaxAbs(materialised);
  for (const char *tile : {"-attention_tile 1", "-attention_tile 3", ""}) {
    const Matrix streaming = Rhs(tile);
    for (int i = 0; i < 37 * 7; ++i) EXPECT_NEAR(streaming[i], materialised[i], 1e-10 * scale) << tile << " entry " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(CausalAndNot, AttentionMapsTest, ::testing::Values(false, true),
                         [](const auto &info) { return info.param ? "causal" : "bidirectional"; });

}  // namespace
