#include "solver/training/frozen_parameters.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace ctflow {

PetscErrorCode FrozenParameters::SetUp(MPI_Comm comm, const ControlsArrays &theta) {
  PetscFunctionBeginUser;
  ranges_.clear(), values_.clear(), count_ = 0;
  std::vector<bool> frozen(theta.Arrays().size(), false);
  for (const std::string &pattern : patterns_) {
    const std::string rooted = pattern.empty() || pattern[0] == '/' ? pattern : "/" + pattern;
    bool matched = false;
    for (size_t a = 0; a < theta.Arrays().size(); ++a)
      if (fnmatch(rooted.c_str(), theta.Arrays()[a].name.c_str(), 0) == 0) frozen[a] = matched = true;
    if (!matched) {
      std::string names;
      for (const ControlsArray &array : theta.Arrays()) names += (names.empty() ? "" : ", ") + array.name.substr(1);
      SETERRQ(comm, PETSC_ERR_USER_INPUT, "-train_freeze '%s' names no parameter array of the controls; their arrays are: %s", pattern.c_str(),
              names.c_str());
    }
  }
  for (size_t a = 0; a < frozen.size(); ++a) {
    if (!frozen[a]) continue;
    const ControlsValues &v = theta.Arrays()[a].values;
    PetscCallCXX(ranges_.emplace_back((size_t)(v.data() - theta.Values()), v.size()));
    PetscCallCXX(values_.insert(values_.end(), v.begin(), v.end()));
    count_ += v.size();
  }
  PetscFunctionReturn(0);
}

std::string FrozenParameters::Description() const {
  std::string patterns;
  for (const std::string &p : patterns_) patterns += (patterns.empty() ? "" : ", ") + p;
  return std::to_string(ranges_.size()) + " array(s), " + std::to_string(count_) + " parameters (" + patterns + ")";
}

void FrozenParameters::Mask(std::vector<PetscReal> *g) const {
  for (const auto &[offset, size] : ranges_) std::fill_n(g->begin() + (std::ptrdiff_t)offset, size, 0.0);
}

void FrozenParameters::Restore(std::vector<PetscReal> *theta) const {
  const PetscReal *v = values_.data();
  for (const auto &[offset, size] : ranges_) {
    std::copy_n(v, size, theta->begin() + (std::ptrdiff_t)offset);
    v += size;
  }
}

}  // namespace ctflow
