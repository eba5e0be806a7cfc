// Attention over a grid of several sequences (Grid::SetSequences: a batch of samples stacked in x, as the trainer solves
// it) equals separate evaluations of each sequence: the streaming forward (tiles 3, which divides neither the sequence
// length 7 nor N_x = 21, and the default), its transpose (dU and every kernel gradient; recomputed statistics and the
// recorded forward's), causal and not, on a grid with non-unit spacings (Δx = 2/7 per sequence), on the tiled path
// (-attention_short_size 0) and the direct one (operators/short_sequence_softmax.hpp). The transpose also passes a
// dot-product test against central differences of the forward. Sums are in the same order per row, so the agreement is
// round-off: 1e-13 relative. The direct path against the tiled one on the same grid, at sequence lengths 1, 2, 5, 7, 16
// and 17 (part of a vector of 8 queries, two whole ones, and one more) and heads of 3, 4, 5, 8, 12, 16, 32 and 64
// features (the kernel's instances for 4, 8, 16, 32 and 64, and its general one): F, dU and the kernels' gradient to
// 1e-14 relative, the statistics each records interchangeable (a forward on one path, its recorded transpose on the
// other), and the dot-product test at every shape. On several ranks, a grid of sequences over more than one process is
// refused with an error, and everything else runs on PETSC_COMM_SELF.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>

#include "operators/attention.hpp"
#include "operators/operator.hpp"
#include "support/random_attention_controls.hpp"

namespace {

constexpr PetscInt kL = 7, kS = 3, kNy = 6, kNh = 2, kD = 3;

using ctflow_test::RandomAttentionControls;

// A grid on PETSC_COMM_SELF of `sequences` sequences of L tokens (Δx = 2/7, Δy = 1.3/6, Δh = 0.45 with 2 heads) and a
// state on it.
struct GridState {
  explicit GridState(PetscInt sequences, MPI_Comm comm = PETSC_COMM_SELF, PetscInt L = kL, PetscInt Nh = kNh) : grid(comm) {
    EXPECT_EQ(grid.SetSizes(L, kNy, Nh), 0);
    EXPECT_EQ(grid.SetLengths(2 * L / 7.0, 1.3, 0.45 * Nh), 0);
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

void ClearOptions() {
  for (const char *o : {"-attention_tile", "-attention_short_size"}) PetscOptionsClearValue(nullptr, o);
}

// The forward F(U) and the transpose (∂F/∂U)^T G with the kernels' gradient, on `gs` (recorded: the transpose reuses
// the forward's statistics); forward_short, transpose_short: the -attention_short_size of each, if not negative.
void Evaluate(RandomAttentionControls &controls, GridState &gs, const PetscReal *u, const PetscReal *G, bool recorded, std::vector<PetscReal> *f,
              std::vector<PetscReal> *du, std::vector<PetscReal> *dtheta, PetscInt forward_short = -1, PetscInt transpose_short = -1) {
  std::unique_ptr<ctflow::Operator> op;
  Vec F, Gv, dU;
  ctflow::ControlsArrays g;
  ASSERT_EQ(ctflow::OperatorCreate("attention", {&gs.grid, &controls}, &op), 0);
  auto *attention = dynamic_cast<ctflow::Attention *>(op.get());
  ASSERT_NE(attention, nullptr);
  ASSERT_EQ(op->SetUp(gs.u), 0);
  VecDuplicate(gs.u, &F), VecDuplicate(gs.u, &Gv), VecDuplicate(gs.u, &dU);
  Set(gs.u, u), Set(Gv, G), VecSet(dU, 0.0);
  if (forward_short >= 0) attention->SetShortSize(forward_short);
  if (recorded) op->RecordNextRhs(0);
  ASSERT_EQ(op->Rhs(0.5, gs.u, F), 0);
  if (transpose_short >= 0) attention->SetShortSize(transpose_short);
  if (recorded) op->ReuseRecord(0);
  ASSERT_EQ(op->RhsTranspose(0.5, gs.u, Gv, dU, &g), 0);
  *f = Get(F), *du = Get(dU), *dtheta = controls.TakeGradient();
  VecDestroy(&F), VecDestroy(&Gv), VecDestroy(&dU);
}

// ⟨G, (F(U + εδ) − F(U − εδ)) / 2ε⟩ against ⟨(∂F/∂U)^T G, δ⟩ on `gs` (seeds 21–23), returned in *lhs and *rhs.
void DotProduct(RandomAttentionControls &controls, GridState &gs, double eps, double *lhs, double *rhs) {
  PetscInt n;
  VecGetLocalSize(gs.u, &n);
  const std::vector<PetscReal> u = Random(n, 21), G = Random(n, 22), delta = Random(n, 23);
  std::vector<PetscReal> f, du, dtheta, fp, fm, up(n), um(n);
  for (PetscInt i = 0; i < n; ++i) up[i] = u[i] + eps * delta[i], um[i] = u[i] - eps * delta[i];
  Evaluate(controls, gs, up.data(), G.data(), false, &fp, &du, &dtheta);
  Evaluate(controls, gs, um.data(), G.data(), false, &fm, &du, &dtheta);
  Evaluate(controls, gs, u.data(), G.data(), false, &f, &du, &dtheta);
  *lhs = *rhs = 0;
  for (PetscInt i = 0; i < n; ++i) *lhs += G[i] * (fp[i] - fm[i]) / (2 * eps), *rhs += du[i] * delta[i];
}

class AttentionSequencesTest : public ::testing::TestWithParam<bool> {
 protected:
  void TearDown() override { ClearOptions(); }
  RandomAttentionControls controls_{kNy, kNh, kD, GetParam(), 5};
};

// F, dU and the kernels' gradient of the stacked state: each sequence's rows equal its separate evaluation, and the
// kernels' gradient equals the sum of the separate ones (1e-13 relative); tiled and direct.
TEST_P(AttentionSequencesTest, EqualsSeparateSequences) {
  const size_t rows = kL * kNy;
  const std::vector<PetscReal> u = Random(kS * rows, 11), G = Random(kS * rows, 12);
  for (const char *tile : {"-attention_tile 3 -attention_short_size 0", "-attention_short_size 0", ""})
    for (bool recorded : {false, true}) {
      ClearOptions();
      ASSERT_EQ(PetscOptionsInsertString(nullptr, tile), 0);
      GridState big(kS), one(1);
      std::vector<PetscReal> f, du, dtheta, fq, duq, dthetaq, dsum;
      Evaluate(controls_, big, u.data(), G.data(), recorded, &f, &du, &dtheta);
      ASSERT_EQ(f.size(), kS * rows);
      const double fs = MaxAbs(f), dus = MaxAbs(du), ds = MaxAbs(dtheta);
      for (PetscInt q = 0; q < kS; ++q) {
        Evaluate(controls_, one, &u[q * rows], &G[q * rows], recorded, &fq, &duq, &dthetaq);
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

// ⟨G, (F(U + εδ) − F(U − εδ)) / 2ε⟩ = ⟨(∂F/∂U)^T G, δ⟩ on the stacked state, to O(ε²): 1e-7 relative at ε = 1e-4; tiled
// and direct.
TEST_P(AttentionSequencesTest, TransposeDotProduct) {
  for (const char *path : {"-attention_short_size 0", ""}) {
    ClearOptions();
    ASSERT_EQ(PetscOptionsInsertString(nullptr, path), 0);
    GridState big(kS);
    double lhs, rhs;
    DotProduct(controls_, big, 1e-4, &lhs, &rhs);
    EXPECT_NEAR(lhs, rhs, 1e-7 * std::abs(rhs)) << path;
  }
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

// Sequence length, heads and features per head; causal or not.
struct Shape {
  PetscInt L, Nh, d;
};
class ShortSequencesTest : public ::testing::TestWithParam<std::tuple<Shape, bool>> {
 protected:
  void TearDown() override { ClearOptions(); }
  const Shape shape_ = std::get<0>(GetParam());
  RandomAttentionControls controls_{kNy, shape_.Nh, shape_.d, std::get<1>(GetParam()), 9};
};

double MaxDifference(const std::vector<PetscReal> &a, const std::vector<PetscReal> &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// 5 sequences: the direct path (forward and transpose; the statistics recomputed by the transpose, or recorded) and
// each path's transpose from the other's recorded forward against the tiled path: F, dU and the kernels' gradient to
// 1e-14 relative (the largest difference against the largest entry).
TEST_P(ShortSequencesTest, DirectEqualsTiled) {
  const PetscInt S = 5, L = shape_.L, d = shape_.d, n = S * L * kNy;
  const std::vector<PetscReal> u = Random(n, 31), G = Random(n, 32);
  GridState gs(S, PETSC_COMM_SELF, L, shape_.Nh);
  std::vector<PetscReal> f0, du0, dt0, f, du, dt;
  Evaluate(controls_, gs, u.data(), G.data(), false, &f0, &du0, &dt0, 0, 0);
  ASSERT_EQ((PetscInt)f0.size(), n);
  const struct {
    PetscInt forward, transpose;
    bool recorded;
  } runs[] = {{L * d, L * d, false}, {L * d, L * d, true}, {L * d, 0, true}, {0, L * d, true}};
  for (const auto &r : runs) {
    Evaluate(controls_, gs, u.data(), G.data(), r.recorded, &f, &du, &dt, r.forward, r.transpose);
    ASSERT_EQ(dt.size(), dt0.size());
    const std::string run = "forward short size " + std::to_string(r.forward) + ", transpose " + std::to_string(r.transpose) +
                            (r.recorded ? ", recorded" : ", recomputed");
    EXPECT_LE(MaxDifference(f, f0), 1e-14 * MaxAbs(f0)) << run;
    EXPECT_LE(MaxDifference(du, du0), 1e-14 * MaxAbs(du0)) << run;
    EXPECT_LE(MaxDifference(dt, dt0), 1e-14 * MaxAbs(dt0)) << run;
  }
}

// The dot-product test of the direct path, 1e-7 relative at ε = 1e-5 (the wider heads' sharper softmax has the O(ε²)
// term at 2e-7 for ε = 1e-4).
TEST_P(ShortSequencesTest, TransposeDotProduct) {
  GridState gs(5, PETSC_COMM_SELF, shape_.L, shape_.Nh);
  double lhs, rhs;
  DotProduct(controls_, gs, 1e-5, &lhs, &rhs);
  EXPECT_NEAR(lhs, rhs, 1e-7 * std::abs(rhs));
}

// Lengths 1, 2, 5, 7, 16, 17; 3, 5, 12 features (the general kernel, partial vectors) and 4, 8, 16, 32, 64 (instances).
INSTANTIATE_TEST_SUITE_P(Shapes, ShortSequencesTest,
                         ::testing::Combine(::testing::Values(Shape{1, 2, 3}, Shape{2, 3, 8}, Shape{5, 4, 8}, Shape{5, 2, 5}, Shape{7, 1, 12},
                                                              Shape{7, 3, 16}, Shape{16, 2, 16}, Shape{16, 3, 3}, Shape{17, 2, 8}, Shape{5, 3, 4},
                                                              Shape{3, 2, 32}, Shape{2, 1, 64}),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<Shape, bool>> &info) {
                           const Shape s = std::get<0>(info.param);
                           return "L" + std::to_string(s.L) + "_heads" + std::to_string(s.Nh) + "_d" + std::to_string(s.d) +
                                  (std::get<1>(info.param) ? "_causal" : "_full");
                         });

}  // namespace
