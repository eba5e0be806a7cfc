// Trainer: `ctflow -train`, the control problem (12) (and its ViT form (36)) solved on a dataset:
//   min over θ of (1/B) Σ_i ℓ(N_θ(u_i), v_i) + α Σ_n ‖θ^{n+1} − θ^n‖² / Δτ_n   (the second term: -train_time_smoothness α)
// Data parallel: every rank owns a Problem on PETSC_COMM_SELF (configured from the options like `ctflow`: scheme, Δt,
// substeps, …) and solves its share of each batch, forward and adjoint (docs/adjoint.md); the ranks' gradient sums,
// loss sums and counts go through one MPI_Allreduce per step. Batches are drawn from a permutation of the samples that
// depends on the seed and the epoch only, and each batch is split into contiguous blocks over the ranks, so 1, 2, 4
// ranks give the same training to round-off. Images (/images, /labels) train an image classifier: a vision
// Transformer (/vit, §4.2), or a convolutional one (/cvt, §6.2), whose Problem embeds each image and applies the head.
//
// Batched samples: a rank's share of a batch is solved in chunks of up to c samples (-train_chunk c, SetChunk; default
// the local batch share, at most 128), each chunk as one state of c·N_x tokens on a grid of c sequences
// (Grid::SetSequences: attention within each sample, token-wise operators unchanged, the same Δx), forward once and
// backward once; the loss is the sum of the samples' losses (SampleLoss). The same objective and gradient as one sample
// at a time, to round-off. A Problem per chunk size (the full chunk and the remainders) is built when first needed.
// Memory: the adjoint's tape holds c·N_x tokens per kept state. Configurations that are not exact batched (controls
// with per-token parameters or x-dependence, staged or convolutional models, adaptive Δt, -attention_materialise) run
// one sample at a time (the first line says why); -train_chunk c > 1 with them is an error. -train_chunk 1: one
// sample at a time.
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
// -train_checkpoint_every k, -train_restart, -train_chunk c (SetChunk), -train_freeze PATTERN,… (SetFrozen), -train_test_logits FILE (SetTestLogits:
// the test set's logits after training, /logits (B, classes), with /labels, and the loss and accuracy as attributes; with -train_epochs 0 an
// evaluation); the learning rate's (lr_schedule.hpp) and the random ViT's (vit_init.hpp).
#pragma once
#include <petsctao.h>

#include <map>
#include <memory>

#include "solver/problem/problem.hpp"
#include "solver/training/dataset.hpp"
#include "solver/training/frozen_parameters.hpp"
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
  // Output paths: "none" (or empty) writes no such file, as -traj none.
  void SetOutput(const std::string &path) { out_path_ = UnlessNone(path); }
  void SetEpochs(PetscInt epochs) { epochs_ = epochs; }
  void SetBatchSize(PetscInt batch) { batch_ = batch; }
  void SetSeed(PetscInt seed) { seed_ = seed; }
  void SetShuffle(bool shuffle) { shuffle_ = shuffle; }
  PetscErrorCode SetOptimizer(const std::string &name);
  void SetWeightDecay(PetscReal wd) { weight_decay_ = wd; }
  void SetClip(PetscReal clip) { clip_ = clip; }
  void SetTimeSmoothness(PetscReal alpha) { smoothness_ = alpha; }
  // Parameter arrays training leaves as they are (frozen_parameters.hpp): names or wildcards over the controls file's.
  void SetFrozen(const std::vector<std::string> &patterns) { frozen_.SetPatterns(patterns); }
  // Samples per batched solve (0: the local batch share, at most 128; 1: one at a time).
  void SetChunk(PetscInt chunk) { chunk_ = chunk; }
  void SetHistory(const std::string &path) { history_path_ = UnlessNone(path); }
  void SetTestLogits(const std::string &path) { logits_path_ = UnlessNone(path); }
  void SetCheckpoint(const std::string &path, PetscInt every, bool restart) {
    checkpoint_path_ = path, checkpoint_every_ = every, restart_ = restart;
  }
  PetscErrorCode SetUp();
  PetscErrorCode Train();

  // The objective at the current parameters over samples `batch` of d: the mean loss (plus the smoothness term) and,
  // with g, its gradient (flat, the layout of Parameters(); zero on the frozen arrays) and, with gnorm, its norm; *correct: the count of correctly
  // classified samples. Collective: one Allreduce.
  PetscErrorCode Objective(const Dataset &d, const std::vector<PetscInt> &batch, PetscReal *loss, PetscReal *correct, std::vector<PetscReal> *g,
                           PetscReal *gnorm = nullptr);
  // The test (or any) set's mean loss and accuracy (NaN for targets).
  PetscErrorCode Evaluate(const Dataset &d, PetscReal *loss, PetscReal *accuracy);
  // The logits of samples `batch` of d (labels): z (d.Size() × classes) gets their rows, the others zero. Collective.
  PetscErrorCode Logits(const Dataset &d, const std::vector<PetscInt> &batch, std::vector<PetscReal> *z);
  // The samples per solve in effect (after SetUp): 1 when the configuration cannot be batched.
  PetscInt Chunk() const { return chunk_used_; }
  // θ, flat; setting it changes every rank's controls.
  const std::vector<PetscReal> &Parameters() const { return theta_; }
  PetscErrorCode SetParameters(const std::vector<PetscReal> &theta);
  Problem &GetProblem() { return problem_; }
  const Dataset &TrainData() const { return train_; }
  MPI_Comm Comm() const { return comm_; }

 private:
  static std::string UnlessNone(const std::string &path) { return path == "none" ? std::string() : path; }
  PetscErrorCode SetUpControls();
  // This rank's samples of batch: sums (at least n + 2, or 2 without gradient) ← (Σ ∂ℓ/∂θ, Σ ℓ, Σ correct); an error
  // is returned in *ierr, not reported (Objective makes it collective).
  PetscErrorCode LocalSums(const Dataset &d, const std::vector<PetscInt> &batch, std::vector<PetscReal> *sums, bool gradient, PetscErrorCode *ierr);
  // Samples idx[0 … n): *loss += Σ ℓ, *correct += Σ [argmax z = label], with g: g ← Σ ∂ℓ/∂θ (first chunk) or
  // g += Σ ∂ℓ/∂θ (flat); one solve.
  PetscErrorCode Samples(const Dataset &d, const PetscInt *idx, PetscInt n, PetscReal *loss, PetscReal *correct, PetscReal *g, bool first);
  // The Problem for chunks of n > 1 samples (built on first use), its controls at θ.
  PetscErrorCode ChunkProblem(PetscInt n, Problem **p, SampleLoss **loss);
  // p's controls set to θ if *version (the theta_version_ they were last set at) is older.
  PetscErrorCode Synchronise(Problem &p, PetscInt *version);
  // Why the configuration cannot be batched, or "".
  std::string NotBatchable() const;
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
  PetscInt epochs_ = 10, batch_ = 32, seed_ = 0, checkpoint_every_ = 0, first_epoch_ = 0, chunk_ = 0, chunk_used_ = 1;
  std::string chunk_note_;  // why samples run one at a time, or ""
  struct ChunkSolver {
    std::unique_ptr<Problem> problem;  // on a grid of n sequences
    SampleLoss *loss = nullptr;        // owned by problem
    PetscInt version = -1;             // theta_version_ of its controls' parameters
  };
  std::map<PetscInt, ChunkSolver> chunks_;  // by chunk size n > 1
  std::vector<PetscReal> sums_;             // Objective's θ-sized sums, kept between steps
  PetscInt theta_version_ = 0;              // counts SetParameters
  PetscInt problem_version_ = 0;            // theta_version_ of problem_'s controls
  PetscReal weight_decay_ = 0, clip_ = 0, smoothness_ = 0;
  FrozenParameters frozen_;
  std::unique_ptr<Optimizer> optimizer_;
  LrSchedule schedule_;
  std::vector<PetscReal> theta_;
  ControlsArrays theta_arrays_;           // θ by array: a view of theta_
  std::map<std::string, size_t> offset_;  // of every array in theta_
  struct SmoothnessPair {
    size_t now, next, size;  // an array of θ^n and the same array of θ^{n+1}
    PetscReal weight;        // 1/Δτ_n
  };
  std::vector<SmoothnessPair> pairs_;
  std::vector<PetscReal> image_, values_, targets_;
  std::vector<PetscInt> labels_;
  UniqueVec embedded_;
  TrainingHistory history_;
  std::vector<PetscReal> *logits_out_ = nullptr;  // Samples stores the logits of sample i in row i
  PetscHandle<Tao, TaoDestroy> tao_;
};

// ctflow -train: reads -train (the run driver's switch).
PetscErrorCode TrainingRequested(MPI_Comm comm, PetscBool *train);

}  // namespace ctflow
