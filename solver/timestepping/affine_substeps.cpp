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

#include "operators/gemm.hpp"
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
  // λ ← (∂v/∂v0)^T λ at the coefficients Advance used, and (dM, db) through the operator to g.
  PetscErrorCode AdvanceTranspose(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v0, Vec lambda, ControlsArrays *g) override {
    PetscInt n;
    const PetscScalar *a;
    PetscScalar *l;
    PetscFunctionBeginUser;
    if (h == 0) PetscFunctionReturn(0);
    const PetscReal t = SampleTime(op.GetControls(), t0, h);
    piece_ = -1;  // the coefficients of t, whatever Advance ran last
    PetscCall(op.AffineParts(t, &M_, &b_));
    Ny_ = (PetscInt)std::lround(std::sqrt((double)M_.size()));
    PetscCall(Prepare(op, t, h * rate));
    PetscCall(VecGetLocalSize(v0, &n));
    PetscCallCXX(dM_.assign(M_.size(), 0.0));
    PetscCallCXX(db_.assign(b_.size(), 0.0));
    PetscCall(VecGetArrayRead(v0, &a));
    PetscCall(VecGetArray(lambda, &l));
    PetscCall(Transpose(n / Ny_, h * rate, a, l));
    PetscCall(VecRestoreArray(lambda, &l));
    PetscCall(VecRestoreArrayRead(v0, &a));
    PetscCall(op.AffinePartsTranspose(t, dM_, db_, g));
    PetscFunctionReturn(0);
  }

 protected:
  // The time at which the coefficients are sampled.
  virtual PetscReal SampleTime(const Controls &controls, PetscReal t0, PetscReal h) const = 0;
  // Factor or exponentiate for the coefficients M_, b_ sampled at t, with hr = h·rate.
  virtual PetscErrorCode Prepare(const Operator &op, PetscReal t, PetscReal hr) = 0;
  // v ← the substep's result for the xm token rows of v (row-major, xm × N_y).
  virtual PetscErrorCode Apply(PetscInt xm, PetscReal hr, PetscScalar *v) = 0;
  // λ ← the adjoint of v0 from that of the result (rows as above); dM_, db_ gain the coefficients' gradients.
  virtual PetscErrorCode Transpose(PetscInt xm, PetscReal hr, const PetscScalar *v0, PetscScalar *lambda) = 0;

  const char *name_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::vector<PetscReal> M_, b_, dM_, db_;
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
  // v = (v0 + hr b) B^{-1}: μ = λ B^{-T}, the adjoint of v0 (and db = hr μ); dM = hr Σ_tokens v^T μ.
  PetscErrorCode Transpose(PetscInt xm, PetscReal hr, const PetscScalar *v0, PetscScalar *lambda) override {
    PetscBLASInt N, nrhs, info;
    PetscFunctionBeginUser;
    if (xm == 0) PetscFunctionReturn(0);
    PetscCall(PetscBLASIntCast(Ny_, &N));
    PetscCall(PetscBLASIntCast(xm, &nrhs));
    PetscCallCXX(v_.assign(v0, v0 + xm * Ny_));
    PetscCall(Apply(xm, hr, v_.data()));
    LAPACKgetrs_("T", &N, &nrhs, B_.data(), &N, pivots_.data(), lambda, &N, &info);
    PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK dgetrs failed (info = %d)", (int)info);
    for (PetscInt k = 0; k < xm * Ny_; ++k) db_[k] = hr * lambda[k];
    Gemm(CblasTrans, CblasNoTrans, Ny_, Ny_, xm, hr, v_.data(), Ny_, lambda, Ny_, 0.0, dM_.data(), Ny_);
    PetscFunctionReturn(0);
  }

 private:
  std::vector<PetscReal> B_, v_;
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
    if (xm > 0) Gemm(CblasNoTrans, CblasNoTrans, xm, n, n, 1.0, b_.data(), n, &E_[n], n2, 0.0, c_.data(), n);
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
    Gemm(CblasNoTrans, CblasNoTrans, xm, n, n, 1.0, w_.data(), n, E_.data(), 2 * n, 1.0, v, n);
    PetscCall(PetscLogFlops(2.0 * xm * n * n));
    PetscFunctionReturn(0);
  }
  // v = v0 E11 + b E12 with E = exp(Z): the adjoint of v0 is λ E11^T, db = λ E12^T, and dL/dZ = L(Z^T, G), the
  // adjoint of the Fréchet derivative of exp applied to G = ∂L/∂E = [[Σ v0^T λ, Σ b^T λ], [0, 0]]: the top-right block
  // of exp([[Z^T, G], [0, Z^T]]) (Higham, Functions of Matrices, 2008, §3.2 and §10.6). dM = hr (dL/dZ)_11.
  PetscErrorCode Transpose(PetscInt xm, PetscReal hr, const PetscScalar *v0, PetscScalar *lambda) override {
    const PetscInt n = Ny_, n2 = 2 * n, n4 = 4 * n;
    PetscFunctionBeginUser;
    PetscCallCXX(Y_.assign(n4 * n4, 0.0));
    PetscCallCXX(F_.resize(n4 * n4));
    for (PetscInt i = 0; i < n2; ++i)
      for (PetscInt j = 0; j < n2; ++j) Y_[i * n4 + j] = Y_[(n2 + i) * n4 + n2 + j] = Z_[j * n2 + i];
    if (xm > 0) {  // G in the top-right block of Y: G11 (rows 0..n, columns 2n..3n) and G12 (columns 3n..4n)
      Gemm(CblasTrans, CblasNoTrans, n, n, xm, 1.0, v0, n, lambda, n, 0.0, &Y_[n2], n4);
      Gemm(CblasTrans, CblasNoTrans, n, n, xm, 1.0, b_.data(), n, lambda, n, 0.0, &Y_[n2 + n], n4);
    }
    // The parameters' gradients are summed over the ranks later; G is this rank's share, and so is dA.
    PetscCall(MatrixExponential(comm_, n4, Y_.data(), F_.data()));
    for (PetscInt i = 0; i < n; ++i)
      for (PetscInt j = 0; j < n; ++j) dM_[i * n + j] = hr * F_[i * n4 + n2 + j];
    if (xm > 0) {
      PetscCallCXX(w_.assign(lambda, lambda + xm * n));
      Gemm(CblasNoTrans, CblasTrans, xm, n, n, 1.0, w_.data(), n, &E_[n], n2, 0.0, db_.data(), n);
      Gemm(CblasNoTrans, CblasTrans, xm, n, n, 1.0, w_.data(), n, E_.data(), n2, 0.0, lambda, n);
    }
    PetscFunctionReturn(0);
  }

 private:
  std::vector<PetscReal> Z_, E_, c_, w_, Y_, F_;
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
