// Adam (-train_optimizer adam) and AdamW (-train_optimizer adamw): the moments m, v and the step count t.
// Options: -train_beta1 β1 (SetBetas, 0.9), -train_beta2 β2 (0.999), -train_adam_eps ε (SetEpsilon, 1e-8).
#pragma once
#include "solver/training/optimizer.hpp"

namespace ctflow {

// The descent of Adam and AdamW over n parameters: x ← x − lr ((m / c1) / (√(v / c2) + ε) + λ x), λ = decay (0 for
// Adam, whose decay is in the gradient); vectorised for the CPU that runs it (the serial part of a data-parallel step).
void AdamDescend(size_t n, PetscReal lr, PetscReal c1, PetscReal c2, PetscReal eps, PetscReal decay, const PetscReal *m, const PetscReal *v,
                 PetscReal *x);

class Adam : public Optimizer {
 public:
  PetscErrorCode SetFromOptions(MPI_Comm comm) override;
  void SetBetas(PetscReal beta1, PetscReal beta2) { beta1_ = beta1, beta2_ = beta2; }
  void SetEpsilon(PetscReal eps) { eps_ = eps; }
  PetscErrorCode Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) override;
  std::vector<std::pair<std::string, std::vector<PetscReal> *>> State() override { return {{"m", &m_}, {"v", &v_}, {"t", &t_}}; }
  std::string Description() const override;

 protected:
  // m, v ← the moments of g at step t (sized on the first call); the bias corrections 1 − β1^t, 1 − β2^t.
  PetscErrorCode Moments(const std::vector<PetscReal> &g, PetscReal *c1, PetscReal *c2);
  PetscReal beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8;
  std::vector<PetscReal> m_, v_, t_ = {0};
};

class AdamW : public Adam {
 public:
  PetscErrorCode Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) override;
  std::string Description() const override;
};

}  // namespace ctflow
