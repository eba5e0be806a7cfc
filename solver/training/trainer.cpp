#include "solver/training/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/hdf5_attributes.hpp"
#include "discretization/piecewise_linear_controls.hpp"
#include "solver/training/batch_gradient.hpp"

namespace ctflow {

namespace {

// Collective: if any rank's local work failed (errors caught with PetscReturnErrorHandler, so that no rank aborts the
// run alone), every rank fails with the message of the lowest failing rank.
PetscErrorCode CheckAllRanks(MPI_Comm comm, PetscErrorCode local) {
  PetscMPIInt rank, size, first;
  char message[1024] = "";
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscMPIInt mine = local ? rank : size;
  PetscCallMPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
  if (first == size) PetscFunctionReturn(0);
  int code = (int)local;
  if (rank == first) {
    const char *text = nullptr;
    char *specific = nullptr;
    PetscCall(PetscErrorMessage(local, &text, &specific));
    PetscCall(PetscStrncpy(message, specific && specific[0] ? specific : text ? text : "error", sizeof(message)));
  }
  PetscCallMPI(MPI_Bcast(message, sizeof(message), MPI_CHAR, first, comm));
  PetscCallMPI(MPI_Bcast(&code, 1, MPI_INT, first, comm));
  SETERRQ(comm, (PetscErrorCode)code, "%s", message);
}

// Runs f, this rank's own work (its Problem on PETSC_COMM_SELF), with errors returned in *ierr rather than reported.
template <typename F>
PetscErrorCode Locally(F f, PetscErrorCode *ierr) {
  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, nullptr));
  *ierr = f();
  PetscCall(PetscPopErrorHandler());
  PetscFunctionReturn(0);
}

// Runs f locally and makes the outcome collective (CheckAllRanks).
template <typename F>
PetscErrorCode OnEveryRank(MPI_Comm comm, F f) {
  PetscErrorCode ierr = 0;
  PetscFunctionBeginUser;
  PetscCall(Locally(f, &ierr));
  PetscCall(CheckAllRanks(comm, ierr));
  PetscFunctionReturn(0);
}

// SplitMix64: the permutation of the samples in an epoch depends on the seed and the epoch only.
std::uint64_t Next(std::uint64_t *x) {
  std::uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The image classifier of the controls, (C, H, W, classes): a vision Transformer's (§4.2) or a convolutional one's (§6.2);
// empty without one.
std::vector<PetscInt> ImageClassifier(const Controls &controls) {
  if (const VitProcessing *v = controls.Vit()) return {v->channels, v->height, v->width, v->classes};
  if (const CvtProcessing *c = controls.Cvt()) return {c->channels, c->height, c->width, c->classes};
  return {};
}

}  // namespace

PetscErrorCode TrainingRequested(MPI_Comm comm, PetscBool *train) {
  PetscFunctionBeginUser;
  *train = PETSC_FALSE;
  PetscOptionsBegin(comm, nullptr, "The training job", "Trainer");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsBool("-train", "Train the controls on -data (the control problem (12), (36))", "Trainer", *train, train, nullptr));
  PetscOptionsEnd();
  PetscFunctionReturn(0);
}

Trainer::Trainer(MPI_Comm comm) : comm_(comm), problem_(PETSC_COMM_SELF) {}

PetscErrorCode Trainer::SetOptimizer(const std::string &name) {
  PetscFunctionBeginUser;
  optimizer_name_ = name;
  optimizer_.reset();
  if (!TaoSelected()) PetscCall(OptimizerCreate(comm_, name, &optimizer_));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::SetFromOptions() {
  char data[PETSC_MAX_PATH_LEN], test[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN], history[PETSC_MAX_PATH_LEN], checkpoint[PETSC_MAX_PATH_LEN],
      logits[PETSC_MAX_PATH_LEN], optimizer[64];
  PetscBool shuffle = shuffle_ ? PETSC_TRUE : PETSC_FALSE, restart = restart_ ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(data, data_path_.c_str(), sizeof(data)));
  PetscCall(PetscStrncpy(test, test_path_.c_str(), sizeof(test)));
  PetscCall(PetscStrncpy(out, out_path_.c_str(), sizeof(out)));
  PetscCall(PetscStrncpy(history, history_path_.c_str(), sizeof(history)));
  PetscCall(PetscStrncpy(logits, logits_path_.c_str(), sizeof(logits)));
  PetscCall(PetscStrncpy(checkpoint, checkpoint_path_.c_str(), sizeof(checkpoint)));
  PetscCall(PetscStrncpy(optimizer, optimizer_name_.c_str(), sizeof(optimizer)));
  PetscOptionsBegin(comm_, nullptr, "Training (docs/training.md)", "Trainer");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsString("-data", "Training set (HDF5: /inputs or /images, /targets or /labels)", "Trainer::SetData", data, data, sizeof(data),
                               nullptr));
  PetscCall(PetscOptionsString("-data_test", "Held-out set, evaluated after every epoch", "Trainer::SetData", test, test, sizeof(test), nullptr));
  PetscCall(PetscOptionsString("-train_out", "Trained controls file (runs with ctflow -controls; none: not written)", "Trainer::SetOutput", out, out,
                               sizeof(out), nullptr));
  PetscCall(CtflowOptionsInt("-train_epochs", "Epochs (TAO: iterations)", "Trainer::SetEpochs", epochs_, &epochs_, nullptr));
  PetscCall(CtflowOptionsInt("-train_batch", "Samples per step (0: the whole set)", "Trainer::SetBatchSize", batch_, &batch_, nullptr));
  PetscCall(CtflowOptionsInt("-train_seed", "Seed of the random initialisation and the shuffling", "Trainer::SetSeed", seed_, &seed_, nullptr));
  PetscCall(PetscOptionsBool("-train_shuffle", "Shuffle the samples every epoch (else batches in the file's order)", "Trainer::SetShuffle", shuffle,
                             &shuffle, nullptr));
  PetscCall(PetscOptionsString("-train_optimizer", "adam, adamw, sgd (mini-batch) or tao (full batch, -tao_type ...)", "Trainer::SetOptimizer",
                               optimizer, optimizer, sizeof(optimizer), nullptr));
  PetscCall(PetscOptionsReal("-train_weight_decay", "Weight decay λ", "Trainer::SetWeightDecay", weight_decay_, &weight_decay_, nullptr));
  PetscCall(PetscOptionsReal("-train_clip", "Clip the gradient to this norm (0: no clipping)", "Trainer::SetClip", clip_, &clip_, nullptr));
  PetscCall(PetscOptionsReal("-train_time_smoothness", "α of the penalty α Σ_n ‖θ^{n+1} − θ^n‖²/Δτ_n", "Trainer::SetTimeSmoothness", smoothness_,
                             &smoothness_, nullptr));
  PetscCall(PetscOptionsString("-train_history", "History file (HDF5: /epoch, /train_loss, …; none: not written)", "Trainer::SetHistory", history,
                               history, sizeof(history), nullptr));
  PetscCall(PetscOptionsString("-train_checkpoint", "Checkpoint file (controls and optimiser state)", "Trainer::SetCheckpoint", checkpoint,
                               checkpoint, sizeof(checkpoint), nullptr));
  PetscCall(CtflowOptionsInt("-train_checkpoint_every", "Save a checkpoint every k epochs (0: never)", "Trainer::SetCheckpoint", checkpoint_every_,
                             &checkpoint_every_, nullptr));
  PetscCall(PetscOptionsBool("-train_restart", "Continue from -train_checkpoint", "Trainer::SetCheckpoint", restart, &restart, nullptr));
  PetscCall(CtflowOptionsInt("-train_chunk", "Samples solved as one batched state (0: the local batch share, at most 128; 1: one at a time)",
                             "Trainer::SetChunk", chunk_, &chunk_, nullptr));
  PetscCall(PetscOptionsString("-train_test_logits", "After training, write the test set's logits, loss and accuracy here (HDF5)",
                               "Trainer::SetTestLogits", logits, logits, sizeof(logits), nullptr));
  {
    char *patterns[64];
    PetscInt n = 64;
    PetscBool set;
    PetscCall(PetscOptionsStringArray("-train_freeze", "Parameter arrays left as they are (names in the controls file, wildcards: layers/0/mlp_*)",
                                      "Trainer::SetFrozen", patterns, &n, &set));
    if (set) {
      std::vector<std::string> list(patterns, patterns + n);
      for (PetscInt i = 0; i < n; ++i) PetscCall(PetscFree(patterns[i]));
      SetFrozen(list);
    }
  }
  PetscOptionsEnd();
  SetData(data, test);
  SetOutput(out);
  SetShuffle(shuffle);
  SetHistory(history);
  SetTestLogits(logits);
  SetCheckpoint(checkpoint, checkpoint_every_, restart);
  PetscCall(SetOptimizer(optimizer));
  PetscCall(schedule_.SetFromOptions(comm_));
  if (optimizer_) PetscCall(optimizer_->SetFromOptions(comm_));
  PetscCall(arch_.SetFromOptions(comm_));
  PetscCall(OnEveryRank(comm_, [&] { return problem_.SetFromOptions(); }));
  // The trainer sets its problem's loss from the data and keeps no trajectory: these options would do nothing.
  PetscCheck(!problem_.GetLoss() && problem_.GradientFile().empty(), comm_, PETSC_ERR_USER_INPUT,
             "-loss and -gradient are for one run, not -train: its loss follows the data (/labels: cross-entropy of the logits, /targets: "
             "1/2 ||u(T) - v||^2); ctflow -controls TRAINED.h5 ... -loss ... -gradient FILE evaluates one");
  PetscCheck(!(problem_.GetTrajectory().PathGiven() && problem_.GetTrajectory().Enabled()), comm_, PETSC_ERR_USER_INPUT,
             "-traj is for one run, not -train; ctflow -controls TRAINED.h5 -traj FILE writes a trained network's trajectory");
  problem_.GetTrajectory().SetPath("none");
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::SetUpControls() {
  PetscFunctionBeginUser;
  if (restart_) {  // a checkpoint is a controls file
    PetscCall(problem_.SetControlsFile(checkpoint_path_));
    PetscCall(problem_.GetControls().SetFromOptions());
  } else if (problem_.ControlsFile().empty()) {
    PetscCheck(train_.Images(), comm_, PETSC_ERR_USER_INPUT,
               "training on /inputs needs controls to start from: -controls FILE (a random start is a vision Transformer, for /images)");
    const std::vector<PetscInt> &s = train_.InputShape();
    arch_.channels = s[0], arch_.height = s[1], arch_.width = s[2];
    PetscCall(arch_.Check(comm_));
    PetscCall(random_controls_.Create(PETSC_COMM_SELF, "ctflow-random-vit"));
    PetscCall(VitControlsWrite(PETSC_COMM_SELF, arch_, (std::uint64_t)seed_, random_controls_.Path()));
    PetscCall(problem_.SetControlsFile(random_controls_.Path()));
    PetscCall(problem_.GetControls().SetFromOptions());
  }
  controls_source_ = problem_.ControlsFile();
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::SetUp() {
  PetscFunctionBeginUser;
  PetscCheck(!data_path_.empty(), comm_, PETSC_ERR_USER_INPUT, "-train needs a training set: -data FILE.h5");
  PetscCheck(epochs_ >= 0, comm_, PETSC_ERR_USER_INPUT, "-train_epochs must be non-negative, got %" PetscInt_FMT, epochs_);
  PetscCheck(checkpoint_every_ >= 0, comm_, PETSC_ERR_USER_INPUT, "-train_checkpoint_every must be non-negative");
  PetscCheck(!(checkpoint_every_ || restart_) || !checkpoint_path_.empty(), comm_, PETSC_ERR_USER_INPUT,
             "-train_checkpoint_every and -train_restart need -train_checkpoint FILE");
  PetscCheck(smoothness_ >= 0 && clip_ >= 0 && weight_decay_ >= 0, comm_, PETSC_ERR_USER_INPUT,
             "-train_time_smoothness, -train_clip and -train_weight_decay must be non-negative");
  PetscCheck(chunk_ >= 0, comm_, PETSC_ERR_USER_INPUT, "-train_chunk must be non-negative, got %" PetscInt_FMT, chunk_);
  PetscCall(train_.Load(comm_, data_path_, "-data"));
  has_test_ = !test_path_.empty();
  if (has_test_) PetscCall(test_.Load(comm_, test_path_, "-data_test"));
  PetscCheck(!has_test_ || (test_.Images() == train_.Images() && test_.Labels() == train_.Labels()), comm_, PETSC_ERR_USER_INPUT,
             "-data_test file '%s' holds other kinds of data than the -data file '%s'", test_path_.c_str(), data_path_.c_str());
  if (batch_ == 0 || TaoSelected()) batch_ = train_.Size();  // TAO: full batch
  PetscCheck(batch_ > 0 && batch_ <= train_.Size(), comm_, PETSC_ERR_USER_INPUT,
             "-train_batch %" PetscInt_FMT " is larger than the -data file '%s' (%" PetscInt_FMT " samples)", batch_, data_path_.c_str(),
             train_.Size());
  PetscCall(OnEveryRank(comm_, [&] { return SetUpControls(); }));
  const std::vector<PetscInt> classifier = ImageClassifier(problem_.GetControls());
  PetscCheck(train_.Images() == !classifier.empty(), comm_, PETSC_ERR_USER_INPUT,
             train_.Images() ? "the -data file '%s' holds /images, which need controls with a vision Transformer's /vit group or a convolutional "
                               "one's /cvt group (%s has neither)"
                             : "the -data file '%s' holds /inputs, but the controls (%s) embed images (/vit or /cvt)",
             data_path_.c_str(), problem_.GetControls().Description().c_str());
  if (!classifier.empty()) {
    for (const Dataset *d : {&train_, &test_})
      if (d == &train_ || has_test_) {
        PetscCall(d->CheckShapes(comm_, {classifier[0], classifier[1], classifier[2]}, {},
                                 problem_.GetControls().Vit() ? "(channels, image_height, image_width of /vit)"
                                                              : "(channels of /cvt/embedding_W, image_height, image_width of /cvt)"));
        if (d->Labels()) PetscCall(d->CheckLabels(comm_, classifier[3]));
      }
    PetscCheck(train_.Labels(), comm_, PETSC_ERR_USER_INPUT, "an image classifier is trained on /labels; the -data file '%s' has /targets",
               data_path_.c_str());
  }
  const CvtProcessing *cvt = problem_.GetControls().Cvt();
  PetscCheck(!cvt || cvt->head == CvtHead::kClassToken, comm_, PETSC_ERR_USER_INPUT,
             "the controls (%s) read the logits from the pixel means (/cvt head = pixel_mean), which do not depend on the image: every layer "
             "ends with the layer norm of eq. (22), which sets each token's pixel mean to σ1; train a model with head = class_token",
             problem_.GetControls().Description().c_str());
  if (cvt)  // a CvT's Problem embeds each image itself (Samples), so that its adjoint reaches the embedding
    problem_.GetInitialState().SetImageValues(
        std::vector<PetscReal>(train_.Input(0), train_.Input(0) + classifier[0] * classifier[1] * classifier[2]),
        "an image of the -data file '" + data_path_ + "'");
  if (!train_.Images()) {
    const std::vector<PetscInt> &s = train_.InputShape();
    problem_.GetInitialState().SetValues(std::vector<PetscReal>(train_.Input(0), train_.Input(0) + s[0] * s[1]), s[0], s[1],
                                         "the samples of the -data file '" + data_path_ + "'");
  }
  {
    auto loss = std::make_unique<SampleLoss>(PETSC_COMM_SELF);
    if (train_.Labels()) loss->SetLabel(0);
    else loss->SetTarget(train_.Target(0));
    loss_ = loss.get();
    PetscCall(problem_.SetLoss(std::move(loss)));
  }
  problem_.SetAdjoint(true);
  PetscCall(OnEveryRank(comm_, [&] { return problem_.SetUp(); }));
  const Grid &grid = problem_.GetGrid();
  if (classifier.empty()) {
    for (const Dataset *d : {&train_, &test_})
      if (d == &train_ || has_test_) PetscCall(d->CheckShapes(comm_, {grid.Nx(), grid.Ny()}, {grid.Nx(), grid.Ny()}, "(N_x, N_y)"));
    PetscCheck(!train_.Labels(), comm_, PETSC_ERR_USER_INPUT, "/labels need a classification head (controls with /vit or /cvt)");
  }
  PetscCall(VecDuplicate(problem_.State(), embedded_.Out()));
  {  // samples per solve
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(comm_, &size));
    chunk_note_ = NotBatchable();
    PetscCheck(chunk_ <= 1 || chunk_note_.empty(), comm_, PETSC_ERR_USER_INPUT,
               "-train_chunk %" PetscInt_FMT " cannot batch samples: %s; use -train_chunk 1", chunk_, chunk_note_.c_str());
    chunk_used_ = !chunk_note_.empty() ? 1 : chunk_ ? chunk_ : std::clamp<PetscInt>((batch_ + size - 1) / size, 1, 128);
    if (!chunk_note_.empty()) PetscCall(PetscInfo(nullptr, "training one sample at a time: %s\n", chunk_note_.c_str()));
  }
  // θ, flat, and where each array lives in it.
  PetscCall(problem_.GetControls().GetParameters(&theta_arrays_));
  PetscCheck(!theta_arrays_.Empty(), comm_, PETSC_ERR_USER_INPUT, "the controls (%s) have no parameters to train",
             problem_.GetControls().Description().c_str());
  PetscCallCXX(theta_.assign(theta_arrays_.Values(), theta_arrays_.Values() + theta_arrays_.Size()));
  theta_arrays_.SetStorage(theta_.data());
  for (const ControlsArray &a : theta_arrays_.Arrays()) offset_[a.name] = (size_t)(a.values.data() - theta_.data());
  PetscCall(SetUpSmoothness());
  if (restart_) {  // read into θ
    TrainingState state{0, optimizer_ ? optimizer_->State() : decltype(optimizer_->State()){}, &history_};
    PetscCall(CheckpointRead(comm_, checkpoint_path_, &theta_arrays_, &state));
    first_epoch_ = state.epoch;
    PetscCall(SetParameters(theta_));
  }
  PetscCall(frozen_.SetUp(comm_, theta_arrays_));
  if (optimizer_) optimizer_->SetWeightDecay(weight_decay_);
  if (TaoSelected()) PetscCall(SetUpTao());
  InputFiles inputs = problem_.Inputs();
  PetscCallCXX(inputs.push_back({"-data", data_path_}));
  if (!test_path_.empty()) PetscCallCXX(inputs.push_back({"-data_test", test_path_}));
  OutputFiles outputs;
  for (const auto &[option, path] : {std::pair<const char *, const std::string &>{"-train_out", out_path_},
                                     {"-train_history", history_path_},
                                     {"-train_test_logits", logits_path_},
                                     {"-train_checkpoint", checkpoint_path_}})
    if (!path.empty()) PetscCallCXX(outputs.push_back({option, path}));
  PetscCall(CheckDistinctOutputs(comm_, outputs));
  PetscCheck(checkpoint_path_.empty() || checkpoint_every_ || restart_, comm_, PETSC_ERR_USER_INPUT,
             "-train_checkpoint '%s' is written every -train_checkpoint_every k epochs (or read by -train_restart): give one of them",
             checkpoint_path_.c_str());
  if (!history_path_.empty()) PetscCall(CheckWritableFile(comm_, history_path_, "-train_history", kHdf5Signature, inputs));
  if (!logits_path_.empty()) PetscCall(CheckWritableFile(comm_, logits_path_, "-train_test_logits", kHdf5Signature, inputs));
  if (!checkpoint_path_.empty() && checkpoint_every_) {  // a restart reads the checkpoint it goes on writing
    InputFiles others;
    for (const auto &input : inputs)
      if (!(restart_ && SameFile(input.second, checkpoint_path_))) PetscCallCXX(others.push_back(input));
    PetscCall(CheckWritableFile(comm_, checkpoint_path_, "-train_checkpoint", kHdf5Signature, others));
  }
  if (!out_path_.empty()) PetscCall(CheckWritableFile(comm_, out_path_, "-train_out", kHdf5Signature, inputs));
  PetscFunctionReturn(0);
}

std::string Trainer::NotBatchable() const {
  const Controls &controls = problem_.GetControls();
  if (!controls.SameOnEveryToken()) return "the controls (" + controls.Description() + ") are not the same on every token";
  if (controls.Stages() || controls.Cvt()) return "a staged or convolutional model";
  if (problem_.GetIntegrator().Adaptive()) return "adaptive time steps depend on the whole state";
  if (!problem_.GetIntegrator().SupportsSequences()) return "an operator couples the samples' tokens (e.g. -attention_materialise)";
  return "";
}

PetscErrorCode Trainer::SetUpSmoothness() {
  const Controls &controls = problem_.GetControls();
  std::vector<PetscReal> tau;  // the time each layer's parameters stand for: knots, or the layers' midpoints
  PetscFunctionBeginUser;
  pairs_.clear();
  if (smoothness_ == 0) PetscFunctionReturn(0);
  PetscCheck(!controls.Stages(), comm_, PETSC_ERR_SUP, "-train_time_smoothness is for controls with one time line of layers; %s has stages",
             controls.Description().c_str());
  if (const auto *pl = dynamic_cast<const PiecewiseLinearControls *>(&controls)) PetscCallCXX(tau = pl->KnotTimes());
  else {
    std::vector<PetscReal> t = {0};
    for (PetscReal b : controls.Breakpoints()) PetscCallCXX(t.push_back(b));
    PetscCallCXX(t.push_back(controls.EndTime()));
    for (size_t n = 0; n + 1 < t.size(); ++n) PetscCallCXX(tau.push_back((t[n] + t[n + 1]) / 2));
  }
  for (size_t n = 0; n + 1 < tau.size(); ++n) {
    const std::string now = "/layers/" + std::to_string(n) + "/", next = "/layers/" + std::to_string(n + 1) + "/";
    for (const ControlsArray &a : theta_arrays_.Arrays()) {
      if (a.name.compare(0, next.size(), next)) continue;
      const auto before = offset_.find(now + a.name.substr(next.size()));
      if (before == offset_.end()) continue;
      PetscCallCXX(pairs_.push_back({before->second, offset_[a.name], a.values.size(), 1 / (tau[n + 1] - tau[n])}));
    }
  }
  PetscFunctionReturn(0);
}

PetscReal Trainer::Smoothness(std::vector<PetscReal> *g) const {
  PetscReal penalty = 0;
  for (const SmoothnessPair &p : pairs_)
    for (size_t k = 0; k < p.size; ++k) {
      const PetscReal d = theta_[p.next + k] - theta_[p.now + k];
      penalty += smoothness_ * p.weight * d * d;
      if (g) {
        (*g)[p.next + k] += 2 * smoothness_ * p.weight * d;
        (*g)[p.now + k] -= 2 * smoothness_ * p.weight * d;
      }
    }
  return penalty;
}

PetscErrorCode Trainer::SetParameters(const std::vector<PetscReal> &theta) {
  PetscFunctionBeginUser;
  PetscCheck(theta.size() == theta_.size(), comm_, PETSC_ERR_ARG_SIZ, "SetParameters: %zu parameters given, the controls have %zu", theta.size(),
             theta_.size());
  if (&theta != &theta_) std::copy(theta.begin(), theta.end(), theta_.begin());
  theta_arrays_.SetStorage(theta_.data());  // θ's vector may have been assigned to (TAO)
  ++theta_version_;                         // the Problems' controls follow when next used (Synchronise)
  PetscFunctionReturn(0);
}

std::vector<PetscInt> Trainer::EpochOrder(PetscInt epoch) const {
  std::vector<PetscInt> order(train_.Size());
  for (PetscInt i = 0; i < train_.Size(); ++i) order[i] = i;
  if (!shuffle_) return order;
  std::uint64_t x = (std::uint64_t)seed_ * 0x632be59bd9b4e019ull + (std::uint64_t)epoch;
  for (PetscInt i = train_.Size() - 1; i > 0; --i) {  // Fisher–Yates
    const PetscInt j = (PetscInt)((PetscReal)(Next(&x) >> 11) * 0x1.0p-53 * (PetscReal)(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

PetscErrorCode Trainer::ChunkProblem(PetscInt n, Problem **p, SampleLoss **loss) {
  const Grid &grid = problem_.GetGrid();
  ChunkSolver &c = chunks_[n];
  PetscFunctionBeginUser;
  if (!c.problem) {
    PetscCallCXX(c.problem = std::make_unique<Problem>(PETSC_COMM_SELF));
    Problem &q = *c.problem;
    PetscCall(q.SetFromOptions());
    q.GetTrajectory().SetPath("none");
    PetscCall(q.SetControlsFile(problem_.ControlsFile()));
    PetscCall(q.GetControls().SetFromOptions());
    PetscCall(q.GetGrid().SetSequences(n));
    q.GetInitialState().SetValues(std::vector<PetscReal>(n * grid.Nx() * grid.Ny(), 0.0), grid.Nx(), grid.Ny(), "a chunk of training samples");
    auto l = std::make_unique<SampleLoss>(PETSC_COMM_SELF);
    if (train_.Labels()) l->SetLabels(std::vector<PetscInt>(n, 0));
    else l->SetTarget(nullptr);
    c.loss = l.get();
    PetscCall(q.SetLoss(std::move(l)));
    q.SetAdjoint(true);
    PetscCall(q.SetUp());
  }
  PetscCall(Synchronise(*c.problem, &c.version));
  *p = c.problem.get(), *loss = c.loss;
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::Synchronise(Problem &p, PetscInt *version) {
  PetscFunctionBeginUser;
  if (*version != theta_version_) PetscCall(p.GetControls().SetParameters(theta_arrays_));
  *version = theta_version_;
  PetscFunctionReturn(0);
}

// Samples idx[0 … n) as one state of n sequences (n = 1: problem_ itself).
PetscErrorCode Trainer::Samples(const Dataset &d, const PetscInt *idx, PetscInt n, PetscReal *loss, PetscReal *correct, PetscReal *g, bool first) {
  const Grid &grid = problem_.GetGrid();  // one sample's: the embedding's
  const PetscInt Nx = grid.Nx(), Ny = grid.Ny(), rows = Nx * Ny;
  Problem *p = &problem_;
  SampleLoss *sl = loss_;
  PetscFunctionBeginUser;
  if (n > 1) PetscCall(ChunkProblem(n, &p, &sl));
  else PetscCall(Synchronise(problem_, &problem_version_));
  const VitProcessing *vit = p->GetControls().Vit();
  const CvtProcessing *cvt = p->GetControls().Cvt();
  PetscCallCXX(values_.resize(n * rows));
  if (cvt) {  // one image per solve (NotBatchable): the Problem embeds it and applies the head, and Problem::Adjoint their transposes
    PetscCheck(n == 1, PETSC_COMM_SELF, PETSC_ERR_PLIB, "a convolutional Transformer is trained one image at a time");
    const PetscReal *image = d.Input(idx[0]);
    p->GetInitialState().SetImageValues(std::vector<PetscReal>(image, image + cvt->channels * cvt->height * cvt->width), "a training image");
    sl->SetLabel(d.Label(idx[0]));
  } else if (vit) {
    PetscCallCXX(labels_.resize(n));
    for (PetscInt j = 0; j < n; ++j) {  // the embedding F, sample by sample on the one-sample grid
      const PetscScalar *a;
      PetscCallCXX(image_.assign(d.Input(idx[j]), d.Input(idx[j]) + vit->channels * vit->height * vit->width));
      PetscCall(EmbedImage(grid, *vit, image_, embedded_));
      PetscCall(VecGetArrayRead(embedded_, &a));
      std::copy_n(a, rows, &values_[j * rows]);
      PetscCall(VecRestoreArrayRead(embedded_, &a));
      labels_[j] = d.Label(idx[j]);
    }
    sl->SetLabels(labels_);
  } else {
    for (PetscInt j = 0; j < n; ++j) std::copy_n(d.Input(idx[j]), rows, &values_[j * rows]);
    if (n == 1) sl->SetTarget(d.Target(idx[0]));
    else {
      PetscCallCXX(targets_.resize(n * rows));
      for (PetscInt j = 0; j < n; ++j) std::copy_n(d.Target(idx[j]), rows, &targets_[j * rows]);
      sl->SetTarget(targets_.data());
    }
  }
  if (!cvt) p->GetInitialState().SetValues(std::move(values_), Nx, Ny, n == 1 ? "a training sample" : "a chunk of training samples");
  PetscCall(p->Solve());
  *loss += p->LossValue();
  if (vit || cvt) {
    const std::vector<PetscReal> &z = sl->Logits();
    const PetscInt C = vit ? vit->classes : cvt->classes;
    for (PetscInt j = 0; j < n; ++j) {
      const PetscReal *zj = &z[j * C];
      *correct += (PetscInt)(std::max_element(zj, zj + C) - zj) == d.Label(idx[j]) ? 1 : 0;
      if (logits_out_) std::copy_n(zj, C, logits_out_->begin() + idx[j] * C);
    }
  }
  if (!g) PetscFunctionReturn(0);
  // ∂ℓ/∂θ added to g in place, in θ's layout (the Problem's controls have θ's arrays); the first chunk's onto zeros.
  if (first) std::fill_n(g, theta_.size(), 0.0);
  PetscCall(p->SolveAdjoint(g, theta_.size()));
  if (vit) {  // the embedding F (per sample) and the head G, outside the Problem's adjoint
    VitProcessing dvit;
    for (PetscInt j = 0; j < n; ++j) {
      PetscCallCXX(image_.assign(d.Input(idx[j]), d.Input(idx[j]) + vit->channels * vit->height * vit->width));
      if (n == 1) PetscCall(EmbedImageTranspose(grid, *vit, image_, p->GradientState(), &dvit));
      else {  // sample j's rows of ∂L/∂u0 on the one-sample grid
        const PetscScalar *a;
        PetscScalar *e;
        PetscCall(VecGetArrayRead(p->GradientState(), &a));
        PetscCall(VecGetArrayWrite(embedded_, &e));
        std::copy_n(&a[j * rows], rows, e);
        PetscCall(VecRestoreArrayWrite(embedded_, &e));
        PetscCall(VecRestoreArrayRead(p->GradientState(), &a));
        PetscCall(EmbedImageTranspose(grid, *vit, image_, embedded_, &dvit));
      }
    }
    const VitProcessing &head = sl->HeadGradient();
    const std::pair<const char *, const std::vector<PetscReal> *> parts[] = {
        {"/vit/patch_embedding", &dvit.patch_embedding},       {"/vit/patch_bias", &dvit.patch_bias},   {"/vit/class_token", &dvit.class_token},
        {"/vit/position_embedding", &dvit.position_embedding}, {"/vit/head_weight", &head.head_weight}, {"/vit/head_bias", &head.head_bias}};
    for (const auto &[name, v] : parts) {
      PetscReal *ga = g + offset_.at(name);
      for (size_t k = 0; k < v->size(); ++k) ga[k] += (*v)[k];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::LocalSums(const Dataset &d, const std::vector<PetscInt> &batch, std::vector<PetscReal> *sums, bool gradient,
                                  PetscErrorCode *ierr) {
  PetscMPIInt rank, size;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  PetscCallMPI(MPI_Comm_size(comm_, &size));
  const size_t b = batch.size(), lo = b * rank / size, hi = b * (rank + 1) / size, n = gradient ? theta_.size() : 0;
  PetscReal *s = sums->data();
  s[n] = s[n + 1] = 0;
  if (lo == hi) std::fill_n(s, n, 0.0);  // no samples on this rank
  PetscCall(Locally(
      [&] {
        PetscErrorCode e = 0;
        for (size_t k = lo; k < hi && !e; k += chunk_used_)
          e = Samples(d, &batch[k], (PetscInt)std::min(hi - k, (size_t)chunk_used_), s + n, s + n + 1, gradient ? s : nullptr, k == lo);
        return e;
      },
      ierr));
  PetscFunctionReturn(0);
}

// -log_view events of a step's parts outside the solves: the gradient's allreduce and the parameters' update.
static PetscLogEvent TRAIN_ALLREDUCE_EVENT = 0, TRAIN_UPDATE_EVENT = 0;

static PetscErrorCode RegisterTrainingEvents() {
  PetscFunctionBeginUser;
  if (!TRAIN_ALLREDUCE_EVENT) PetscCall(PetscLogEventRegister("TrainAllreduce", 0, &TRAIN_ALLREDUCE_EVENT));
  if (!TRAIN_UPDATE_EVENT) PetscCall(PetscLogEventRegister("TrainUpdate", 0, &TRAIN_UPDATE_EVENT));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::Objective(const Dataset &d, const std::vector<PetscInt> &batch, PetscReal *loss, PetscReal *correct,
                                  std::vector<PetscReal> *g, PetscReal *gnorm) {
  const size_t n = g ? theta_.size() : 0;
  std::vector<PetscReal> &sums = sums_;  // kept between steps: θ-sized
  PetscFunctionBeginUser;
  PetscCall(RegisterTrainingEvents());
  PetscErrorCode local;
  PetscCallCXX(sums.resize(n + 3));
  PetscCall(LocalSums(d, batch, &sums, g != nullptr, &local));
  sums[n + 2] = local ? 1 : 0;  // failed ranks, summed with the rest: one collective when all went well
  PetscCall(PetscLogEventBegin(TRAIN_ALLREDUCE_EVENT, 0, 0, 0, 0));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sums.data(), (int)sums.size(), MPIU_REAL, MPIU_SUM, comm_));
  PetscCall(PetscLogEventEnd(TRAIN_ALLREDUCE_EVENT, 0, 0, 0, 0));
  if (sums[n + 2] != 0) PetscCall(CheckAllRanks(comm_, local));
  const PetscReal b = (PetscReal)batch.size();
  *loss = sums[n] / b;
  *correct = sums[n + 1];
  PetscReal norm2 = 0;
  if (g) {
    PetscCallCXX(g->resize(n));
    norm2 = BatchMean(n, sums.data(), b, g->data());
  }
  *loss += Smoothness(g);
  if (g) frozen_.Mask(g);
  if (g && gnorm) *gnorm = std::sqrt(pairs_.empty() && frozen_.Empty() ? norm2 : SumOfSquares(n, g->data()));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::Evaluate(const Dataset &d, PetscReal *loss, PetscReal *accuracy) {
  std::vector<PetscInt> all(d.Size());
  PetscReal correct;
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < d.Size(); ++i) all[i] = i;
  PetscCall(Objective(d, all, loss, &correct, nullptr));
  *accuracy = d.Labels() ? correct / (PetscReal)d.Size() : NAN;
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::Logits(const Dataset &d, const std::vector<PetscInt> &batch, std::vector<PetscReal> *z) {
  const std::vector<PetscInt> classifier = ImageClassifier(problem_.GetControls());
  PetscReal loss, correct;
  PetscFunctionBeginUser;
  PetscCheck(!classifier.empty() && d.Labels(), comm_, PETSC_ERR_ARG_WRONG, "logits need an image classifier and labels");
  PetscCallCXX(z->assign(d.Size() * classifier[3], 0.0));
  logits_out_ = z;
  const PetscErrorCode ierr = Objective(d, batch, &loss, &correct, nullptr);
  logits_out_ = nullptr;
  PetscCall(ierr);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, z->data(), (int)z->size(), MPIU_REAL, MPIU_SUM, comm_));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::RecordEpoch(PetscInt epoch, PetscReal train_loss, PetscReal train_correct, PetscReal gnorm, PetscReal lr, PetscReal seconds) {
  PetscReal test_loss = NAN, test_accuracy = NAN;
  PetscFunctionBeginUser;
  PetscCheck(std::isfinite(train_loss) && std::isfinite(gnorm), comm_, PETSC_ERR_FP,
             "the training loss became non-finite in epoch %" PetscInt_FMT " (loss %g, gradient norm %g); stopped%s%s", epoch, (double)train_loss,
             (double)gnorm, checkpoint_path_.empty() ? "" : ", the last good checkpoint is kept in ", checkpoint_path_.c_str());
  if (has_test_) PetscCall(Evaluate(test_, &test_loss, &test_accuracy));
  history_["epoch"].push_back((PetscReal)epoch);
  history_["train_loss"].push_back(train_loss);
  if (train_.Labels()) history_["train_accuracy"].push_back(train_correct / (PetscReal)train_.Size());
  if (has_test_) {
    history_["test_loss"].push_back(test_loss);
    if (test_.Labels()) history_["test_accuracy"].push_back(test_accuracy);
  }
  history_["gradient_norm"].push_back(gnorm);
  history_["learning_rate"].push_back(lr);
  history_["seconds"].push_back(seconds);
  std::string test = has_test_ ? "  test loss " + std::to_string(test_loss) : "";
  if (has_test_ && test_.Labels()) test += "  test accuracy " + std::to_string(test_accuracy);
  PetscCall(PetscPrintf(comm_, "epoch %" PetscInt_FMT ": train loss %.6e%s  |g| %.3e  lr %.3e  %.2f s\n", epoch, (double)train_loss, test.c_str(),
                        (double)gnorm, (double)lr, (double)seconds));
  if (!history_path_.empty()) PetscCall(HistoryWrite(comm_, history_path_, history_));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::SaveCheckpoint(PetscInt epoch) {
  PetscFunctionBeginUser;
  TrainingState state{epoch, optimizer_ ? optimizer_->State() : decltype(optimizer_->State()){}, &history_};
  TrainingRecord record;
  PetscCall(TrainingRecordGet(history_, &record));
  PetscCall(ControlsFileWrite(comm_, controls_source_, theta_arrays_, checkpoint_path_, record, &state));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::TrainMiniBatch() {
  const PetscInt B = train_.Size(), steps = (B + batch_ - 1) / batch_, total = steps * epochs_;
  std::vector<PetscReal> g;
  PetscFunctionBeginUser;
  for (PetscInt epoch = first_epoch_; epoch < epochs_; ++epoch) {
    const PetscReal start = MPI_Wtime();
    const std::vector<PetscInt> order = EpochOrder(epoch);
    PetscReal loss_sum = 0, correct_sum = 0, gnorm = 0, lr = 0;
    for (PetscInt s = 0; s < steps; ++s) {
      const std::vector<PetscInt> batch(order.begin() + s * batch_, order.begin() + std::min(B, (s + 1) * batch_));
      PetscReal loss, correct;
      lr = schedule_.At(epoch * steps + s, total, epoch);
      PetscCall(Objective(train_, batch, &loss, &correct, &g, &gnorm));
      PetscCheck(std::isfinite(loss) && std::isfinite(gnorm), comm_, PETSC_ERR_FP,
                 "the training loss or its gradient became non-finite in epoch %" PetscInt_FMT ", step %" PetscInt_FMT
                 " (loss %g, gradient norm %g); stopped%s%s",
                 epoch, s, (double)loss, (double)gnorm, checkpoint_path_.empty() ? "" : ", the last good checkpoint is kept in ",
                 checkpoint_path_.c_str());
      if (clip_ > 0 && gnorm > clip_)  // torch.nn.utils.clip_grad_norm_
        for (PetscReal &x : g) x *= clip_ / (gnorm + 1e-6);
      PetscCall(PetscLogEventBegin(TRAIN_UPDATE_EVENT, 0, 0, 0, 0));
      PetscCall(optimizer_->Step(lr, g, &theta_));
      frozen_.Restore(&theta_);
      PetscCall(SetParameters(theta_));
      PetscCall(PetscLogEventEnd(TRAIN_UPDATE_EVENT, 0, 0, 0, 0));
      loss_sum += loss * (PetscReal)batch.size();
      correct_sum += correct;
    }
    PetscCall(RecordEpoch(epoch, loss_sum / (PetscReal)B, correct_sum, gnorm, lr, MPI_Wtime() - start));
    if (checkpoint_every_ && (epoch + 1) % checkpoint_every_ == 0) PetscCall(SaveCheckpoint(epoch + 1));
  }
  PetscFunctionReturn(0);
}

// The test set's logits, loss and accuracy at the current parameters (rank 0 writes; the rows are summed over the ranks).
PetscErrorCode Trainer::WriteTestLogits() {
  PetscReal loss, accuracy;
  std::vector<PetscReal> logits;
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCheck(has_test_ && test_.Labels(), comm_, PETSC_ERR_USER_INPUT, "-train_test_logits needs a labelled -data_test set");
  PetscCallCXX(logits.assign(test_.Size() * ImageClassifier(problem_.GetControls())[3], 0.0));
  logits_out_ = &logits;
  const PetscErrorCode ierr = Evaluate(test_, &loss, &accuracy);
  logits_out_ = nullptr;
  PetscCall(ierr);
  PetscCallMPI(MPI_Comm_rank(comm_, &rank));
  PetscCallMPI(MPI_Reduce(rank ? logits.data() : MPI_IN_PLACE, logits.data(), (int)logits.size(), MPIU_REAL, MPIU_SUM, 0, comm_));
  PetscCall(PetscPrintf(comm_, "test loss %.10e, test accuracy %.6f (Δt = %g)\n", (double)loss, (double)accuracy,
                        (double)problem_.GetIntegrator().TimeStep()));
  if (rank == 0) {
    const std::string part = logits_path_ + ".part";
    hid_t file = H5Fcreate(part.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {(hsize_t)test_.Size(), (hsize_t)(logits.size() / test_.Size())};
    std::vector<long long> labels(test_.Size());
    for (PetscInt i = 0; i < test_.Size(); ++i) labels[i] = test_.Label(i);
    hid_t space = H5Screate_simple(2, dims, nullptr), lspace = H5Screate_simple(1, dims, nullptr);
    hid_t ds = file >= 0 ? H5Dcreate2(file, "logits", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    hid_t ls = file >= 0 ? H5Dcreate2(file, "labels", H5T_STD_I64LE, lspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = ds >= 0 && ls >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, logits.data()) >= 0 &&
         H5Dwrite(ls, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()) >= 0;
    const std::pair<const char *, PetscReal> attrs[] = {
        {"test_loss", loss}, {"test_accuracy", accuracy}, {"dt", problem_.GetIntegrator().TimeStep()}};
    for (const auto &[name, value] : attrs) ok = ok && H5AttributeWrite(file, "/", name, value);
    if (ls >= 0) H5Dclose(ls);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(space), H5Sclose(lspace);
    if (file >= 0) ok = H5Fclose(file) >= 0 && ok;
    ok = ok && std::rename(part.c_str(), logits_path_.c_str()) == 0;
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  PetscCheck(ok, comm_, PETSC_ERR_FILE_WRITE, "cannot write the -train_test_logits file '%s'", logits_path_.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::Train() {
  PetscFunctionBeginUser;
  static PetscLogStage stage = -1;
  if (stage < 0) PetscCall(PetscLogStageRegister("Training", &stage));
  PetscCall(PetscLogStagePush(stage));
  const std::string chunk = !chunk_note_.empty() ? "one sample per solve (" + chunk_note_ + ")"
                            : chunk_used_ == 1   ? "one sample per solve"
                                                 : "up to " + std::to_string(chunk_used_) + " samples per solve";
  PetscCall(PetscPrintf(comm_, "training %s on %s (%" PetscInt_FMT " samples%s), %zu parameters, %s, batch %" PetscInt_FMT ", %s, %s\n",
                        problem_.GetControls().Description().c_str(), data_path_.c_str(), train_.Size(),
                        has_test_ ? (", test " + test_path_).c_str() : "", theta_.size(), optimizer_ ? optimizer_->Description().c_str() : "tao",
                        batch_, schedule_.Description().c_str(), chunk.c_str()));
  if (!frozen_.Empty()) PetscCall(PetscPrintf(comm_, "frozen: %s\n", frozen_.Description().c_str()));
  if (TaoSelected()) PetscCall(TrainTao());
  else PetscCall(TrainMiniBatch());
  PetscCall(PetscLogStagePop());
  if (!out_path_.empty()) {
    TrainingRecord record;
    PetscCall(TrainingRecordGet(history_, &record));
    PetscCall(ControlsFileWrite(comm_, controls_source_, theta_arrays_, out_path_, record));
    PetscCall(PetscPrintf(comm_, "wrote the trained controls to %s\n", out_path_.c_str()));
  }
  if (!logits_path_.empty()) PetscCall(WriteTestLogits());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
