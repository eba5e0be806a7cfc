#include "discretization/initial_state.hpp"

#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "discretization/hdf5_input.hpp"
#include "discretization/state_file.hpp"

namespace ctflow {

void InitialState::Reset() {
  path_.clear(), description_.clear();
  image_requested_ = false;
  f_ = nullptr;
  vit_ = nullptr;
  image_.clear();
}

std::string InitialState::Description() const {
  if (!path_.empty()) return path_ + (image_requested_ ? ":/image" : ":/u0");
  return f_ ? description_ : "analytic f(x, y)";
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
  if (path_.empty()) PetscFunctionReturn(0);
  if (image_requested_) {
    vit_ = controls.Vit();
    PetscCheck(vit_, grid->Comm(), PETSC_ERR_USER_INPUT, "-image needs controls with a vision Transformer's /vit group (%s has none)",
               controls.Description().c_str());
    PetscCall(H5Input::Open(grid->Comm(), path_, "-image", &in));
    PetscCall(in.Read("/image", {(hsize_t)vit_->channels, (hsize_t)vit_->height, (hsize_t)vit_->width}, "(C, H, W) of the controls' /vit", &image_));
    PetscFunctionReturn(0);
  }
  PetscCall(H5Input::Open(grid->Comm(), path_, "-u0", &in));
  PetscCall(in.Shape("/u0", &shape));
  PetscCheck(shape.size() == 2, grid->Comm(), PETSC_ERR_FILE_UNEXPECTED, "-u0 file '%s': dataset '/u0' has shape %s, expected (N_x, N_y)",
             path_.c_str(), ShapeString(shape).c_str());
  const std::string source = "the -u0 file '" + path_ + "'";
  PetscCall(grid->RequireSize("-Nx", (PetscInt)shape[0], source.c_str()));
  PetscCall(grid->RequireSize("-Ny", (PetscInt)shape[1], source.c_str()));
  PetscFunctionReturn(0);
}

PetscErrorCode InitialState::Fill(const Grid &grid, Vec u) const {
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  PetscScalar *a;
  PetscFunctionBeginUser;
  if (vit_) {
    PetscCall(EmbedImage(grid, *vit_, image_, u));
  } else if (!path_.empty()) {
    StateFile file(grid.Comm());
    PetscCall(file.Open(path_));
    PetscCall(file.Read("/u0", u, Ny));
    PetscCall(file.Close());
  } else {
    PetscCall(VecGetArray(u, &a));
    for (PetscInt k = 0; k < xm; ++k)
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
                        vit_            ? "the embedded image"
                        : path_.empty() ? "the initial state " + Description()
                                        : "-u0 file '" + path_ + "': dataset '/u0'"));
  PetscCall(VecRestoreArrayRead(u, &r));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
