// Batched samples (solver/training/trainer.hpp): a rank's share of a batch solved as one state of c·N_x tokens
// (-train_chunk c) gives the objective of one sample at a time (-train_chunk 1) to round-off: the mean loss, every entry
// of the gradient (relative to its array's largest entry) and every logit within 1e-13 relative, for
//   - a random pre-LN ViT (GELU, 2 heads) with cross-entropy, layer-wise and piecewise linear in t, chunks of the
//     local share (default) and of 3 (remainders of 1 and 2 samples on 1 and 2 ranks);
//   - the paper's post-LN layered model on /inputs with mse, and the same model causal.
// Configurations that cannot be batched (-attention_materialise) fall back to one sample at a time, and -train_chunk c
// > 1 with them is an error. Runs in the training fixture's directory (good.h5: 16 random 8 × 8 images; states.h5: 12
// states 5 × 4 with targets; paper.h5, paper_causal.h5).
#include <gtest/gtest.h>

#include <cmath>

#include "solver/training/trainer.hpp"
#include "support/scoped_options.hpp"

namespace {

using Options = ctflow_test::ScopedOptions;

struct Result {
  PetscReal loss = 0, correct = 0;
  std::vector<PetscReal> g, logits;
  PetscInt chunk = 0;
  std::vector<std::pair<size_t, size_t>> arrays;  // (offset, size) of every parameter array in g
};

const std::vector<PetscInt> kBatch = {0, 3, 4, 7, 9, 11, 2};

Result Run(const std::string &options) {
  Options set(options);
  Result r;
  ctflow::Trainer trainer(PETSC_COMM_WORLD);
  EXPECT_EQ(trainer.SetFromOptions(), 0);
  EXPECT_EQ(trainer.SetUp(), 0);
  r.chunk = trainer.Chunk();
  EXPECT_EQ(trainer.Objective(trainer.TrainData(), kBatch, &r.loss, &r.correct, &r.g), 0);
  if (trainer.TrainData().Labels()) EXPECT_EQ(trainer.Logits(trainer.TrainData(), kBatch, &r.logits), 0);
  ctflow::ControlsArrays arrays;
  EXPECT_EQ(trainer.GetProblem().GetControls().GetParameters(&arrays), 0);
  size_t offset = 0;
  for (const ctflow::ControlsArray &a : arrays.Arrays()) r.arrays.push_back({offset, a.values.size()}), offset += a.values.size();
  return r;
}

// One sample at a time against chunks of `chunk` (0: the default): loss, gradient and logits to 1e-13 relative.
void Compare(const std::string &options, const std::string &chunk) {
  const Result one = Run(options + " -train_chunk 1"), many = Run(options + (chunk.empty() ? "" : " -train_chunk " + chunk));
  EXPECT_EQ(one.chunk, 1);
  EXPECT_GT(many.chunk, 1) << options;
  EXPECT_NEAR(many.loss, one.loss, 1e-13 * std::abs(one.loss)) << options << " chunk " << many.chunk;
  EXPECT_EQ(many.correct, one.correct);
  ASSERT_EQ(many.g.size(), one.g.size());
  ASSERT_FALSE(one.arrays.empty());
  PetscReal worst = std::abs(many.loss - one.loss) / std::abs(one.loss);
  for (const auto &[offset, size] : one.arrays) {
    PetscReal scale = 0;
    for (size_t k = offset; k < offset + size; ++k) scale = std::max(scale, std::abs(one.g[k]));
    for (size_t k = offset; k < offset + size; ++k) {
      EXPECT_NEAR(many.g[k], one.g[k], 1e-13 * scale) << options << " chunk " << many.chunk << " parameter " << k;
      if (scale > 0) worst = std::max(worst, std::abs(many.g[k] - one.g[k]) / scale);
    }
  }
  ASSERT_EQ(many.logits.size(), one.logits.size());
  PetscReal scale = 0;
  for (PetscReal z : one.logits) scale = std::max(scale, std::abs(z));
  for (size_t k = 0; k < one.logits.size(); ++k) {
    EXPECT_NEAR(many.logits[k], one.logits[k], 1e-13 * scale) << options << " logit " << k;
    worst = std::max(worst, std::abs(many.logits[k] - one.logits[k]) / scale);
  }
  PetscCallVoid(PetscPrintf(PETSC_COMM_WORLD, "chunks of %d: largest relative difference %.2e\n", (int)many.chunk, (double)worst));
}

const std::string kVit = "-data good.h5 -train_batch 0 -train_out trained_batched.h5 -vit_dim 8 -vit_heads 2 -vit_mlp 8 -vit_layers 2 -train_seed 4";
const std::string kPaper = "-data states.h5 -train_batch 0 -train_out trained_batched.h5";

TEST(TrainingBatched, VitCrossEntropy) { Compare(kVit, ""); }
TEST(TrainingBatched, VitCrossEntropyChunksOfThree) { Compare(kVit, "3"); }
TEST(TrainingBatched, VitPiecewiseLinear) { Compare(kVit + " -vit_time linear -dt 0.375", "3"); }
TEST(TrainingBatched, PaperModelMse) { Compare(kPaper + " -controls paper.h5", ""); }
TEST(TrainingBatched, PaperModelCausalMse) { Compare(kPaper + " -controls paper_causal.h5", "3"); }

TEST(TrainingBatched, NotBatchableFallsBackOrFails) {
  {
    Options set(kVit + " -attention_materialise");
    ctflow::Trainer trainer(PETSC_COMM_WORLD);
    ASSERT_EQ(trainer.SetFromOptions(), 0);
    ASSERT_EQ(trainer.SetUp(), 0);
    EXPECT_EQ(trainer.Chunk(), 1);
  }
  Options set(kVit + " -attention_materialise -train_chunk 4");
  ctflow::Trainer trainer(PETSC_COMM_WORLD);
  ASSERT_EQ(trainer.SetFromOptions(), 0);
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  const PetscErrorCode ierr = trainer.SetUp();
  PetscPopErrorHandler();
  EXPECT_EQ(ierr, PETSC_ERR_USER_INPUT);
}

}  // namespace
