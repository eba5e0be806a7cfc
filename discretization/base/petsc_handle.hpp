// Owned PETSc objects: a handle destroys its object when it goes out of scope, so that no error path
// leaks (deal.II's PETScWrappers and PETSc's own C++ guidance do the same).
//
//   UniqueVec v;
//   PetscCall(VecDuplicate(u, v.Out()));   // Out(): destroys what v held, returns the slot to create into
//   PetscCall(VecCopy(u, v));              // converts to the raw handle for PETSc calls
//
// Handles move but do not copy; Release() gives the object up without destroying it. Every handle must be
// destroyed before PetscFinalize (keep them in objects and scopes that end before it).
#pragma once
#include <petscdm.h>
#include <petscts.h>
#include <petscviewer.h>

#include <utility>

namespace ctflow {

template <typename T, PetscErrorCode (*Destroy)(T *)>
class PetscHandle {
 public:
  PetscHandle() = default;
  explicit PetscHandle(T object) : object_(object) {}
  ~PetscHandle() { (void)Destroy(&object_); }
  PetscHandle(const PetscHandle &) = delete;
  PetscHandle &operator=(const PetscHandle &) = delete;
  PetscHandle(PetscHandle &&other) noexcept : object_(other.Release()) {}
  PetscHandle &operator=(PetscHandle &&other) noexcept {
    if (this != &other) {
      (void)Destroy(&object_);
      object_ = other.Release();
    }
    return *this;
  }

  operator T() const { return object_; }
  T Get() const { return object_; }
  explicit operator bool() const { return object_ != nullptr; }
  // The slot to create a new object into (the old one is destroyed first).
  T *Out() {
    (void)Destroy(&object_);
    return &object_;
  }
  T Release() { return std::exchange(object_, nullptr); }
  PetscErrorCode Reset() { return Destroy(&object_); }

 private:
  T object_ = nullptr;
};

using UniqueVec = PetscHandle<Vec, VecDestroy>;
using UniqueDM = PetscHandle<DM, DMDestroy>;
using UniqueTS = PetscHandle<TS, TSDestroy>;
using UniqueViewer = PetscHandle<PetscViewer, PetscViewerDestroy>;
using UniqueScatter = PetscHandle<VecScatter, VecScatterDestroy>;
using UniqueMat = PetscHandle<Mat, MatDestroy>;
using UniqueIS = PetscHandle<IS, ISDestroy>;

}  // namespace ctflow
