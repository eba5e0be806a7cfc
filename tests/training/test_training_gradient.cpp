// The gradient of the training objective (solver/training/trainer.hpp) is the derivative of what it computes: the mean
// cross-entropy of a random ViT over a batch, data parallel over the ranks, plus α Σ_n ‖θ^{n+1} − θ^n‖²/Δτ_n. For
// layer-wise controls at Δt = 1 and for piecewise-linear controls at Δt = 1/4 and 3/8 (the knots interpolated, the
// chain rule through the interpolation), along a random direction δθ:
//   r(ε) = |J(θ + ε δθ) − J(θ) − ε ⟨∇J, δθ⟩| = O(ε²),
// the observed slope log2(r(ε)/r(ε/2)) is 2 ± 0.1 over four halvings of ε. Runs in the training fixture's directory
// (good.h5: 16 random 8 × 8 images).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "solver/training/trainer.hpp"
#include "support/scoped_options.hpp"

namespace {

using Options = ctflow_test::ScopedOptions;

void TaylorSlopes(const std::string &options) {
  Options set("-data good.h5 -train_batch 0 -train_out trained_taylor.h5 -vit_dim 8 -vit_heads 2 -vit_mlp 8 -vit_layers 3 -train_seed 3 " + options);
  ctflow::Trainer trainer(PETSC_COMM_WORLD);
  ASSERT_EQ(trainer.SetFromOptions(), 0);
  ASSERT_EQ(trainer.SetUp(), 0);
  std::vector<PetscInt> batch = {0, 3, 4, 7, 9, 12, 15};
  const std::vector<PetscReal> theta = trainer.Parameters();
  std::vector<PetscReal> g, delta(theta.size()), moved(theta.size());
  PetscReal J, correct, Je, dot = 0;
  std::mt19937_64 rng(11);
  std::normal_distribution<PetscReal> normal(0, 1);
  for (size_t i = 0; i < theta.size(); ++i) delta[i] = normal(rng) * (0.1 + std::abs(theta[i]));
  ASSERT_EQ(trainer.Objective(trainer.TrainData(), batch, &J, &correct, &g), 0);
  for (size_t i = 0; i < theta.size(); ++i) dot += g[i] * delta[i];
  std::vector<PetscReal> r;
  for (PetscReal eps = 1e-2; r.size() < 5; eps /= 2) {
    for (size_t i = 0; i < theta.size(); ++i) moved[i] = theta[i] + eps * delta[i];
    ASSERT_EQ(trainer.SetParameters(moved), 0);
    ASSERT_EQ(trainer.Objective(trainer.TrainData(), batch, &Je, &correct, nullptr), 0);
    r.push_back(std::abs(Je - J - eps * dot));
  }
  for (size_t k = 0; k + 1 < r.size(); ++k) EXPECT_NEAR(std::log2(r[k] / r[k + 1]), 2.0, 0.1) << options << ": r = " << r[k] << ", " << r[k + 1];
}

TEST(TrainingGradient, LayerwiseWithSmoothness) { TaylorSlopes("-train_time_smoothness 0.3"); }
TEST(TrainingGradient, PiecewiseLinearQuarterSteps) { TaylorSlopes("-vit_time linear -dt 0.25"); }
TEST(TrainingGradient, PiecewiseLinearUnalignedStepsWithSmoothness) { TaylorSlopes("-vit_time linear -dt 0.375 -train_time_smoothness 0.3"); }

}  // namespace
