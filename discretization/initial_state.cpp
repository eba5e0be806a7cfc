#include "discretization/initial_state.hpp"

#include <petscviewerhdf5.h>

#include <algorithm>
#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/hdf5_input.hpp"
#include "discretization/state_file.hpp"

namespace ctflow {

void InitialState::Reset() {
  path_.clear(), description_.clear();
  image_requested_ = false;
  f_ = nullptr;
  values_.clear();
  vit_ = nullptr;
  cvt_ = nullptr;
  image_.clear();
}

void InitialState::SetImageValues(std::vector<PetscReal> image, const std::string &description) {
  const VitProcessing *vit = vit_;
  const CvtProcessing *cvt = cvt_;
  Reset();
  image_requested_ = true, image_ = std::move(image), description_ = description, vit_ = vit, cvt_ = cvt;
}

std::string InitialState::Description() const {
  if (!path_.empty()) return path_ + (image_requested_ ? ":/image" : ":/u0");
  return f_ || !values_.empty() || image_requested_ ? description_ : "analytic f(x, y)";
}

PetscErrorCode InitialState::SetFromOptions(MPI_Comm comm) {
  char file[PETSC_MAX_PATH_LEN] = "", image[PETSC_MAX_PATH_LEN] = "";
  PetscBool set = PETSC_FALSE, image_set = PETSC_FALSE;
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, nullptr, "Initial state f(x, y)", "InitialState");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsString("-u0", "Initial state file (HDF5, dataset /u0 of shape (N_x, N_y)); default: analytic f", "InitialState", file, file,
                               sizeof(file), &set));
  PetscCall(PetscOptionsString("-image", "Image file (HDF5, dataset /image of shape (C, H, W)) for vision-Transformer controls", "InitialState",
                               image, image, sizeof(image), &image_set));
  PetscOptionsEnd();
  PetscCheck(!(set && image_set), comm, PETSC_ERR_USER_INPUT, "give -u0 or -image, not both");
  if (set) SetFile(file);
  if (image_set) SetImage(image);
  PetscFunctionReturn(0);
}

PetscErrorCode InitialState::SetFromOptions(Grid *grid, const Controls &controls) {
  PetscFunctionBeginUser;
  PetscCall(SetFromOptions(grid->Comm()));
  PetscCall(SetUp(grid, controls));
  PetscFunctionReturn(0);
}

PetscErrorCode InitialState::SetUp(Grid *grid, const Controls &controls) {
  H5Input in;
  std::vector<hsize_t> shape;
  PetscFunctionBeginUser;
  vit_ = nullptr;
  u0_features_.clear();
  if (!values_.empty()) {
    PetscCall(grid->RequireSize("-Nx", values_Nx_, description_.c_str()));
    PetscCall(grid->RequireSize("-Ny", values_Ny_, description_.c_str()));
  }
  cvt_ = nullptr;
  if (path_.empty() && !image_requested_) PetscFunctionReturn(0);
  if (image_requested_) {
    vit_ = controls.Vit();
    cvt_ = controls.Cvt();
    PetscCheck(vit_ || cvt_, grid->Comm(), PETSC_ERR_USER_INPUT,
               "-image needs controls with a vision Transformer's /vit group or a convolutional one's /cvt group (%s has neither)",
               controls.Description().c_str());
    const PetscInt C = vit_ ? vit_->channels : cvt_->channels, H = vit_ ? vit_->height : cvt_->height, W = vit_ ? vit_->width : cvt_->width;
    if (path_.empty()) {  // SetImageValues
      PetscCheck(image_.size() == (size_t)(C * H * W), grid->Comm(), PETSC_ERR_ARG_SIZ,
                 "%s has %zu values; the controls' images (C, H, W) = (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ") have %" PetscInt_FMT,
                 description_.c_str(), image_.size(), C, H, W, C * H * W);
      PetscFunctionReturn(0);
    }
    PetscCall(H5Input::Open(grid->Comm(), path_, "-image", &in));
    PetscCall(in.Read("/image", {(hsize_t)C, (hsize_t)H, (hsize_t)W}, vit_ ? "(C, H, W) of the controls' /vit" : "(C, H, W) of the controls' /cvt",
                      &image_));
    PetscFunctionReturn(0);
  }
  PetscCall(H5Input::Open(grid->Comm(), path_, "-u0", &in));
  PetscCall(in.Shape("/u0", &shape));
  PetscCheck(shape.size() == 2 || shape.size() == 3, grid->Comm(), PETSC_ERR_FILE_UNEXPECTED,
             "-u0 file '%s': dataset '/u0' has shape %s, expected (N_x, N_y) or (N_x, N_y1, N_y2)", path_.c_str(), ShapeString(shape).c_str());
  const std::string source = "the -u0 file '" + path_ + "'";
  PetscCall(grid->RequireSize("-Nx", (PetscInt)shape[0], source.c_str()));
  if (shape.size() == 3) {  // an image per token
    PetscCall(grid->RequireSize("-Ny1", (PetscInt)shape[1], source.c_str()));
    PetscCall(grid->RequireSize("-Ny2", (PetscInt)shape[2], source.c_str()));
  } else {
    PetscCall(grid->RequireSize("-Ny", (PetscInt)shape[1], source.c_str()));
  }
  PetscCallCXX(u0_features_.assign(shape.begin() + 1, shape.end()));
  PetscFunctionReturn(0);
}

PetscErrorCode InitialState::Fill(const Grid &grid, Vec u) const {
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  PetscScalar *a;
  PetscFunctionBeginUser;
  if (vit_) {
    PetscCall(EmbedImage(grid, *vit_, image_, u));
  } else if (!values_.empty()) {
    PetscCall(VecGetArray(u, &a));
    std::copy_n(&values_[xs * Ny], xm * Ny, a);
    PetscCall(VecRestoreArray(u, &a));
  } else if (cvt_) {
    PetscCall(CvtEmbedImage(grid, *cvt_, image_, u));
  } else if (!path_.empty()) {  // each rank reads its tokens' rows
    StateFile file(grid.Comm());
    PetscCall(file.Open(path_));
    PetscCall(file.Read("/u0", u, u0_features_.empty() ? std::vector<hsize_t>{(hsize_t)Ny} : u0_features_));
    PetscCall(file.Close());
  } else {
    const ImageShape &img = grid.Image();
    PetscCheck(!(f_ && img.Active()), grid.Comm(), PETSC_ERR_USER_INPUT,
               "the initial state %s is a function of one-dimensional y; Ω_y is two-dimensional", description_.c_str());
    PetscCall(VecGetArray(u, &a));
    for (PetscInt k = 0; k < xm && img.Active(); ++k)
      for (PetscInt l = 0; l < Ny; ++l) {
        const PetscReal x = grid.x(xs + k) / grid.Lx(), y1 = img.y(0, l / img.N[1]) / img.L[0], y2 = img.y(1, l % img.N[1]) / img.L[1];
        a[k * Ny + l] = std::cos(2 * PETSC_PI * x) * std::cos(PETSC_PI * y1) * std::cos(PETSC_PI * y2) + std::sin(2 * PETSC_PI * (x + y1 + y2)) / 2 +
                        0.3 * std::cos(3 * PETSC_PI * y1) + 0.25 * std::cos(2 * PETSC_PI * y2);
      }
    for (PetscInt k = 0; k < xm && !img.Active(); ++k)
      for (PetscInt l = 0; l < Ny; ++l) {
        const PetscReal x = grid.x(xs + k) / grid.Lx(), y = grid.y(l) / grid.Ly();
        if (f_) PetscCallCXX(a[k * Ny + l] = f_(grid.x(xs + k), grid.y(l)));
        else
          a[k * Ny + l] =
              std::cos(2 * PETSC_PI * x) * std::cos(PETSC_PI * y) + std::sin(2 * PETSC_PI * (x + y)) / 2 + 0.3 * std::cos(3 * PETSC_PI * y);
      }
    PetscCall(VecRestoreArray(u, &a));
  }
  const PetscScalar *r;
  PetscCall(VecGetArrayRead(u, &r));
  PetscCall(CheckFinite(grid.Comm(), r, xm * Ny, xs * Ny,
                        Embedded()      ? "the embedded image"
                        : path_.empty() ? "the initial state " + Description()
                                        : "-u0 file '" + path_ + "': dataset '/u0'"));
  PetscCall(VecRestoreArrayRead(u, &r));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
