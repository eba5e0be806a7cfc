#include "discretization/grid_transfer.hpp"

#include <cmath>

namespace ctflow {

PetscErrorCode GridRestriction::SetUp(const Grid &fine, const Grid &coarse) {
  const MPI_Comm comm = coarse.Comm();
  const PetscReal Lf[2] = {fine.Lx(), fine.Ly()}, Lc[2] = {coarse.Lx(), coarse.Ly()};
  const PetscInt Nf[2] = {fine.Nx(), fine.Ny()}, Nc[2] = {coarse.Nx(), coarse.Ny()};
  const char *name[2] = {"N_x", "N_y"};
  PetscFunctionBeginUser;
  for (int d = 0; d < 2; ++d) {
    PetscCheck(Nf[d] % Nc[d] == 0, comm, PETSC_ERR_ARG_INCOMP,
               "cannot restrict: fine %s = %" PetscInt_FMT " is not a multiple of coarse %s = %" PetscInt_FMT, name[d], Nf[d], name[d], Nc[d]);
    PetscCheck(std::abs(Lf[d] - Lc[d]) <= 1e-12 * Lc[d], comm, PETSC_ERR_ARG_INCOMP,
               "cannot restrict: the grids cover different domains (L = %g and %g)", (double)Lf[d], (double)Lc[d]);
  }
  PetscCheck(fine.TwoDimensional() == coarse.TwoDimensional(), comm, PETSC_ERR_ARG_INCOMP,
             "cannot restrict: one feature domain is two-dimensional and the other is not");
  rx_ = Nf[0] / Nc[0];
  ry_[0] = Nf[1] / Nc[1], ry_[1] = 1;
  Ny_[0] = Nc[1], Ny_[1] = 1;
  for (int a = 0; a < 2 && coarse.TwoDimensional(); ++a) {
    const PetscInt nf = fine.Image().N[a], nc = coarse.Image().N[a];
    PetscCheck(nf % nc == 0, comm, PETSC_ERR_ARG_INCOMP,
               "cannot restrict: fine N_y%d = %" PetscInt_FMT " is not a multiple of coarse N_y%d = %" PetscInt_FMT, a + 1, nf, a + 1, nc);
    PetscCheck(std::abs(fine.Image().L[a] - coarse.Image().L[a]) <= 1e-12 * coarse.Image().L[a], comm, PETSC_ERR_ARG_INCOMP,
               "cannot restrict: the grids cover different domains (L_y%d = %g and %g)", a + 1, (double)fine.Image().L[a],
               (double)coarse.Image().L[a]);
    ry_[a] = nf / nc, Ny_[a] = nc;
  }
  xm_ = coarse.XLocal();
  // The fine tokens r_x k … r_x (k + 1) − 1 of the owned coarse tokens k: one contiguous block of the
  // fine vector (a 1-D DMDA's global ordering is the natural one).
  const PetscInt n = xm_ * rx_ * Nf[1];
  UniqueVec fine_vec;
  UniqueIS from;
  PetscCall(DMCreateGlobalVector(fine.Layout(), fine_vec.Out()));
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, n, local_.Out()));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, n, coarse.XStart() * rx_ * Nf[1], 1, from.Out()));
  PetscCall(VecScatterCreate(fine_vec, from, local_, nullptr, scatter_.Out()));
  PetscFunctionReturn(0);
}

PetscErrorCode GridRestriction::Apply(Vec fine, Vec coarse) const {
  const PetscInt Nyf = Ny_[0] * ry_[0] * Ny_[1] * ry_[1], Nyf2 = Ny_[1] * ry_[1], Nyc = Ny_[0] * Ny_[1];
  const PetscReal w = 1.0 / (PetscReal)(rx_ * ry_[0] * ry_[1]);
  const PetscScalar *f;
  PetscScalar *c;
  PetscFunctionBeginUser;
  PetscCall(VecScatterBegin(scatter_, fine, local_, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter_, fine, local_, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(local_, &f));
  PetscCall(VecGetArrayWrite(coarse, &c));
  for (PetscInt k = 0; k < xm_; ++k)
    for (PetscInt i = 0; i < Ny_[0]; ++i)
      for (PetscInt j = 0; j < Ny_[1]; ++j) {
        PetscReal sum = 0;
        for (PetscInt a = 0; a < rx_; ++a)
          for (PetscInt b = 0; b < ry_[0]; ++b)
            for (PetscInt e = 0; e < ry_[1]; ++e) sum += f[(k * rx_ + a) * Nyf + (i * ry_[0] + b) * Nyf2 + j * ry_[1] + e];
        c[k * Nyc + i * Ny_[1] + j] = w * sum;
      }
  PetscCall(VecRestoreArrayWrite(coarse, &c));
  PetscCall(VecRestoreArrayRead(local_, &f));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
