// Substep integrators for flows that are affine per token (Operator::Affine), v_t = r (v M(s) + b(s)),
// s ∈ [t0, t0 + h], with v a token's row, M an N_y × N_y matrix (Δy included) and b the token's bias:
//   implicit  backward Euler, v (I − h r M(t0 + h)) = v0 + h r b(t0 + h): first order, unconditionally stable
//             for M with spectrum in the left half plane; one dense LU per substep, shared by every token;
//   exact     the exact flow of the linear ODE with M and b frozen at the substep's midpoint: with
//             A = h r M, exp([[A, h r I], [0, 0]]) = [[e^A, h r φ1(A)], [0, I]] and v = v0 e^A + b h r φ1(A).
//             Exact for controls constant on the substep (layered controls with steps inside the layers),
//             second order (the midpoint rule in t) for controls that vary in t.
// Both keep their factorisation or exponential while Controls::PieceKey, h and r are unchanged.
#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "solver/timestepping/matrix_exponential.hpp"
#include "solver/timestepping/substep_integrators.hpp"

#include <petscblaslapack.h>

namespace ctflow {

namespace {

class AffineSubstep : public SubstepIntegrator {
 public:
  explicit AffineSubstep(const char *name) : name_(name) {}
  PetscErrorCode SetUp(Operator &op, Vec like) override {
    PetscFunctionBeginUser;
    PetscCall(PetscObjectGetComm((PetscObject)like, &comm_));
    PetscCheck(op.Affine(), comm_, PETSC_ERR_USER_INPUT, "substep integrator '%s' needs an affine flow; '%s' is not one (use euler or ts)", name_,
               op.Name().c_str());
    PetscFunctionReturn(0);
  }
  PetscErrorCode Advance(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v) override {
    PetscInt n;
    PetscScalar *a;
    PetscFunctionBeginUser;
    if (h == 0) PetscFunctionReturn(0);
    const PetscReal t = SampleTime(op.GetControls(), t0, h);
    const PetscInt piece = op.GetControls().PieceKey(t);
    if (piece < 0 || piece != piece_ || h != h_ || rate != rate_) {
      PetscCall(op.AffineParts(t, &M_, &b_));
      Ny_ = (PetscInt)std::lround(std::sqrt((double)M_.size()));
      PetscCall(Prepare(op, t, h * rate));
      piece_ = piece, h_ = h, rate_ = rate;
    }
    PetscCall(VecGetLocalSize(v, &n));
    PetscCall(VecGetArray(v, &a));
    PetscCall(Apply(n / Ny_, h * rate, a));
    PetscCall(VecRestoreArray(v, &a));
    PetscFunctionReturn(0);
  }

 protected:
  // The time at which the coefficients are sampled.
  virtual PetscReal SampleTime(const Controls &controls, PetscReal t0, PetscReal h) const = 0;
  // Factor or exponentiate for the coefficients M_, b_ sampled at t, with hr = h·rate.
  virtual PetscErrorCode Prepare(const Operator &op, PetscReal t, PetscReal hr) = 0;
  // v ← the substep's result for the xm token rows of v (row-major, xm × N_y).
  virtual PetscErrorCode Apply(PetscInt xm, PetscReal hr, PetscScalar *v) = 0;

  const char *name_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::vector<PetscReal> M_, b_;
  PetscInt Ny_ = 0;

 private:
  PetscInt piece_ = -1;
  PetscReal h_ = 0, rate_ = 0;
};

// Backward Euler, the right end's coefficients (their left limit there, Controls::SubstepSampleTime).
class ImplicitSubstep : public AffineSubstep {
 public:
  ImplicitSubstep() : AffineSubstep("implicit") {}

 protected:
  PetscReal SampleTime(const Controls &controls, PetscReal t0, PetscReal h) const override {
    return controls.SubstepSampleTime(t0 + h, std::min(t0, t0 + h), std::max(t0, t0 + h));
  }
  PetscErrorCode Prepare(const Operator &op, PetscReal t, PetscReal hr) override {
    PetscBLASInt N, info;
    PetscFunctionBeginUser;
    PetscCall(PetscBLASIntCast(Ny_, &N));
    // B = I − hr M, row-major; LAPACK (column-major) factors Bᵀ, which is the system v B = c read as Bᵀ vᵀ = cᵀ.
    PetscCallCXX(B_.resize(M_.size()));
    PetscCallCXX(pivots_.resize(Ny_));
    for (size_t k = 0; k < M_.size(); ++k) B_[k] = -hr * M_[k];
    for (PetscInt i = 0; i < Ny_; ++i) B_[i * Ny_ + i] += 1;
    LAPACKgetrf_(&N, &N, B_.data(), &N, pivots_.data(), &info);
    PetscCheck(info == 0, comm_, PETSC_ERR_NOT_CONVERGED, "substep integrator 'implicit' for '%s': I - h r M is singular at t = %g (h r = %g)",
               op.Name().c_str(), (double)t, (double)hr);
    PetscCall(PetscLogFlops(2.0 / 3.0 * Ny_ * Ny_ * Ny_));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Apply(PetscInt xm, PetscReal hr, PetscScalar *v) override {
    PetscBLASInt N, nrhs, info;
    PetscFunctionBeginUser;
    if (xm == 0) PetscFunctionReturn(0);
    PetscCall(PetscBLASIntCast(Ny_, &N));
    PetscCall(PetscBLASIntCast(xm, &nrhs));
    for (PetscInt k = 0; k < xm * Ny_; ++k) v[k] += hr * b_[k];
    LAPACKgetrs_("N", &N, &nrhs, B_.data(), &N, pivots_.data(), v, &N, &info);
    PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK dgetrs failed (info = %d)", (int)info);
    PetscCall(PetscLogFlops(2.0 * xm * Ny_ * Ny_ + xm * Ny_));
    PetscFunctionReturn(0);
  }

 private:
  std::vector<PetscReal> B_;
  std::vector<PetscBLASInt> pivots_;
};

// The exact flow of v_t = r (v M + b) with M, b frozen at the midpoint.
class ExactSubstep : public AffineSubstep {
 public:
  ExactSubstep() : AffineSubstep("exact") {}

 protected:
  PetscReal SampleTime(const Controls &, PetscReal t0, PetscReal h) const override { return t0 + h / 2; }
  PetscErrorCode Prepare(const Operator &, PetscReal, PetscReal hr) override {
    const PetscInt n = Ny_, n2 = 2 * Ny_;
    PetscFunctionBeginUser;
    // Z = [[hr M, hr I], [0, 0]] (row-major), exp(Z) = [[e^A, hr φ1(A)], [0, I]].
    PetscCallCXX(Z_.assign(n2 * n2, 0.0));
    PetscCallCXX(E_.resize(n2 * n2));
    for (PetscInt i = 0; i < n; ++i) {
      for (PetscInt j = 0; j < n; ++j) Z_[i * n2 + j] = hr * M_[i * n + j];
      Z_[i * n2 + n + i] = hr;
    }
    PetscCall(MatrixExponential(comm_, n2, Z_.data(), E_.data()));
    // The bias's contribution b (hr φ1(A)), the same for every substep with these coefficients.
    const PetscInt xm = (PetscInt)b_.size() / n;
    PetscCallCXX(c_.resize(b_.size()));
    if (xm > 0) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, n, n, 1.0, b_.data(), n, &E_[n], n2, 0.0, c_.data(), n);
    PetscCall(PetscLogFlops(2.0 * xm * n * n));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Apply(PetscInt xm, PetscReal, PetscScalar *v) override {
    const PetscInt n = Ny_;
    PetscFunctionBeginUser;
    if (xm == 0) PetscFunctionReturn(0);
    PetscCallCXX(w_.assign(v, v + xm * n));
    std::copy(c_.begin(), c_.end(), v);
    // v = v0 e^A + c; e^A is the top-left block of E (leading dimension 2 N_y).
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, xm, n, n, 1.0, w_.data(), n, E_.data(), 2 * n, 1.0, v, n);
    PetscCall(PetscLogFlops(2.0 * xm * n * n));
    PetscFunctionReturn(0);
  }

 private:
  std::vector<PetscReal> Z_, E_, c_, w_;
};

}  // namespace

PetscErrorCode ImplicitSubstepCreate(std::unique_ptr<SubstepIntegrator> *integrator) {
  PetscFunctionBeginUser;
  PetscCallCXX(*integrator = std::make_unique<ImplicitSubstep>());
  PetscFunctionReturn(0);
}

PetscErrorCode ExactSubstepCreate(std::unique_ptr<SubstepIntegrator> *integrator) {
  PetscFunctionBeginUser;
  PetscCallCXX(*integrator = std::make_unique<ExactSubstep>());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
