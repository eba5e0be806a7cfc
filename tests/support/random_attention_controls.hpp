// RandomAttentionControls: controls with attention kernels only, all drawn at random (W^Q, W^K, W^V, W^O ~ N(0, 1),
// b^Q, c ~ N(0, 1/4), scale 0.8), for the attention operator's tests.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "discretization/controls.hpp"

namespace ctflow_test {

// Attention-only controls with fixed random kernels (N_h heads of d features over N_y; 1 time unit, one step);
// AddAttentionGradient sums the gradients it is given, TakeGradient returns and resets the sum.
class RandomAttentionControls : public ctflow::Controls {
 public:
  RandomAttentionControls(PetscInt Ny, PetscInt Nh, PetscInt d, bool causal, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    auto random = [&](size_t n, double std_dev) {
      std::vector<PetscReal> v(n);
      for (PetscReal &x : v) x = std_dev * normal(rng);
      return v;
    };
    k_.d_head = d;
    k_.WQ = random(Nh * Ny * d, 1.0);
    k_.WK = random(Nh * Ny * d, 1.0);
    k_.WV = random(Nh * Ny * d, 1.0);
    k_.WO = random(Nh * d * Ny, 1.0);
    k_.bQ = random(Nh * d, 0.5);
    k_.c = random(Ny, 0.5);
    k_.scale = 0.8;
    k_.causal = causal;
  }
  PetscInt NumFeedForward() const override { return 0; }
  PetscErrorCode SampleAttention(PetscReal, const ctflow::Grid &, ctflow::AttentionKernels *k) const override {
    *k = k_;
    return 0;
  }
  PetscErrorCode SampleFeedForward(PetscInt, PetscReal, const ctflow::Grid &, ctflow::FeedForwardKernel *) const override { return PETSC_ERR_SUP; }
  PetscErrorCode SampleLayerNorm(PetscInt, PetscReal, ctflow::LayerNormTargets *) const override { return PETSC_ERR_SUP; }
  PetscErrorCode AddAttentionGradient(PetscReal, const ctflow::Grid &, const ctflow::AttentionKernels &dk, ctflow::ControlsArrays *) const override {
    const std::vector<PetscReal> *from[] = {&dk.WQ, &dk.WK, &dk.WV, &dk.WO, &dk.bQ, &dk.c};
    std::vector<PetscReal> *to[] = {&sum_.WQ, &sum_.WK, &sum_.WV, &sum_.WO, &sum_.bQ, &sum_.c};
    for (int i = 0; i < 6; ++i) {
      to[i]->resize(from[i]->size(), 0.0);
      for (size_t k = 0; k < from[i]->size(); ++k) (*to[i])[k] += (*from[i])[k];
    }
    return 0;
  }
  PetscReal EndTime() const override { return 1; }
  PetscReal DefaultFinalTime() const override { return 1; }
  PetscReal DefaultTimeStep() const override { return 1; }
  std::string Description() const override { return "random attention (test)"; }
  const ctflow::AttentionKernels &Kernels() const { return k_; }
  void MultiplyScale(double f) { k_.scale *= f; }
  // The summed gradients, flat (WQ, WK, WV, WO, bQ, c), and a reset.
  std::vector<PetscReal> TakeGradient() const {
    std::vector<PetscReal> flat;
    for (const auto *v : {&sum_.WQ, &sum_.WK, &sum_.WV, &sum_.WO, &sum_.bQ, &sum_.c}) flat.insert(flat.end(), v->begin(), v->end());
    sum_ = ctflow::AttentionKernels();
    return flat;
  }

 private:
  ctflow::AttentionKernels k_;
  mutable ctflow::AttentionKernels sum_;
};

}  // namespace ctflow_test
