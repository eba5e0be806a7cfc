// Streaming attention fused on BLIS's micro-kernel (Attention::AccumulatePanels: the rows in panels of the kernel's
// n_r, each panel's scores in the layout the γV micro-kernel reads) against the unfused path (-attention_fused 0: a
// GEMM per tile, AccumulateTile) on 1–3 ranks. d_head = 16 and 32 (multiples of the micro-kernel's m_r), N_x = 37 (no
// rank's block, tile or panel divides it), tiles of 5 (a partial panel of keys), 16 and the default; scores spread over
// thousands (both branches of the lagging shift); causal or not (the keys after a row's token masked, those after a
// panel's last token skipped). Where BLIS offers no usable micro-kernel (several threads, another m_r) both runs take
// the unfused path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "operators/operator.hpp"
#include "support/layered_model.hpp"
#include "support/random_attention_controls.hpp"

namespace {

using ctflow_test::Matrix;

// N_x = 37, N_y = 7, N_h = 3; parameters: causal, d_head.
class AttentionFusedTest : public ::testing::TestWithParam<std::tuple<bool, int>> {
 protected:
  void SetUp() override {
    ASSERT_EQ(PetscOptionsInsertString(nullptr, "-Nx 37 -Ny 7 -Nh 3 -Lx 2 -Ly 1.3 -Lh 0.9"), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    ASSERT_EQ(DMCreateGlobalVector(grid_.Layout(), &u_), 0);
    ASSERT_EQ(VecDuplicate(u_, &f_), 0);
    Matrix u_all = ctflow_test::RandomState(37, 7, 11);
    PetscScalar *a;
    VecGetArrayWrite(u_, &a);
    for (PetscInt i = 0; i < grid_.XLocal() * 7; ++i) a[i] = 1.5 * u_all[grid_.XStart() * 7 + i] + 0.3;
    VecRestoreArrayWrite(u_, &a);
  }
  void TearDown() override {
    VecDestroy(&u_);
    VecDestroy(&f_);
    for (const char *o : {"-Nx", "-Ny", "-Nh", "-Lx", "-Ly", "-Lh", "-attention_tile", "-attention_fused"}) PetscOptionsClearValue(nullptr, o);
  }
  // The attention operator's right-hand side, gathered on every rank.
  Matrix Rhs(const std::string &options) {
    std::unique_ptr<ctflow::Operator> op;
    Matrix f;
    EXPECT_EQ(PetscOptionsInsertString(nullptr, options.c_str()), 0);
    EXPECT_EQ(ctflow::OperatorCreate("attention", {&grid_, &controls_}, &op), 0);
    EXPECT_EQ(op->Rhs(0.5, u_, f_), 0);
    EXPECT_EQ(ctflow_test::GatherToAll(f_, &f), 0);
    PetscOptionsClearValue(nullptr, "-attention_tile");
    PetscOptionsClearValue(nullptr, "-attention_fused");
    return f;
  }
  // Fused against unfused at each tile, to `tolerance` relative to max |A|.
  void Compare(double tolerance, std::initializer_list<const char *> tiles) {
    for (const char *tile : tiles) {
      const Matrix unfused = Rhs(std::string(tile) + " -attention_fused 0"), fused = Rhs(tile);
      double scale = 0;
      for (double v : unfused) scale = std::max(scale, std::abs(v));
      ASSERT_EQ(fused.size(), unfused.size());
      for (size_t i = 0; i < fused.size(); ++i) EXPECT_NEAR(fused[i], unfused[i], tolerance * scale) << tile << " entry " << i;
    }
  }

  ctflow::Grid grid_{PETSC_COMM_WORLD};
  ctflow_test::RandomAttentionControls controls_{7, 3, std::get<1>(GetParam()), std::get<0>(GetParam()), 5};
  Vec u_ = nullptr, f_ = nullptr;
};

// The same quadrature in another summation order: 1e-13 relative, as streaming against materialised.
TEST_P(AttentionFusedTest, FusedEqualsUnfused) { Compare(1e-13, {"-attention_tile 5", "-attention_tile 16", ""}); }

// Scores of size ~1e4 (the scale × 3000): rows whose shift moves by more than 64 are rescaled, by more than 700
// recomputed; their round-off is ~1e-12 absolute, which the exponential turns into relative differences of that size.
TEST_P(AttentionFusedTest, FusedEqualsUnfusedForWideScores) {
  controls_.MultiplyScale(3000);
  Compare(1e-10, {"-attention_tile 1", "-attention_tile 3", "-attention_tile 16", ""});
}

INSTANTIATE_TEST_SUITE_P(CausalAndNot, AttentionFusedTest, ::testing::Combine(::testing::Values(false, true), ::testing::Values(16, 32)),
                         [](const auto &info) {
                           return std::string(std::get<0>(info.param) ? "causal" : "bidirectional") + "_d" + std::to_string(std::get<1>(info.param));
                         });

}  // namespace
