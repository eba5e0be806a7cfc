// Learning-rate schedules η(step) of the training loop, by name from a registry (-train_lr_schedule):
//   constant  η = η0
//   cosine    η = η_min + (η0 − η_min)(1 + cos(π s / S))/2 over the S steps of the run (Loshchilov & Hutter 2017,
//             SGDR without restarts; torch's CosineAnnealingLR stepped every batch in closed form)
//   step      η = η0 γ^⌊e / k⌋ in epoch e (torch's StepLR stepped every epoch)
// Options (each with a setter): -train_lr η0, -train_lr_schedule NAME, -train_lr_min η_min, -train_lr_step k,
// -train_lr_gamma γ.
#pragma once
#include <petscsys.h>

#include <string>

namespace ctflow {

struct LrScheduleParameters {
  PetscReal lr = 1e-3, lr_min = 0, gamma = 0.1;
  PetscInt step_epochs = 10;
};

// η at optimisation step s (of S in the run) in epoch e.
using LrScheduleFunction = PetscReal (*)(const LrScheduleParameters &p, PetscInt s, PetscInt S, PetscInt e);
PetscErrorCode LrScheduleRegister(const char name[], LrScheduleFunction f);

class LrSchedule {
 public:
  PetscErrorCode SetFromOptions(MPI_Comm comm);
  PetscErrorCode SetType(MPI_Comm comm, const std::string &name);
  void SetLearningRate(PetscReal lr) { p_.lr = lr; }
  void SetMinimum(PetscReal lr_min) { p_.lr_min = lr_min; }
  void SetStep(PetscInt epochs, PetscReal gamma) { p_.step_epochs = epochs, p_.gamma = gamma; }
  PetscReal At(PetscInt step, PetscInt steps, PetscInt epoch) const { return f_(p_, step, steps, epoch); }
  std::string Description() const;

 private:
  std::string name_ = "constant";
  LrScheduleFunction f_ = nullptr;
  LrScheduleParameters p_;
};

}  // namespace ctflow
