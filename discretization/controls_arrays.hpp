// ControlsArrays: the parameters θ of a controls source as named arrays in the layout of its file
// (docs/controls-format.md): "/layers/0/WQ" (N_h, N_y, d_head), "/layers/0/sigma1" (an attribute of /layers/0),
// "/vit/head_weight", … The same layout holds a gradient dL/dθ, a perturbation δθ or an optimiser's state, so that a
// gradient file opens like a controls file and tools walk both side by side.
//
// The values of all arrays are one contiguous block, in the arrays' order (Values(): θ flat); each array's values are
// a view of it. SetStorage moves the block to the caller's memory (not copied, not owned): a trainer's flat θ or its
// gradient sums, read and accumulated in place by everything that takes ControlsArrays.
//
// Arrays are replicated on every rank. Gradients are accumulated rank by rank (each rank's tokens) and then summed
// with one Allreduce (SumOverRanks).
#pragma once
#include <hdf5.h>
#include <petscsys.h>

#include <string>
#include <utility>
#include <vector>

namespace ctflow {

// One array's values: a view of its ControlsArrays' block (as const as the array).
class ControlsValues {
 public:
  ControlsValues() = default;
  ControlsValues(PetscReal *data, size_t size) : data_(data), size_(size) {}
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  PetscReal *data() { return data_; }
  const PetscReal *data() const { return data_; }
  PetscReal *begin() { return data_; }
  PetscReal *end() { return data_ + size_; }
  const PetscReal *begin() const { return data_; }
  const PetscReal *end() const { return data_ + size_; }
  PetscReal &operator[](size_t k) { return data_[k]; }
  const PetscReal &operator[](size_t k) const { return data_[k]; }

 private:
  PetscReal *data_ = nullptr;
  size_t size_ = 0;
};

struct ControlsArray {
  std::string name;            // "/group/.../dataset", or "/group/.../attribute" for a scalar attribute
  std::vector<hsize_t> shape;  // empty: a scalar
  bool attribute = false;      // written as an attribute of the parent group (scalars such as sigma1)
  ControlsValues values;       // in the block of the ControlsArrays holding it
};

class ControlsArrays {
 public:
  ControlsArrays() = default;
  // A copy owns its values (also the copy of one whose block is the caller's).
  ControlsArrays(const ControlsArrays &other);
  ControlsArrays &operator=(const ControlsArrays &other);
  ControlsArrays(ControlsArrays &&other) noexcept { *this = std::move(other); }
  ControlsArrays &operator=(ControlsArrays &&other) noexcept;
  // Adds a zero array (an existing name keeps its values and must have the same shape). Not when the block is the
  // caller's (SetStorage): it cannot grow.
  PetscErrorCode Add(MPI_Comm comm, const std::string &name, const std::vector<hsize_t> &shape, bool attribute = false);
  // Room for n values in the block, so that adding arrays up to that size never moves it (a move holds two copies).
  PetscErrorCode Reserve(MPI_Comm comm, size_t n);
  // The array called name, or nullptr. The search starts at the array found last, so that a walk in the arrays' order
  // (every visitor of the controls' parameters) finds each within two comparisons.
  ControlsArray *Find(const std::string &name);
  const ControlsArray *Find(const std::string &name) const;
  const std::vector<ControlsArray> &Arrays() const { return arrays_; }
  std::vector<ControlsArray> &Arrays() { return arrays_; }  // to change values, not the arrays
  bool Empty() const { return arrays_.empty(); }
  // Number of scalars in all arrays.
  size_t Size() const { return size_; }
  // All values, flat: Size() scalars in the arrays' order.
  PetscReal *Values() { return block_; }
  const PetscReal *Values() const { return block_; }
  // From now on the values are data[0 … Size()), the caller's memory as it is (nothing copied; the caller keeps it
  // alive): a view of a flat θ. May be called again to move the view.
  void SetStorage(PetscReal *data);
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
  // Points the arrays' values into block_, in order.
  void Rebase();

  std::vector<ControlsArray> arrays_;
  std::vector<PetscReal> storage_;  // the block, unless it is the caller's
  PetscReal *block_ = nullptr;      // storage_.data() or the caller's memory
  bool external_ = false;           // the block is the caller's (SetStorage)
  size_t size_ = 0;
  mutable size_t last_ = 0;  // where Find starts
};

}  // namespace ctflow
