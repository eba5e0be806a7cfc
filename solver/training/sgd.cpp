// SGD with momentum μ and L2 weight decay λ, as torch.optim.SGD (dampening 0):
//   d = g + λθ;  b ← d (first step) or μ b + d;  d ← d + μ b (Nesterov) or b;  θ ← θ − η d.
#include "solver/training/sgd.hpp"

#include "discretization/base/option_checks.hpp"

namespace ctflow {

PetscErrorCode Sgd::SetFromOptions(MPI_Comm comm) {
  PetscBool nesterov = nesterov_ ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, nullptr, "SGD with momentum (-train_optimizer sgd)", "Optimizer");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsReal("-train_momentum", "Momentum μ of -train_optimizer sgd", "Sgd::SetMomentum", momentum_, &momentum_, nullptr));
  PetscCall(PetscOptionsBool("-train_nesterov", "Nesterov momentum", "Sgd::SetNesterov", nesterov, &nesterov, nullptr));
  PetscOptionsEnd();
  PetscCheck(momentum_ >= 0 && momentum_ < 1, comm, PETSC_ERR_USER_INPUT, "-train_momentum must be in [0, 1), got %g", (double)momentum_);
  nesterov_ = nesterov;
  PetscFunctionReturn(0);
}

PetscErrorCode Sgd::Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) {
  std::vector<PetscReal> &x = *theta;
  PetscFunctionBeginUser;
  const bool first = buffer_.empty();
  if (first) PetscCallCXX(buffer_.resize(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    PetscReal d = g[i] + weight_decay_ * x[i];
    if (momentum_ > 0) {
      buffer_[i] = first ? d : momentum_ * buffer_[i] + d;
      d = nesterov_ ? d + momentum_ * buffer_[i] : buffer_[i];
    }
    x[i] -= lr * d;
  }
  PetscFunctionReturn(0);
}

std::string Sgd::Description() const {
  return "sgd (momentum " + std::to_string(momentum_) + (nesterov_ ? ", Nesterov" : "") + ", weight decay " + std::to_string(weight_decay_) + ")";
}

PetscErrorCode SgdCreate(std::unique_ptr<Optimizer> *optimizer) {
  PetscFunctionBeginUser;
  PetscCallCXX(*optimizer = std::make_unique<Sgd>());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
