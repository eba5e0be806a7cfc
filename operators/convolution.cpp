#include "operators/convolution.hpp"
#include "operators/gemm.hpp"

#include <cblas.h>
#include <fftw3.h>

#include <algorithm>
#include <cmath>

namespace ctflow {

// The padded image M1 × M2 (its spectrum M1 × Mc), the spectra of the stencils, the plans.
struct Convolution2D::Fft {
  PetscInt M1 = 0, M2 = 0, Mc = 0;
  double *real = nullptr;
  fftw_complex *image = nullptr, *product = nullptr, *sum = nullptr, *scratch = nullptr;  // sum, scratch: the transposes'
  std::vector<fftw_complex *> kernels;
  fftw_plan forward = nullptr, backward = nullptr;
  ~Fft() {
    if (forward) fftw_destroy_plan(forward);
    if (backward) fftw_destroy_plan(backward);
    fftw_free(real);
    fftw_free(image);
    fftw_free(product);
    fftw_free(sum);
    fftw_free(scratch);
    for (fftw_complex *k : kernels) fftw_free(k);
  }
};

// The least n' ≥ n with no prime factor above 7: FFTW's fast sizes (68 = 4 · 17 pads to 70).
static PetscInt SmoothSize(PetscInt n) {
  for (;; ++n) {
    PetscInt m = n;
    for (PetscInt p : {2, 3, 5, 7})
      while (m % p == 0) m /= p;
    if (m == 1) return n;
  }
}

Convolution2D::Convolution2D() = default;
Convolution2D::~Convolution2D() = default;

PetscErrorCode Convolution2D::SetUp(const ImageShape &shape, PetscInt k1, PetscInt k2, Method method, PetscInt max_columns) {
  PetscFunctionBeginUser;
  PetscCheck(shape.Active(), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "a convolution needs a two-dimensional feature domain");
  PetscCheck(k1 % 2 == 1 && k2 % 2 == 1, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "stencil %" PetscInt_FMT " x %" PetscInt_FMT " is not odd", k1, k2);
  shape_ = shape;
  k_[0] = k1, k_[1] = k2;
  n_ = 0, kernels_ = nullptr;
  fft_.reset();
  columns_.clear();
  if (method == Method::Fft || (method == Method::Auto && k1 * k2 >= kFftMinStencil)) {
    PetscCallCXX(fft_ = std::make_unique<Fft>());
    Fft &f = *fft_;
    f.M1 = SmoothSize(shape.N[0] + k1 - 1), f.M2 = SmoothSize(shape.N[1] + k2 - 1), f.Mc = f.M2 / 2 + 1;
    f.real = fftw_alloc_real(f.M1 * f.M2);
    f.image = fftw_alloc_complex(f.M1 * f.Mc);
    f.product = fftw_alloc_complex(f.M1 * f.Mc);
    f.sum = fftw_alloc_complex(f.M1 * f.Mc);
    f.scratch = fftw_alloc_complex(f.M1 * f.Mc);
    PetscCheck(f.real && f.image && f.product && f.sum && f.scratch, PETSC_COMM_SELF, PETSC_ERR_MEM, "FFTW could not allocate the padded image");
    f.forward = fftw_plan_dft_r2c_2d((int)f.M1, (int)f.M2, f.real, f.image, FFTW_ESTIMATE);
    f.backward = fftw_plan_dft_c2r_2d((int)f.M1, (int)f.M2, f.product, f.real, FFTW_ESTIMATE);
    PetscCheck(f.forward && f.backward, PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan a %" PetscInt_FMT " x %" PetscInt_FMT " transform", f.M1,
               f.M2);
    PetscFunctionReturn(0);
  }
  rows_ = std::clamp<PetscInt>(max_columns / (k1 * k2 * shape.N[1]), 1, shape.N[0]);
  PetscCallCXX(columns_.resize(k1 * k2 * rows_ * shape.N[1]));
  PetscFunctionReturn(0);
}

PetscErrorCode Convolution2D::SetKernels(PetscInt n, const PetscReal *kernels) {
  PetscFunctionBeginUser;
  n_ = n, kernels_ = kernels;
  if (!fft_) PetscFunctionReturn(0);
  Fft &f = *fft_;
  // The spectrum of each stencil placed at the padded image's origin, with the quadrature weight and FFTW's 1/(M1 M2).
  const PetscReal scale = shape_.d(0) * shape_.d(1) / (PetscReal)(f.M1 * f.M2);
  while ((PetscInt)f.kernels.size() < n) {
    PetscCallCXX(f.kernels.push_back(fftw_alloc_complex(f.M1 * f.Mc)));
    PetscCheck(f.kernels.back(), PETSC_COMM_SELF, PETSC_ERR_MEM, "FFTW could not allocate a stencil's spectrum");
  }
  for (PetscInt r = 0; r < n; ++r) {
    std::fill_n(f.real, f.M1 * f.M2, 0.0);
    for (PetscInt a = 0; a < k_[0]; ++a)
      for (PetscInt b = 0; b < k_[1]; ++b) f.real[a * f.M2 + b] = scale * kernels[(r * k_[0] + a) * k_[1] + b];
    fftw_execute_dft_r2c(f.forward, f.real, f.kernels[r]);
  }
  PetscFunctionReturn(0);
}

PetscReal Convolution2D::Flops() const {
  if (!fft_) return 2.0 * n_ * k_[0] * k_[1] * shape_.Pixels();
  const PetscReal M = (PetscReal)(fft_->M1 * fft_->M2);
  return (n_ + 1) * 2.5 * M * std::log2(M) + 6.0 * n_ * fft_->M1 * fft_->Mc;
}

void Convolution2D::Columns(const PetscReal *v, PetscInt p0, PetscInt p1) {
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], c1 = k_[0] / 2, c2 = k_[1] / 2, n = (p1 - p0) * N2;
  // Row (s1, s2) of P is v shifted by the offset, P[s][(p1, p2)] = v(p1 − s1, p2 − s2), zero outside Ω_y.
  for (PetscInt i1 = 0; i1 < k_[0]; ++i1)
    for (PetscInt i2 = 0; i2 < k_[1]; ++i2) {
      const PetscInt s1 = i1 - c1, s2 = i2 - c2;
      PetscReal *row = &columns_[(i1 * k_[1] + i2) * n];
      const PetscInt lo = std::clamp<PetscInt>(s2, 0, N2), hi = std::clamp<PetscInt>(N2 + s2, 0, N2);  // p2 with 0 ≤ p2 − s2 < N2
      for (PetscInt p = p0; p < p1; ++p) {
        PetscReal *dst = row + (p - p0) * N2;
        const PetscInt q = p - s1;
        if (q < 0 || q >= N1 || lo >= hi) {
          std::fill_n(dst, N2, 0.0);
          continue;
        }
        std::fill(dst, dst + lo, 0.0);
        std::copy(v + q * N2 + lo - s2, v + q * N2 + hi - s2, dst + lo);
        std::fill(dst + hi, dst + N2, 0.0);
      }
    }
}

void Convolution2D::Apply(const PetscReal *v, PetscReal beta, PetscReal *out, PetscInt ldo) {
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], kk = k_[0] * k_[1];
  if (!fft_) {
    for (PetscInt p0 = 0; p0 < N1; p0 += rows_) {
      const PetscInt p1 = std::min(N1, p0 + rows_), m = (p1 - p0) * N2;
      Columns(v, p0, p1);
      Gemm(CblasNoTrans, CblasNoTrans, n_, m, kk, shape_.d(0) * shape_.d(1), kernels_, kk, columns_.data(), m, beta, out + p0 * N2, ldo);
    }
    return;
  }
  Fft &f = *fft_;
  std::fill_n(f.real, f.M1 * f.M2, 0.0);
  for (PetscInt i = 0; i < N1; ++i) std::copy_n(&v[i * N2], N2, &f.real[i * f.M2]);
  fftw_execute(f.forward);
  for (PetscInt r = 0; r < n_; ++r) {
    const fftw_complex *K = f.kernels[r];
    for (PetscInt i = 0; i < f.M1 * f.Mc; ++i) {
      f.product[i][0] = f.image[i][0] * K[i][0] - f.image[i][1] * K[i][1];
      f.product[i][1] = f.image[i][0] * K[i][1] + f.image[i][1] * K[i][0];
    }
    fftw_execute(f.backward);
    // The 'same' window: output pixel p is the linear convolution's p + c.
    for (PetscInt i = 0; i < N1; ++i) {
      const PetscReal *src = &f.real[(i + k_[0] / 2) * f.M2 + k_[1] / 2];
      PetscReal *dst = &out[r * ldo + i * N2];
      if (beta == 0) std::copy_n(src, N2, dst);  // as BLAS: out is not read
      else
        for (PetscInt j = 0; j < N2; ++j) dst[j] = beta * dst[j] + src[j];
    }
  }
}

void Convolution2D::ScatterColumns(PetscInt p0, PetscInt p1, PetscReal *dv) const {
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], c1 = k_[0] / 2, c2 = k_[1] / 2, n = (p1 - p0) * N2;
  for (PetscInt i1 = 0; i1 < k_[0]; ++i1)
    for (PetscInt i2 = 0; i2 < k_[1]; ++i2) {
      const PetscInt s1 = i1 - c1, s2 = i2 - c2;
      const PetscReal *row = &columns_[(i1 * k_[1] + i2) * n];
      const PetscInt lo = std::clamp<PetscInt>(s2, 0, N2), hi = std::clamp<PetscInt>(N2 + s2, 0, N2);
      for (PetscInt p = p0; p < p1; ++p) {
        const PetscInt q = p - s1;
        if (q < 0 || q >= N1) continue;
        const PetscReal *src = row + (p - p0) * N2;
        PetscReal *dst = dv + q * N2 - s2;
        for (PetscInt j = lo; j < hi; ++j) dst[j] += src[j];
      }
    }
}

void Convolution2D::ApplyTranspose(const PetscReal *v, const PetscReal *G, PetscInt ldg, PetscReal *dv, PetscReal *dkernels) {
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], kk = k_[0] * k_[1];
  const PetscReal area = shape_.d(0) * shape_.d(1);
  if (fft_) {
    FftTranspose(v, G, ldg, dv, dkernels);
    return;
  }
  for (PetscInt p0 = 0; p0 < N1; p0 += rows_) {
    const PetscInt p1 = std::min(N1, p0 + rows_), m = (p1 - p0) * N2;
    if (dkernels) {  // dK += Δ G Pᵀ
      Columns(v, p0, p1);
      Gemm(CblasNoTrans, CblasTrans, n_, kk, m, area, G + p0 * N2, ldg, columns_.data(), m, 1.0, dkernels, kk);
    }
    // dP = Δ Kᵀ G, scattered back onto the pixels it was gathered from.
    Gemm(CblasTrans, CblasNoTrans, kk, m, n_, area, kernels_, kk, G + p0 * N2, ldg, 0.0, columns_.data(), m);
    ScatterColumns(p0, p1, dv);
  }
}

// The gradients placed at the 'same' window's offset c in the padded image, Ĝ_r; dv = F⁻¹(Σ_r conj(Ŵ_r) Ĝ_r) (a circular
// correlation that does not wrap: M ≥ N + k − 1), dW_r = F⁻¹(Ĝ_r conj(v̂)) on the stencil's window.
void Convolution2D::FftTranspose(const PetscReal *v, const PetscReal *G, PetscInt ldg, PetscReal *dv, PetscReal *dkernels) {
  Fft &f = *fft_;
  const PetscInt N1 = shape_.N[0], N2 = shape_.N[1], c1 = k_[0] / 2, c2 = k_[1] / 2, n = f.M1 * f.Mc;
  const PetscReal scale = shape_.d(0) * shape_.d(1) / (PetscReal)(f.M1 * f.M2);
  if (dkernels) {
    std::fill_n(f.real, f.M1 * f.M2, 0.0);
    for (PetscInt i = 0; i < N1; ++i) std::copy_n(&v[i * N2], N2, &f.real[i * f.M2]);
    fftw_execute(f.forward);
  }
  std::fill_n(&f.sum[0][0], 2 * n, 0.0);
  for (PetscInt r = 0; r < n_; ++r) {
    std::fill_n(f.real, f.M1 * f.M2, 0.0);
    for (PetscInt i = 0; i < N1; ++i) std::copy_n(&G[r * ldg + i * N2], N2, &f.real[(i + c1) * f.M2 + c2]);
    fftw_execute_dft_r2c(f.forward, f.real, f.product);
    const fftw_complex *K = f.kernels[r];
    for (PetscInt i = 0; i < n; ++i) {
      f.sum[i][0] += K[i][0] * f.product[i][0] + K[i][1] * f.product[i][1];
      f.sum[i][1] += K[i][0] * f.product[i][1] - K[i][1] * f.product[i][0];
    }
    if (!dkernels) continue;
    for (PetscInt i = 0; i < n; ++i) {
      f.scratch[i][0] = f.product[i][0] * f.image[i][0] + f.product[i][1] * f.image[i][1];
      f.scratch[i][1] = f.product[i][1] * f.image[i][0] - f.product[i][0] * f.image[i][1];
    }
    fftw_execute_dft_c2r(f.backward, f.scratch, f.real);
    for (PetscInt a = 0; a < k_[0]; ++a)
      for (PetscInt b = 0; b < k_[1]; ++b) dkernels[(r * k_[0] + a) * k_[1] + b] += scale * f.real[a * f.M2 + b];
  }
  fftw_execute_dft_c2r(f.backward, f.sum, f.real);
  for (PetscInt i = 0; i < N1; ++i)
    for (PetscInt j = 0; j < N2; ++j) dv[i * N2 + j] += f.real[i * f.M2 + j];
}

}  // namespace ctflow
