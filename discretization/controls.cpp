#include "discretization/controls.hpp"

#include "discretization/analytic_controls.hpp"
#include "discretization/analytic_convolution_controls.hpp"
#include "discretization/base/paths.hpp"
#include "discretization/base/registry.hpp"
#include "discretization/hdf5_input.hpp"
#include "discretization/layered_controls.hpp"
#include "discretization/layered_convolution_controls.hpp"
#include "discretization/piecewise_linear_controls.hpp"

namespace ctflow {

PetscErrorCode Controls::SampleMlp(PetscReal, const Grid &grid, MlpKernels *) const {
  SETERRQ(grid.Comm(), PETSC_ERR_USER_INPUT, "the controls %s define no lifted feed-forward network (operator 'mlp')", Description().c_str());
}

PetscErrorCode Controls::SampleRelaxationRate(PetscReal, PetscReal *lambda) const {
  *lambda = 1;
  return 0;
}

PetscErrorCode Controls::SampleConvAttention(PetscReal, const Grid &grid, ConvAttentionKernels *) const {
  SETERRQ(grid.Comm(), PETSC_ERR_USER_INPUT,
          "the controls %s define no convolution kernels (operator 'conv_attention'; -controls_type convolutional)", Description().c_str());
}

PetscErrorCode Controls::SampleConvEmbedding(PetscReal, const Grid &grid, ConvTokenKernels *) const {
  SETERRQ(grid.Comm(), PETSC_ERR_USER_INPUT, "the controls %s define no convolutional token embedding (operator 'conv_embed')",
          Description().c_str());
}

PetscErrorCode Controls::SampleConvFeedForward(PetscInt, PetscReal, const Grid &grid, ConvTokenKernels *) const {
  SETERRQ(grid.Comm(), PETSC_ERR_USER_INPUT, "the controls %s define no convolutional feed-forward layers (operator 'conv_ffn')",
          Description().c_str());
}

PetscErrorCode Controls::LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleAttention(t, grid, storage));
  *k = storage;
  PetscFunctionReturn(0);
}

PetscErrorCode Controls::LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleMlp(t, grid, storage));
  *k = storage;
  PetscFunctionReturn(0);
}

PetscErrorCode Controls::SampleFinalNorm(LayerNormTargets *, bool *present) const {
  *present = false;
  return 0;
}

std::string Controls::FinalExpression() const {
  LayerNormTargets norm;
  bool present = false;
  return SampleFinalNorm(&norm, &present) == 0 && present ? "final_norm" : "";
}

PetscErrorCode Controls::GetParameters(ControlsArrays *theta) const {
  *theta = ControlsArrays();
  return 0;
}

PetscErrorCode Controls::GetZeroParameters(ControlsArrays *zero) const {
  ControlsArrays theta;
  PetscFunctionBeginUser;
  PetscCall(GetParameters(&theta));
  PetscCallCXX(*zero = theta.ZerosLike());
  PetscFunctionReturn(0);
}

PetscErrorCode Controls::SetParameters(const ControlsArrays &theta) {
  PetscFunctionBeginUser;
  PetscCheck(theta.Empty(), PETSC_COMM_SELF, PETSC_ERR_SUP, "the controls %s have no parameters to set", Description().c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode Controls::AddAttentionGradient(PetscReal, const Grid &, const AttentionKernels &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddFeedForwardGradient(PetscInt, PetscReal, const Grid &, const FeedForwardKernel &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddLayerNormGradient(PetscInt, PetscReal, const LayerNormTargets &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddMlpGradient(PetscReal, const Grid &, const MlpKernels &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddFinalNormGradient(const LayerNormTargets &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddVitGradient(const VitProcessing &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddRelaxationRateGradient(PetscReal, PetscReal, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddConvAttentionGradient(PetscReal, const Grid &, const ConvAttentionKernels &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddConvEmbeddingGradient(PetscReal, const Grid &, const ConvTokenKernels &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddConvFeedForwardGradient(PetscInt, PetscReal, const Grid &, const ConvTokenKernels &, ControlsArrays *) const { return 0; }
PetscErrorCode Controls::AddCvtGradient(const CvtProcessing &, ControlsArrays *) const { return 0; }

namespace {

PetscErrorCode RegisterBuiltins(Registry<ControlsCreator> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("analytic", AnalyticControlsCreate));
  PetscCall(r.Register("layered", LayeredControlsCreate));
  PetscCall(r.Register("convolutional", AnalyticConvolutionControlsCreate));  // paper §6, analytic stencils
  PetscCall(r.Register("cvt", LayeredConvolutionControlsCreate));             // paper §6, stencils and stages from a file
  PetscCall(r.Register("piecewise_linear", PiecewiseLinearControlsCreate));
  PetscFunctionReturn(0);
}

Registry<ControlsCreator> sources("controls type", "controls types", RegisterBuiltins);

}  // namespace

PetscErrorCode ControlsRegister(const char name[], ControlsCreator create) { return sources.Register(name, create); }

PetscErrorCode ControlsOptionsList(PetscFunctionList *list) { return sources.OptionsList(list); }

PetscErrorCode ControlsCreate(MPI_Comm comm, const std::string &type, std::unique_ptr<Controls> *controls) {
  const ControlsCreator *create = nullptr;
  PetscFunctionBeginUser;
  PetscCall(sources.Find(comm, type, &create));
  PetscCall((*create)(comm, controls));
  PetscFunctionReturn(0);
}

PetscErrorCode ControlsFileType(MPI_Comm comm, const std::string &path, std::string *type) {
  std::string interpolation;
  bool found = false;
  PetscFunctionBeginUser;
  *type = "layered";
  // A file that cannot be read (a FIFO would block H5Fis_hdf5) is left to the layered reader, which says why.
  if (!InputFileProblem(path).empty() || H5Fis_hdf5(path.c_str()) <= 0) PetscFunctionReturn(0);
  H5Input in;
  PetscCall(H5Input::Open(comm, path, "-controls", &in));
  if (in.Has("/stages")) {
    *type = "cvt";
    PetscFunctionReturn(0);
  }
  PetscCall(in.ReadAttribute("/", "time_interpolation", &interpolation, &found));
  if (found && interpolation == "linear") *type = "piecewise_linear";
  PetscFunctionReturn(0);
}

}  // namespace ctflow
