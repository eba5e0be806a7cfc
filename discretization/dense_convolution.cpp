#include "discretization/dense_convolution.hpp"

namespace ctflow {

// dense[i][l] = w(y_l − η_i): output pixel l = (p1, p2), input pixel i = (q1, q2), stencil index (p − q + c).
static PetscErrorCode Densify(const PetscReal *w, const PetscInt k[2], const Grid &grid, PetscReal *dense) {
  const ImageShape &img = grid.Image();
  const PetscInt N1 = img.N[0], N2 = img.N[1], Ny = N1 * N2;
  PetscFunctionBeginUser;
  PetscCheck(Ny <= kMaxDensePixels, grid.Comm(), PETSC_ERR_USER_INPUT,
             "a convolution as a dense integral kernel (operators attention and ffn<j>, -traj_attention) on %" PetscInt_FMT
             " pixels would need N_y^2 values per kernel; it is formed for at most %" PetscInt_FMT " pixels (use conv_attention, conv_ffn<j>)",
             Ny, kMaxDensePixels);
  std::fill_n(dense, Ny * Ny, 0.0);
  for (PetscInt q1 = 0; q1 < N1; ++q1)
    for (PetscInt q2 = 0; q2 < N2; ++q2)
      for (PetscInt s1 = 0; s1 < k[0]; ++s1)
        for (PetscInt s2 = 0; s2 < k[1]; ++s2) {
          const PetscInt p1 = q1 + s1 - k[0] / 2, p2 = q2 + s2 - k[1] / 2;
          if (p1 >= 0 && p1 < N1 && p2 >= 0 && p2 < N2) dense[(q1 * N2 + q2) * Ny + p1 * N2 + p2] = w[s1 * k[1] + s2];
        }
  PetscFunctionReturn(0);
}

// The transpose of Densify: w[s] += dense[i][l] over the pairs of pixels (i, l) at offset s.
static void Sparsify(const PetscReal *dense, const PetscInt k[2], const Grid &grid, PetscReal *w) {
  const ImageShape &img = grid.Image();
  const PetscInt N1 = img.N[0], N2 = img.N[1], Ny = N1 * N2;
  for (PetscInt q1 = 0; q1 < N1; ++q1)
    for (PetscInt q2 = 0; q2 < N2; ++q2)
      for (PetscInt s1 = 0; s1 < k[0]; ++s1)
        for (PetscInt s2 = 0; s2 < k[1]; ++s2) {
          const PetscInt p1 = q1 + s1 - k[0] / 2, p2 = q2 + s2 - k[1] / 2;
          if (p1 >= 0 && p1 < N1 && p2 >= 0 && p2 < N2) w[s1 * k[1] + s2] += dense[(q1 * N2 + q2) * Ny + p1 * N2 + p2];
        }
}

PetscErrorCode ConvolutionAsIntegralKernels(const ConvAttentionKernels &k, const Grid &grid, AttentionKernels *dense) {
  const PetscInt Ny = grid.Ny(), Nh = grid.Nh(), kk = k.k[0] * k.k[1];
  PetscFunctionBeginUser;
  *dense = AttentionKernels();
  dense->d_head = Ny;
  dense->scale = k.scale;
  const std::vector<PetscReal> *from[3] = {&k.WQ, &k.WK, &k.WV};
  std::vector<PetscReal> *to[3] = {&dense->WQ, &dense->WK, &dense->WV};
  for (int q = 0; q < 3; ++q) {
    PetscCallCXX(to[q]->resize(Nh * Ny * Ny));
    for (PetscInt m = 0; m < Nh; ++m) PetscCall(Densify(&(*from[q])[m * kk], k.k, grid, &(*to[q])[m * Ny * Ny]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode ConvolutionAsIntegralKernel(const ConvTokenKernels &k, const Grid &grid, FeedForwardKernel *dense) {
  const PetscInt Ny = grid.Ny(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCheck(!k.per_token, grid.Comm(), PETSC_ERR_ARG_WRONG, "a kernel per token is no integral kernel of the feed-forward form");
  PetscCallCXX(dense->W.resize(Ny * Ny));
  PetscCall(Densify(k.W.data(), k.k, grid, dense->W.data()));
  PetscCallCXX(dense->b.resize(xm * Ny));
  for (PetscInt r = 0; r < xm; ++r) std::fill_n(&dense->b[r * Ny], Ny, k.b[r]);
  PetscFunctionReturn(0);
}

PetscErrorCode SampleConvAttentionDensely(const Controls &controls, PetscReal t, const Grid &grid, AttentionKernels *dense) {
  ConvAttentionKernels conv;
  PetscFunctionBeginUser;
  PetscCall(controls.SampleConvAttention(t, grid, &conv));
  PetscCall(ConvolutionAsIntegralKernels(conv, grid, dense));
  PetscFunctionReturn(0);
}

PetscErrorCode SampleConvFeedForwardDensely(const Controls &controls, PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *dense) {
  ConvTokenKernels conv;
  PetscFunctionBeginUser;
  PetscCall(controls.SampleConvFeedForward(j, t, grid, &conv));
  PetscCall(ConvolutionAsIntegralKernel(conv, grid, dense));
  PetscFunctionReturn(0);
}

PetscErrorCode IntegralKernelsAsConvolutionGradient(const AttentionKernels &dense, const PetscInt k[2], const Grid &grid, ConvAttentionKernels *dk) {
  const PetscInt Ny = grid.Ny(), Nh = grid.Nh(), kk = k[0] * k[1];
  PetscFunctionBeginUser;
  *dk = ConvAttentionKernels();
  dk->k[0] = k[0], dk->k[1] = k[1], dk->scale = dense.scale;
  const std::vector<PetscReal> *from[3] = {&dense.WQ, &dense.WK, &dense.WV};
  std::vector<PetscReal> *to[3] = {&dk->WQ, &dk->WK, &dk->WV};
  for (int q = 0; q < 3; ++q) {
    PetscCallCXX(to[q]->assign(Nh * kk, 0.0));
    for (PetscInt m = 0; m < Nh; ++m) Sparsify(&(*from[q])[m * Ny * Ny], k, grid, &(*to[q])[m * kk]);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode IntegralKernelAsConvolutionGradient(const FeedForwardKernel &dense, const PetscInt k[2], const Grid &grid, ConvTokenKernels *dk) {
  const PetscInt Ny = grid.Ny(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  dk->k[0] = k[0], dk->k[1] = k[1], dk->per_token = false;
  PetscCallCXX(dk->W.assign(k[0] * k[1], 0.0));
  Sparsify(dense.W.data(), k, grid, dk->W.data());
  PetscCallCXX(dk->b.assign(xm, 0.0));
  for (PetscInt r = 0; r < xm; ++r)
    for (PetscInt l = 0; l < Ny; ++l) dk->b[r] += dense.b[r * Ny + l];
  PetscFunctionReturn(0);
}

}  // namespace ctflow
