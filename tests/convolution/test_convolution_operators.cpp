// The convolutional operators of paper §6 against direct sums written out here, on a grid with a two-dimensional,
// non-square Ω_y and non-unit spacings, on every rank count: the convolution (operators/convolution.hpp, im2col + GEMM
// and FFTW) for several stencils including ones wider than the image, attention eq. (42) with two heads, the token embedding
// (term IV) and the convolutional feed-forward layer. The kernels are the analytic convolutional controls' (asymmetric,
// so a correlation in place of the convolution would fail); the sums below use only the documented definition
//   (W * v)(y_l) = Δy1 Δy2 Σ_{η_j ∈ Ω_y} W(y_l − η_j) v(η_j),  W on the stencil offsets, zero elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "discretization/analytic_convolution_controls.hpp"
#include "operators/convolution.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow_test::Matrix;

// Δy1 Δy2 Σ_j W(y_l − η_j) v(η_j) for the stencil w (k1 × k2, centre c), zero padding; image N1 × N2.
Matrix DirectConvolution(const Matrix &v, const PetscReal *w, PetscInt k1, PetscInt k2, PetscInt N1, PetscInt N2, double area) {
  Matrix out(N1 * N2, 0.0);
  for (PetscInt p1 = 0; p1 < N1; ++p1)
    for (PetscInt p2 = 0; p2 < N2; ++p2)
      for (PetscInt q1 = 0; q1 < N1; ++q1)
        for (PetscInt q2 = 0; q2 < N2; ++q2) {
          const PetscInt s1 = p1 - q1 + k1 / 2, s2 = p2 - q2 + k2 / 2;  // offset y − η in stencil indices
          if (s1 >= 0 && s1 < k1 && s2 >= 0 && s2 < k2) out[p1 * N2 + p2] += area * w[s1 * k2 + s2] * v[q1 * N2 + q2];
        }
  return out;
}

TEST(Convolution2D, EqualsTheDirectSumForEveryStencilSizeAndMethod) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  ctflow::ImageShape shape;
  shape.N[0] = 7, shape.N[1] = 5, shape.L[0] = 1.3, shape.L[1] = 0.8;
  Matrix v(35);
  for (double &e : v) e = normal(rng);
  for (PetscInt k1 : {1, 3, 7, 13})
    for (PetscInt k2 : {1, 5, 9}) {
      Matrix w(2 * k1 * k2);
      for (double &e : w) e = normal(rng);
      using Method = ctflow::Convolution2D::Method;
      // GEMM with P whole, by pixel rows and by 3 rows; FFTW.
      for (auto [method, block] : {std::pair{Method::Gemm, ctflow::Convolution2D::kColumnsBlock}, std::pair{Method::Gemm, (PetscInt)1},
                                   std::pair{Method::Gemm, 3 * k1 * k2 * 5}, std::pair{Method::Fft, (PetscInt)0}}) {
        Matrix out(2 * 35 + 3, -1.0);
        ctflow::Convolution2D conv;
        ASSERT_EQ(conv.SetUp(shape, k1, k2, method, block), 0);
        ASSERT_EQ(conv.SetKernels(2, w.data()), 0);
        conv.Apply(v.data(), 0.0, out.data(), 36);  // two stencils, rows 36 apart
        conv.Apply(v.data(), 0.5, out.data(), 36);  // and 1/2 of them again
        for (int r = 0; r < 2; ++r) {
          const Matrix ref = DirectConvolution(v, &w[r * k1 * k2], k1, k2, 7, 5, shape.d(0) * shape.d(1));
          for (int l = 0; l < 35; ++l)
            EXPECT_NEAR(out[r * 36 + l], 1.5 * ref[l], 1e-14 * (1 + std::abs(ref[l]))) << k1 << "x" << k2 << " row " << r << " block " << block;
        }
        EXPECT_EQ(out[35], -1.0);  // only the n rows are written
      }
    }
}

// N_x = 11 tokens, a 9 × 6 image on [0, 1.8] × [0, 0.9] (Δy1 = 0.2, Δy2 = 0.15), Δx = 0.3, two heads over L_h = 0.7; the
// support width makes stencils of 5 × 3 pixels.
class ConvolutionOperators : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(grid_.SetSizes(11, PETSC_DECIDE, 2), 0);
    ASSERT_EQ(grid_.SetImageSizes(9, 6), 0);
    ASSERT_EQ(grid_.SetLengths(3.3, PETSC_DECIDE, 0.7), 0);
    ASSERT_EQ(grid_.SetImageLengths(1.8, 0.9), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    ASSERT_EQ(PetscOptionsInsertString(nullptr, "-controls_conv_width 0.45 -conv_attention_tile 3"), 0);
    ASSERT_EQ(controls_.SetFromOptions(), 0);
    ASSERT_EQ(PetscOptionsClearValue(nullptr, "-controls_conv_width"), 0);
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal;
    u0_.resize(Nx() * Ny());
    for (double &e : u0_) e = normal(rng);
    ASSERT_EQ(ctflow_test::CreateState(grid_, &u0_, nullptr, &u_), 0);
    ASSERT_EQ(VecDuplicate(u_, &f_), 0);
  }
  void TearDown() override {
    VecDestroy(&u_);
    VecDestroy(&f_);
    PetscOptionsClearValue(nullptr, "-conv_attention_tile");
  }
  PetscInt Nx() const { return grid_.Nx(); }
  PetscInt Ny() const { return grid_.Ny(); }
  // A(t, u) of operator name, gathered on every rank.
  Matrix Rhs(const char *name, PetscReal t) {
    std::unique_ptr<ctflow::Operator> op;
    Matrix f;
    EXPECT_EQ(ctflow::OperatorCreate(name, {&grid_, &controls_}, &op), 0);
    EXPECT_EQ(op->SetUp(u_), 0);
    EXPECT_EQ(op->Rhs(t, u_, f_), 0);
    EXPECT_EQ(ctflow_test::GatherToAll(f_, &f), 0);
    return f;
  }
  Matrix Token(PetscInt k) const { return Matrix(&u0_[k * Ny()], &u0_[(k + 1) * Ny()]); }
  double Area() const { return grid_.Image().d(0) * grid_.Image().d(1); }

  ctflow::Grid grid_{PETSC_COMM_WORLD};
  ctflow::AnalyticConvolutionControls controls_{PETSC_COMM_WORLD};
  Matrix u0_;
  Vec u_ = nullptr, f_ = nullptr;
};

TEST_F(ConvolutionOperators, AttentionIsEquation42) {
  const PetscReal t = 0.4;
  ctflow::ConvAttentionKernels ker;
  ASSERT_EQ(controls_.SampleConvAttention(t, grid_, &ker), 0);
  ASSERT_EQ(ker.k[0], 5);
  ASSERT_EQ(ker.k[1], 3);
  EXPECT_DOUBLE_EQ(ker.scale, 1 / std::sqrt(1.8 * 0.9));  // 1/sqrt(|Ω_y|)
  const PetscInt kk = ker.k[0] * ker.k[1], N1 = 9, N2 = 6;
  const Matrix f = Rhs("conv_attention", t);
  Matrix ref(Nx() * Ny(), 0.0);
  for (PetscInt m = 0; m < grid_.Nh(); ++m) {
    std::vector<Matrix> Q(Nx()), K(Nx()), V(Nx());
    for (PetscInt k = 0; k < Nx(); ++k) {
      Q[k] = DirectConvolution(Token(k), &ker.WQ[m * kk], 5, 3, N1, N2, Area());
      K[k] = DirectConvolution(Token(k), &ker.WK[m * kk], 5, 3, N1, N2, Area());
      V[k] = DirectConvolution(Token(k), &ker.WV[m * kk], 5, 3, N1, N2, Area());
    }
    for (PetscInt k = 0; k < Nx(); ++k) {
      std::vector<double> a(Nx());
      double amax = -1e300, sum = 0;
      for (PetscInt j = 0; j < Nx(); ++j) {  // a = s ∫ Q(x_k, ξ) K(η_j, ξ) dξ
        a[j] = 0;
        for (PetscInt l = 0; l < Ny(); ++l) a[j] += ker.scale * Area() * Q[k][l] * K[j][l];
        amax = std::max(amax, a[j]);
      }
      for (PetscInt j = 0; j < Nx(); ++j) sum += std::exp(a[j] - amax) * grid_.dx();
      for (PetscInt j = 0; j < Nx(); ++j)  // Δh ∫ γ V dη, γ = exp(a)/∫exp(a)
        for (PetscInt l = 0; l < Ny(); ++l) ref[k * Ny() + l] += grid_.dh() * std::exp(a[j] - amax) / sum * V[j][l] * grid_.dx();
    }
  }
  EXPECT_LE(ctflow_test::MaxRelativeDifference(f, ref), 1e-13);
}

TEST_F(ConvolutionOperators, TokenEmbeddingIsTermIV) {
  const PetscReal t = 0.7;
  const Matrix f = Rhs("conv_embed", t);
  for (PetscInt k = 0; k < Nx(); ++k) {  // W^C(x_k, ·) * u(x_k, ·) + b^C(x_k): kernels sampled on a one-token-per-rank view
    ctflow::Grid one(PETSC_COMM_SELF);
    ASSERT_EQ(one.SetSizes(Nx(), PETSC_DECIDE, 2), 0);
    ASSERT_EQ(one.SetImageSizes(9, 6), 0);
    ASSERT_EQ(one.SetLengths(3.3, PETSC_DECIDE, 0.7), 0);
    ASSERT_EQ(one.SetImageLengths(1.8, 0.9), 0);
    ASSERT_EQ(one.SetUp(), 0);
    ctflow::ConvTokenKernels ker;
    ASSERT_EQ(controls_.SampleConvEmbedding(t, one, &ker), 0);
    ASSERT_TRUE(ker.per_token);
    const Matrix ref = DirectConvolution(Token(k), &ker.W[k * 15], 5, 3, 9, 6, Area());
    for (PetscInt l = 0; l < Ny(); ++l) EXPECT_NEAR(f[k * Ny() + l], ref[l] + ker.b[k], 1e-13) << "token " << k;
  }
}

TEST_F(ConvolutionOperators, FeedForwardLayerIsTermIIIWithAConvolutionKernel) {
  const PetscReal t = 0.2;
  ctflow::Grid one(PETSC_COMM_SELF);  // every token's bias b_2(x_k) on one rank
  ASSERT_EQ(one.SetSizes(Nx(), PETSC_DECIDE, 2), 0);
  ASSERT_EQ(one.SetImageSizes(9, 6), 0);
  ASSERT_EQ(one.SetLengths(3.3, PETSC_DECIDE, 0.7), 0);
  ASSERT_EQ(one.SetImageLengths(1.8, 0.9), 0);
  ASSERT_EQ(one.SetUp(), 0);
  ctflow::ConvTokenKernels ker;
  ASSERT_EQ(controls_.SampleConvFeedForward(2, t, one, &ker), 0);
  ASSERT_FALSE(ker.per_token);
  const Matrix f = Rhs("conv_ffn2", t);
  for (PetscInt k = 0; k < Nx(); ++k) {
    const Matrix ref = DirectConvolution(Token(k), ker.W.data(), 5, 3, 9, 6, Area());
    for (PetscInt l = 0; l < Ny(); ++l) EXPECT_NEAR(f[k * Ny() + l], ref[l] + ker.b[k], 1e-13) << "token " << k;
  }
}

// The convolutional controls' integral kernels are their convolutions (discretization/dense_convolution.hpp): the dense
// operators, which the attention maps of -traj_attention use, compute the same as the convolutional ones.
TEST_F(ConvolutionOperators, DenseOperatorsOfConvolutionalControlsAreTheConvolutions) {
  EXPECT_LE(ctflow_test::MaxRelativeDifference(Rhs("attention", 0.3), Rhs("conv_attention", 0.3)), 1e-13);
  EXPECT_LE(ctflow_test::MaxRelativeDifference(Rhs("ffn1", 0.6), Rhs("conv_ffn1", 0.6)), 1e-13);
}

}  // namespace
