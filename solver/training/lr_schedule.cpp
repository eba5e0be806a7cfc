#include "solver/training/lr_schedule.hpp"

#include <cmath>

#include "discretization/base/number_format.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/registry.hpp"

namespace ctflow {

namespace {

PetscReal Constant(const LrScheduleParameters &p, PetscInt, PetscInt, PetscInt) { return p.lr; }
PetscReal Cosine(const LrScheduleParameters &p, PetscInt s, PetscInt S, PetscInt) {
  return p.lr_min + (p.lr - p.lr_min) * (1 + std::cos(PETSC_PI * (PetscReal)s / (PetscReal)S)) / 2;
}
PetscReal Step(const LrScheduleParameters &p, PetscInt, PetscInt, PetscInt e) { return p.lr * std::pow(p.gamma, (PetscReal)(e / p.step_epochs)); }

PetscErrorCode RegisterBuiltins(Registry<LrScheduleFunction> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("constant", Constant));
  PetscCall(r.Register("cosine", Cosine));
  PetscCall(r.Register("step", Step));
  PetscFunctionReturn(0);
}

Registry<LrScheduleFunction> &Schedules() {
  static Registry<LrScheduleFunction> registry("learning-rate schedule", "schedules", RegisterBuiltins);
  return registry;
}

}  // namespace

PetscErrorCode LrScheduleRegister(const char name[], LrScheduleFunction f) { return Schedules().Register(name, f); }

PetscErrorCode LrSchedule::SetType(MPI_Comm comm, const std::string &name) {
  const LrScheduleFunction *f = nullptr;
  PetscFunctionBeginUser;
  PetscCall(Schedules().Find(comm, name, &f));
  f_ = *f;
  name_ = name;
  PetscFunctionReturn(0);
}

PetscErrorCode LrSchedule::SetFromOptions(MPI_Comm comm) {
  char name[64];
  PetscFunctionList list;
  PetscFunctionBeginUser;
  PetscCall(Schedules().OptionsList(&list));
  PetscCall(PetscStrncpy(name, name_.c_str(), sizeof(name)));
  PetscOptionsBegin(comm, nullptr, "Learning-rate schedule", "LrSchedule");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsReal("-train_lr", "Learning rate η0", "LrSchedule::SetLearningRate", p_.lr, &p_.lr, nullptr));
  PetscCall(PetscOptionsFList("-train_lr_schedule", "Schedule of the learning rate", "LrSchedule::SetType", list, name, name, sizeof(name), nullptr));
  PetscCall(
      PetscOptionsReal("-train_lr_min", "Final learning rate of the cosine schedule", "LrSchedule::SetMinimum", p_.lr_min, &p_.lr_min, nullptr));
  PetscCall(CtflowOptionsInt("-train_lr_step", "Epochs between decays of the step schedule", "LrSchedule::SetStep", p_.step_epochs, &p_.step_epochs,
                             nullptr));
  PetscCall(PetscOptionsReal("-train_lr_gamma", "Decay factor of the step schedule", "LrSchedule::SetStep", p_.gamma, &p_.gamma, nullptr));
  PetscOptionsEnd();
  PetscCall(SetType(comm, name));
  PetscCheck(std::isfinite(p_.lr) && p_.lr > 0, comm, PETSC_ERR_USER_INPUT, "-train_lr must be positive, got %g", (double)p_.lr);
  PetscCheck(p_.lr_min >= 0 && p_.lr_min <= p_.lr, comm, PETSC_ERR_USER_INPUT, "-train_lr_min must be in [0, -train_lr], got %g", (double)p_.lr_min);
  PetscCheck(p_.step_epochs > 0, comm, PETSC_ERR_USER_INPUT, "-train_lr_step must be positive, got %" PetscInt_FMT, p_.step_epochs);
  PetscCheck(p_.gamma > 0, comm, PETSC_ERR_USER_INPUT, "-train_lr_gamma must be positive, got %g", (double)p_.gamma);
  PetscFunctionReturn(0);
}

std::string LrSchedule::Description() const { return name_ + " from " + FormatShortest(p_.lr); }

}  // namespace ctflow
