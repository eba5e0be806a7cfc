// The ctflow executable's training job (`ctflow -train`, docs/training.md): a thin user of ctflow::Trainer.
#pragma once
#include <petscsys.h>

namespace ctflow {

// With -help, lists the options and returns without training.
PetscErrorCode RunTraining(MPI_Comm comm, PetscBool help);

}  // namespace ctflow
