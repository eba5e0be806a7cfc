#include "solver/training/optimizer.hpp"

#include "discretization/base/registry.hpp"

namespace ctflow {

namespace {

PetscErrorCode RegisterBuiltins(Registry<OptimizerCreator> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("adam", AdamCreate));
  PetscCall(r.Register("adamw", AdamWCreate));
  PetscCall(r.Register("sgd", SgdCreate));
  PetscFunctionReturn(0);
}

Registry<OptimizerCreator> &Optimizers() {
  static Registry<OptimizerCreator> registry("optimizer", "optimizers", RegisterBuiltins);
  return registry;
}

}  // namespace

PetscErrorCode OptimizerRegister(const char name[], OptimizerCreator create) { return Optimizers().Register(name, create); }

PetscErrorCode OptimizerCreate(MPI_Comm comm, const std::string &name, std::unique_ptr<Optimizer> *optimizer) {
  const OptimizerCreator *create = nullptr;
  PetscFunctionBeginUser;
  PetscCall(Optimizers().Find(comm, name, &create));
  PetscCall((*create)(optimizer));
  PetscFunctionReturn(0);
}

PetscErrorCode OptimizerOptionsList(PetscFunctionList *list) { return Optimizers().OptionsList(list); }

}  // namespace ctflow
