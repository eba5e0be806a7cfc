// XdmfIndex: the XDMF 3 file beside a trajectory (run.h5 → run.xmf) through which ParaView and VisIt open it.
//
// A temporal collection with one uniform grid per complete state: a 2DRectMesh with VXVY geometry built
// from the explicit coordinate arrays /grid/y and /grid/x, and u = /u/NNNNNN as a node-centred scalar on
// those cell centres (see docs/trajectory-format.md for why ParaView's X axis is y). The HDF5 file is
// referenced by its base name, so the pair can be moved together. Only constructs that ParaView 5.11's
// three XDMF readers all read correctly are used: no CoRectMesh, no HyperSlab.
//
// Write replaces the file atomically (a temporary file renamed over it) and is collective: rank 0
// writes, every rank gets the same error if that fails.
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

// The index file of trajectory h5_path: its extension (if any) replaced by .xmf.
std::string XdmfPathFor(const std::string &h5_path);

// Lists the states /u/000000 … of h5_path, of shape (Nx, Ny), at the given times.
PetscErrorCode XdmfIndexWrite(MPI_Comm comm, const std::string &xmf_path, const std::string &h5_path, PetscInt Nx, PetscInt Ny,
                              const std::vector<PetscReal> &times);

}  // namespace ctflow
