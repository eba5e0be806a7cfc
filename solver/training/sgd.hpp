// Stochastic gradient descent with momentum (-train_optimizer sgd), as torch.optim.SGD with dampening 0.
// Options: -train_momentum μ (SetMomentum, default 0.9), -train_nesterov (SetNesterov).
#pragma once
#include "solver/training/optimizer.hpp"

namespace ctflow {

class Sgd : public Optimizer {
 public:
  PetscErrorCode SetFromOptions(MPI_Comm comm) override;
  void SetMomentum(PetscReal momentum) { momentum_ = momentum; }
  void SetNesterov(bool nesterov) { nesterov_ = nesterov; }
  PetscErrorCode Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) override;
  std::vector<std::pair<std::string, std::vector<PetscReal> *>> State() override { return {{"momentum_buffer", &buffer_}}; }
  std::string Description() const override;

 private:
  PetscReal momentum_ = 0.9;
  bool nesterov_ = false;
  std::vector<PetscReal> buffer_;
};

}  // namespace ctflow
