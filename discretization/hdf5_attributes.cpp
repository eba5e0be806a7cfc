#include "discretization/hdf5_attributes.hpp"

namespace ctflow {

static bool Write(hid_t file, const std::string &object, const char name[], hid_t type, const void *value) {
  if (H5Aexists_by_name(file, object.c_str(), name, H5P_DEFAULT) > 0 && H5Adelete_by_name(file, object.c_str(), name, H5P_DEFAULT) < 0) return false;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate_by_name(file, object.c_str(), name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = attr >= 0 && H5Awrite(attr, type, value) >= 0;
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  return ok;
}

bool H5AttributeWrite(hid_t file, const std::string &object, const char name[], PetscReal value) {
  return Write(file, object, name, H5T_NATIVE_DOUBLE, &value);  // stored as IEEE float64, the native double
}

bool H5AttributeWrite(hid_t file, const std::string &object, const char name[], long long value) {
  return Write(file, object, name, H5T_NATIVE_LLONG, &value);
}

bool H5AttributeWrite(hid_t file, const std::string &object, const char name[], const std::string &value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.size() + 1);
  const bool ok = Write(file, object, name, type, value.c_str());
  H5Tclose(type);
  return ok;
}

}  // namespace ctflow
