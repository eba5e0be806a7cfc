#include "solver/app/run_driver.hpp"

#include "discretization/base/option_checks.hpp"
#include "solver/app/train_driver.hpp"
#include "solver/problem/convergence_study.hpp"
#include "solver/problem/cost_estimate.hpp"
#include "solver/problem/problem.hpp"
#include "solver/training/trainer.hpp"

namespace ctflow {

PetscErrorCode CheckAllOptionsUsed(MPI_Comm comm) {
  PetscInt n;
  char **names, **values;
  std::string unused;
  PetscBool left;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsHasName(nullptr, nullptr, "-options_left", &left));  // read by PetscFinalize, after this check
  PetscCall(PetscOptionsLeftGet(nullptr, &n, &names, &values));
  for (PetscInt i = 0; i < n; ++i) PetscCallCXX(unused += std::string(unused.empty() ? "-" : ", -") + names[i]);
  PetscCall(PetscOptionsLeftRestore(nullptr, &n, &names, &values));
  PetscCheck(unused.empty(), comm, PETSC_ERR_USER_INPUT,
             "unknown option(s) %s (ctflow -help lists the options, with -train, -loss or -controls_type those of the mode)", unused.c_str());
  PetscFunctionReturn(0);
}

// -help lists what this run reads (PETSc's way: an object's options appear once it is configured); where the rest is.
static PetscErrorCode HelpOtherModes(MPI_Comm comm) {
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm,
                        "----------------------------------------\n"
                        "Options of the other modes and types, listed with them:\n"
                        "  -help -train -data FILE                 training: -train_*, -data*, -vit_* (with -train_optimizer sgd also "
                        "-train_momentum)\n"
                        "  -help -loss mse|cross_entropy           the loss: -target or -label\n"
                        "  -help -controls_type TYPE               a controls source's own options; convolutional ones with an image,\n"
                        "                                          e.g. -controls_type convolutional -Nx 8 -Ny1 16 -Ny2 16: "
                        "-controls_conv_width, -conv_attention_*\n"));
  PetscFunctionReturn(0);
}

// One run: set up, view, solve, report.
static PetscErrorCode Run(MPI_Comm comm, PetscBool help) {
  Problem problem(comm);
  PetscViewer out = PETSC_VIEWER_STDOUT_(comm);
  PetscReal norm;
  PetscFunctionBeginUser;
  PetscCall(problem.SetFromOptions());
  PetscCall(problem.SetUp());
  PetscCall(CheckAllOptionsUsed(comm));
  if (help) PetscFunctionReturn(0);
  PetscCall(problem.View(out));
  PetscCall(CostNote(comm, EstimatedSeconds(problem), "this run"));
  PetscCall(problem.Solve());
  PetscCall(problem.GetIntegrator().ViewStatistics(out));
  if (!problem.GradientFile().empty()) PetscCall(problem.SolveAdjoint());
  if (problem.GetInitialState().Embedded()) {
    std::string line;
    for (PetscReal z : problem.Logits()) PetscCallCXX(line += " " + std::to_string(z));
    PetscCall(PetscPrintf(comm, "logits:%s\n", line.c_str()));
  }
  PetscCall(problem.StateNorm(&norm));
  PetscCall(PetscPrintf(comm, "t = %g: ||u||_L2 = %.12e\n", (double)problem.FinalTime(), (double)norm));
  if (problem.GetLoss()) PetscCall(PetscPrintf(comm, "loss = %.17g (%s)\n", (double)problem.LossValue(), problem.GetLoss()->Description().c_str()));
  if (!problem.GradientFile().empty()) PetscCall(PetscPrintf(comm, "wrote dL/du0 and dL/dθ to %s\n", problem.GradientFile().c_str()));
  if (problem.GetTrajectory().Enabled())
    PetscCall(
        PetscPrintf(comm, "wrote %" PetscInt_FMT " states to %s\n", problem.GetTrajectory().NumSaved(), problem.GetTrajectory().Path().c_str()));
  PetscFunctionReturn(0);
}

// A convergence study: level 0 and the finest level are built (every option read) before anything runs.
static PetscErrorCode Study(ConvergenceStudy &study, MPI_Comm comm, PetscBool help) {
  PetscFunctionBeginUser;
  PetscCall(study.SetUp());
  PetscCall(CheckAllOptionsUsed(comm));
  if (help) PetscFunctionReturn(0);
  PetscCall(study.Run());
  PetscCall(study.View(PETSC_VIEWER_STDOUT_(comm)));
  PetscFunctionReturn(0);
}

PetscErrorCode RunCtflow(MPI_Comm comm) {
  ConvergenceStudy study(comm);
  PetscBool help, version, train;
  PetscFunctionBeginUser;
  // Before anything reads an option: the same options on every rank, none cut short by PETSc's buffers.
  PetscCall(OptionsCheckSameOnAllRanks(comm));
  PetscCall(OptionsCheckValueLengths(comm));
  PetscCall(PetscOptionsHasName(nullptr, nullptr, "-version", &version));
  if (version) {  // PETSc printed its version
    PetscCall(PetscPrintf(comm, "ctflow %s\n", CTFLOW_VERSION));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscOptionsHasHelp(nullptr, &help));
  PetscCall(TrainingRequested(comm, &train));
  if (train) PetscCall(RunTraining(comm, help));
  else {
    PetscCall(study.SetFromOptions());
    if (study.Enabled()) PetscCall(Study(study, comm, help));
    else PetscCall(Run(comm, help));
  }
  if (help) PetscCall(HelpOtherModes(comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
