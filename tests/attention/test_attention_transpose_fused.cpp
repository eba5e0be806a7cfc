// The attention transpose's second pass fused on BLIS's micro-kernel (operators/softmax_transpose_panels.hpp: P and dS
// written into the packed panels of the products that read them) against five GEMMs per block (-attention_fused 0), on
// 1–3 ranks: the state's vector–Jacobian product and the kernels' gradients. d_head = 16 and 32 (multiples of the
// micro-kernel's m_r); N_x = 37 (no rank's block, tile or panel divides it) and 300 (on one rank two blocks of queries,
// the second partial); tiles of 5 (partial panels of keys), 16 and the default; scores spread over thousands (rows whose
// shift moved); causal or not (the tiles, panels and keys a query does not see skipped or zero). Where BLIS offers no
// usable micro-kernel both runs take the GEMMs.
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

// N_y = 7, N_h = 3; parameters: causal, d_head, N_x.
class AttentionTransposeFusedTest : public ::testing::TestWithParam<std::tuple<bool, int, int>> {
 protected:
  void SetUp() override {
    const std::string sizes = "-Nx " + std::to_string(Nx_) + " -Ny 7 -Nh 3 -Lx 2 -Ly 1.3 -Lh 0.9";
    ASSERT_EQ(PetscOptionsInsertString(nullptr, sizes.c_str()), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    ASSERT_EQ(DMCreateGlobalVector(grid_.Layout(), &u_), 0);
    ASSERT_EQ(VecDuplicate(u_, &w_), 0);
    ASSERT_EQ(VecDuplicate(u_, &du_), 0);
    const Matrix u_all = ctflow_test::RandomState(Nx_, 7, 11), w_all = ctflow_test::RandomState(Nx_, 7, 12);
    PetscScalar *u, *w;
    VecGetArrayWrite(u_, &u);
    VecGetArrayWrite(w_, &w);
    for (PetscInt i = 0; i < grid_.XLocal() * 7; ++i) u[i] = 1.5 * u_all[grid_.XStart() * 7 + i] + 0.3, w[i] = w_all[grid_.XStart() * 7 + i];
    VecRestoreArrayWrite(u_, &u);
    VecRestoreArrayWrite(w_, &w);
  }
  void TearDown() override {
    for (Vec *v : {&u_, &w_, &du_}) VecDestroy(v);
    for (const char *o : {"-Nx", "-Ny", "-Nh", "-Lx", "-Ly", "-Lh", "-attention_tile", "-attention_fused"}) PetscOptionsClearValue(nullptr, o);
  }
  // The transpose at u_ applied to w_: dU gathered on every rank, and this rank's share of the kernels' gradients.
  void Transpose(const std::string &options, Matrix *du, Matrix *g) {
    std::unique_ptr<ctflow::Operator> op;
    ctflow::ControlsArrays unused;  // the random controls sum their gradients themselves
    ASSERT_EQ(PetscOptionsInsertString(nullptr, options.c_str()), 0);
    ASSERT_EQ(ctflow::OperatorCreate("attention", {&grid_, &controls_}, &op), 0);
    ASSERT_EQ(op->SetUp(u_), 0);
    ASSERT_EQ(VecSet(du_, 0.0), 0);
    ASSERT_EQ(op->RhsTranspose(0.5, u_, w_, du_, &unused), 0);
    ASSERT_EQ(ctflow_test::GatherToAll(du_, du), 0);
    *g = controls_.TakeGradient();
    PetscOptionsClearValue(nullptr, "-attention_tile");
    PetscOptionsClearValue(nullptr, "-attention_fused");
  }
  // Fused against the GEMMs at each tile, to `tolerance` relative to the largest entry of dU and of the gradients.
  void Compare(double tolerance, std::initializer_list<const char *> tiles) {
    for (const char *tile : tiles) {
      Matrix du_gemm, du_fused;
      Matrix g_gemm, g_fused;
      Transpose(std::string(tile) + " -attention_fused 0", &du_gemm, &g_gemm);
      Transpose(tile, &du_fused, &g_fused);
      ASSERT_EQ(du_fused.size(), du_gemm.size());
      ASSERT_EQ(g_fused.size(), g_gemm.size());
      ASSERT_FALSE(g_gemm.empty());
      const std::tuple<const Matrix &, const Matrix &, std::string> pairs[] = {{du_fused, du_gemm, "dU"}, {g_fused, g_gemm, "kernels"}};
      for (const auto &[fused, gemm, name] : pairs) {
        double scale = 0;
        for (double v : gemm) scale = std::max(scale, std::abs(v));
        ASSERT_GT(scale, 0) << name;
        for (size_t i = 0; i < fused.size(); ++i) EXPECT_NEAR(fused[i], gemm[i], tolerance * scale) << tile << " " << name << " entry " << i;
      }
    }
  }

  const int Nx_ = std::get<2>(GetParam());
  ctflow::Grid grid_{PETSC_COMM_WORLD};
  ctflow_test::RandomAttentionControls controls_{7, 3, std::get<1>(GetParam()), std::get<0>(GetParam()), 5};
  Vec u_ = nullptr, w_ = nullptr, du_ = nullptr;
};

// The same sums in another order: 1e-13 relative, as the forward's fused path.
TEST_P(AttentionTransposeFusedTest, FusedEqualsGemms) { Compare(1e-13, {"-attention_tile 5", "-attention_tile 16", ""}); }

// Scores of size ~1e4: the recomputed P carries their round-off (~1e-12 absolute) as relative differences of that size.
TEST_P(AttentionTransposeFusedTest, FusedEqualsGemmsForWideScores) {
  controls_.MultiplyScale(3000);
  Compare(1e-10, {"-attention_tile 3", "-attention_tile 16", ""});
}

INSTANTIATE_TEST_SUITE_P(CausalAndNot, AttentionTransposeFusedTest,
                         ::testing::Combine(::testing::Values(false, true), ::testing::Values(16, 32), ::testing::Values(37, 300)),
                         [](const auto &info) {
                           return std::string(std::get<0>(info.param) ? "causal" : "bidirectional") + "_d" + std::to_string(std::get<1>(info.param)) +
                                  "_Nx" + std::to_string(std::get<2>(info.param));
                         });

}  // namespace
