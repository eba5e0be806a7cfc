// Dot-product tests of every operator's transpose (docs/adjoint.md): for random U, V, W and a random parameter
// direction δθ, ⟨W, J V⟩ by central differences of A(U) (or P(U)) equals ⟨J^T W, V⟩, and
// ∂/∂ε ⟨W, A(U; θ + ε δθ)⟩ equals ⟨(∂A/∂θ)^T W, δθ⟩ summed over the ranks, to 1e-8 relative (the differences'
// truncation ε² ≈ 1e-12 and rounding 1e-16/ε ≈ 1e-10 with ε = 1e-6). The operators come with the controls of a
// randomised post-LN encoder (attention with W^O, b^Q, c; mlp with ReLU; named layer norms), a pre-LN causal decoder
// (attention_ln1, mlp_ln2 with GELU, final_norm; their records pass to the inner flow) and the paper's model (layernorm with σ1, σ2; ffn1 with
// per-token bias; relu; identity; the relaxation flows relax_* and the tangent flows tangent_* of docs/continuum.md). Run on 1, 2 and 3 ranks:
// attention's transpose goes around the ring. Attention also on a grid of 3 sequences of 1, 2, 5, 7 and 16 tokens (a batched training chunk, on
// PETSC_COMM_SELF on every rank): the direct path for short sequences (operators/short_sequence_softmax.hpp; d_head = 4), and the tiled one
// (-attention_short_size 0).
#include <gtest/gtest.h>

#include <random>

#include "discretization/layered_controls.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"
#include "support/random_vector.hpp"

using namespace ctflow_test;

namespace {

struct Case {
  const char *controls;  // fixture file (or "paper")
  const char *op;
  const char *options = "";  // e.g. -attention_tile 1 -attention_short_size 0: several tiles and query blocks
  const char *name = "";
  PetscInt length = 0, sequences = 1;  // several sequences of `length` tokens: the grid on PETSC_COMM_SELF
};

std::string FixturePath(const char *name) { return std::string(CTFLOW_ADJOINT_INPUTS) + "/" + name + ".h5"; }

class Transpose : public ::testing::TestWithParam<Case> {};

PetscReal Dot(Vec a, Vec b) {
  PetscReal d;
  VecDot(a, b, &d);
  return d;
}

// ⟨W, op(U)⟩: A(U) for a flow, P(U) for a projection.
PetscReal Pairing(ctflow::Operator &op, Vec U, Vec W, Vec work) {
  if (op.Kind() == ctflow::OperatorKind::Flow) EXPECT_EQ(op.Rhs(0.5, U, work), 0);
  else {
    VecCopy(U, work);
    EXPECT_EQ(op.Project(0.5, work), 0);
  }
  return Dot(W, work);
}

TEST_P(Transpose, AgreesWithFiniteDifferences) {
  const Case c = GetParam();
  MPI_Comm comm = c.sequences > 1 ? PETSC_COMM_SELF : PETSC_COMM_WORLD;
  int size;
  MPI_Comm_size(comm, &size);
  std::string path = std::string(c.controls) == "paper" ? "transpose_paper_np" + std::to_string(size) + ".h5" : FixturePath(c.controls);
  if (std::string(c.controls) == "paper") ASSERT_EQ(WriteControlsFile(comm, path, RandomModel(7, 6, 2, 1, 1, 0.5, true, 31)), 0);
  ASSERT_EQ(PetscOptionsInsertString(nullptr, c.options), 0);
  struct Clear {
    ~Clear() {
      for (const char *o : {"-attention_tile", "-attention_short_size"}) PetscOptionsClearValue(nullptr, o);
    }
  } clear;
  ctflow::Grid grid(comm);
  ctflow::LayeredControls controls(comm);
  ASSERT_EQ(grid.SetFromOptions(), 0);
  if (std::string(c.controls) == "paper") ASSERT_EQ(grid.RequireSize("-Nx", 7, "the test"), 0);
  else ASSERT_EQ(grid.SetSizes(c.sequences > 1 ? c.length : 9, PETSC_DECIDE, PETSC_DECIDE), 0);
  ASSERT_EQ(grid.SetSequences(c.sequences), 0);
  ASSERT_EQ(controls.Load(path, &grid), 0);
  ASSERT_EQ(grid.SetUp(), 0);
  std::unique_ptr<ctflow::Operator> op;
  ASSERT_EQ(ctflow::OperatorCreate(c.op, {&grid, &controls}, &op), 0);

  Vec U, V, W, dU, work, plus;
  ASSERT_EQ(DMCreateGlobalVector(grid.Layout(), &U), 0);
  for (Vec *v : {&V, &W, &dU, &work, &plus}) VecDuplicate(U, v);
  std::mt19937_64 rng(41 + grid.XStart());
  std::normal_distribution<double> normal;
  for (Vec v : {U, V, W}) RandomiseVector(v, rng);
  ASSERT_EQ(op->SetUp(U), 0);
  ctflow::ControlsArrays theta, g, dtheta;
  ASSERT_EQ(controls.GetParameters(&theta), 0);
  g = theta.ZerosLike();
  VecSet(dU, 0.0);
  if (op->Kind() == ctflow::OperatorKind::Flow) ASSERT_EQ(op->RhsTranspose(0.5, U, W, dU, &g), 0);
  else ASSERT_EQ(op->ProjectTranspose(0.5, U, W, dU, &g), 0);
  ASSERT_EQ(g.SumOverRanks(comm), 0);

  // The state: ⟨W, (op(U + εV) − op(U − εV)) / 2ε⟩ against ⟨J^T W, V⟩.
  const PetscReal eps = 1e-6;
  VecWAXPY(plus, eps, V, U);
  const PetscReal fp = Pairing(*op, plus, W, work);
  VecWAXPY(plus, -eps, V, U);
  const PetscReal fm = Pairing(*op, plus, W, work), jvp = (fp - fm) / (2 * eps), vjp = Dot(dU, V);
  EXPECT_NEAR(vjp, jvp, 1e-8 * std::max(std::abs(jvp), 1.0)) << c.op << ": state";

  // The parameters: a random direction (the same on every rank).
  std::mt19937_64 same(43);
  dtheta = theta.ZerosLike();
  for (auto &a : dtheta.Arrays())
    for (PetscReal &v : a.values) v = normal(same);
  PetscReal directional, f[2];
  ASSERT_EQ(g.Dot(comm, dtheta, &directional), 0);
  for (int s = 0; s < 2; ++s) {
    ctflow::ControlsArrays t = theta;
    ASSERT_EQ(t.Axpy(comm, s ? -eps : eps, dtheta), 0);
    ASSERT_EQ(controls.SetParameters(t), 0);
    f[s] = Pairing(*op, U, W, work);
  }
  EXPECT_NEAR(directional, (f[0] - f[1]) / (2 * eps), 1e-8 * std::max(std::abs(directional), 1.0)) << c.op << ": parameters";
  for (Vec *v : {&U, &V, &W, &dU, &work, &plus}) VecDestroy(v);
}

// A pre-LN flow passes the tape's records to its inner flow: the transpose at the recorded state equals the one that
// recomputes (to round-off), and it does use the record: one made at another state shows in the result.
TEST(NormalisedFieldRecords, InnerFlowReusesTheForwardsRecord) {
  for (const char *name : {"attention_ln1", "mlp_ln2"}) {
    ctflow::Grid grid(PETSC_COMM_WORLD);
    ctflow::LayeredControls controls(PETSC_COMM_WORLD);
    ASSERT_EQ(grid.SetSizes(9, PETSC_DECIDE, PETSC_DECIDE), 0);
    ASSERT_EQ(controls.Load(FixturePath("gpt"), &grid), 0);
    ASSERT_EQ(grid.SetUp(), 0);
    std::unique_ptr<ctflow::Operator> op;
    ASSERT_EQ(ctflow::OperatorCreate(name, {&grid, &controls}, &op), 0);
    Vec U, other, W, F, fresh, reused;
    ASSERT_EQ(DMCreateGlobalVector(grid.Layout(), &U), 0);
    for (Vec *v : {&other, &W, &F, &fresh, &reused}) VecDuplicate(U, v);
    std::mt19937_64 rng(53 + grid.XStart());
    for (Vec v : {U, other, W}) RandomiseVector(v, rng);
    ASSERT_EQ(op->SetUp(U), 0);
    auto transpose = [&](Vec record_at, Vec dU) {
      VecSet(dU, 0.0);
      if (record_at) {
        op->RecordNextRhs(0);
        EXPECT_EQ(op->Rhs(0.5, record_at, F), 0);
        op->ReuseRecord(0);
      }
      EXPECT_EQ(op->RhsTranspose(0.5, U, W, dU, nullptr), 0);
    };
    PetscReal scale, difference;
    transpose(nullptr, fresh);
    VecNorm(fresh, NORM_INFINITY, &scale);
    transpose(U, reused);
    VecAXPY(reused, -1.0, fresh);
    VecNorm(reused, NORM_INFINITY, &difference);
    EXPECT_LE(difference, 1e-13 * scale) << name << ": recorded at U";
    transpose(other, reused);
    VecAXPY(reused, -1.0, fresh);
    VecNorm(reused, NORM_INFINITY, &difference);
    EXPECT_GT(difference, 1e-3 * scale) << name << ": a record of another state is not used";
    for (Vec *v : {&U, &other, &W, &F, &fresh, &reused}) VecDestroy(v);
  }
}

INSTANTIATE_TEST_SUITE_P(Operators, Transpose,
                         ::testing::Values(Case{"encoder", "attention"}, Case{"encoder", "mlp"}, Case{"encoder", "layernorm1"},
                                           Case{"gpt", "attention_ln1"}, Case{"gpt", "mlp_ln2"}, Case{"gpt", "final_norm"},
                                           Case{"paper", "attention"}, Case{"paper", "layernorm"}, Case{"paper", "ffn1"}, Case{"paper", "relu"},
                                           Case{"paper", "identity"}, Case{"paper", "relax_layernorm"}, Case{"paper", "relax_relu"},
                                           Case{"paper", "tangent_attention"}, Case{"paper", "tangent_ffn1"},
                                           Case{"encoder", "attention", "-attention_tile 1 -attention_short_size 0", "_tile1"},
                                           Case{"gpt", "attention_ln1", "-attention_tile 1 -attention_short_size 0", "_tile1"},
                                           Case{"gpt", "attention_ln1", "-attention_tile 2 -attention_short_size 0", "_tile2"},
                                           Case{"encoder", "attention", "", "_seq1", 1, 3}, Case{"encoder", "attention", "", "_seq2", 2, 3},
                                           Case{"encoder", "attention", "", "_seq5", 5, 3}, Case{"encoder", "attention", "", "_seq7", 7, 3},
                                           Case{"encoder", "attention", "", "_seq16", 16, 3}, Case{"gpt", "attention_ln1", "", "_seq1", 1, 3},
                                           Case{"gpt", "attention_ln1", "", "_seq5", 5, 3}, Case{"gpt", "attention_ln1", "", "_seq16", 16, 3},
                                           Case{"encoder", "attention", "-attention_short_size 0", "_seq5_tiled", 5, 3},
                                           Case{"gpt", "attention_ln1", "-attention_short_size 0 -attention_tile 2", "_seq7_tiled", 7, 3}),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return std::string(info.param.controls) + "_" + info.param.op + info.param.name;
                         });

}  // namespace
