// FrameBuffer: the substep frames of the step in progress (-traj_substeps), kept until the step is accepted and
// saved (TrajectoryWriter::Write) or dropped (a rejected adaptive attempt, or a step that is not saved). Each
// frame is the state after a node of the composition advanced it over [t0, t1] (solver/timestepping/composition.hpp),
// copied into a vector that is reused from step to step.
#pragma once
#include <string>
#include <vector>

#include "discretization/base/petsc_handle.hpp"

namespace ctflow {

class FrameBuffer {
 public:
  struct Frame {
    std::string node;  // the node's canonical expression
    PetscReal t0, t1;  // its sub-interval
    Vec u;             // its state (owned by the buffer)
  };
  // Copies u as the next frame.
  PetscErrorCode Add(const std::string &node, PetscReal t0, PetscReal t1, Vec u);
  void Clear() { frames_.clear(); }
  // Clear, and the reused vectors released too (the state's layout changes: a staged model's next stage).
  PetscErrorCode Reset() {
    frames_.clear();
    storage_.clear();
    return 0;
  }
  size_t Size() const { return frames_.size(); }
  const Frame &operator[](size_t i) const { return frames_[i]; }
  // The length of the longest node name buffered.
  size_t LongestName() const;

 private:
  std::vector<Frame> frames_;
  std::vector<UniqueVec> storage_;  // storage_[i] holds frames_[i].u
};

}  // namespace ctflow
