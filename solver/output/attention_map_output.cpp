#include "solver/output/attention_map_output.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "operators/attention_maps.hpp"
#include "solver/output/state_diagnostics.hpp"

namespace ctflow {

PetscErrorCode AttentionMapsWrite(const Grid &grid, const Controls &controls, PetscReal t, Vec u, hid_t file, const char name[], PetscReal *entropy) {
  const PetscInt Nx = grid.Nx(), Nh = grid.Nh(), xs = grid.XStart(), xm = grid.XLocal();
  const PetscInt rows = (PetscInt)std::max<double>(1, std::floor(kMapBlockDoubles / ((double)Nh * Nx)));
  PetscInt blocks = (xm + rows - 1) / rows;
  PetscReal sum = 0;
  std::vector<PetscReal> gamma;
  AttentionMaps maps(grid, controls);
  MPI_Comm comm = grid.Comm();
  hid_t ds = -1, dxpl = -1;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCall(maps.SetUp(t, u, rows));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &blocks, 1, MPIU_INT, MPI_MAX, comm));
  if (file >= 0) {
    const hsize_t dims[3] = {(hsize_t)Nh, (hsize_t)Nx, (hsize_t)Nx};
    hid_t space = H5Screate_simple(3, dims, nullptr), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    ds = H5Dcreate2(file, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Sclose(space);
    H5Pclose(dcpl);
    PetscCheck(ds >= 0, comm, PETSC_ERR_FILE_WRITE, "could not create the attention map dataset %s", name);
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  }
  // Every rank takes part in every collective write, with an empty selection once its rows are done.
  for (PetscInt b = 0; b < blocks; ++b) {
    const PetscInt k0 = b * rows, n = std::max<PetscInt>(0, std::min(rows, xm - k0));
    if (n > 0) {
      PetscCall(maps.Rows(k0, n, &gamma));
      sum += AttentionEntropySum(gamma, Nx, grid.dx());
    }
    if (ds < 0) continue;
    const hsize_t start[3] = {0, (hsize_t)(xs + k0), 0}, count[3] = {(hsize_t)Nh, (hsize_t)std::max<PetscInt>(n, 1), (hsize_t)Nx};
    hid_t fspace = H5Dget_space(ds), mspace = H5Screate_simple(3, count, nullptr);
    if (n > 0) H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
    else H5Sselect_none(fspace), H5Sselect_none(mspace);
    const PetscReal none = 0;  // a valid buffer for an empty selection
    ok = H5Dwrite(ds, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, n > 0 ? gamma.data() : &none) >= 0 && ok;
    H5Sclose(mspace);
    H5Sclose(fspace);
  }
  if (ds >= 0) {
    H5Pclose(dxpl);
    H5Dclose(ds);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "could not write the attention map dataset %s", name);
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &sum, 1, MPIU_REAL, MPIU_SUM, comm));
  *entropy = sum / (Nx * Nh);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
