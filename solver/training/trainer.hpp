// Trainer: `ctflow -train`, the control problem (12) (and its ViT form (36)) solved on a dataset:
//   min over θ of (1/B) Σ_i ℓ(N_θ(u_i), v_i) + α Σ_n ‖θ^{n+1} − θ^n‖² / Δτ_n   (the second term: -train_time_smoothness α)
// Data parallel: every rank owns a Problem on PETSC_COMM_SELF (configured from the options like `ctflow`: scheme, Δt,
// substeps, …) and solves its share of each batch, forward and adjoint (docs/adjoint.md); the ranks' gradient sums,
// loss sums and counts go through one MPI_Allreduce per step. Batches are drawn from a permutation of the samples that
// depends on the seed and the epoch only, and each batch is split into contiguous blocks over the ranks, so 1, 2, 4
// ranks give the same training to round-off.
//
//   ctflow::Trainer trainer(PETSC_COMM_WORLD);
//   PetscCall(trainer.SetFromOptions());     // -data, -data_test, -train_*, the optimiser's, the Problem's options
//   PetscCall(trainer.SetUp());              // controls (-controls, or a random ViT, vit_init.hpp), data checked
//   PetscCall(trainer.Train());              // epochs, progress lines, history, checkpoints, -train_out
//
// Options (each with a setter): -data FILE (SetData), -data_test FILE (SetTestData), -train_out FILE (SetOutput),
// -train_epochs n, -train_batch b (0: the whole set), -train_seed s, -train_shuffle (SetShuffle), -train_optimizer
// adam|adamw|sgd|tao (SetOptimizer; tao: full batch through PETSc's TAO, its options -tao_*), -train_weight_decay λ,
// -train_clip c (gradient norm clipping), -train_time_smoothness α, -train_history FILE, -train_checkpoint FILE,
// -train_checkpoint_every k, -train_restart, -train_test_logits FILE (SetTestLogits: the test set's logits after training,
// /logits (B, classes), with /labels, and the loss and accuracy as attributes; with -train_epochs 0 an evaluation); the learning rate's
// (lr_schedule.hpp) and the random ViT's (vit_init.hpp).
#pragma once
#include <petsctao.h>

#include <map>
#include <memory>

#include "solver/problem/problem.hpp"
#include "solver/training/dataset.hpp"
#include "solver/training/lr_schedule.hpp"
#include "solver/training/optimizer.hpp"
#include "solver/training/sample_loss.hpp"
#include "solver/training/training_files.hpp"
#include "solver/training/vit_init.hpp"

namespace ctflow {

class Trainer {
 public:
  explicit Trainer(MPI_Comm comm);
  PetscErrorCode SetFromOptions();
  void SetData(const std::string &train, const std::string &test) { data_path_ = train, test_path_ = test; }
  void SetOutput(const std::string &path) { out_path_ = path; }
  void SetEpochs(PetscInt epochs) { epochs_ = epochs; }
  void SetBatchSize(PetscInt batch) { batch_ = batch; }
  void SetSeed(PetscInt seed) { seed_ = seed; }
  void SetShuffle(bool shuffle) { shuffle_ = shuffle; }
  PetscErrorCode SetOptimizer(const std::string &name);
  void SetWeightDecay(PetscReal wd) { weight_decay_ = wd; }
  void SetClip(PetscReal clip) { clip_ = clip; }
  void SetTimeSmoothness(PetscReal alpha) { smoothness_ = alpha; }
  void SetHistory(const std::string &path) { history_path_ = path; }
  void SetTestLogits(const std::string &path) { logits_path_ = path; }
  void SetCheckpoint(const std::string &path, PetscInt every, bool restart) {
    checkpoint_path_ = path, checkpoint_every_ = every, restart_ = restart;
  }
  PetscErrorCode SetUp();
  PetscErrorCode Train();

  // The objective at the current parameters over samples `batch` of d: the mean loss (plus the smoothness term) and,
  // with g, its gradient (flat, the layout of Parameters()); *correct: the count of correctly classified samples.
  // Collective: one Allreduce.
  PetscErrorCode Objective(const Dataset &d, const std::vector<PetscInt> &batch, PetscReal *loss, PetscReal *correct, std::vector<PetscReal> *g);
  // The test (or any) set's mean loss and accuracy (NaN for targets).
  PetscErrorCode Evaluate(const Dataset &d, PetscReal *loss, PetscReal *accuracy);
  // θ, flat; setting it changes every rank's controls.
  const std::vector<PetscReal> &Parameters() const { return theta_; }
  PetscErrorCode SetParameters(const std::vector<PetscReal> &theta);
  Problem &GetProblem() { return problem_; }
  const Dataset &TrainData() const { return train_; }
  MPI_Comm Comm() const { return comm_; }

 private:
  PetscErrorCode SetUpControls();
  // This rank's samples of batch: sums = (Σ ∂ℓ/∂θ (with gradient), Σ ℓ, Σ correct).
  PetscErrorCode LocalSums(const Dataset &d, const std::vector<PetscInt> &batch, std::vector<PetscReal> *sums, bool gradient);
  PetscErrorCode Sample(const Dataset &d, PetscInt i, PetscReal *loss, PetscReal *correct, PetscReal *g);
  PetscErrorCode SetUpSmoothness();
  // α Σ_n ‖θ^{n+1} − θ^n‖² / Δτ_n and its gradient added to g.
  PetscReal Smoothness(std::vector<PetscReal> *g) const;
  std::vector<PetscInt> EpochOrder(PetscInt epoch) const;
  PetscErrorCode RecordEpoch(PetscInt epoch, PetscReal train_loss, PetscReal train_correct, PetscReal gnorm, PetscReal lr, PetscReal seconds);
  PetscErrorCode SaveCheckpoint(PetscInt epoch);
  PetscErrorCode WriteTestLogits();
  PetscErrorCode TrainMiniBatch();
  PetscErrorCode SetUpTao();  // the Tao object and its options (-tao_*), in SetUp
  PetscErrorCode TrainTao();
  bool TaoSelected() const { return optimizer_name_ == "tao"; }

  MPI_Comm comm_;
  Problem problem_;
  SampleLoss *loss_ = nullptr;  // owned by problem_
  VitArchitecture arch_;
  MemoryFile random_controls_;
  std::string controls_source_;  // the controls file the outputs copy
  std::string data_path_, test_path_, out_path_ = "trained.h5", history_path_, checkpoint_path_, logits_path_, optimizer_name_ = "adam";
  Dataset train_, test_;
  bool has_test_ = false, shuffle_ = true, restart_ = false;
  PetscInt epochs_ = 10, batch_ = 32, seed_ = 0, checkpoint_every_ = 0, first_epoch_ = 0;
  PetscReal weight_decay_ = 0, clip_ = 0, smoothness_ = 0;
  std::unique_ptr<Optimizer> optimizer_;
  LrSchedule schedule_;
  ControlsArrays theta_arrays_;
  std::vector<PetscReal> theta_;
  std::map<std::string, size_t> offset_;  // of every array in theta_
  struct SmoothnessPair {
    size_t now, next, size;  // an array of θ^n and the same array of θ^{n+1}
    PetscReal weight;        // 1/Δτ_n
  };
  std::vector<SmoothnessPair> pairs_;
  std::vector<PetscReal> image_, values_;
  UniqueVec embedded_;
  TrainingHistory history_;
  std::vector<PetscReal> *logits_out_ = nullptr;  // Sample stores the logits of sample i in row i
  PetscHandle<Tao, TaoDestroy> tao_;
};

// ctflow -train: reads -train (the run driver's switch).
PetscErrorCode TrainingRequested(MPI_Comm comm, PetscBool *train);

}  // namespace ctflow
