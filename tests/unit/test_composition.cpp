// Unit tests of splitting schemes as data: the expression parser (canonical form with sub-intervals, rate
// factors and substep integrators; every error names the problem), the registered schemes' expressions
// (Lie is eq. (13)–(17)), and the semantics of the nodes: avg(...) is the skip relaxation of eq. (16),
// seq(...) applies substeps in order with the whole Δt, [a, b] and *r scale an Euler substep, sum(...) is
// the additive parallel splitting.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "discretization/analytic_controls.hpp"
#include "solver/timestepping/composition.hpp"
#include "solver/timestepping/splitting_schemes.hpp"

namespace {

class CompositionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PetscOptionsInsertString(nullptr, "-Nx 4 -Ny 3 -Nh 1");
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    ASSERT_EQ(controls_.SetFromOptions(), 0);
    for (const char *o : {"-Nx", "-Ny", "-Nh"}) PetscOptionsClearValue(nullptr, o);
  }
  PetscErrorCode Parse(const std::string &expr, std::unique_ptr<ctflow::SplittingNode> *root) {
    return ctflow::ParseComposition(expr, {&grid_, &controls_}, root);
  }
  // The error message of a malformed expression ("" if it parsed).
  std::string ParseError(const std::string &expr) {
    std::unique_ptr<ctflow::SplittingNode> root;
    PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
    const PetscErrorCode ierr = Parse(expr, &root);
    PetscPopErrorHandler();
    if (!ierr) return "";
    const char *text;
    char *specific;
    PetscErrorMessage(ierr, &text, &specific);
    return specific;
  }
  ctflow::Grid grid_{PETSC_COMM_SELF};
  ctflow::AnalyticControls controls_{PETSC_COMM_SELF};
};

TEST_F(CompositionTest, ParsesToCanonicalForm) {
  std::unique_ptr<ctflow::SplittingNode> root;
  ASSERT_EQ(Parse("  seq( attention,layernorm ,avg(seq(ffn1,relu, ffn2, relu) , identity),layernorm ) ", &root), 0);
  EXPECT_EQ(root->Expression(), "seq(attention, layernorm, avg(seq(ffn1, relu, ffn2, relu), identity), layernorm)");
  ASSERT_EQ(Parse("relu", &root), 0);
  EXPECT_EQ(root->Expression(), "relu");
  ASSERT_EQ(Parse("seq(attention[0,1/2], avg(ffn1 * 2, ffn2*2 @ts), sum(ffn1,relu)[0.25, 0.75]*3, attention[ 0.5 ,1 ]@euler)", &root), 0);
  EXPECT_EQ(root->Expression(), "seq(attention[0, 0.5], avg(ffn1*2, ffn2*2@ts), sum(ffn1, relu)[0.25, 0.75]*3, attention[0.5, 1])");
}

TEST_F(CompositionTest, RejectsProjectionsRunningBackwards) {
  EXPECT_EQ(ParseError("seq(ffn1[0, -0.5], ffn1[-0.5, 1], relu[0, 0])"), "");  // flows may run backwards
  EXPECT_NE(ParseError("seq(ffn1, layernorm[0.5, 0.25])").find("the projection 'layernorm[0.5, 0.25]' would get a negative sub-interval"),
            std::string::npos);
  EXPECT_NE(ParseError("seq(ffn1, relu)[1, 0]").find("projection 'relu' would get a negative sub-interval (-1 of the step)"), std::string::npos);
  EXPECT_NE(ParseError("avg(relu, identity)*-1").find("projection 'relu' would get a negative"), std::string::npos);
}

TEST_F(CompositionTest, RejectsMalformedExpressionsWithAClearMessage) {
  EXPECT_NE(ParseError("seq(attention, relu").find("expected ',' or ')'"), std::string::npos);
  EXPECT_NE(ParseError("seq(atention)").find("unknown operator 'atention'"), std::string::npos);
  EXPECT_NE(ParseError("par(relu)").find("unknown group 'par'"), std::string::npos);
  EXPECT_NE(ParseError("seq(relu) relu").find("unexpected"), std::string::npos);
  EXPECT_NE(ParseError("seq").find("needs a parenthesised list"), std::string::npos);
  EXPECT_NE(ParseError("seq(relu,)").find("expected an operator"), std::string::npos);
  EXPECT_NE(ParseError("ffn3").find("layer index 1..J = 2"), std::string::npos);
  EXPECT_NE(ParseError("ffn").find("layer index"), std::string::npos);
  EXPECT_NE(ParseError("relu2").find("takes no index"), std::string::npos);
  EXPECT_NE(ParseError("ffn1[0 0.5]").find("expected ',' in '[a, b]'"), std::string::npos);
  EXPECT_NE(ParseError("ffn1[0, 0.5").find("expected ']' at column 12"), std::string::npos);
  EXPECT_NE(ParseError("ffn1*").find("expected a number (rate factor) at column 6"), std::string::npos);
  EXPECT_NE(ParseError("ffn1[0, 1/0]").find("non-zero denominator"), std::string::npos);
  EXPECT_NE(ParseError("ffn1*inf").find("rate factor at column 6 is not finite"), std::string::npos);
  EXPECT_NE(ParseError("ffn1@rk9").find("unknown substep integrator 'rk9'; known substep integrators: euler, ts"), std::string::npos);
  EXPECT_NE(ParseError("ffn1@").find("expected a substep integrator name after '@'"), std::string::npos);
  EXPECT_NE(ParseError("seq(ffn1)@ts").find("only an operator takes a substep integrator"), std::string::npos);
}

TEST_F(CompositionTest, LieSchemeIsThePapersSubstepOrder) {
  std::string expr;
  ASSERT_EQ(ctflow::SplittingSchemeExpression(PETSC_COMM_SELF, "lie", 2, &expr), 0);
  EXPECT_EQ(expr, "seq(attention, layernorm, avg(seq(ffn1, relu, ffn2, relu), identity), layernorm)");
  ASSERT_EQ(ctflow::SplittingSchemeExpression(PETSC_COMM_SELF, "lie", 0, &expr), 0);
  EXPECT_EQ(expr, "seq(attention, layernorm, layernorm)");
  const std::vector<std::string> units = {"attention", "ffn1", "ffn2[0, 1]"};
  const std::pair<const char *, const char *> schemes[] = {
      {"lie", "seq(attention, ffn1, ffn2[0, 1])"},
      {"strang", "seq(attention[0, 0.5], ffn1[0, 0.5], ffn2[0, 1], ffn1[0.5, 1], attention[0.5, 1])"},
      {"parallel", "avg(attention*3, ffn1*3, seq(ffn2[0, 1])*3)"},
      {"parallel_add", "sum(attention, ffn1, ffn2[0, 1])"},
      {"symmetric", "avg(seq(attention, ffn1, ffn2[0, 1]), seq(ffn2[0, 1], ffn1, attention))"},
      {"hybrid", "seq(avg(attention*2, ffn1*2), ffn2[0, 1])"},
  };
  for (const auto &s : schemes) {
    ASSERT_EQ(ctflow::SplittingSchemeExpression(PETSC_COMM_SELF, s.first, units, {}, &expr), 0);
    EXPECT_EQ(expr, s.second);
  }
  ASSERT_EQ(ctflow::SplittingSchemeExpression(PETSC_COMM_SELF, "hybrid", units, {1, 2}, &expr), 0);
  EXPECT_EQ(expr, "seq(attention, avg(ffn1*2, seq(ffn2[0, 1])*2))");
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  EXPECT_EQ(ctflow::SplittingSchemeExpression(PETSC_COMM_SELF, "strangg", 2, &expr), PETSC_ERR_USER_INPUT);
  PetscPopErrorHandler();
}

TEST_F(CompositionTest, AverageIsTheSkipRelaxationAndSequenceUsesTheWholeStep) {
  Vec u;
  ASSERT_EQ(DMCreateGlobalVector(grid_.Layout(), &u), 0);
  PetscScalar *a;
  VecGetArray(u, &a);
  for (PetscInt i = 0; i < 12; ++i) a[i] = (i % 3) - 1.0 + 0.25 * i;  // mixed signs
  VecRestoreArray(u, &a);
  std::vector<double> v(12);
  VecGetArray(u, &a);
  std::copy_n(a, 12, v.begin());
  VecRestoreArray(u, &a);

  // avg(relu, identity): eq. (16), (max(v, 0) + v) / 2.
  std::unique_ptr<ctflow::SplittingNode> root;
  ASSERT_EQ(Parse("avg(relu, identity)", &root), 0);
  ASSERT_EQ(root->SetUp(u), 0);
  ASSERT_EQ(root->Advance(0, 0.3, u), 0);
  VecGetArray(u, &a);
  for (PetscInt i = 0; i < 12; ++i) EXPECT_DOUBLE_EQ(a[i], 0.5 * (std::max(v[i], 0.0) + v[i]));
  std::copy_n(v.begin(), 12, a);
  VecRestoreArray(u, &a);

  // seq(ffn1, ffn1): two explicit Euler steps of the same flow, each over the whole Δt (eq. (58)).
  ASSERT_EQ(Parse("seq(ffn1, ffn1)", &root), 0);
  ASSERT_EQ(root->SetUp(u), 0);
  ASSERT_EQ(root->Advance(0.2, 0.3, u), 0);
  ctflow::FeedForwardKernel k;
  controls_.SampleFeedForward(1, 0.2, grid_, &k);
  for (int step = 0; step < 2; ++step) {
    std::vector<double> next(v);
    for (PetscInt x = 0; x < 4; ++x)
      for (PetscInt y = 0; y < 3; ++y) {
        double rhs = k.b[x * 3 + y];
        for (PetscInt xi = 0; xi < 3; ++xi) rhs += k.W[xi * 3 + y] * v[x * 3 + xi] * grid_.dy();
        next[x * 3 + y] += 0.3 * rhs;
      }
    v = next;
  }
  VecGetArray(u, &a);
  for (PetscInt i = 0; i < 12; ++i) EXPECT_NEAR(a[i], v[i], 1e-14);
  VecRestoreArray(u, &a);

  // One Euler substep of ffn1 over [t + aΔt, t + bΔt] with rate r: u += (b − a)Δt r A(t + aΔt, u). The
  // additive sum(ffn1[0, 0.5]*2, identity) is the same substep: Φ_1(u) + u − u.
  const std::vector<double> v0(v);
  std::unique_ptr<ctflow::SplittingNode> sum;
  ASSERT_EQ(Parse("ffn1[0.25, 0.75]*3", &root), 0);
  ASSERT_EQ(Parse("sum(ffn1[0.25, 0.75]*3, identity)", &sum), 0);
  ASSERT_EQ(root->SetUp(u), 0);
  ASSERT_EQ(sum->SetUp(u), 0);
  Vec w;
  VecDuplicate(u, &w);
  VecCopy(u, w);
  ASSERT_EQ(root->Advance(0.2, 0.4, u), 0);
  ASSERT_EQ(sum->Advance(0.2, 0.4, w), 0);
  controls_.SampleFeedForward(1, 0.2 + 0.25 * 0.4, grid_, &k);
  const PetscScalar *b;
  VecGetArray(u, &a);
  VecGetArrayRead(w, &b);
  for (PetscInt x = 0; x < 4; ++x)
    for (PetscInt y = 0; y < 3; ++y) {
      double rhs = k.b[x * 3 + y];
      for (PetscInt xi = 0; xi < 3; ++xi) rhs += k.W[xi * 3 + y] * v0[x * 3 + xi] * grid_.dy();
      EXPECT_NEAR(a[x * 3 + y], v0[x * 3 + y] + 0.5 * 0.4 * 3 * rhs, 1e-14);
      EXPECT_NEAR(b[x * 3 + y], a[x * 3 + y], 1e-14);
    }
  VecRestoreArrayRead(w, &b);
  VecRestoreArray(u, &a);
  VecDestroy(&w);
  VecDestroy(&u);
}

}  // namespace
