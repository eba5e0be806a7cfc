// Initial state u(x, y, 0) = f(x, y): the dataset /u0 of shape (N_x, N_y) (or (N_x, N_y1, N_y2): an image per
// token, which makes Ω_y two-dimensional), float64, of the file given by
// -u0 (SetFile); the embedding F of the image /image (C, H, W) of the file given by -image (SetImage), for
// controls with a vision Transformer's pre-processing (discretization/vit_processing.hpp) or a convolutional one's
// (discretization/cvt_processing.hpp); a C++ function of
// (x, y) (SetFunction); or the analytic
//   f(x, y) = cos(2π x/L_x) cos(π y/L_y) + sin(2π (x/L_x + y/L_y))/2 + 3 cos(3π y/L_y)/10,
// whose variance along y is positive for every x (cos(3πy) is independent of the other terms); on a two-dimensional
// Ω_y, with x̂ = x/L_x, ŷ_a = y_a/L_ya,
//   f(x, y1, y2) = cos(2π x̂) cos(π ŷ1) cos(π ŷ2) + sin(2π (x̂ + ŷ1 + ŷ2))/2 + 3 cos(3π ŷ1)/10 + cos(2π ŷ2)/4,
// whose variance over Ω_y is again at least that of the orthogonal term 3 cos(3π ŷ1)/10.
#pragma once
#include <hdf5.h>

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
  // The values of all N_x × N_y cells (row-major, the same on every rank), e.g. a sample of a dataset.
  void SetValues(std::vector<PetscReal> values, PetscInt Nx, PetscInt Ny, const std::string &description) {
    Reset(), values_ = std::move(values), values_Nx_ = Nx, values_Ny_ = Ny, description_ = description;
  }
  // An image (C, H, W) in memory, e.g. a sample of a dataset, embedded as -image's is. SetUp checks its size against the
  // controls; the embedding of the last SetUp is kept, so that a Problem goes from sample to sample without SetUp.
  void SetImageValues(std::vector<PetscReal> image, const std::string &description);
  // Validates the file against the controls and imposes N_x and N_y on the grid. Call before grid->SetUp().
  PetscErrorCode SetUp(Grid *grid, const Controls &controls);
  // SetFromOptions, then SetUp.
  PetscErrorCode SetFromOptions(Grid *grid, const Controls &controls);
  // Fills u (a vector of grid.Layout()) with f; rejects NaN and Inf.
  PetscErrorCode Fill(const Grid &grid, Vec u) const;
  // The transpose of the image embedding F for the adjoint: d (ViT-shaped) gains ∂L/∂E, ∂L/∂b, ∂L/∂v0, ∂L/∂P from
  // λ = ∂L/∂u0 (discretization/vit_processing.hpp).
  PetscErrorCode EmbedTranspose(const Grid &grid, Vec lambda, VitProcessing *d) const { return EmbedImageTranspose(grid, *vit_, image_, lambda, d); }
  // The same for a CvT's embedding (discretization/cvt_processing.hpp): ∂L/∂E, ∂L/∂b.
  PetscErrorCode EmbedTranspose(const Grid &grid, Vec lambda, CvtProcessing *d) const {
    return CvtEmbedImageTranspose(grid, *cvt_, image_, lambda, d);
  }
  // The state is an embedded image (-image): its class token is read out after the run.
  bool Embedded() const { return vit_ != nullptr || cvt_ != nullptr; }
  // A function of (x, y) on Ω_x × Ω_y sampled at the cell centres of any grid (analytic or SetFunction).
  bool Analytic() const { return path_.empty() && values_.empty(); }
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
  std::vector<PetscReal> values_;  // SetValues
  PetscInt values_Nx_ = 0, values_Ny_ = 0;
  std::string description_;
  const VitProcessing *vit_ = nullptr;  // set for -image by SetUp
  const CvtProcessing *cvt_ = nullptr;
  std::vector<PetscReal> image_;
  std::vector<hsize_t> u0_features_;  // the /u0 dataset's feature dimensions: {N_y} or {N_y1, N_y2} (set by SetUp)
};

}  // namespace ctflow
