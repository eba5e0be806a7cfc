// Initial state u(x, y, 0) = f(x, y): the dataset /u0 of shape (N_x, N_y), float64, of the file given by
// -u0; the embedding F of the image /image (C, H, W) of the file given by -image, for controls with a
// vision Transformer's pre-processing (discretization/vit_processing.hpp); or the analytic
//   f(x, y) = cos(2π x/L_x) cos(π y/L_y) + sin(2π (x/L_x + y/L_y))/2 + 3 cos(3π y/L_y)/10,
// whose variance along y is positive for every x (cos(3πy) is independent of the other terms).
#pragma once
#include <string>

#include "discretization/controls.hpp"

namespace ctflow {

class InitialState {
 public:
  // Reads -u0 / -image and validates the file; imposes N_x and N_y on the grid. Call before grid->SetUp().
  PetscErrorCode SetFromOptions(Grid *grid, const Controls &controls);
  // Fills u (a vector of grid.Layout()) with f; rejects NaN and Inf.
  PetscErrorCode Fill(const Grid &grid, Vec u) const;
  // The state is an embedded image (-image): its class token is read out after the run.
  bool Embedded() const { return vit_ != nullptr; }
  // The analytic f: a function of (x, y) on Ω_x × Ω_y sampled at the cell centres of any grid.
  bool Analytic() const { return path_.empty(); }
  std::string Description() const { return path_.empty() ? "analytic f(x, y)" : path_ + (vit_ ? ":/image" : ":/u0"); }

 private:
  std::string path_;
  const VitProcessing *vit_ = nullptr;  // set for -image
  std::vector<PetscReal> image_;
};

}  // namespace ctflow
