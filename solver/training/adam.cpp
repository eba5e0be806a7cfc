// Adam, Kingma & Ba 2015, Algorithm 1, with torch.optim.Adam's weight decay (an L2 term added to the gradient):
//   g ← g + λθ;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;  m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t);
//   θ ← θ − α m̂ / (√v̂ + ε).
#include "solver/training/adam.hpp"

#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/simd_clones.hpp"

namespace ctflow {

CTFLOW_SIMD_CLONES void AdamDescend(size_t n, PetscReal lr, PetscReal c1, PetscReal c2, PetscReal eps, PetscReal decay, const PetscReal *m,
                                    const PetscReal *v, PetscReal *x) {
  if (decay == 0)
    for (size_t i = 0; i < n; ++i) x[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
  else
    for (size_t i = 0; i < n; ++i) x[i] -= lr * ((m[i] / c1) / (std::sqrt(v[i] / c2) + eps) + decay * x[i]);
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

PetscErrorCode Adam::Moments(const std::vector<PetscReal> &g, PetscReal *c1, PetscReal *c2) {
  PetscFunctionBeginUser;
  if (m_.empty()) PetscCallCXX((m_.assign(g.size(), 0), v_.assign(g.size(), 0)));
  const PetscReal t = t_[0] += 1;
  for (size_t i = 0; i < g.size(); ++i) {
    m_[i] = beta1_ * m_[i] + (1 - beta1_) * g[i];
    v_[i] = beta2_ * v_[i] + (1 - beta2_) * g[i] * g[i];
  }
  *c1 = 1 - std::pow(beta1_, t);
  *c2 = 1 - std::pow(beta2_, t);
  PetscFunctionReturn(0);
}

PetscErrorCode Adam::Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) {
  std::vector<PetscReal> &x = *theta;
  PetscReal c1, c2;
  PetscFunctionBeginUser;
  if (weight_decay_ == 0) PetscCall(Moments(g, &c1, &c2));
  else {  // L2 regularisation: the decay enters the gradient, and so the moments
    std::vector<PetscReal> d(g);
    for (size_t i = 0; i < x.size(); ++i) d[i] += weight_decay_ * x[i];
    PetscCall(Moments(d, &c1, &c2));
  }
  AdamDescend(x.size(), lr, c1, c2, eps_, 0, m_.data(), v_.data(), x.data());
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
