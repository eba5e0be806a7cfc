// Whether a path names an object of an HDF5 file, asked without HDF5 errors: H5Lexists fails, and prints an error
// stack unless the application silenced them, when an intermediate group is missing.
#pragma once
#include <hdf5.h>

#include <string>

namespace ctflow {

// path absolute or relative to loc; false for a missing group anywhere along it.
bool H5PathExists(hid_t loc, const std::string &path);

}  // namespace ctflow
