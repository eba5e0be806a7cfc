#include "solver/timestepping/substep_integrators.hpp"

#include <petscts.h>

#include <algorithm>
#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/petsc_handle.hpp"
#include "discretization/base/registry.hpp"

namespace ctflow {

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
    PetscCall(op.Rhs(op.GetControls().SubstepSampleTime(t0, std::min(t0, t0 + h), std::max(t0, t0 + h)), v, rhs_));
    PetscCall(VecAXPY(v, h * rate, rhs_));
    PetscFunctionReturn(0);
  }

 private:
  UniqueVec rhs_;
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
    PetscCall(PetscOptionsInt("-ts_steps", "Equal TS steps per splitting substep", "SubstepIntegrator", steps_, &steps_, nullptr));
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

  UniqueTS ts_;
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
