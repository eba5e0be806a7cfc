#include "solver/timestepping/substep_integrators.hpp"

#include <petscts.h>

#include <algorithm>
#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/petsc_handle.hpp"
#include "discretization/base/registry.hpp"

namespace ctflow {

PetscErrorCode SubstepIntegrator::AdvanceTranspose(Operator &op, PetscReal, PetscReal, PetscReal, Vec v0, Vec, ControlsArrays *) {
  SETERRQ(PetscObjectComm((PetscObject)v0), PETSC_ERR_SUP, "this substep integrator has no transpose (operator '%s')", op.Name().c_str());
}

namespace {

class EulerSubstep : public SubstepIntegrator {
 public:
  PetscErrorCode SetUp(Operator &, Vec like) override {
    PetscFunctionBeginUser;
    if (!rhs_) PetscCall(VecDuplicate(like, rhs_.Out()));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Advance(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v) override {
    PetscFunctionBeginUser;
    if (record_) op.RecordNextRhs(slot_);
    PetscCall(op.Rhs(op.GetControls().SubstepSampleTime(t0, std::min(t0, t0 + h), std::max(t0, t0 + h)), v, rhs_));
    PetscCall(VecAXPY(v, h * rate, rhs_));
    PetscFunctionReturn(0);
  }
  // v = v0 + h r A(s, v0): λ ← λ + (∂A/∂v)^T (h r λ).
  PetscErrorCode AdvanceTranspose(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v0, Vec lambda, ControlsArrays *g) override {
    PetscFunctionBeginUser;
    if (!rhs_) PetscCall(VecDuplicate(v0, rhs_.Out()));
    PetscCall(VecCopy(lambda, rhs_));
    PetscCall(VecScale(rhs_, h * rate));
    op.ReuseRecord(slot_);
    PetscCall(op.RhsTranspose(op.GetControls().SubstepSampleTime(t0, std::min(t0, t0 + h), std::max(t0, t0 + h)), v0, rhs_, lambda, g));
    PetscFunctionReturn(0);
  }
  void SetTape(PetscInt slot, bool record) override { slot_ = slot, record_ = record; }

 private:
  UniqueVec rhs_;
  PetscInt slot_ = -1;
  bool record_ = false;
};

class TSSubstep : public SubstepIntegrator {
 public:
  PetscErrorCode SetUp(Operator &op, Vec like) override {
    MPI_Comm comm;
    TSAdapt adapt;
    PetscFunctionBeginUser;
    if (ts_) PetscFunctionReturn(0);
    op_ = &op;
    const std::string prefix = "split_" + op.Name() + "_";
    PetscCall(PetscObjectGetComm((PetscObject)like, &comm));
    PetscCall(TSCreate(comm, ts_.Out()));
    PetscCall(TSSetOptionsPrefix(ts_, prefix.c_str()));
    PetscCall(TSSetProblemType(ts_, TS_NONLINEAR));
    PetscCall(TSSetType(ts_, TSRK));
    PetscCall(TSRKSetType(ts_, TSRK4));
    PetscCall(TSGetAdapt(ts_, &adapt));
    PetscCall(TSAdaptSetType(adapt, TSADAPTNONE));
    PetscCall(TSSetRHSFunction(ts_, nullptr, Rhs, this));
    PetscCall(TSSetExactFinalTime(ts_, TS_EXACTFINALTIME_MATCHSTEP));
    PetscOptionsBegin(comm, prefix.c_str(), "Substep integrator 'ts' of a splitting scheme", "SubstepIntegrator");
    OptionsBlockGuard guard(PetscOptionsObject);
    PetscCall(CtflowOptionsInt("-ts_steps", "Equal TS steps per splitting substep", "SubstepIntegrator", steps_, &steps_, nullptr));
    PetscOptionsEnd();
    PetscCheck(steps_ >= 1, comm, PETSC_ERR_USER_INPUT, "-%sts_steps must be at least 1, got %" PetscInt_FMT, prefix.c_str(), steps_);
    PetscCall(TSSetFromOptions(ts_));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Advance(Operator &, PetscReal t0, PetscReal h, PetscReal rate, Vec v) override {
    PetscFunctionBeginUser;
    if (h == 0) PetscFunctionReturn(0);
    // τ = |s - t0| runs forward; the right-hand side carries the direction.
    t0_ = t0;
    t1_ = t0 + h;
    dir_ = h > 0 ? 1 : -1;
    rate_ = rate;
    const PetscReal H = std::abs(h);
    PetscCall(TSSetTime(ts_, 0));
    PetscCall(TSSetStepNumber(ts_, 0));
    PetscCall(TSSetTimeStep(ts_, H / steps_));
    PetscCall(TSSetMaxTime(ts_, H));
    PetscCall(TSSetMaxSteps(ts_, PETSC_MAX_INT));
    PetscCall(TSSolve(ts_, v));
    PetscFunctionReturn(0);
  }
  // The discrete adjoint of the explicit Runge–Kutta steps TSSolve took (Hairer, Nørsett & Wanner I, §II.16; PETSc's
  // TSAdjointStep_RK): each step's stages Y_i = v + k Σ_{j<i} a_ij F_j, F_i = f(τ + c_i k, Y_i), v' = v + k Σ b_i F_i are
  // recomputed from its start, then with μ_i = k (b_i λ + Σ_{j>i} a_ji ν_j) and ν_i = (∂f/∂v)(Y_i)^T μ_i, λ ← λ + Σ_i ν_i.
  PetscErrorCode AdvanceTranspose(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v0, Vec lambda, ControlsArrays *g) override {
    PetscBool rk;
    TSAdapt adapt;
    PetscBool fixed;
    PetscInt s;
    const PetscReal *A, *b, *c;
    PetscFunctionBeginUser;
    if (h == 0) PetscFunctionReturn(0);
    PetscCall(PetscObjectTypeCompare((PetscObject)ts_.Get(), TSRK, &rk));
    PetscCall(TSGetAdapt(ts_, &adapt));
    PetscCall(PetscObjectTypeCompare((PetscObject)adapt, TSADAPTNONE, &fixed));
    PetscCheck(rk && fixed, PetscObjectComm((PetscObject)v0), PETSC_ERR_SUP,
               "the adjoint of substep integrator 'ts' (operator '%s') needs an explicit Runge-Kutta TS with fixed steps "
               "(-split_%s_ts_type rk, -split_%s_ts_adapt_type none)",
               op.Name().c_str(), op.Name().c_str(), op.Name().c_str());
    PetscCall(TSRKGetTableau(ts_, &s, &A, &b, &c, nullptr, nullptr, nullptr, nullptr));
    t0_ = t0, t1_ = t0 + h, dir_ = h > 0 ? 1 : -1, rate_ = rate;
    const PetscReal k = std::abs(h) / steps_;
    if (starts_.size() < (size_t)steps_) {
      PetscCallCXX(starts_.resize(steps_));
      for (auto &v : starts_) PetscCall(VecDuplicate(v0, v.Out()));
    }
    if (stages_.size() < (size_t)s) {
      PetscCallCXX(stages_.resize(s));
      PetscCallCXX(F_.resize(s));
      PetscCallCXX(nu_.resize(s));
      for (PetscInt i = 0; i < s; ++i) {
        PetscCall(VecDuplicate(v0, stages_[i].Out()));
        PetscCall(VecDuplicate(v0, F_[i].Out()));
        PetscCall(VecDuplicate(v0, nu_[i].Out()));
      }
      PetscCall(VecDuplicate(v0, mu_.Out()));
    }
    // The steps' starts, recomputed.
    PetscCall(VecCopy(v0, starts_[0]));
    for (PetscInt n = 0; n + 1 < steps_; ++n) {
      PetscCall(VecCopy(starts_[n], starts_[n + 1]));
      PetscCall(Stages(n * k, k, s, A, c, starts_[n]));
      for (PetscInt i = 0; i < s; ++i) PetscCall(VecAXPY(starts_[n + 1], k * b[i], F_[i]));
    }
    for (PetscInt n = steps_; n-- > 0;) {
      PetscCall(Stages(n * k, k, s, A, c, starts_[n]));
      for (PetscInt i = s; i-- > 0;) {
        PetscCall(VecCopy(lambda, mu_));
        PetscCall(VecScale(mu_, k * b[i]));
        for (PetscInt j = i + 1; j < s; ++j)
          if (A[j * s + i] != 0) PetscCall(VecAXPY(mu_, k * A[j * s + i], nu_[j]));
        // ν_i = (∂f/∂v)^T μ_i with f = dir rate A(s(τ), v).
        PetscCall(VecSet(nu_[i], 0.0));
        PetscCall(VecScale(mu_, dir_ * rate_));
        PetscCall(op_->RhsTranspose(SampleTime((n * k) + c[i] * k), stages_[i], mu_, nu_[i], g));
      }
      for (PetscInt i = 0; i < s; ++i) PetscCall(VecAXPY(lambda, 1.0, nu_[i]));
    }
    PetscFunctionReturn(0);
  }

 private:
  // dv/dτ = dir rate A(t0 + dir τ, v); a stage at the right end of [lo, hi] samples the controls' left limit.
  static PetscErrorCode Rhs(TS, PetscReal tau, Vec U, Vec F, void *ctx) {
    auto *self = static_cast<TSSubstep *>(ctx);
    const PetscReal lo = std::min(self->t0_, self->t1_), hi = std::max(self->t0_, self->t1_);
    PetscFunctionBeginUser;
    PetscCall(self->op_->Rhs(self->op_->GetControls().SubstepSampleTime(self->t0_ + self->dir_ * tau, lo, hi), U, F));
    PetscCall(VecScale(F, self->dir_ * self->rate_));
    PetscFunctionReturn(0);
  }

  // The controls' time of the right-hand side at τ = |s − t0| (a stage at the right end samples the left limit).
  PetscReal SampleTime(PetscReal tau) const { return op_->GetControls().SubstepSampleTime(t0_ + dir_ * tau, std::min(t0_, t1_), std::max(t0_, t1_)); }
  // The stages Y_i and F_i = f(τ + c_i k, Y_i) of the RK step from v at τ with step k.
  PetscErrorCode Stages(PetscReal tau, PetscReal k, PetscInt s, const PetscReal *A, const PetscReal *c, Vec v) {
    PetscFunctionBeginUser;
    for (PetscInt i = 0; i < s; ++i) {
      PetscCall(VecCopy(v, stages_[i]));
      for (PetscInt j = 0; j < i; ++j)
        if (A[i * s + j] != 0) PetscCall(VecAXPY(stages_[i], k * A[i * s + j], F_[j]));
      PetscCall(op_->Rhs(SampleTime(tau + c[i] * k), stages_[i], F_[i]));
      PetscCall(VecScale(F_[i], dir_ * rate_));
    }
    PetscFunctionReturn(0);
  }

  UniqueTS ts_;
  std::vector<UniqueVec> starts_, stages_, F_, nu_;  // the adjoint's recomputed steps and stages
  UniqueVec mu_;
  Operator *op_ = nullptr;
  PetscInt steps_ = 1;
  PetscReal t0_ = 0, t1_ = 0, dir_ = 1, rate_ = 1;
};

PetscErrorCode EulerCreate(std::unique_ptr<SubstepIntegrator> *integrator) {
  PetscFunctionBeginUser;
  PetscCallCXX(*integrator = std::make_unique<EulerSubstep>());
  PetscFunctionReturn(0);
}

PetscErrorCode TSSubstepCreate(std::unique_ptr<SubstepIntegrator> *integrator) {
  PetscFunctionBeginUser;
  PetscCallCXX(*integrator = std::make_unique<TSSubstep>());
  PetscFunctionReturn(0);
}

PetscErrorCode RegisterBuiltins(Registry<SubstepIntegratorCreator> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("euler", EulerCreate));               // the paper's explicit substep, eq. (13), (23)
  PetscCall(r.Register("ts", TSSubstepCreate));              // PETSc TS, prefix split_<operator>_
  PetscCall(r.Register("implicit", ImplicitSubstepCreate));  // backward Euler, affine flows
  PetscCall(r.Register("exact", ExactSubstepCreate));        // exact linear flow, affine flows
  PetscFunctionReturn(0);
}

Registry<SubstepIntegratorCreator> substeps("substep integrator", "substep integrators", RegisterBuiltins);

}  // namespace

PetscErrorCode SubstepIntegratorRegister(const char name[], SubstepIntegratorCreator create) { return substeps.Register(name, create); }

PetscErrorCode SubstepIntegratorOptionsList(PetscFunctionList *list) { return substeps.OptionsList(list); }

PetscErrorCode SubstepIntegratorCreate(MPI_Comm comm, const std::string &name, std::unique_ptr<SubstepIntegrator> *integrator) {
  const SubstepIntegratorCreator *create = nullptr;
  PetscFunctionBeginUser;
  PetscCall(substeps.Find(comm, name, &create));
  PetscCall((*create)(integrator));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
