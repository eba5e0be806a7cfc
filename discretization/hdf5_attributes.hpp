// Scalar attributes written with serial HDF5 by the rank that owns a file (controls, gradient, checkpoint, trajectory
// index and logits files). An attribute of the same name is replaced. Each returns whether HDF5 succeeded; the caller
// reports the file. object is a path in the file ("/" the root group).
#pragma once
#include <hdf5.h>
#include <petscsys.h>

#include <string>

namespace ctflow {

bool H5AttributeWrite(hid_t file, const std::string &object, const char name[], PetscReal value);
bool H5AttributeWrite(hid_t file, const std::string &object, const char name[], long long value);
bool H5AttributeWrite(hid_t file, const std::string &object, const char name[], const std::string &value);  // fixed length

}  // namespace ctflow
