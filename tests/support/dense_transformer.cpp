// The paper's discrete Transformer block, eq. (29)–(35) and (41), as plain loops: the reference that
// ctflow's continuous scheme must reproduce at Δt = 1 with unit spacing. Deliberately independent of
// the library (no BLAS, materialised softmax).
#include <algorithm>
#include <cmath>

#include "support/layered_model.hpp"

namespace ctflow_test {

static Matrix MatMul(const Matrix &A, const Matrix &B, int rows, int inner, int cols) {
  Matrix C(rows * cols, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < inner; ++i)
      for (int c = 0; c < cols; ++c) C[r * cols + c] += A[r * inner + i] * B[i * cols + c];
  return C;
}

// Eq. (30)–(32): per token, mean α and variance β over the N_y features (L_y = N_y).
static Matrix LayerNorm(const Matrix &v, int Nx, int Ny, double sigma1, double sigma2) {
  Matrix u(v.size());
  for (int k = 0; k < Nx; ++k) {
    double alpha = 0, beta = 0;
    for (int l = 0; l < Ny; ++l) alpha += v[k * Ny + l] / Ny;
    for (int l = 0; l < Ny; ++l) beta += (v[k * Ny + l] - alpha) * (v[k * Ny + l] - alpha) / Ny;
    for (int l = 0; l < Ny; ++l) u[k * Ny + l] = sigma2 * (v[k * Ny + l] - alpha) / std::sqrt(beta) + sigma1;
  }
  return u;
}

Matrix DenseTransformer(const LayeredModel &model, Matrix u) {
  const int Nx = model.Nx, Ny = model.Ny;
  for (const Layer &L : model.layers) {
    // Eq. (41) (eq. (29) for one head): u + Σ_m Softmax(s Q_m K_mᵀ) V_m, softmax along the second index.
    const double s = L.scale >= 0 ? L.scale : 1 / std::sqrt((double)Ny);
    Matrix u1 = u;
    for (int m = 0; m < model.Nh; ++m) {
      const Matrix Q = MatMul(u, L.WQ[m], Nx, Ny, Ny), K = MatMul(u, L.WK[m], Nx, Ny, Ny), V = MatMul(u, L.WV[m], Nx, Ny, Ny);
      for (int k = 0; k < Nx; ++k) {
        std::vector<double> a(Nx);
        for (int kk = 0; kk < Nx; ++kk) {
          a[kk] = 0;
          for (int l = 0; l < Ny; ++l) a[kk] += s * Q[k * Ny + l] * K[kk * Ny + l];
        }
        const double amax = *std::max_element(a.begin(), a.end());
        double denom = 0;
        for (double &e : a) denom += (e = std::exp(e - amax));
        for (int kk = 0; kk < Nx; ++kk)
          for (int l = 0; l < Ny; ++l) u1[k * Ny + l] += a[kk] / denom * V[kk * Ny + l];
      }
    }
    const Matrix u2 = LayerNorm(u1, Nx, Ny, L.sigma1, L.sigma2);  // eq. (31)
    Matrix v = u2;
    for (int j = 0; j < model.J; ++j) {  // eq. (34)–(35): ū = u + u W_j + b_j, then ReLU
      const Matrix vW = MatMul(v, L.W[j], Nx, Ny, Ny);
      for (int k = 0; k < Nx; ++k)
        for (int l = 0; l < Ny; ++l) {
          const double b = model.bias_per_token ? L.b[j][k * Ny + l] : L.b[j][l];
          v[k * Ny + l] = std::max(0.0, v[k * Ny + l] + vW[k * Ny + l] + b);
        }
    }
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5 * (v[i] + u2[i]);  // eq. (33)
    u = LayerNorm(v, Nx, Ny, L.sigma1, L.sigma2);                       // eq. (32)
  }
  return u;
}

}  // namespace ctflow_test
