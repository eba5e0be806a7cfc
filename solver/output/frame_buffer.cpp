#include "solver/output/frame_buffer.hpp"

#include <algorithm>

namespace ctflow {

PetscErrorCode FrameBuffer::Add(const std::string &node, PetscReal t0, PetscReal t1, Vec u) {
  const size_t i = frames_.size();
  PetscFunctionBeginUser;
  if (i == storage_.size()) {
    PetscCallCXX(storage_.emplace_back());
    PetscCall(VecDuplicate(u, storage_.back().Out()));
  }
  PetscCall(VecCopy(u, storage_[i]));
  PetscCallCXX(frames_.push_back({node, t0, t1, storage_[i]}));
  PetscFunctionReturn(0);
}

size_t FrameBuffer::LongestName() const {
  size_t n = 0;
  for (const Frame &f : frames_) n = std::max(n, f.node.size());
  return n;
}

}  // namespace ctflow
