static char help[] =
    "The choice of operators/convolution.hpp measured: im2col + GEMM (BLAS) against FFTW for the convolutions of the\n"
    "convolutional operators, n stencils of k x k pixels applied to each of N_x token images of N x N pixels\n"
    "(zero padding, 'same' size; n = 3 N_h: Q, K and V of every head).\n\n"
    "  build/bench/bench_convolution [-N 64] [-Nx 32] [-n 6] [-k 3,5,7,9,15,31] [-reps 5]\n\n"
    "Both are ctflow::Convolution2D's methods (operators/convolution.hpp): im2col + GEMM in blocks of pixel rows, and FFTW\n"
    "with the image zero-padded to (N + k - 1)^2 (plans FFTW_ESTIMATE, made before the timing; the stencils' spectra\n"
    "counted, once per N_x images, as in an operator evaluation). Times are the best of -reps runs, one thread; the two\n"
    "results are compared.\n";

#include <petscsys.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "operators/convolution.hpp"

namespace {

double Seconds(const std::chrono::steady_clock::time_point &t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char **argv) {
  PetscInt N = 64, Nx = 32, n = 6, reps = 5, ks[16] = {3, 5, 7, 9, 15, 31}, nk = 16;
  PetscBool k_set;
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, nullptr, help));
  PetscOptionsBegin(PETSC_COMM_WORLD, nullptr, "Convolution benchmark", "bench");
  PetscCall(PetscOptionsInt("-N", "Pixels per side", "bench", N, &N, nullptr));
  PetscCall(PetscOptionsInt("-Nx", "Token images", "bench", Nx, &Nx, nullptr));
  PetscCall(PetscOptionsInt("-n", "Stencils per image", "bench", n, &n, nullptr));
  PetscCall(PetscOptionsInt("-reps", "Repetitions (the best is reported)", "bench", reps, &reps, nullptr));
  PetscCall(PetscOptionsIntArray("-k", "Stencil sizes (odd)", "bench", ks, &nk, &k_set));
  PetscOptionsEnd();
  if (!k_set) nk = 6;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  std::vector<double> u(Nx * N * N);
  for (double &e : u) e = normal(rng);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "%" PetscInt_FMT " images of %" PetscInt_FMT " x %" PetscInt_FMT " pixels, %" PetscInt_FMT " stencils each\n", Nx, N, N, n));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "| k | im2col + GEMM [ms] | FFTW [ms] | FFTW / GEMM | GEMM GFLOP/s | max rel. diff |\n|---|---|---|---|---|---|\n"));
  for (PetscInt q = 0; q < nk; ++q) {
    const PetscInt k = ks[q];
    std::vector<double> w(n * k * k), a(Nx * n * N * N), b(Nx * n * N * N);
    for (double &e : w) e = normal(rng);
    ctflow::ImageShape shape;
    shape.N[0] = shape.N[1] = N, shape.L[0] = shape.L[1] = (PetscReal)N;  // unit pixels: W * v = Σ_s W(ξ_s) v(y − ξ_s)
    ctflow::Convolution2D gemm, fft;
    PetscCall(gemm.SetUp(shape, k, k, ctflow::Convolution2D::Method::Gemm));
    PetscCall(fft.SetUp(shape, k, k, ctflow::Convolution2D::Method::Fft));
    double t_gemm = 1e300, t_fft = 1e300;
    for (PetscInt r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      PetscCall(gemm.SetKernels(n, w.data()));
      for (PetscInt x = 0; x < Nx; ++x) gemm.Apply(&u[x * N * N], 0.0, &a[x * n * N * N], N * N);
      t_gemm = std::min(t_gemm, Seconds(t0));
      t0 = std::chrono::steady_clock::now();
      PetscCall(fft.SetKernels(n, w.data()));  // the stencils' spectra: once per operator evaluation
      for (PetscInt x = 0; x < Nx; ++x) fft.Apply(&u[x * N * N], 0.0, &b[x * n * N * N], N * N);
      t_fft = std::min(t_fft, Seconds(t0));
    }
    double diff = 0, ref = 0;
    for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i])), ref = std::max(ref, std::abs(a[i]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "| %" PetscInt_FMT " | %.3f | %.3f | %.2f | %.1f | %.1e |\n", k, 1e3 * t_gemm, 1e3 * t_fft,
                          t_fft / t_gemm, Nx * gemm.Flops() / t_gemm / 1e9, diff / ref));
  }
  PetscCall(PetscFinalize());
  return 0;
}
