// XdmfIndex: the XDMF 3 files beside a trajectory through which ParaView and VisIt open it:
//   run.h5 → run.xmf            the states u on the (x, y) grid
//            run_substeps.xmf   the substep frames (-traj_substeps), on the same grid
//            run_attention.xmf  the attention maps γ (-traj_attention) on the (h, x, η) grid
//
// Each is a temporal collection with one uniform grid per complete entry: a 2DRectMesh (VXVY) or
// 3DRectMesh (VXVYVZ) built from explicit coordinate arrays (/grid/y, /grid/x, /grid/h; /grid/y2, /grid/y1, /grid/x of
// images; a later stage's under /grid/stage<s>/), and the field as a
// node-centred scalar on those cell centres (see docs/trajectory-format.md for the axes). The coordinates are
// read from the index by its base name and each field straight from its segment (run.d/NNNNNN.h5:/u), by a
// path relative to the XDMF file, so the files can be moved together; ParaView 5.11's Xdmf2 reader does not
// follow the index's external links. Only constructs that ParaView 5.11's three XDMF readers all read
// correctly are used: no CoRectMesh, no HyperSlab.
//
// Write replaces the file atomically (a temporary file renamed over it) and is collective: rank 0
// writes, every rank gets the same error if that fails.
#pragma once
#include <petscsys.h>

#include <string>
#include <utility>
#include <vector>

namespace ctflow {

// The index file of trajectory h5_path: its extension (if any) replaced by suffix + ".xmf".
std::string XdmfPathFor(const std::string &h5_path, const std::string &suffix = "");

// The coordinate datasets of the index and their sizes, slowest first (2 or 3 of them).
using XdmfAxes = std::vector<std::pair<std::string, PetscInt>>;

// One temporal collection: the field items[n] on the grid axes[n] at times[n].
struct XdmfSeries {
  std::string field;  // the name ParaView shows, e.g. "u"
  std::vector<PetscReal> times;
  std::vector<std::string> items;  // "FILE:/dataset", FILE relative to the XDMF file's directory
  std::vector<XdmfAxes> axes;      // each item's grid (the stages of a staged model have different grids)
};

// Whether the file at path is an XDMF index that ctflow wrote (which a new run may replace).
bool XdmfWrittenByCtflow(const std::string &path);

// Collective; rank 0's series is written (the other ranks' items may be empty). Names are XML-escaped.
PetscErrorCode XdmfIndexWrite(MPI_Comm comm, const std::string &xmf_path, const std::string &h5_path, const XdmfSeries &series);

}  // namespace ctflow
