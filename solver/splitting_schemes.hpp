// Registry of named splitting schemes. A scheme is data: given J (the number of feed-forward layers), it
// returns a composition expression (solver/composition.hpp). Adding a scheme is one builder and one
// SplittingSchemeRegister line in SplittingSchemeRegisterAll.
#pragma once
#include <petscsys.h>

#include <string>

namespace ctflow {

using SplittingSchemeBuilder = std::string (*)(PetscInt J);

PetscErrorCode SplittingSchemeRegister(const char name[], SplittingSchemeBuilder build);
PetscErrorCode SplittingSchemeRegisterAll();
// The registered list, for PetscOptionsFList.
PetscFunctionList SplittingSchemeList();
PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, PetscInt J, std::string *expr);

}  // namespace ctflow
