// The streaming attention backward's inner loop (operators/streaming_softmax_transpose.cpp) on its own: one layer of
// the benchmark model's shapes (N_h = 8 heads of d_head = 64, scores from N_x queries against N_x keys), blocks of
// `rows` queries against tiles of `keys` keys.
//
//   build/bench/bench_attention_backward [N_x rows keys variant]     # defaults 2048 1024 256 0
//
// variant 0: the five GEMMs through BLAS (BackwardBlock), each and the elementwise pass timed apart; 1: the same with
// dKᵀ, dVᵀ (d_head × keys, dVᵀ += dOᵀ P) accumulated transposed and added into the block per tile, a variant that lost
// (bench/RESULTS.md, "Issue 15: the attention transpose's blocks"); 2: fused on BLIS's micro-kernel
// (operators/softmax_transpose_panels.hpp), checked against variant 0. Prints GFLOP/s and seconds per layer, the mean
// of 3 repetitions after one warm-up.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"
#include "operators/softmax_transpose_panels.hpp"
#include "operators/vector_exp.hpp"

using namespace ctflow;

static double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main(int argc, char **argv) {
  BlasSelectKernels(&argc, &argv);
  const int N = argc > 1 ? std::atoi(argv[1]) : 2048, br = argc > 2 ? std::atoi(argv[2]) : 1024, bt = argc > 3 ? std::atoi(argv[3]) : 256;
  const int variant = argc > 4 ? std::atoi(argv[4]) : 0;
  const bool transposed = variant == 1;
  const int H = 8, d = 64, D = H * d, W = 4 * D, reps = 3;
  std::mt19937 gen(1);
  std::normal_distribution<double> normal;
  std::vector<double> Q(N * D), B(N * W, 0.0), dO(N * D), dQ(N * D, 0.0), shift(H * N, 3 + std::log(100.0)), sum(H * N, 100.0), delta(H * N, 0.1);
  std::vector<double> S(br * bt), P(br * bt), dKT(d * bt), dVT(d * bt);
  for (double &x : Q) x = 0.3 * normal(gen);
  for (double &x : dO) x = normal(gen);
  for (int k = 0; k < N; ++k)
    for (int c = 0; c < 2 * D; ++c) B[k * W + c] = 0.3 * normal(gen);
  const double scale = 0.125;
  const double gflop = 2.0 * N * N * d * H * 1e-9;  // one GEMM, one layer
  // Head m through the five GEMMs, t[]: S, exp + dS, dV, dP, dQ, dK, transposes (added to).
  auto gemms = [&](int m, double *t) {
    for (int j0 = 0; j0 < N; j0 += bt) {
      const int nt = std::min(bt, N - j0);
      double *K = &B[j0 * W + m * d], *V = K + D, *dK = K + 2 * D, *dV = K + 3 * D;
      if (transposed) std::fill(dKT.begin(), dKT.end(), 0.0), std::fill(dVT.begin(), dVT.end(), 0.0);
      for (int r0 = 0; r0 < N; r0 += br) {
        const int nr = std::min(br, N - r0);
        const double *Qm = &Q[r0 * D + m * d], *dOm = &dO[r0 * D + m * d];
        double *dQm = &dQ[r0 * D + m * d];
        double c[7];
        c[0] = Now();
        Gemm(CblasNoTrans, CblasTrans, nr, nt, d, scale, Qm, D, K, W, 0.0, P.data(), nt);
        c[1] = Now();
        Gemm(CblasNoTrans, CblasTrans, nr, nt, d, 1.0, dOm, D, V, W, 0.0, S.data(), nt);
        c[2] = Now();
        for (int k = 0; k < nr; ++k)
          ExpScaledProduct(nt, shift[m * N + r0 + k], 1 / sum[m * N + r0 + k], delta[m * N + r0 + k], &P[k * nt], &S[k * nt]);
        c[3] = Now();
        if (transposed) Gemm(CblasTrans, CblasNoTrans, d, nt, nr, 1.0, dOm, D, P.data(), nt, 1.0, dVT.data(), nt);
        else Gemm(CblasTrans, CblasNoTrans, nt, d, nr, 1.0, P.data(), nt, dOm, D, 1.0, dV, W);
        c[4] = Now();
        Gemm(CblasNoTrans, CblasNoTrans, nr, d, nt, scale, S.data(), nt, K, W, 1.0, dQm, D);
        c[5] = Now();
        if (transposed) Gemm(CblasTrans, CblasNoTrans, d, nt, nr, scale, Qm, D, S.data(), nt, 1.0, dKT.data(), nt);
        else Gemm(CblasTrans, CblasNoTrans, nt, d, nr, scale, S.data(), nt, Qm, D, 1.0, dK, W);
        c[6] = Now();
        t[0] += c[1] - c[0], t[3] += c[2] - c[1], t[1] += c[3] - c[2], t[2] += c[4] - c[3], t[4] += c[5] - c[4], t[5] += c[6] - c[5];
      }
      if (transposed) {
        const double c0 = Now();
        for (int j = 0; j < nt; ++j)
          for (int c = 0; c < d; ++c) dK[j * W + c] += dKT[c * nt + j], dV[j * W + c] += dVT[c * nt + j];
        t[6] += Now() - c0;
      }
    }
  };
  SoftmaxTransposePanels panels;
  const MicroKernel ukr = GemmMicroKernel();
  auto fused = [&](int m) {
    SoftmaxTransposeHead h;
    h.xm = N, h.rows = N, h.d = d, h.ld = D, h.ldkv = W, h.scale = scale;
    h.Q = &Q[m * d], h.dO = &dO[m * d], h.dQ = &dQ[m * d], h.shift = &shift[m * N], h.sum = &sum[m * N], h.delta = &delta[m * N];
    h.K = &B[m * d], h.V = &B[D + m * d], h.dK = &B[2 * D + m * d], h.dV = &B[3 * D + m * d];
    panels.PackQueries(h);
    panels.Run(h);
  };
  if (variant == 2) {
    if (!MicroKernelTakesHeads(ukr, d)) {
      std::fprintf(stderr, "bench_attention_backward: error: BLIS's micro-kernel does not apply here (%s)\n", BlasDescription().c_str());
      return 1;
    }
    if (panels.SetUp(ukr, N, d, bt, br)) return 1;
    // Head 0 both ways from zero gradients: the largest difference relative to the largest entry, per array.
    double diff[3] = {0}, size[3] = {0};
    fused(0);
    const std::vector<double> dQf = dQ, Bf = B;
    std::fill(dQ.begin(), dQ.end(), 0.0);
    for (int k = 0; k < N; ++k) std::fill_n(&B[k * W + 2 * D], 2 * D, 0.0);
    double t[7] = {0};
    gemms(0, t);
    for (int k = 0; k < N; ++k)
      for (int c = 0; c < d; ++c) {
        const double pairs[3][2] = {
            {dQf[k * D + c], dQ[k * D + c]}, {Bf[k * W + 2 * D + c], B[k * W + 2 * D + c]}, {Bf[k * W + 3 * D + c], B[k * W + 3 * D + c]}};
        for (int a = 0; a < 3; ++a)
          diff[a] = std::max(diff[a], std::abs(pairs[a][0] - pairs[a][1])), size[a] = std::max(size[a], std::abs(pairs[a][1]));
      }
    double total = 0;
    for (int rep = 0; rep <= reps; ++rep) {
      const double c0 = Now();
      for (int m = 0; m < H; ++m) fused(m);
      if (rep > 0) total += Now() - c0;  // the first repetition warms up
    }
    total /= reps;
    std::printf(
        "%s\nN_x %d, blocks %d queries x %d keys, fused on the %d x %d micro-kernel: %.4f s per layer (%.1f GFLOP/s over the five "
        "products); against the GEMMs, max |diff| / max |entry|: dQ %.1e, dK %.1e, dV %.1e\n",
        BlasDescription().c_str(), N, br, bt, ukr.mr, ukr.nr, total, 5 * gflop / total, diff[0] / size[0], diff[1] / size[1], diff[2] / size[2]);
    return 0;
  }
  double t[7] = {0};
  for (int rep = 0; rep <= reps; ++rep) {
    if (rep == 1) std::fill(t, t + 7, 0.0);  // the first repetition warms up
    for (int m = 0; m < H; ++m) gemms(m, t);
  }
  double total = 0;
  for (double &x : t) total += x /= reps;
  std::printf(
      "%s\nN_x %d, blocks %d queries x %d keys%s: GFLOP/s S = QK^T %.1f, dP = dO V^T %.1f, dV %.1f, dQ %.1f, dK %.1f; "
      "exp + dS %.4f s, transposes %.4f s; %.4f s per layer (%.1f GFLOP/s over the five GEMMs)\n",
      BlasDescription().c_str(), N, br, bt, transposed ? ", dK^T dV^T" : "", gflop / t[0], gflop / t[3], gflop / t[2], gflop / t[4], gflop / t[5],
      t[1], t[6], total, 5 * gflop / total);
  return 0;
}
