static char help[] =
    "Attention's softmax over a batch of short sequences (a training chunk: -sequences of -L tokens stacked in x, -heads\n"
    "heads of -d features), forward (the first pass, StreamingSoftmaxTranspose::Statistics) and transpose (Run), three\n"
    "ways:\n"
    "  tiled:    the streaming path, five library GEMMs per (sequence, head) in the transpose (-attention_short_size 0)\n"
    "  direct:   one pass of vector loops per (sequence, head) (operators/short_sequence_softmax.hpp)\n"
    "  g<G>:     fewer, larger GEMMs: G sequences of a head as one tile, the other sequences' scores masked (the block\n"
    "            diagonal of a G L x G L product; G = 1 is the tiled path's GEMMs)\n\n"
    "  build/bench/bench_short_attention [-L 5,8,16,17,32,64] [-d 8,16,64] [-tokens 160] [-heads 4] [-causal] [-reps 7]\n\n"
    "-sequences = max(1, tokens / L). Prints, per (L, d), microseconds per call (the best of -reps rounds of calls\n"
    "adding up to at least 20 ms) and the largest difference of the direct path's results to the tiled path's.\n";

#include <petscsys.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "discretization/grid.hpp"
#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"
#include "operators/streaming_softmax_transpose.hpp"
#include "operators/vector_exp.hpp"

namespace {

using ctflow::Gemm;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Microseconds per call of fn, the best of reps rounds.
template <typename Fn>
double Time(PetscInt reps, Fn fn) {
  int calls = 1;
  for (double t0 = Now(); Now() - t0 < 2e-3; ++calls) fn();
  calls = std::max(1, (int)(calls * 10));
  double best = 1e300;
  for (PetscInt r = 0; r < reps; ++r) {
    const double t0 = Now();
    for (int c = 0; c < calls; ++c) fn();
    best = std::min(best, (Now() - t0) / calls);
  }
  return best * 1e6;
}

// The batch's operands: queries and dO (N × D), the block [K | V | dK | dV] (N × 4D), the rows' statistics (H × N).
struct Batch {
  PetscInt S, L, H, d, N, D;
  PetscReal scale;
  bool causal;
  std::vector<PetscReal> Q, dO, block, o, mx, sum, delta, dQ;
};

// The forward's first pass with G sequences per tile: S = s Q Kᵀ (G L × G L), each row's max, exp and sum over its own
// sequence's keys, O = P V (unnormalised).
void ForwardGrouped(Batch &b, PetscInt G, std::vector<PetscReal> &P) {
  const PetscInt W = 4 * b.D;
  for (PetscInt m = 0; m < b.H; ++m)
    for (PetscInt q0 = 0; q0 < b.S; q0 += G) {
      const PetscInt n = std::min(G, b.S - q0) * b.L, r0 = q0 * b.L;
      const PetscReal *K = &b.block[r0 * W + m * b.d], *V = K + b.D;
      Gemm(CblasNoTrans, CblasTrans, n, n, b.d, b.scale, &b.Q[r0 * b.D + m * b.d], b.D, K, W, 0.0, P.data(), n);
      for (PetscInt k = 0; k < n; ++k) {
        PetscReal *p = &P[k * n];
        const PetscInt j0 = k / b.L * b.L, v = b.causal ? k - j0 + 1 : b.L;
        std::fill(p, p + j0, 0.0);
        std::fill(p + j0 + v, p + n, 0.0);
        b.mx[m * b.N + r0 + k] = ctflow::MaxOf(v, p + j0);
        b.sum[m * b.N + r0 + k] = ctflow::ExpShiftedSum(v, b.mx[m * b.N + r0 + k], p + j0);
      }
      Gemm(CblasNoTrans, CblasNoTrans, n, b.d, n, 1.0, P.data(), n, V, W, 0.0, &b.o[r0 * b.D + m * b.d], b.D);
    }
}

// The transpose's five GEMMs with G sequences per tile (the tiled path's BackwardBlock with the other sequences masked).
void TransposeGrouped(Batch &b, PetscInt G, std::vector<PetscReal> &P, std::vector<PetscReal> &dS) {
  const PetscInt W = 4 * b.D;
  for (PetscInt m = 0; m < b.H; ++m)
    for (PetscInt q0 = 0; q0 < b.S; q0 += G) {
      const PetscInt n = std::min(G, b.S - q0) * b.L, r0 = q0 * b.L;
      PetscReal *K = &b.block[r0 * W + m * b.d], *V = K + b.D, *dK = K + 2 * b.D, *dV = K + 3 * b.D;
      const PetscReal *Qm = &b.Q[r0 * b.D + m * b.d], *dOm = &b.dO[r0 * b.D + m * b.d];
      Gemm(CblasNoTrans, CblasTrans, n, n, b.d, b.scale, Qm, b.D, K, W, 0.0, P.data(), n);
      Gemm(CblasNoTrans, CblasTrans, n, n, b.d, 1.0, dOm, b.D, V, W, 0.0, dS.data(), n);
      for (PetscInt k = 0; k < n; ++k) {
        PetscReal *p = &P[k * n], *ds = &dS[k * n];
        const PetscInt j0 = k / b.L * b.L, v = b.causal ? k - j0 + 1 : b.L, row = m * b.N + r0 + k;
        ctflow::ExpScaledProduct(v, b.mx[row], 1 / b.sum[row], b.delta[row], p + j0, ds + j0);
        for (PetscReal *x : {p, ds}) std::fill(x, x + j0, 0.0), std::fill(x + j0 + v, x + n, 0.0);
      }
      Gemm(CblasTrans, CblasNoTrans, n, b.d, n, 1.0, P.data(), n, dOm, b.D, 1.0, dV, W);
      Gemm(CblasNoTrans, CblasNoTrans, n, b.d, n, b.scale, dS.data(), n, K, W, 1.0, &b.dQ[r0 * b.D + m * b.d], b.D);
      Gemm(CblasTrans, CblasNoTrans, n, b.d, n, b.scale, dS.data(), n, Qm, b.D, 1.0, dK, W);
    }
}

// One (L, d): the three ways, timed; the direct path's largest relative difference to the tiled path's dQ, dK, dV.
PetscErrorCode Measure(PetscInt L, PetscInt d, PetscInt tokens, PetscInt H, bool causal, PetscInt reps) {
  const PetscInt S = std::max<PetscInt>(1, tokens / L), N = S * L, D = H * d, W = 4 * D;
  ctflow::Grid grid(PETSC_COMM_SELF);
  PetscFunctionBeginUser;
  PetscCall(grid.SetSizes(L, 8, H));
  PetscCall(grid.SetSequences(S));
  PetscCall(grid.SetUp());
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  Batch b{S, L, H, d, N, D, 1 / std::sqrt((double)d), causal};
  b.Q.resize(N * D), b.dO.resize(N * D), b.block.assign(N * W, 0.0);
  for (PetscReal &x : b.Q) x = normal(rng);
  for (PetscReal &x : b.dO) x = normal(rng);
  for (PetscInt k = 0; k < N; ++k)
    for (PetscInt c = 0; c < 2 * D; ++c) b.block[k * W + c] = normal(rng);
  b.o.resize(N * D), b.mx.resize(H * N), b.sum.resize(H * N), b.delta.assign(H * N, 0.1), b.dQ.assign(N * D, 0.0);
  double t[2][2];      // tiled / direct × forward / transpose
  PetscReal diff = 0;  // direct against tiled
  std::vector<PetscReal> result[2];
  for (int direct = 0; direct < 2; ++direct) {
    ctflow::StreamingSoftmaxTranspose st;
    st.SetShortSize(direct ? L * d : 0);
    PetscCall(st.SetUp(grid, H, d, 256));
    std::copy(b.Q.begin(), b.Q.end(), st.Queries());
    std::copy(b.block.begin(), b.block.end(), st.OwnBlock());
    std::copy(b.dO.begin(), b.dO.end(), st.OutputGradient());
    PetscCall(st.Statistics(b.scale, causal));
    PetscCall(st.Run(b.scale, causal));  // the results of one call, before the timing adds to them
    result[direct].assign(st.QueryGradient(), st.QueryGradient() + N * D);
    result[direct].insert(result[direct].end(), st.OwnBlock(), st.OwnBlock() + N * W);
    t[direct][0] = Time(reps, [&] { (void)st.Statistics(b.scale, causal); });
    t[direct][1] = Time(reps, [&] { (void)st.Run(b.scale, causal); });
  }
  PetscReal scale = 0;
  for (size_t i = 0; i < result[0].size(); ++i) scale = std::max(scale, std::abs(result[0][i]));
  for (size_t i = 0; i < result[0].size(); ++i) diff = std::max(diff, std::abs(result[1][i] - result[0][i]) / scale);
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "| %" PetscInt_FMT " | %" PetscInt_FMT " | %" PetscInt_FMT " | %.1f / %.1f | %.1f / %.1f |", L, d, S,
                        t[0][0], t[0][1], t[1][0], t[1][1]));
  for (PetscInt G : {2, 4, 8, 32}) {
    if (G > S) {
      PetscCall(PetscPrintf(PETSC_COMM_SELF, " – |"));
      continue;
    }
    std::vector<PetscReal> P(G * L * G * L), dS(G * L * G * L);
    const double f = Time(reps, [&] { ForwardGrouped(b, G, P); }), r = Time(reps, [&] { TransposeGrouped(b, G, P, dS); });
    PetscCall(PetscPrintf(PETSC_COMM_SELF, " %.1f / %.1f |", f, r));
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, " %.1f | %.1e |\n", (t[0][0] + t[0][1]) / (t[1][0] + t[1][1]), diff));
  PetscFunctionReturn(0);
}

}  // namespace

int main(int argc, char **argv) {
  PetscInt Ls[32] = {5, 8, 16, 17, 32, 64}, ds[16] = {8, 16, 64}, nL = 32, nd = 16, tokens = 160, H = 4, reps = 7;
  PetscBool L_set, d_set, causal = PETSC_FALSE;
  ctflow::BlasSelectKernels(&argc, &argv);
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, nullptr, help));
  PetscOptionsBegin(PETSC_COMM_WORLD, nullptr, "Short-sequence attention benchmark", "bench");
  PetscCall(PetscOptionsIntArray("-L", "Tokens per sequence", "bench", Ls, &nL, &L_set));
  PetscCall(PetscOptionsIntArray("-d", "Features per head", "bench", ds, &nd, &d_set));
  PetscCall(PetscOptionsInt("-tokens", "Tokens of the batch (sequences = tokens / L)", "bench", tokens, &tokens, nullptr));
  PetscCall(PetscOptionsInt("-heads", "Heads", "bench", H, &H, nullptr));
  PetscCall(PetscOptionsBool("-causal", "Causal masks", "bench", causal, &causal, nullptr));
  PetscCall(PetscOptionsInt("-reps", "Rounds (the best is reported)", "bench", reps, &reps, nullptr));
  PetscOptionsEnd();
  if (!L_set) nL = 6;
  if (!d_set) nd = 3;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n%" PetscInt_FMT " tokens, %" PetscInt_FMT " heads%s; µs per call, forward / transpose\n\n",
                        ctflow::BlasDescription().c_str(), tokens, H, causal ? ", causal" : ""));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "| L | d_head | sequences | tiled | direct | g2 | g4 | g8 | g32 | tiled / direct | max rel. diff |\n"
                        "|---|---|---|---|---|---|---|---|---|---|---|\n"));
  for (PetscInt i = 0; i < nL; ++i)
    for (PetscInt k = 0; k < nd; ++k) PetscCall(Measure(Ls[i], ds[k], tokens, H, causal, reps));
  PetscCall(PetscFinalize());
  return 0;
}
