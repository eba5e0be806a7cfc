#include "discretization/base/registry.hpp"

#include <algorithm>

namespace ctflow::detail {

namespace {
std::vector<RegistryBase *> tracked;  // the registries populated since PetscInitialize

PetscErrorCode ClearAll() {
  for (RegistryBase *r : tracked) r->Clear();
  tracked.clear();
  return 0;
}
}  // namespace

PetscErrorCode RegistryBase::TrackForFinalize(RegistryBase *registry) {
  PetscFunctionBeginUser;
  if (tracked.empty()) PetscCall(PetscRegisterFinalize(ClearAll));
  if (std::find(tracked.begin(), tracked.end(), registry) == tracked.end()) PetscCallCXX(tracked.push_back(registry));
  PetscFunctionReturn(0);
}

}  // namespace ctflow::detail
