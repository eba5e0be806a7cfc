// The blocking of streaming attention's forward (operators/attention.cpp, AccumulateTile and its loop), measured
// alone: for every head, S = s Q_m K^T over R query rows and T keys, the softmax pass (ExpShiftedSumMax), O_m += S V;
// one rank, N_x queries and keys, d_head columns per head, one thread, on the kernels ctflow selects.
//
//   build/bench/bench_attention_tiles [N_x [N_h [d_head]]] [R:T:order[:B] ...]
//
// order: h = heads outer (for m, for row block, for key tile), r = row blocks outer (for row block, for m, for key
// tile), t = key tiles outer (for key tile, for m, for row block); B: the exponentials and γV in sub-blocks of B rows
// after the scores of all R rows. f = a bound for a forward fused on BLIS's micro-kernel (R unused): Q_m packed once per
// head, K and V once per key tile, each panel of NR queries' scores written by the micro-kernel in the layout γV's
// micro-kernel reads (no S matrix, no packing of S); its exponential pass is one ExpShiftedSum over the panel, not the
// softmax's per-row statistics. Prints, per choice, the best of 5 passes in ms and GFLOP/s on (4 d_head + 3) N_h N_x²
// flops, with and without the exponentials (bench/RESULTS.md, "The forward's blocking").
#include <blis.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"
#include "operators/vector_exp.hpp"

extern "C" void openblas_set_num_threads(int);

// order f: best[1] with, best[0] without the exponential pass; false if the micro-kernel's MR divides neither T nor d.
static bool Fused(int N, int Nh, int d, int T, const std::vector<double> &Q, const std::vector<double> &KV, std::vector<double> *O, double best[2]) {
  cntx_t *cntx = bli_gks_query_cntx();
  const auto ukr = (dgemm_ukr_ft)bli_cntx_get_l3_nat_ukr_dt(BLIS_DOUBLE, BLIS_GEMM_UKR, cntx);
  const int MR = (int)bli_cntx_get_blksz_def_dt(BLIS_DOUBLE, BLIS_MR, cntx), NR = (int)bli_cntx_get_blksz_def_dt(BLIS_DOUBLE, BLIS_NR, cntx);
  const int D = Nh * d, P = (N + NR - 1) / NR;
  if (T % MR || d % MR) return false;
  struct alignas(64) Line {  // the micro-kernel reads its panels with aligned loads
    double x[8];
  };
  std::vector<Line> storage(((size_t)P * NR * d + 3 * (size_t)T * std::max(d, NR)) / 8 + 4);
  double *Bq = storage[0].x, *Ak = Bq + ((size_t)P * NR * d + 7) / 8 * 8, *Av = Ak + (size_t)T * d, *Sp = Av + (size_t)T * d;
  auxinfo_t aux{};
  double scale = 0.125, zero = 0, one = 1;
  for (int with_exp = 1; with_exp >= 0; --with_exp)
    for (int pass = 0; pass < 5; ++pass) {
      std::fill(O->begin(), O->end(), 0.0);
      const auto t0 = std::chrono::steady_clock::now();
      for (int m = 0; m < Nh; ++m) {
        for (int p = 0; p < P; ++p)  // Q_m in panels of NR queries: [z][NR]
          for (int z = 0; z < d; ++z)
            for (int i = 0; i < NR; ++i) Bq[((size_t)p * d + z) * NR + i] = p * NR + i < N ? Q[(size_t)(p * NR + i) * D + m * d + z] : 0;
        for (int c0 = 0; c0 + T <= N; c0 += T) {
          for (int jp = 0; jp < T / MR; ++jp)  // K tile in panels of MR keys: [z][MR]
            for (int z = 0; z < d; ++z)
              for (int j = 0; j < MR; ++j) Ak[((size_t)jp * d + z) * MR + j] = KV[(size_t)(c0 + jp * MR + j) * 2 * D + m * d + z];
          for (int zp = 0; zp < d / MR; ++zp)  // V tile in panels of MR columns: [key][MR]
            for (int j = 0; j < T; ++j)
              for (int z = 0; z < MR; ++z) Av[((size_t)zp * T + j) * MR + z] = KV[(size_t)(c0 + j) * 2 * D + D + m * d + zp * MR + z];
          for (int p = 0; p < P; ++p) {
            const int n = std::min(NR, N - p * NR);
            for (int jp = 0; jp < T / MR; ++jp)  // S panel [key][NR] = K Q^T: row-stored micro-tiles
              ukr(MR, n, d, &scale, Ak + (size_t)jp * d * MR, Bq + (size_t)p * d * NR, &zero, Sp + (size_t)jp * MR * NR, NR, 1, &aux, cntx);
            if (with_exp) ctflow::ExpShiftedSum(T * NR, 0.0, Sp);
            for (int zp = 0; zp < d / MR; ++zp)  // O^T panel += V^T S^T: column-stored micro-tiles of O's rows
              ukr(MR, n, T, &one, Av + (size_t)zp * T * MR, Sp, &one, &(*O)[(size_t)p * NR * D + m * d + zp * MR], 1, D, &aux, cntx);
          }
        }
      }
      best[with_exp] = std::min(best[with_exp], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  return true;
}

int main(int argc, char **argv) {
  ctflow::BlasSelectKernels(&argc, &argv);
  openblas_set_num_threads(1);
  int a = 1;
  std::vector<int> sizes = {2048, 8, 64};
  for (int i = 0; a < argc && std::string(argv[a]).find(':') == std::string::npos; ++a, ++i) sizes[i] = std::atoi(argv[a]);
  const int N = sizes[0], Nh = sizes[1], d = sizes[2], D = Nh * d;
  std::vector<std::string> choices(argv + a, argv + argc);
  if (choices.empty()) choices = {"2048:256:h", "256:256:r", "256:512:r", "512:256:r", "128:512:r", "256:2048:r"};
  std::vector<double> Q((size_t)N * D), KV((size_t)N * 2 * D), O((size_t)N * D), mx((size_t)Nh * N), sum((size_t)Nh * N);
  for (size_t i = 0; i < Q.size(); ++i) Q[i] = 0.3 * std::sin(0.37 * i);
  for (size_t i = 0; i < KV.size(); ++i) KV[i] = 0.3 * std::cos(0.11 * i);
  std::printf(
      "%s\nN_x %d, N_h %d, d_head %d\n\n| R | T | order | ms | GFLOP/s | ms without exp | GFLOP/s | Σ O without exp "
      "|\n|---|---|---|---|---|---|---|---|\n",
      ctflow::BlasDescription().c_str(), N, Nh, d);
  for (const std::string &c : choices) {
    int R, T, B = 0;
    char order;
    if (std::sscanf(c.c_str(), "%d:%d:%c:%d", &R, &T, &order, &B) < 3) return std::fprintf(stderr, "bad choice %s\n", c.c_str()), 1;
    R = std::min(R, N), T = std::min(T, N);
    double best[2] = {1e300, 1e300};
    std::vector<double> S((size_t)R * T);
    if (order == 'f' && !Fused(N, Nh, d, T, Q, KV, &O, best)) return std::fprintf(stderr, "f: needs T and d_head multiples of BLIS's MR\n"), 1;
    for (int with_exp = 1; with_exp >= 0 && order != 'f'; --with_exp)
      for (int pass = 0; pass < 5; ++pass) {
        std::fill(O.begin(), O.end(), 0.0);
        std::fill(mx.begin(), mx.end(), 0.0);
        std::fill(sum.begin(), sum.end(), 0.0);
        auto tile = [&](int m, int r0, int nr, int c0, int nt) {
          ctflow::Gemm(CblasNoTrans, CblasTrans, nr, nt, d, 0.125, &Q[(size_t)r0 * D + m * d], D, &KV[(size_t)c0 * 2 * D + m * d], 2 * D, 0.0,
                       S.data(), nt);
          const int nb = B > 0 ? B : nr;  // rows per exp + γV sub-block
          for (int b0 = 0; b0 < nr; b0 += nb) {
            const int bn = std::min(nb, nr - b0);
            if (with_exp)
              for (int k = b0; k < b0 + bn; ++k) {
                double tmax;
                sum[m * N + r0 + k] += ctflow::ExpShiftedSumMax(nt, mx[m * N + r0 + k], &S[(size_t)k * nt], &tmax);
              }
            ctflow::Gemm(CblasNoTrans, CblasNoTrans, bn, d, nt, 1.0, &S[(size_t)b0 * nt], nt, &KV[(size_t)c0 * 2 * D + D + m * d], 2 * D, 1.0,
                         &O[(size_t)(r0 + b0) * D + m * d], D);
          }
        };
        const auto t0 = std::chrono::steady_clock::now();
        if (order == 'h')
          for (int m = 0; m < Nh; ++m)
            for (int r0 = 0; r0 < N; r0 += R)
              for (int c0 = 0; c0 < N; c0 += T) tile(m, r0, std::min(R, N - r0), c0, std::min(T, N - c0));
        else if (order == 't')
          for (int c0 = 0; c0 < N; c0 += T)
            for (int m = 0; m < Nh; ++m)
              for (int r0 = 0; r0 < N; r0 += R) tile(m, r0, std::min(R, N - r0), c0, std::min(T, N - c0));
        else
          for (int r0 = 0; r0 < N; r0 += R)
            for (int m = 0; m < Nh; ++m)
              for (int c0 = 0; c0 < N; c0 += T) tile(m, r0, std::min(R, N - r0), c0, std::min(T, N - c0));
        best[with_exp] = std::min(best[with_exp], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    const double flops = (4.0 * d + 3.0) * Nh * (double)N * N;
    const double checksum = std::accumulate(O.begin(), O.end(), 0.0);  // the same product on every path
    std::printf("| %d | %d | %c%s%s | %.1f | %.1f | %.1f | %.1f | %.12e |\n", R, T, order, B ? ":" : "", B ? std::to_string(B).c_str() : "",
                best[1] * 1e3, flops / best[1] * 1e-9, best[0] * 1e3, flops / best[0] * 1e-9, checksum);
    std::fflush(stdout);
  }
  return 0;
}
