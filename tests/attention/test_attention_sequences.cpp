// Attention over a grid of several sequences (Grid::SetSequences: a batch of samples stacked in x, as the trainer solves
// it) equals separate evaluations of each sequence: the streaming forward (tiles 3, which divides neither the sequence
// length 7 nor N_x = 21, and the default), its transpose (dU and every kernel gradient; recomputed statistics and the
// recorded forward's), causal and not, on a grid with non-unit spacings (Δx = 2/7 per sequence). The transpose also
// passes a dot-product test against central differences of the forward. Sums are in the same order per row, so the
// agreement is round-off: 1e-13 relative. On several ranks, a grid of sequences over more than one process is
// refused with an error, and everything else runs on PETSC_COMM_SELF.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "operators/operator.hpp"
#include "support/random_attention_controls.hpp"

namespace {

constexpr PetscInt kL = 7, kS = 3, kNy = 6, kNh = 2, kD = 3;

using ctflow_test::RandomAttentionControls;

// A grid on PETSC_COMM_SELF of `sequences` sequences of kL tokens (Δx = 2/7, Δy = 1.3/6, Δh = 0.45) and a state on it.
struct GridState {
  explicit GridState(PetscInt sequences, MPI_Comm comm = PETSC_COMM_SELF) : grid(comm) {
    EXPECT_EQ(grid.SetSizes(kL, kNy, kNh), 0);
    EXPECT_EQ(grid.SetLengths(2, 1.3, 0.9), 0);
    EXPECT_EQ(grid.SetSequences(sequences), 0);
    EXPECT_EQ(grid.SetUp(), 0);
    EXPECT_EQ(DMCreateGlobalVector(grid.Layout(), &u), 0);
  }
  ~GridState() { VecDestroy(&u); }
  ctflow::Grid grid;
  Vec u = nullptr;
};

std::vector<PetscReal> Random(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<PetscReal> v(n);
  for (PetscReal &x : v) x = 1.3 * normal(rng) + 0.2;
  return v;
}

void Set(Vec v, const PetscReal *values) {
  PetscInt n;
  PetscScalar *a;
  VecGetLocalSize(v, &n);
  VecGetArrayWrite(v, &a);
  std::copy_n(values, n, a);
  VecRestoreArrayWrite(v, &a);
}

std::vector<PetscReal> Get(Vec v) {
  PetscInt n;
  const PetscScalar *a;
  VecGetLocalSize(v, &n);
  VecGetArrayRead(v, &a);
  std::vector<PetscReal> out(a, a + n);
  VecRestoreArrayRead(v, &a);
  return out;
}

double MaxAbs(const std::vector<PetscReal> &a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

class AttentionSequencesTest : public ::testing::TestWithParam<bool> {
 protected:
  void TearDown() override { PetscOptionsClearValue(nullptr, "-attention_tile"); }
  // The forward F(U) and the transpose (∂F/∂U)^T G with the kernels' gradient, on `gs` (recorded: the transpose reuses
  // the forward's statistics).
  void Evaluate(GridState &gs, const PetscReal *u, const PetscReal *G, bool recorded, std::vector<PetscReal> *f, std::vector<PetscReal> *du,
                std::vector<PetscReal> *dtheta) {
    std::unique_ptr<ctflow::Operator> op;
    Vec F, Gv, dU;
    ctflow::ControlsArrays g;
    ASSERT_EQ(ctflow::OperatorCreate("attention", {&gs.grid, &controls_}, &op), 0);
    ASSERT_EQ(op->SetUp(gs.u), 0);
    VecDuplicate(gs.u, &F), VecDuplicate(gs.u, &Gv), VecDuplicate(gs.u, &dU);
    Set(gs.u, u), Set(Gv, G), VecSet(dU, 0.0);
    if (recorded) op->RecordNextRhs(0);
    ASSERT_EQ(op->Rhs(0.5, gs.u, F), 0);
    if (recorded) op->ReuseRecord(0);
    ASSERT_EQ(op->RhsTranspose(0.5, gs.u, Gv, dU, &g), 0);
    *f = Get(F), *du = Get(dU), *dtheta = controls_.TakeGradient();
    VecDestroy(&F), VecDestroy(&Gv), VecDestroy(&dU);
  }
  RandomAttentionControls controls_{kNy, kNh, kD, GetParam(), 5};
};

// F, dU and the kernels' gradient of the stacked state: each sequence's rows equal its separate evaluation, and the
// kernels' gradient equals the sum of the separate ones (1e-13 relative).
TEST_P(AttentionSequencesTest, EqualsSeparateSequences) {
  const size_t rows = kL * kNy;
  const std::vector<PetscReal> u = Random(kS * rows, 11), G = Random(kS * rows, 12);
  for (const char *tile : {"-attention_tile 3", ""})
    for (bool recorded : {false, true}) {
      PetscOptionsClearValue(nullptr, "-attention_tile");
      ASSERT_EQ(PetscOptionsInsertString(nullptr, tile), 0);
      GridState big(kS), one(1);
      std::vector<PetscReal> f, du, dtheta, fq, duq, dthetaq, dsum;
      Evaluate(big, u.data(), G.data(), recorded, &f, &du, &dtheta);
      ASSERT_EQ(f.size(), kS * rows);
      const double fs = MaxAbs(f), dus = MaxAbs(du), ds = MaxAbs(dtheta);
      for (PetscInt q = 0; q < kS; ++q) {
        Evaluate(one, &u[q * rows], &G[q * rows], recorded, &fq, &duq, &dthetaq);
        for (size_t i = 0; i < rows; ++i) {
          EXPECT_NEAR(f[q * rows + i], fq[i], 1e-13 * fs) << tile << " recorded " << recorded << " sequence " << q << " entry " << i;
          EXPECT_NEAR(du[q * rows + i], duq[i], 1e-13 * dus) << tile << " recorded " << recorded << " sequence " << q << " entry " << i;
        }
        dsum.resize(dthetaq.size(), 0.0);
        for (size_t i = 0; i < dthetaq.size(); ++i) dsum[i] += dthetaq[i];
      }
      ASSERT_EQ(dsum.size(), dtheta.size());
      for (size_t i = 0; i < dsum.size(); ++i) EXPECT_NEAR(dtheta[i], dsum[i], 1e-13 * ds) << tile << " recorded " << recorded << " parameter " << i;
    }
}

// ⟨G, (F(U + εδ) − F(U − εδ)) / 2ε⟩ = ⟨(∂F/∂U)^T G, δ⟩ on the stacked state, to O(ε²): 1e-7 relative at ε = 1e-4.
TEST_P(AttentionSequencesTest, TransposeDotProduct) {
  const size_t n = kS * kL * kNy;
  const std::vector<PetscReal> u = Random(n, 21), G = Random(n, 22), delta = Random(n, 23);
  GridState big(kS);
  std::vector<PetscReal> f, du, dtheta, fp, fm, up(n), um(n);
  const double eps = 1e-4;
  for (size_t i = 0; i < n; ++i) up[i] = u[i] + eps * delta[i], um[i] = u[i] - eps * delta[i];
  Evaluate(big, u.data(), G.data(), false, &f, &du, &dtheta);
  Evaluate(big, up.data(), G.data(), false, &fp, &du, &dtheta);
  Evaluate(big, um.data(), G.data(), false, &fm, &du, &dtheta);
  Evaluate(big, u.data(), G.data(), false, &f, &du, &dtheta);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < n; ++i) lhs += G[i] * (fp[i] - fm[i]) / (2 * eps), rhs += du[i] * delta[i];
  EXPECT_NEAR(lhs, rhs, 1e-7 * std::abs(rhs));
}

// A grid of sequences spread over several processes is refused (one error, no crash).
TEST_P(AttentionSequencesTest, SeveralProcessesRefused) {
  PetscMPIInt size;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  if (size == 1) GTEST_SKIP() << "needs 2 ranks";
  GridState big(kS, PETSC_COMM_WORLD);
  std::unique_ptr<ctflow::Operator> op;
  ASSERT_EQ(ctflow::OperatorCreate("attention", {&big.grid, &controls_}, &op), 0);
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  const PetscErrorCode ierr = op->SetUp(big.u);
  PetscPopErrorHandler();
  EXPECT_EQ(ierr, PETSC_ERR_SUP);
}

INSTANTIATE_TEST_SUITE_P(Causal, AttentionSequencesTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool> &info) { return info.param ? "causal" : "full"; });

}  // namespace
