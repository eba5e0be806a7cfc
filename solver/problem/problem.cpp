#include "solver/problem/problem.hpp"

#include <cmath>
#include <cstring>

#include "discretization/analytic_controls.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/layered_controls.hpp"

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

PetscErrorCode Problem::SetControlsFile(const std::string &path) {
  PetscFunctionBeginUser;
  PetscCall(SetControlsType("layered"));
  static_cast<LayeredControls &>(*controls_).SetFile(path);
  controls_file_ = path;
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetControls(std::unique_ptr<Controls> controls) {
  PetscFunctionBeginUser;
  PetscCall(ReplaceControls(std::move(controls)));
  controls_type_ = "";
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::SetFromOptions() {
  char type[256], file[PETSC_MAX_PATH_LEN] = "";
  PetscBool type_set = PETSC_FALSE, file_set = PETSC_FALSE;
  PetscFunctionList types;
  PetscFunctionBeginUser;
  PetscCall(OptionsCheckSameOnAllRanks(comm_));
  PetscCall(OptionsCheckValueLengths(comm_));
  PetscCall(grid_.SetFromOptions());
  PetscCall(ControlsOptionsList(&types));
  PetscCall(PetscStrncpy(type, controls_type_.empty() ? "analytic" : controls_type_.c_str(), sizeof(type)));
  PetscOptionsBegin(comm_, nullptr, "Controls θ(t)", "Problem");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsFList("-controls_type", "Source of the controls (a registered name; -controls FILE selects layered)", "Problem", types, type,
                              type, sizeof(type), &type_set));
  PetscCall(PetscOptionsString("-controls", "Layered controls file (HDF5, docs/controls-format.md); default: analytic", "Problem", file, file,
                               sizeof(file), &file_set));
  PetscOptionsEnd();
  PetscCheck(!file_set || !type_set || !std::strcmp(type, "layered"), comm_, PETSC_ERR_USER_INPUT,
             "-controls FILE gives layered controls; it cannot be combined with -controls_type %s", type);
  if (file_set) PetscCall(SetControlsFile(file));
  else if (type_set && type != controls_type_) PetscCall(SetControlsType(type));
  PetscCall(controls_->SetFromOptions());
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
  PetscCall(PetscObjectSetName((PetscObject)u_.Get(), "u"));
  PetscCall(integrator_->SetUp(u_));
  PetscCheck(!(traj_.Restarting() && integrator_->Adaptive()), comm_, PETSC_ERR_USER_INPUT,
             "-restart cannot continue a -dt_adapt run (the trajectory does not hold the step-size controller's state); run it again, "
             "or replay a finished run's -dt_adapt_save steps with -dt_schedule file:FILE");
  const InputFiles inputs = Inputs();
  const std::string &save = integrator_->Adapt().SaveFile();
  for (const auto &[option, input] : inputs)
    PetscCheck(save.empty() || !SameFile(save, input), comm_, PETSC_ERR_USER_INPUT, "-dt_adapt_save '%s' is this run's %s file", save.c_str(),
               option.c_str());
  if (traj_.Enabled()) {
    PetscCall(traj_.CheckWritable(inputs));
    PetscCall(traj_.SetUp(grid_, *controls_, integrator_->Scheme(), integrator_->HasOperator("attention")));
  }
  PetscFunctionReturn(0);
}

InputFiles Problem::Inputs() const {
  InputFiles inputs;
  if (!controls_file_.empty()) inputs.push_back({"-controls", controls_file_});
  if (!initial_.File().empty()) inputs.push_back({initial_.FileOption(), initial_.File()});
  if (!integrator_->ScheduleFile().empty()) inputs.push_back({"-dt_schedule file:", integrator_->ScheduleFile()});
  return inputs;
}

PetscErrorCode Problem::View(PetscViewer viewer) const {
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "ctflow %s: controls %s, initial state %s\n", CTFLOW_VERSION, controls_->Description().c_str(),
                                   initial_.Description().c_str()));
  PetscCall(grid_.View(viewer));
  PetscCall(integrator_->View(viewer));
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::Solve(const Monitor &monitor) {
  Integrator &integrator = *integrator_;
  PetscFunctionBeginUser;
  PetscCheck(u_, comm_, PETSC_ERR_ORDER, "Problem::SetUp must come before Solve");
  PetscCall(initial_.Fill(grid_, u_));
  const TrajectoryWriter::Metadata meta = {integrator.Scheme(), controls_->Description(), initial_.Description(), integrator.FinalTime(),
                                           integrator.TimeStep()};
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
  PetscCall(integrator.Solve(
      u_,
      [&](PetscInt step, PetscReal t, Vec v) {
        PetscFunctionBeginUser;
        PetscCall(traj_.Write(step, t, v, integrator.IsFinalTime(t)));
        if (monitor) PetscCall(monitor(step, t, v));
        PetscFunctionReturn(0);
      },
      first_step_));
  logits_.clear();
  if (initial_.Embedded()) {  // a vision Transformer: the post-processing G of §4.2
    PetscCall(ClassTokenLogits(grid_, *controls_->Vit(), u_, &logits_));
    PetscCall(traj_.WriteArray("/logits", logits_));
  }
  PetscCall(traj_.Close());
  PetscFunctionReturn(0);
}

PetscErrorCode Problem::StateNorm(PetscReal *norm) const {
  PetscFunctionBeginUser;
  PetscCall(VecNorm(u_, NORM_2, norm));
  *norm *= std::sqrt(grid_.dx() * grid_.dy());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
