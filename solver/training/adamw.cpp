// AdamW, Loshchilov & Hutter 2019, Algorithm 2 (decoupled weight decay), with torch.optim.AdamW's scaling of the decay
// by the learning rate (the paper's η_t α = lr, its λ = lr λ_torch):
//   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;  m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t);
//   θ ← θ − lr (m̂ / (√v̂ + ε) + λθ).
#include "solver/training/adam.hpp"

namespace ctflow {

PetscErrorCode AdamW::Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) {
  PetscFunctionBeginUser;
  PetscCall(Update(lr, g, 0, weight_decay_, theta));
  PetscFunctionReturn(0);
}

std::string AdamW::Description() const {
  return "adamw (β1 " + std::to_string(beta1_) + ", β2 " + std::to_string(beta2_) + ", weight decay " + std::to_string(weight_decay_) + ")";
}

PetscErrorCode AdamWCreate(std::unique_ptr<Optimizer> *optimizer) {
  PetscFunctionBeginUser;
  PetscCallCXX(*optimizer = std::make_unique<AdamW>());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
