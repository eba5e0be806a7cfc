// Adam (-train_optimizer adam) and AdamW (-train_optimizer adamw): the moments m, v and the step count t.
// Options: -train_beta1 β1 (SetBetas, 0.9), -train_beta2 β2 (0.999), -train_adam_eps ε (SetEpsilon, 1e-8).
#pragma once
#include "solver/training/optimizer.hpp"

namespace ctflow {

// One step of Adam and AdamW over n parameters, moments and descent in one pass, vectorised for the CPU that runs it
// (the serial part of a data-parallel step): g ← g + l2 x;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
// x ← x − lr (m / c1) / (√v / √c2 + ε) − lr decoupled x.
struct AdamCoefficients {
  PetscReal beta1, beta2, lr, c1, c2, eps, l2, decoupled;
};
void AdamUpdate(size_t n, const AdamCoefficients &a, const PetscReal *g, PetscReal *m, PetscReal *v, PetscReal *x);

class Adam : public Optimizer {
 public:
  PetscErrorCode SetFromOptions(MPI_Comm comm) override;
  void SetBetas(PetscReal beta1, PetscReal beta2) { beta1_ = beta1, beta2_ = beta2; }
  void SetEpsilon(PetscReal eps) { eps_ = eps; }
  PetscErrorCode Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) override;
  std::vector<std::pair<std::string, std::vector<PetscReal> *>> State() override { return {{"m", &m_}, {"v", &v_}, {"t", &t_}}; }
  std::string Description() const override;

 protected:
  // Step t: m, v (sized on the first call) and θ, with the bias corrections 1 − β1^t, 1 − β2^t; l2 is Adam's decay (into
  // the gradient), decoupled AdamW's.
  PetscErrorCode Update(PetscReal lr, const std::vector<PetscReal> &g, PetscReal l2, PetscReal decoupled, std::vector<PetscReal> *theta);
  PetscReal beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8;
  std::vector<PetscReal> m_, v_, t_ = {0};
};

class AdamW : public Adam {
 public:
  PetscErrorCode Step(PetscReal lr, const std::vector<PetscReal> &g, std::vector<PetscReal> *theta) override;
  std::string Description() const override;
};

}  // namespace ctflow
