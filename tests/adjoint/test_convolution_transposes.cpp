// Dot-product tests of the transposes of the convolutional models (paper §6; docs/adjoint.md):
//  - the convolution (operators/convolution.hpp): ⟨G, Apply(v)⟩ = ⟨ApplyTranspose(G), v⟩ and, Apply being linear in the
//    stencils, ⟨G, Apply_δK(v)⟩ = ⟨dK, δK⟩, for stencils from 1 × 1 to wider than the image, by im2col + GEMM (P whole,
//    one and three pixel rows at a time) and FFTW, and for the automatic choice below and above kFftMinStencil; to 1e-13
//    of Σ |terms| (the rounding of both sums);
//  - the stage transfer: ⟨T u, w⟩ = ⟨u, Tᵀ w⟩ for token restriction, prolongation and equal tokens with pixel pooling;
//  - the operators conv_attention, conv_embed, conv_ffn<j>, the layer norm and the dense forms attention, ffn<j> on
//    convolutional controls: ⟨W, J V⟩ by central differences of A(U) equals ⟨J^T W, V⟩, and ∂/∂ε ⟨W, A(U; θ + ε δθ)⟩
//    equals ⟨(∂A/∂θ)^T W, δθ⟩ summed over the ranks, to 1e-8 relative (ε = 1e-6: truncation ε² ≈ 1e-12) plus the
//    differences' rounding (1e-16 Σ |W A(U)| / ε), for the analytic convolutional controls (coefficients; 5 × 3
//    stencils, GEMM, and 7 × 5, FFTW) and a file's (stencils, biases, σ1, σ2; at its resolution and refined twice in
//    y1); conv_attention's transpose from the by-products of a recorded Rhs equals the one that recomputes them.
// Run on 1, 2 and 3 ranks: the attention's transpose goes around the MPI ring (an odd number of shifts leaves the blocks
// in the ring's other buffer), the transfer gathers its source tokens from other ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "discretization/analytic_convolution_controls.hpp"
#include "discretization/layered_convolution_controls.hpp"
#include "discretization/stage_transfer.hpp"
#include "operators/convolution.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"
#include "support/random_vector.hpp"

using ctflow_test::Matrix;

namespace {

Matrix Random(size_t n, std::mt19937_64 &rng) {
  std::normal_distribution<double> normal;
  Matrix v(n);
  for (double &e : v) e = normal(rng);
  return v;
}

// Σ a_i b_i and Σ |a_i b_i| over the first n entries.
std::pair<double, double> Dot(const double *a, const double *b, size_t n) {
  double s = 0, abs = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i], abs += std::abs(a[i] * b[i]);
  return {s, abs};
}

TEST(Convolution2DTranspose, IsTheAdjointOfApplyForEveryStencilAndMethod) {
  using Method = ctflow::Convolution2D::Method;
  const PetscInt N1 = 7, N2 = 5, Ny = N1 * N2, n = 3, ld = Ny + 2;  // three stencils, rows ld apart
  ctflow::ImageShape shape;
  shape.N[0] = N1, shape.N[1] = N2, shape.L[0] = 1.3, shape.L[1] = 0.8;
  std::mt19937_64 rng(11);
  for (auto [k1, k2] : {std::pair<PetscInt, PetscInt>{1, 1}, {3, 3}, {5, 3}, {3, 7}, {5, 5}, {7, 5}, {13, 9}}) {
    const PetscInt kk = k1 * k2;
    const Matrix v = Random(Ny, rng), G = Random(n * ld, rng), K = Random(n * kk, rng), dK = Random(n * kk, rng);
    const Matrix dv0 = Random(Ny, rng), dk0 = Random(n * kk, rng);
    for (auto [method, block] :
         {std::pair{Method::Gemm, ctflow::Convolution2D::kColumnsBlock}, std::pair{Method::Gemm, (PetscInt)1}, std::pair{Method::Gemm, 3 * kk * N2},
          std::pair{Method::Fft, (PetscInt)0}, std::pair{Method::Auto, ctflow::Convolution2D::kColumnsBlock}}) {
      const std::string what =
          std::to_string(k1) + "x" + std::to_string(k2) + " method " + std::to_string((int)method) + " block " + std::to_string(block);
      ctflow::Convolution2D conv;
      ASSERT_EQ(conv.SetUp(shape, k1, k2, method, block), 0);
      if (method == Method::Auto) EXPECT_EQ(conv.UsesFft(), kk >= ctflow::Convolution2D::kFftMinStencil) << what;
      ASSERT_EQ(conv.SetKernels(n, K.data()), 0);
      Matrix out(n * ld, 0.0), dv = dv0, dk = dk0, dv_only = dv0;
      conv.Apply(v.data(), 0.0, out.data(), ld);
      conv.ApplyTranspose(v.data(), G.data(), ld, dv.data(), dk.data());
      conv.ApplyTranspose(nullptr, G.data(), ld, dv_only.data(), nullptr);  // the image's transpose alone does not read v
      // The image: ⟨G, K * v⟩ = ⟨Kᵀ G, v⟩ (the rows' padding is not read: G there is random).
      double lhs = 0, scale = 0;
      for (PetscInt r = 0; r < n; ++r) {
        const auto [s, a] = Dot(&G[r * ld], &out[r * ld], Ny);
        lhs += s, scale += a;
      }
      Matrix added(Ny);
      for (PetscInt l = 0; l < Ny; ++l) added[l] = dv[l] - dv0[l];
      const auto [rhs, rhs_scale] = Dot(added.data(), v.data(), Ny);
      EXPECT_NEAR(lhs, rhs, 1e-13 * (scale + rhs_scale)) << what << ": image";
      for (PetscInt l = 0; l < Ny; ++l) EXPECT_EQ(dv_only[l], dv[l]) << what;
      // The stencils: ⟨G, δK * v⟩ = ⟨dK, δK⟩.
      ASSERT_EQ(conv.SetKernels(n, dK.data()), 0);
      conv.Apply(v.data(), 0.0, out.data(), ld);
      double lhs_k = 0, scale_k = 0;
      for (PetscInt r = 0; r < n; ++r) {
        const auto [s, a] = Dot(&G[r * ld], &out[r * ld], Ny);
        lhs_k += s, scale_k += a;
      }
      Matrix added_k(n * kk);
      for (PetscInt s = 0; s < n * kk; ++s) added_k[s] = dk[s] - dk0[s];
      const auto [rhs_k, rhs_k_scale] = Dot(added_k.data(), dK.data(), n * kk);
      EXPECT_NEAR(lhs_k, rhs_k, 1e-13 * (scale_k + rhs_k_scale)) << what << ": stencils";
    }
  }
}

struct TransferCase {
  PetscInt Nx_from, N1_from, N2_from, Nx_to, N1_to, N2_to;
};

class StageTransferTranspose : public ::testing::TestWithParam<TransferCase> {};

TEST_P(StageTransferTranspose, IsTheAdjointOfTheTransfer) {
  const TransferCase c = GetParam();
  ctflow::Grid from(PETSC_COMM_WORLD), to(PETSC_COMM_WORLD);
  ASSERT_EQ(from.SetSizes(c.Nx_from, PETSC_DECIDE, 1), 0);
  ASSERT_EQ(from.SetImageSizes(c.N1_from, c.N2_from), 0);
  ASSERT_EQ(from.SetUp(), 0);
  ASSERT_EQ(to.SetSizes(c.Nx_to, PETSC_DECIDE, 1), 0);
  ASSERT_EQ(to.SetImageSizes(c.N1_to, c.N2_to), 0);
  ASSERT_EQ(to.SetUp(), 0);
  std::mt19937_64 rng(3);
  Matrix u0 = Random(c.Nx_from * c.N1_from * c.N2_from, rng), w0 = Random(c.Nx_to * c.N1_to * c.N2_to, rng);
  Vec u, w, Tu, Tw;
  ASSERT_EQ(ctflow_test::CreateState(from, &u0, nullptr, &u), 0);
  ASSERT_EQ(ctflow_test::CreateState(to, &w0, nullptr, &w), 0);
  ASSERT_EQ(VecDuplicate(w, &Tu), 0);
  ASSERT_EQ(VecDuplicate(u, &Tw), 0);
  ASSERT_EQ(VecSet(Tw, 7.0), 0);  // overwritten, not added to
  ctflow::StageTransfer transfer;
  ASSERT_EQ(transfer.SetUp(from, to), 0);
  ASSERT_EQ(transfer.Apply(u, Tu), 0);
  ASSERT_EQ(transfer.ApplyTranspose(w, Tw), 0);
  PetscReal lhs, rhs, nu, nw;
  VecDot(Tu, w, &lhs);
  VecDot(u, Tw, &rhs);
  VecNorm(u, NORM_2, &nu);
  VecNorm(w, NORM_2, &nw);
  EXPECT_NEAR(lhs, rhs, 1e-14 * nu * nw);
  for (Vec *v : {&u, &w, &Tu, &Tw}) VecDestroy(v);
}

INSTANTIATE_TEST_SUITE_P(Transfers, StageTransferTranspose,
                         ::testing::Values(TransferCase{12, 8, 6, 4, 4, 3},   // tokens /3, pixels /2 x 2
                                           TransferCase{4, 8, 6, 12, 8, 2},   // tokens x3, pixels /1 x 3
                                           TransferCase{5, 6, 6, 5, 2, 3}));  // the same tokens

// The controls of an operator case.
struct OperatorCase {
  const char *controls;  // "analytic" (AnalyticConvolutionControls) or "file" (LayeredConvolutionControls of conv.h5)
  double width;          // analytic: -controls_conv_width; file: the refinement in y1
  const char *op;
  PetscReal t;
};

std::string Name(const OperatorCase &c) {
  return std::string(c.controls) +
         (std::string(c.controls) == "analytic" ? (c.width < 0.5 ? "_gemm_" : "_fft_") : (c.width > 1 ? "_refined_" : "_")) + c.op + "_t" +
         std::to_string((int)(10 * c.t));
}

void PrintTo(const OperatorCase &c, std::ostream *os) { *os << Name(c); }

PetscReal VecDotOf(Vec a, Vec b) {
  PetscReal d;
  VecDot(a, b, &d);
  return d;
}

class ConvolutionalOperatorTranspose : public ::testing::TestWithParam<OperatorCase> {
 protected:
  void TearDown() override { PetscOptionsClearValue(nullptr, "-conv_attention_tile"); }
};

TEST_P(ConvolutionalOperatorTranspose, AgreesWithFiniteDifferences) {
  const OperatorCase c = GetParam();
  const MPI_Comm comm = PETSC_COMM_WORLD;
  ctflow::Grid grid(comm);
  std::unique_ptr<ctflow::Controls> controls;
  ASSERT_EQ(PetscOptionsInsertString(nullptr, "-conv_attention_tile 2"), 0);  // several tiles per block
  if (std::string(c.controls) == "analytic") {
    // 11 tokens, a 9 × 6 image on [0, 1.8] × [0, 0.9], two heads over L_h = 0.7, Δx = 0.3.
    ASSERT_EQ(grid.SetSizes(11, PETSC_DECIDE, 2), 0);
    ASSERT_EQ(grid.SetImageSizes(9, 6), 0);
    ASSERT_EQ(grid.SetLengths(3.3, PETSC_DECIDE, 0.7), 0);
    ASSERT_EQ(grid.SetImageLengths(1.8, 0.9), 0);
    ASSERT_EQ(grid.SetUp(), 0);
    auto analytic = std::make_unique<ctflow::AnalyticConvolutionControls>(comm);
    ASSERT_EQ(PetscOptionsSetValue(nullptr, "-controls_conv_width", std::to_string(c.width).c_str()), 0);
    ASSERT_EQ(analytic->SetFromOptions(), 0);
    ASSERT_EQ(PetscOptionsClearValue(nullptr, "-controls_conv_width"), 0);
    controls = std::move(analytic);
  } else {
    auto file = std::make_unique<ctflow::LayeredConvolutionControls>(comm);
    ASSERT_EQ(grid.SetImageSizes((PetscInt)(8 * c.width), 6), 0);
    ASSERT_EQ(file->Load(std::string(CTFLOW_ADJOINT_INPUTS) + "/conv.h5"), 0);
    ASSERT_EQ(file->SetUp(&grid), 0);
    ASSERT_EQ(grid.SetUp(), 0);
    controls = std::move(file);
  }
  std::unique_ptr<ctflow::Operator> op;
  ASSERT_EQ(ctflow::OperatorCreate(c.op, {&grid, controls.get()}, &op), 0);

  Vec U, V, W, dU, work, plus;
  ASSERT_EQ(DMCreateGlobalVector(grid.Layout(), &U), 0);
  for (Vec *v : {&V, &W, &dU, &work, &plus}) VecDuplicate(U, v);
  std::mt19937_64 rng(41 + grid.XStart());
  std::normal_distribution<double> normal;
  for (Vec v : {U, V, W}) ctflow_test::RandomiseVector(v, rng);
  ASSERT_EQ(op->SetUp(U), 0);
  const auto pairing = [&](Vec u) {
    if (op->Kind() == ctflow::OperatorKind::Flow) EXPECT_EQ(op->Rhs(c.t, u, work), 0);
    else {
      VecCopy(u, work);
      EXPECT_EQ(op->Project(c.t, work), 0);
    }
    return VecDotOf(W, work);
  };
  ctflow::ControlsArrays theta, g, dtheta;
  ASSERT_EQ(controls->GetParameters(&theta), 0);
  ASSERT_FALSE(theta.Empty());
  g = theta.ZerosLike();
  VecSet(dU, 0.0);
  if (op->Kind() == ctflow::OperatorKind::Flow) ASSERT_EQ(op->RhsTranspose(c.t, U, W, dU, &g), 0);
  else ASSERT_EQ(op->ProjectTranspose(c.t, U, W, dU, &g), 0);
  ASSERT_EQ(g.SumOverRanks(comm), 0);

  // The state: ⟨W, (A(U + εV) − A(U − εV)) / 2ε⟩ against ⟨J^T W, V⟩. The differences' rounding is about
  // ε_mach Σ |W A(U)| / ε (Σ |W A(U)| = 200 … 400 here, 1e2 … 1e3 times the result): 1e-9 Σ |W A(U)| bounds it tenfold.
  const PetscReal eps = 1e-6;
  Vec terms;
  PetscReal sum_abs;
  VecDuplicate(U, &terms);
  pairing(U);
  VecPointwiseMult(terms, W, work);
  VecNorm(terms, NORM_1, &sum_abs);
  VecDestroy(&terms);
  const PetscReal rounding = 1e-9 * sum_abs;
  VecWAXPY(plus, eps, V, U);
  const PetscReal fp = pairing(plus);
  VecWAXPY(plus, -eps, V, U);
  const PetscReal fm = pairing(plus), jvp = (fp - fm) / (2 * eps), vjp = VecDotOf(dU, V);
  EXPECT_NEAR(vjp, jvp, 1e-8 * std::abs(jvp) + rounding) << c.op << ": state";

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
    ASSERT_EQ(controls->SetParameters(t), 0);
    f[s] = pairing(U);
  }
  EXPECT_NEAR(directional, (f[0] - f[1]) / (2 * eps), 1e-8 * std::abs(directional) + rounding) << c.op << ": parameters";
  ASSERT_EQ(controls->SetParameters(theta), 0);

  // The attention's transpose from a recorded Rhs (the tape of explicit Euler substeps): the same, to rounding.
  if (std::string(c.op) == "conv_attention") {
    Vec dU_recorded;
    VecDuplicate(U, &dU_recorded);
    VecSet(dU, 0.0);
    VecSet(dU_recorded, 0.0);
    ASSERT_EQ(op->RhsTranspose(c.t, U, W, dU, nullptr), 0);
    op->RecordNextRhs(0);
    ASSERT_EQ(op->Rhs(c.t, U, work), 0);
    op->ReuseRecord(0);
    ctflow::ControlsArrays g_recorded = theta.ZerosLike();
    ASSERT_EQ(op->RhsTranspose(c.t, U, W, dU_recorded, &g_recorded), 0);
    ASSERT_EQ(g_recorded.SumOverRanks(comm), 0);
    Matrix a, b;
    ASSERT_EQ(ctflow_test::GatherToAll(dU, &a), 0);
    ASSERT_EQ(ctflow_test::GatherToAll(dU_recorded, &b), 0);
    EXPECT_LE(ctflow_test::MaxRelativeDifference(b, a), 1e-13) << "dU from the recorded Rhs";
    Matrix all, all_recorded;  // every parameter's gradient (other layers' are zero)
    for (size_t i = 0; i < g.Arrays().size(); ++i) {
      all.insert(all.end(), g.Arrays()[i].values.begin(), g.Arrays()[i].values.end());
      all_recorded.insert(all_recorded.end(), g_recorded.Arrays()[i].values.begin(), g_recorded.Arrays()[i].values.end());
    }
    EXPECT_LE(ctflow_test::MaxRelativeDifference(all_recorded, all), 1e-13) << "dθ from the recorded Rhs";
    VecDestroy(&dU_recorded);
  }
  for (Vec *v : {&U, &V, &W, &dU, &work, &plus}) VecDestroy(v);
}

std::vector<OperatorCase> OperatorCases() {
  std::vector<OperatorCase> cases;
  for (double width : {0.45, 0.7})  // 5 × 3 stencils (GEMM), 7 × 5 (FFTW)
    for (const char *op : {"conv_attention", "conv_embed", "conv_ffn1", "conv_ffn2", "attention", "ffn1"})
      cases.push_back({"analytic", width, op, 0.4});
  for (double r : {1.0, 2.0})       // the file's resolution; refined twice in y1
    for (PetscReal t : {0.5, 1.5})  // layer 0 (3 × 3 stencils), layer 1 (5 × 5 attention: FFTW; w_2 5 × 3)
      for (const char *op : {"conv_attention", "conv_embed", "conv_ffn1", "conv_ffn2", "layernorm", "attention", "ffn2"})
        cases.push_back({"file", r, op, t});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Operators, ConvolutionalOperatorTranspose, ::testing::ValuesIn(OperatorCases()),
                         [](const ::testing::TestParamInfo<OperatorCase> &info) { return Name(info.param); });

}  // namespace
