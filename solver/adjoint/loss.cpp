#include "solver/adjoint/loss.hpp"

#include "discretization/base/registry.hpp"

namespace ctflow {

namespace {

PetscErrorCode RegisterBuiltins(Registry<LossCreator> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("mse", MeanSquaredErrorCreate));
  PetscCall(r.Register("cross_entropy", CrossEntropyCreate));
  PetscFunctionReturn(0);
}

Registry<LossCreator> losses("loss", "losses", RegisterBuiltins);

}  // namespace

PetscErrorCode LossRegister(const char name[], LossCreator create) { return losses.Register(name, create); }

PetscErrorCode LossOptionsList(PetscFunctionList *list) { return losses.OptionsList(list); }

PetscErrorCode LossCreate(MPI_Comm comm, const std::string &name, std::unique_ptr<Loss> *loss) {
  const LossCreator *create = nullptr;
  PetscFunctionBeginUser;
  PetscCall(losses.Find(comm, name, &create));
  PetscCall((*create)(comm, loss));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
