// FrozenParameters: the arrays of θ that training leaves as they are (-train_freeze PATTERN[,PATTERN…]), as
// torch's requires_grad = False does: their gradient entries are zero (so they count in neither the gradient norm nor
// its clipping) and after every optimiser step they get their values back (so weight decay, momentum and Adam's
// moments do not move them either). A pattern is a shell wildcard (fnmatch(3)) over the arrays' names in the controls
// file, with or without the leading '/': "layers/0/mlp_*", "*/WQ", "vit/patch_*" (docs/controls-format.md).
#pragma once
#include <petscsys.h>

#include <string>
#include <utility>
#include <vector>

#include "discretization/controls_arrays.hpp"

namespace ctflow {

class FrozenParameters {
 public:
  void SetPatterns(const std::vector<std::string> &patterns) { patterns_ = patterns; }
  // Finds the arrays of theta (a view of a flat θ) that the patterns name and keeps their current values; an error
  // for a pattern that names none.
  PetscErrorCode SetUp(MPI_Comm comm, const ControlsArrays &theta);
  bool Empty() const { return ranges_.empty(); }
  // "6 array(s), 112 parameters (vit/patch_*, layers/0/mlp_*)".
  std::string Description() const;
  // Zeroes the frozen entries of a flat gradient.
  void Mask(std::vector<PetscReal> *g) const;
  // Puts the frozen values back into a flat θ.
  void Restore(std::vector<PetscReal> *theta) const;

 private:
  std::vector<std::string> patterns_;
  std::vector<std::pair<size_t, size_t>> ranges_;  // offset and size in θ
  std::vector<PetscReal> values_;                  // the frozen arrays' values, range after range
  size_t count_ = 0;
};

}  // namespace ctflow
