// Adam, Kingma & Ba 2015, Algorithm 1, with torch.optim.Adam's weight decay (an L2 term added to the gradient):
//   g ← g + λθ;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;  m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t);
//   θ ← θ − α m̂ / (√v̂ + ε).
#include "solver/training/adam.hpp"

#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/simd_clones.hpp"

namespace ctflow {

// One pass over the parameters: the moments and the descent (a.l2: Adam's decay, added to the gradient; a.decoupled:
// AdamW's). The bias corrections enter as lr/c1 and 1/√c2, so that an entry costs one division and one square root.
CTFLOW_SIMD_CLONES void AdamUpdate(size_t n, const AdamCoefficients &a, const PetscReal *__restrict g, PetscReal *__restrict m,
                                   PetscReal *__restrict v, PetscReal *__restrict x) {
  const PetscReal b1 = a.beta1, b2 = a.beta2, l2 = a.l2, wd = a.lr * a.decoupled, step = a.lr / a.c1, root = 1 / std::sqrt(a.c2), eps = a.eps;
  for (size_t i = 0; i < n; ++i) {
    const PetscReal gi = g[i] + l2 * x[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    x[i] -= step * m[i] / (std::sqrt(v[i]) * root + eps) + wd * x[i];
  }
}

PetscErrorCode Adam::SetFromOptions(MPI_Comm comm) {
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, nullptr, "Adam and AdamW (-train_optimizer adam, adamw)", "Optimizer");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsReal("-train_beta1", "Adam's β1, decay of the first moment", "Adam::SetBetas", beta1_, &beta1_, nullptr));
  PetscCall(PetscOptionsReal("-train_beta2", "Adam's β2, decay of the second moment", "Adam::SetBetas", beta2_, &beta2_, nullptr));
  PetscCall(PetscOptionsReal("-train_adam_eps", "Adam's ε in the denominator", "Adam::SetEpsilon", eps_, &eps_, nullptr));
  PetscOptionsEnd();
  PetscCheck(beta1_ >= 0 && beta1_ < 1 && beta2_ >= 0 && beta2_ < 1, comm, PETSC_ERR_USER_INPUT, "-train_beta1 and -train_beta2 must be in [0, 1)");
  PetscCheck(eps_ > 0, comm, PETSC_ERR_USER_INPUT, "-train_adam_eps must be positive, got %g", (double)eps_);
  PetscFunctionReturn(0);
}

PetscErrorCode Adam::Update(PetscReal lr, const std::vector<PetscReal> &g, PetscReal l2, PetscReal decoupled, std::vector<PetscReal> *theta) {
  PetscFunctionBeginUser;
  if (m_.empty()) PetscCallCXX((m_.assign(g.size(), 0), v_.assign(g.size(), 0)));
  const PetscReal t = t_[0] += 1;
  const AdamCoefficients a{beta1_, beta2_, lr, 1 - std::pow(beta1_, t), 1 - std::pow(beta2_, t), eps_, l2, decoupled};
  AdamUpdate(g.size(), a, g.data(), m_.data(), v_.data(), theta->data());
  PetscFunctionReturn(0);
}

PetscErrorCode Adam::Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) {
  PetscFunctionBeginUser;
  PetscCall(Update(lr, g, weight_decay_, 0, theta));  // L2 regularisation: the decay enters the gradient, and so the moments
  PetscFunctionReturn(0);
}

std::string Adam::Description() const {
  return "adam (β1 " + std::to_string(beta1_) + ", β2 " + std::to_string(beta2_) + ", weight decay " + std::to_string(weight_decay_) + ")";
}

PetscErrorCode AdamCreate(std::unique_ptr<Optimizer> *optimizer) {
  PetscFunctionBeginUser;
  PetscCallCXX(*optimizer = std::make_unique<Adam>());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
