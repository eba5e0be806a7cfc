// Dataset: the samples of the control problem (12) / (36) from an HDF5 file (docs/training.md):
//   /inputs  (B, N_x, N_y) float64  initial states u_i,  or  /images (B, C, H, W) float64  images (a ViT embeds them)
//   /targets (B, N_x, N_y) float64  final states v_i,    or  /labels (B,) integer            classes 0 … classes − 1
// Every rank reads the whole file (samples are spread over the ranks batch by batch). Every check is collective
// and names the file and the dataset: a missing or doubled dataset, a wrong type or shape, NaN or Inf, an empty
// dataset, a label out of range.
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

class Dataset {
 public:
  // Reads and validates path; what names it in messages ("-data").
  PetscErrorCode Load(MPI_Comm comm, const std::string &path, const std::string &what);
  PetscInt Size() const { return size_; }
  bool Images() const { return images_; }
  bool Labels() const { return !labels_.empty(); }
  // The shape of one input: (N_x, N_y) or (C, H, W).
  const std::vector<PetscInt> &InputShape() const { return input_shape_; }
  const PetscReal *Input(PetscInt i) const { return &inputs_[i * input_size_]; }
  const PetscReal *Target(PetscInt i) const { return &targets_[i * target_size_]; }
  PetscInt Label(PetscInt i) const { return labels_[i]; }
  const std::vector<PetscInt> &TargetShape() const { return target_shape_; }
  // Collective: every label in 0 … classes − 1.
  PetscErrorCode CheckLabels(MPI_Comm comm, PetscInt classes) const;
  // Collective: the inputs are (N_x, N_y) (or images of (C, H, W)), the targets (N_x, N_y).
  PetscErrorCode CheckShapes(MPI_Comm comm, const std::vector<PetscInt> &input, const std::vector<PetscInt> &target, const char meaning[]) const;
  const std::string &Path() const { return path_; }
  const std::string &What() const { return what_; }

 private:
  std::string path_, what_;
  PetscInt size_ = 0, input_size_ = 0, target_size_ = 0;
  bool images_ = false;
  std::vector<PetscInt> input_shape_, target_shape_;
  std::vector<PetscReal> inputs_, targets_;
  std::vector<PetscInt> labels_;
};

}  // namespace ctflow
