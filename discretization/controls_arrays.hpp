// ControlsArrays: the parameters θ of a controls source as named arrays in the layout of its file
// (docs/controls-format.md): "/layers/0/WQ" (N_h, N_y, d_head), "/layers/0/sigma1" (an attribute of /layers/0),
// "/vit/head_weight", … The same layout holds a gradient dL/dθ, a perturbation δθ or an optimiser's state, so that a
// gradient file opens like a controls file and tools walk both side by side.
//
// Arrays are replicated on every rank. Gradients are accumulated rank by rank (each rank's tokens) and then summed
// with one Allreduce (SumOverRanks).
#pragma once
#include <hdf5.h>
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

struct ControlsArray {
  std::string name;            // "/group/.../dataset", or "/group/.../attribute" for a scalar attribute
  std::vector<hsize_t> shape;  // empty: a scalar
  bool attribute = false;      // written as an attribute of the parent group (scalars such as sigma1)
  std::vector<PetscReal> values;
};

class ControlsArrays {
 public:
  // Adds a zero array (an existing name keeps its values and must have the same shape).
  PetscErrorCode Add(MPI_Comm comm, const std::string &name, const std::vector<hsize_t> &shape, bool attribute = false);
  // The array called name, or nullptr. The search starts at the array found last, so that a walk in the arrays' order
  // (every visitor of the controls' parameters) finds each within two comparisons.
  ControlsArray *Find(const std::string &name);
  const ControlsArray *Find(const std::string &name) const;
  const std::vector<ControlsArray> &Arrays() const { return arrays_; }
  std::vector<ControlsArray> &Arrays() { return arrays_; }
  bool Empty() const { return arrays_.empty(); }
  // Number of scalars in all arrays.
  size_t Size() const;
  // The same names and shapes, all zero.
  ControlsArrays ZerosLike() const;
  void Scale(PetscReal a);
  void SetZero();
  // this += a x (same layout).
  PetscErrorCode Axpy(MPI_Comm comm, PetscReal a, const ControlsArrays &x);
  // Σ this ⊙ x (same layout).
  PetscErrorCode Dot(MPI_Comm comm, const ControlsArrays &x, PetscReal *dot) const;
  // Collective: every array summed over the ranks of comm, in place.
  PetscErrorCode SumOverRanks(MPI_Comm comm);
  // Collective: rank 0 writes the arrays into the open HDF5 file (groups created as needed).
  PetscErrorCode Write(MPI_Comm comm, hid_t file) const;

 private:
  std::vector<ControlsArray> arrays_;
  mutable size_t last_ = 0;  // where Find starts
};

}  // namespace ctflow
