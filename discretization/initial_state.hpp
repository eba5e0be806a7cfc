// Initial state u(x, y, 0) = f(x, y): the dataset /u0 of shape (N_x, N_y), float64, of the file given by
// -u0 (SetFile); the embedding F of the image /image (C, H, W) of the file given by -image (SetImage), for
// controls with a vision Transformer's pre-processing (discretization/vit_processing.hpp); a C++ function of
// (x, y) (SetFunction); or the analytic
//   f(x, y) = cos(2π x/L_x) cos(π y/L_y) + sin(2π (x/L_x + y/L_y))/2 + 3 cos(3π y/L_y)/10,
// whose variance along y is positive for every x (cos(3πy) is independent of the other terms).
#pragma once
#include <functional>
#include <string>

#include "discretization/controls.hpp"

namespace ctflow {

class InitialState {
 public:
  using Function = std::function<PetscReal(PetscReal x, PetscReal y)>;
  // Reads -u0 / -image.
  PetscErrorCode SetFromOptions(MPI_Comm comm);
  void SetFile(const std::string &path) { Reset(), path_ = path; }
  void SetImage(const std::string &path) { Reset(), path_ = path, image_requested_ = true; }
  void SetFunction(Function f, const std::string &description) { Reset(), f_ = std::move(f), description_ = description; }
  // Validates the file against the controls and imposes N_x and N_y on the grid. Call before grid->SetUp().
  PetscErrorCode SetUp(Grid *grid, const Controls &controls);
  // SetFromOptions, then SetUp.
  PetscErrorCode SetFromOptions(Grid *grid, const Controls &controls);
  // Fills u (a vector of grid.Layout()) with f; rejects NaN and Inf.
  PetscErrorCode Fill(const Grid &grid, Vec u) const;
  // The state is an embedded image (-image): its class token is read out after the run.
  bool Embedded() const { return vit_ != nullptr; }
  // A function of (x, y) on Ω_x × Ω_y sampled at the cell centres of any grid (analytic or SetFunction).
  bool Analytic() const { return path_.empty(); }
  std::string Description() const;
  // The file read (-u0 or -image), or "".
  const std::string &File() const { return path_; }
  // The option that named it.
  const char *FileOption() const { return image_requested_ ? "-image" : "-u0"; }

 private:
  void Reset();
  std::string path_;
  bool image_requested_ = false;
  Function f_;
  std::string description_;
  const VitProcessing *vit_ = nullptr;  // set for -image by SetUp
  std::vector<PetscReal> image_;
};

}  // namespace ctflow
