#include "discretization/controls.hpp"

#include "discretization/analytic_controls.hpp"
#include "discretization/layered_controls.hpp"

namespace ctflow {

PetscErrorCode Controls::SampleMlp(PetscReal, const Grid &grid, MlpKernels *) const {
  SETERRQ(grid.Comm(), PETSC_ERR_USER_INPUT, "the controls %s define no lifted feed-forward network (operator 'mlp')", Description().c_str());
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

PetscErrorCode ControlsCreateFromOptions(Grid *grid, std::unique_ptr<Controls> *controls) {
  char file[PETSC_MAX_PATH_LEN] = "";
  PetscBool from_file = PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscOptionsBegin(grid->Comm(), nullptr, "Controls θ(t)", "Controls");
  PetscCall(PetscOptionsString("-controls", "Layered controls file (HDF5, docs/controls-format.md); default: analytic", "Controls", file, file,
                               sizeof(file), &from_file));
  PetscOptionsEnd();
  // Both sources register their options, so that -help lists all of them whichever is used.
  auto analytic = std::make_unique<AnalyticControls>(grid->Comm());
  PetscCall(analytic->SetFromOptions());
  if (!from_file) {
    *controls = std::move(analytic);
    PetscFunctionReturn(0);
  }
  auto layered = std::make_unique<LayeredControls>(grid->Comm());
  PetscCall(layered->Load(file, grid));
  *controls = std::move(layered);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
