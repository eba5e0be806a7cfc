#include "solver/splitting_schemes.hpp"

namespace ctflow {

static PetscFunctionList scheme_list = nullptr;
static std::string scheme_names;

// The paper's Lie scheme (13)–(17): attention, layer norm, the J feed-forward layers each followed by its
// ReLU projection (eq. (15), (23)) averaged with the skip branch (eq. (16)), layer norm.
static std::string LieScheme(PetscInt J) {
  std::string ffn;
  for (PetscInt j = 1; j <= J; ++j) ffn += (j > 1 ? ", ffn" : "ffn") + std::to_string(j) + ", relu";
  const std::string feed_forward = J > 0 ? "avg(seq(" + ffn + "), identity), " : "";
  return "seq(attention, layernorm, " + feed_forward + "layernorm)";
}

PetscErrorCode SplittingSchemeRegister(const char name[], SplittingSchemeBuilder build) {
  PetscFunctionBeginUser;
  PetscCall(PetscFunctionListAdd(&scheme_list, name, build));
  scheme_names += (scheme_names.empty() ? "" : ", ") + std::string(name);
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeRegisterAll() {
  static bool registered = false;
  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(0);
  registered = true;
  PetscCall(SplittingSchemeRegister("lie", LieScheme));
  PetscFunctionReturn(0);
}

PetscFunctionList SplittingSchemeList() { return scheme_list; }

PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, PetscInt J, std::string *expr) {
  SplittingSchemeBuilder build = nullptr;
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeRegisterAll());
  PetscCall(PetscFunctionListFind(scheme_list, name.c_str(), &build));
  PetscCheck(build, comm, PETSC_ERR_USER_INPUT, "unknown splitting scheme '%s'; known schemes: %s", name.c_str(),
             scheme_names.c_str());
  PetscCallCXX(*expr = build(J));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
