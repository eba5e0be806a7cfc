#include "solver/problem/problem.hpp"

#include <cmath>
#include <cstring>

#include "discretization/analytic_controls.hpp"
#include "discretization/base/mpi_transport.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/layered_controls.hpp"
#include "discretization/layered_convolution_controls.hpp"
#include "discretization/piecewise_linear_controls.hpp"
#include "operators/blas_kernels.hpp"
#include "operators/gemm.hpp"
#include "solver/adjoint/gradient_file.hpp"

namespace ctflow {

Problem::Problem(MPI_Comm comm) : comm_(comm), grid_(comm), traj_(comm) {
  controls_ = std::make_unique<AnalyticControls>(comm);
  integrator_ = std::make_unique<Integrator>(grid_, *controls_);
}

PetscErrorCode Problem::ReplaceControls(std::unique_ptr<Controls> controls) {
  PetscFunctionBeginUser;
  integrator_->SetControls(*controls);
  controls_ = std::move(controls);
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetControlsType(const std::string &type) {
  std::unique_ptr<Controls> controls;
  PetscFunctionBeginUser;
  PetscCall(ControlsCreate(comm_, type, &controls));
  PetscCall(ReplaceControls(std::move(controls)));
  controls_type_ = type;
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetControlsFile(const std::string &path, const std::string &type) {
  std::string t = type;
  PetscFunctionBeginUser;
  if (t.empty()) PetscCall(ControlsFileType(comm_, path, &t));
  PetscCheck(t == "layered" || t == "piecewise_linear" || t == "cvt", comm_, PETSC_ERR_USER_INPUT,
             "-controls FILE gives controls read from a file (layered, piecewise_linear or cvt); it cannot be combined with -controls_type %s",
             t.c_str());
  PetscCall(SetControlsType(t));
  if (t == "cvt") static_cast<LayeredConvolutionControls &>(*controls_).SetFile(path);
  else static_cast<LayeredControls &>(*controls_).SetFile(path);  // piecewise_linear: the layers are its knots
  controls_file_ = path;
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetControls(std::unique_ptr<Controls> controls) {
  PetscFunctionBeginUser;
  PetscCall(ReplaceControls(std::move(controls)));
  controls_type_ = "";
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetLoss(const std::string &type) {
  std::unique_ptr<Loss> loss;
  PetscFunctionBeginUser;
  PetscCall(LossCreate(comm_, type, &loss));
  loss_ = std::move(loss);
  loss_type_ = type;
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetLoss(std::unique_ptr<Loss> loss) {
  loss_ = std::move(loss);
  loss_type_.clear();
  return 0;
}

PetscErrorCode Problem::SetFromOptions() {
  char type[256], file[PETSC_MAX_PATH_LEN] = "", loss[256], gradient[PETSC_MAX_PATH_LEN];
  PetscBool type_set = PETSC_FALSE, file_set = PETSC_FALSE, loss_set = PETSC_FALSE, gradient_set = PETSC_FALSE;
  PetscFunctionList types, losses;
  PetscFunctionBeginUser;
  PetscCall(OptionsCheckSameOnAllRanks(comm_));
  PetscCall(OptionsCheckValueLengths(comm_));
  PetscCall(grid_.SetFromOptions());
  PetscCall(ControlsOptionsList(&types));
  PetscCall(PetscStrncpy(type, controls_type_.empty() ? "analytic" : controls_type_.c_str(), sizeof(type)));
  PetscOptionsBegin(comm_, nullptr, "Controls θ(t)", "Problem");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsFList("-controls_type",
                              "Source of the controls (a registered name; -controls FILE selects the file's: layered, piecewise_linear or cvt)",
                              "Problem", types, type, type, sizeof(type), &type_set));
  PetscCall(PetscOptionsString("-controls",
                               "Controls file (HDF5, docs/controls-format.md: layered, piecewise-linear or convolutional); default: analytic",
                               "Problem", file, file, sizeof(file), &file_set));
  PetscOptionsEnd();
  if (file_set) PetscCall(SetControlsFile(file, type_set ? type : ""));
  else if (type_set && type != controls_type_) PetscCall(SetControlsType(type));
  PetscCall(controls_->SetFromOptions());
  PetscCall(GemmSetFromOptions(comm_));
  PetscCall(BlasViewFromOptions(comm_));
  PetscCall(MpiTransportViewFromOptions(comm_));
  PetscCall(LossOptionsList(&losses));
  PetscCall(PetscStrncpy(loss, loss_type_.c_str(), sizeof(loss)));
  PetscCall(PetscStrncpy(gradient, gradient_path_.c_str(), sizeof(gradient)));
  PetscOptionsBegin(comm_, nullptr, "The control problem: loss and gradient (docs/adjoint.md)", "Problem");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsFList("-loss", "Loss of the final state (mse, cross_entropy)", "Problem", losses, loss, loss, sizeof(loss), &loss_set));
  PetscCall(PetscOptionsString("-gradient", "Write dL/du0 and dL/dθ by the discrete adjoint to this HDF5 file (needs -loss)", "Problem", gradient,
                               gradient, sizeof(gradient), &gradient_set));
  PetscCall(CtflowOptionsInt("-adjoint_checkpoints", "States kept for the adjoint (default: every step's; fewer: recomputed by a binomial schedule)",
                             "Problem", checkpoints_, &checkpoints_, nullptr));
  PetscOptionsEnd();
  if (loss_set) PetscCall(SetLoss(loss));
  if (gradient_set) SetGradientFile(gradient);
  if (loss_) PetscCall(loss_->SetFromOptions());
  PetscCall(initial_.SetFromOptions(comm_));
  PetscCall(integrator_->SetFromOptions());
  PetscCall(traj_.SetFromOptions());
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetUp() {
  PetscFunctionBeginUser;
  PetscCall(controls_->SetUp(&grid_));
  PetscCall(initial_.SetUp(&grid_, *controls_));
  PetscCall(grid_.SetUp());
  PetscCall(DMCreateGlobalVector(grid_.Layout(), u_.Out()));
  PetscCall(gradient_state_.Reset());  // the adjoint's storage follows u's layout and the controls' parameters
  gradient_ = ControlsArrays(), caller_gradient_ = ControlsArrays();
  PetscCall(PetscObjectSetName((PetscObject)u_.Get(), "u"));
  PetscCall(stages_.SetUp(*controls_, grid_, integrator_.get()));
  PetscCall(integrator_->SetUp(u_));
  PetscCheck(!(traj_.Restarting() && integrator_->Adaptive()), comm_, PETSC_ERR_USER_INPUT,
             "-restart cannot continue a -dt_adapt run (the trajectory does not hold the step-size controller's state); run it again, "
             "or replay a finished run's -dt_adapt_save steps with -dt_schedule file:FILE");
  PetscCheck(!(traj_.Restarting() && stages_.Staged()), comm_, PETSC_ERR_USER_INPUT,
             "-restart cannot continue a staged model's run (%s); run it again", controls_->Description().c_str());
  const InputFiles inputs = Inputs();
  PetscCall(CheckDistinctOutputs(comm_, Outputs()));
  const std::string &save = integrator_->Adapt().SaveFile();
  for (const auto &[option, input] : inputs)
    PetscCheck(save.empty() || !SameFile(save, input), comm_, PETSC_ERR_USER_INPUT, "-dt_adapt_save '%s' is this run's %s file", save.c_str(),
               option.c_str());
  if (traj_.Enabled()) {
    const bool attention = stages_.HasOperator("attention", *integrator_) || stages_.HasOperator("conv_attention", *integrator_);
    PetscCall(traj_.CheckWritable(inputs));
    PetscCall(traj_.SetUp(grid_, *controls_, Scheme(), attention));
  }
  PetscCall(integrator_->SetAdjoint(adjoint_, checkpoints_));
  PetscCall(stages_.SetAdjoint(adjoint_, checkpoints_));
  if (loss_) PetscCall(loss_->SetUp(FinalGrid(), *controls_));
  PetscCheck(!adjoint_ || loss_, comm_, PETSC_ERR_USER_INPUT,
             "-gradient needs a loss of the final state: -loss mse -target FILE or -loss cross_entropy -label k");
  PetscCheck(!adjoint_ || !traj_.Restarting(), comm_, PETSC_ERR_USER_INPUT, "-gradient cannot follow a -restart (the adjoint needs the whole run)");
  if (!gradient_path_.empty()) PetscCall(CheckWritableFile(comm_, gradient_path_, "-gradient", kHdf5Signature, Inputs()));
  PetscFunctionReturn(0);
}

InputFiles Problem::Inputs() const {
  InputFiles inputs;
  if (!controls_file_.empty()) inputs.push_back({"-controls", controls_file_});
  if (!initial_.File().empty()) inputs.push_back({initial_.FileOption(), initial_.File()});
  if (!integrator_->ScheduleFile().empty()) inputs.push_back({"-dt_schedule file:", integrator_->ScheduleFile()});
  if (loss_ && !loss_->InputFile().empty()) inputs.push_back({"-target", loss_->InputFile()});
  return inputs;
}

OutputFiles Problem::Outputs() const {
  OutputFiles outputs;
  if (traj_.Enabled()) {
    outputs.push_back({"-traj", traj_.Path()});
    for (const char *suffix : {"", "_substeps", "_attention"})  // the writer also removes the indexes it does not write
      outputs.push_back({"-traj (its XDMF index)", XdmfPathFor(traj_.Path(), suffix)});
  }
  if (!gradient_path_.empty()) outputs.push_back({"-gradient", gradient_path_});
  if (!integrator_->Adapt().SaveFile().empty()) outputs.push_back({"-dt_adapt_save", integrator_->Adapt().SaveFile()});
  return outputs;
}

PetscErrorCode Problem::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "ctflow %s: controls %s, initial state %s\n", CTFLOW_VERSION, controls_->Description().c_str(),
                                   initial_.Description().c_str()));
  if (stages_.Staged())
    PetscCall(PetscViewerASCIIPrintf(viewer, "Staged model: %" PetscInt_FMT " stages to T = %g; stage 0 on [0, %g]\n", stages_.Count(),
                                     (double)FinalTime(), (double)integrator_->FinalTime()));
  PetscCall(grid_.View(viewer));
  PetscCall(integrator_->View(viewer));
  PetscCall(stages_.View(viewer));
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::Solve(const Monitor &monitor) {
  Integrator &integrator = *integrator_;
  PetscFunctionBeginUser;
  PetscCheck(u_, comm_, PETSC_ERR_ORDER, "Problem::SetUp must come before Solve");
  PetscCall(initial_.Fill(grid_, u_));
  const TrajectoryWriter::Metadata meta = {Scheme(), controls_->Description(), initial_.Description(), FinalTime(), integrator.TimeStep()};
  first_step_ = 0;
  if (traj_.Substeps())
    integrator.SetSubstepMonitor({[this](const std::string &node, PetscReal t0, PetscReal t1, Vec v) { return traj_.Frame(node, t0, t1, v); },
                                  [this] { return traj_.DiscardFrames(); }});
  if (traj_.Restarting()) PetscCall(traj_.Resume(grid_, meta, integrator.NumSteps(), u_, &first_step_));
  else if (traj_.Enabled()) {
    PetscCall(traj_.Open(grid_, meta));
    PetscCall(traj_.Write(0, 0, u_, true));
  }
  if (first_step_) PetscCall(PetscPrintf(comm_, "restarting from step %" PetscInt_FMT " of %s\n", first_step_, traj_.Path().c_str()));
  const StageSequence::Monitor write = [&](PetscInt step, PetscReal t, Vec v, bool stage_end) {
    PetscFunctionBeginUser;
    PetscCall(traj_.Write(step, t, v, stage_end));  // the end of every stage is saved
    if (monitor) PetscCall(monitor(step, t, v));
    PetscFunctionReturn(0);
  };
  PetscCall(integrator.Solve(
      u_, [&](PetscInt step, PetscReal t, Vec v) { return write(step, t, v, integrator.IsFinalTime(t)); }, first_step_));
  PetscCall(stages_.Solve(u_, integrator.NumSteps(), &traj_, write));
  logits_.clear();
  if (initial_.Embedded() && controls_->Vit()) {  // a vision Transformer: the post-processing G of §4.2
    PetscCall(ClassTokenLogits(grid_, *controls_->Vit(), u_, &logits_));
    PetscCall(traj_.WriteArray("/logits", logits_));
  }
  if (initial_.Embedded() && controls_->Cvt()) {  // a convolutional one: G of §6.2 on the last stage
    PetscCall(CvtLogits(FinalGrid(), *controls_->Cvt(), State(), &logits_));
    PetscCall(traj_.WriteArray("/logits", logits_));
  }
  if (loss_) {
    std::vector<PetscReal> dLdz;
    PetscCall(EvaluateLoss(nullptr, &dLdz));
    PetscCall(traj_.WriteArray("/loss", {loss_value_}));
  }
  PetscCall(traj_.Close());
  PetscFunctionReturn(0);
}

// L at u(T) and the logits; with dLdu, ∂L/∂u(T) there.
PetscErrorCode Problem::EvaluateLoss(Vec dLdu, std::vector<PetscReal> *dLdz) {
  UniqueVec scratch;
  PetscFunctionBeginUser;
  if (!dLdu) {
    PetscCall(VecDuplicate(State(), scratch.Out()));
    dLdu = scratch;
  }
  PetscCall(loss_->Evaluate(State(), logits_, &loss_value_, dLdu, dLdz));
  PetscCheck(std::isfinite(loss_value_), comm_, PETSC_ERR_FP, "the loss is not finite (%g)", (double)loss_value_);
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SolveAdjoint() {
  PetscFunctionBeginUser;
  if (gradient_.Empty()) PetscCall(controls_->GetZeroParameters(&gradient_));
  else gradient_.SetZero();
  PetscCall(Adjoint(&gradient_, true));
  if (!gradient_path_.empty())
    PetscCall(
        GradientFileWrite(comm_, gradient_path_, gradient_, gradient_state_, grid_, {loss_value_, loss_->Description(), controls_->Description()}));
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SolveAdjoint(PetscReal *g, size_t n) {
  PetscFunctionBeginUser;
  if (caller_gradient_.Empty()) PetscCall(controls_->GetZeroParameters(&caller_gradient_));
  PetscCheck(caller_gradient_.Size() == n, comm_, PETSC_ERR_ARG_SIZ, "SolveAdjoint: %zu gradient entries given, the controls have %zu", n,
             caller_gradient_.Size());
  caller_gradient_.SetStorage(g);
  PetscCall(Adjoint(&caller_gradient_, false));
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::Adjoint(ControlsArrays *g, bool sum) {
  std::vector<PetscReal> dLdz;
  VitProcessing dvit;
  CvtProcessing dcvt;
  PetscFunctionBeginUser;
  PetscCheck(adjoint_ && loss_, comm_, PETSC_ERR_ORDER, "Problem::SolveAdjoint needs a loss and SetAdjoint (or -gradient) before SetUp");
  static PetscLogStage stage = -1;
  if (stage < 0) PetscCall(PetscLogStageRegister("Adjoint", &stage));
  PetscCall(PetscLogStagePush(stage));
  if (!gradient_state_) PetscCall(VecDuplicate(u_, gradient_state_.Out()));  // kept between solves (training)
  PetscCall(VecZeroEntries(gradient_state_));
  const Vec lambda = stages_.FinalAdjoint(gradient_state_);  // ∂L/∂u(T), on the last stage's grid
  PetscCall(EvaluateLoss(lambda, &dLdz));
  if (!dLdz.empty() && controls_->Vit()) PetscCall(ClassTokenLogitsTranspose(grid_, *controls_->Vit(), u_, dLdz, gradient_state_, &dvit));
  if (!dLdz.empty() && controls_->Cvt()) PetscCall(CvtLogitsTranspose(FinalGrid(), *controls_->Cvt(), State(), dLdz, lambda, &dcvt));
  PetscCall(stages_.SolveAdjoint(gradient_state_, g));
  PetscCall(integrator_->SolveAdjoint(gradient_state_, g));
  if (initial_.Embedded() && controls_->Vit()) PetscCall(initial_.EmbedTranspose(grid_, gradient_state_, &dvit));
  if (initial_.Embedded() && controls_->Cvt()) PetscCall(initial_.EmbedTranspose(grid_, gradient_state_, &dcvt));
  if (controls_->Vit()) PetscCall(controls_->AddVitGradient(dvit, g));
  if (controls_->Cvt()) PetscCall(controls_->AddCvtGradient(dcvt, g));
  if (sum) PetscCall(g->SumOverRanks(comm_));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::StateNorm(PetscReal *norm) const {
  PetscFunctionBeginUser;
  PetscCall(VecNorm(State(), NORM_2, norm));
  *norm *= std::sqrt(FinalGrid().dx() * FinalGrid().dy());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
