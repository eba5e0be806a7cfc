#include "solver/app/train_driver.hpp"

#include "solver/app/run_driver.hpp"
#include "solver/training/trainer.hpp"

namespace ctflow {

PetscErrorCode RunTraining(MPI_Comm comm, PetscBool help) {
  Trainer trainer(comm);
  PetscFunctionBeginUser;
  PetscCall(trainer.SetFromOptions());
  if (help) PetscFunctionReturn(0);
  PetscCall(trainer.SetUp());
  PetscCall(CheckAllOptionsUsed(comm));
  PetscCall(trainer.Train());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
