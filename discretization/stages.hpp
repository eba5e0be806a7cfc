// The stages of a staged model (paper §6.2, a K-stage CvT): stage s acts on [t_s, t_{s+1}) on a grid of its own
// (N_x tokens, N_y1 × N_y2 pixels, N_h heads) over the same Ω_x × Ω_y, and splits its own operator order. The state
// passes from one stage's grid to the next by a transfer (discretization/stage_transfer.hpp). Controls that have
// stages list them (Controls::Stages); StageControls (discretization/stage_controls.hpp) is the view of one stage.
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

struct ControlsStage {
  PetscInt Nx = 0, Ny1 = 0, Ny2 = 0, Nh = 0;  // the stage's grid (refined as the first stage's is)
  PetscReal t0 = 0, t1 = 0;                   // its time span [t_s, t_{s+1})
  std::string order;                          // the operator order its scheme splits
};

}  // namespace ctflow
