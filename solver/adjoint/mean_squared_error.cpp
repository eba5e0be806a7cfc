// The mean-squared-error loss ℓ(u, v) = ½ ∫∫ (u − v)² dx dy of eq. (10), by the midpoint rule: ½ Σ (u − v)² Δx Δy.
#include "discretization/base/option_checks.hpp"
#include "discretization/base/petsc_handle.hpp"
#include "discretization/hdf5_input.hpp"
#include "discretization/state_file.hpp"
#include "solver/adjoint/loss.hpp"

namespace ctflow {

namespace {

class MeanSquaredError : public Loss {
 public:
  explicit MeanSquaredError(MPI_Comm comm) : comm_(comm) {}
  PetscErrorCode SetFromOptions() override {
    char file[PETSC_MAX_PATH_LEN] = "";
    PetscBool set;
    PetscFunctionBeginUser;
    PetscCall(PetscStrncpy(file, path_.c_str(), sizeof(file)));
    PetscOptionsBegin(comm_, nullptr, "Mean-squared-error loss (-loss mse)", "Loss");
    OptionsBlockGuard guard(PetscOptionsObject);
    PetscCall(PetscOptionsString("-target", "Target file of -loss mse (HDF5, dataset /target of shape (N_x, N_y))", "Loss", file, file, sizeof(file),
                                 &set));
    PetscOptionsEnd();
    if (set) path_ = file;
    PetscFunctionReturn(0);
  }
  std::string InputFile() const override { return path_; }
  PetscErrorCode SetUp(const Grid &grid, const Controls &) override {
    H5Input in;
    std::vector<hsize_t> shape;
    PetscFunctionBeginUser;
    PetscCheck(!path_.empty(), comm_, PETSC_ERR_USER_INPUT, "-loss mse needs the target: -target FILE (dataset /target of shape (N_x, N_y))");
    PetscCall(H5Input::Open(comm_, path_, "-target", &in));
    PetscCall(in.Shape("/target", &shape));
    PetscCheck(shape == std::vector<hsize_t>({(hsize_t)grid.Nx(), (hsize_t)grid.Ny()}), comm_, PETSC_ERR_USER_INPUT,
               "-target file '%s': dataset '/target' has shape %s, but the final state is (%" PetscInt_FMT ", %" PetscInt_FMT ")", path_.c_str(),
               ShapeString(shape).c_str(), grid.Nx(), grid.Ny());
    PetscCall(DMCreateGlobalVector(grid.Layout(), target_.Out()));
    StateFile file(comm_);
    PetscCall(file.Open(path_));
    PetscCall(file.Read("/target", target_, grid.Ny()));
    PetscCall(file.Close());
    const PetscScalar *v;
    PetscCall(VecGetArrayRead(target_, &v));
    PetscCall(CheckFinite(comm_, v, grid.XLocal() * grid.Ny(), grid.XStart() * grid.Ny(), "-target file '" + path_ + "': dataset '/target'"));
    PetscCall(VecRestoreArrayRead(target_, &v));
    weight_ = grid.dx() * grid.dy();
    PetscFunctionReturn(0);
  }
  // ∂L/∂u = (u − v) Δx Δy.
  PetscErrorCode Evaluate(Vec u, const std::vector<PetscReal> &, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) override {
    PetscReal norm;
    PetscFunctionBeginUser;
    PetscCall(VecWAXPY(dLdu, -1.0, target_, u));
    PetscCall(VecNorm(dLdu, NORM_2, &norm));
    *value = 0.5 * norm * norm * weight_;
    PetscCall(VecScale(dLdu, weight_));
    dLdz->clear();
    PetscFunctionReturn(0);
  }
  std::string Description() const override { return "mse against " + path_ + ":/target"; }

 private:
  MPI_Comm comm_;
  std::string path_;
  UniqueVec target_;
  PetscReal weight_ = 1;
};

}  // namespace

PetscErrorCode MeanSquaredErrorCreate(MPI_Comm comm, std::unique_ptr<Loss> *loss) {
  PetscFunctionBeginUser;
  PetscCallCXX(*loss = std::make_unique<MeanSquaredError>(comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
