#include "discretization/hdf5_links.hpp"

namespace ctflow {

bool H5PathExists(hid_t loc, const std::string &path) {
  size_t pos = 0;
  while ((pos = path.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(loc, path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(loc, path.c_str(), H5P_DEFAULT) > 0;
}

}  // namespace ctflow
