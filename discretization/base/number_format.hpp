// Real numbers as text: the shortest decimal that reads back as the same double (canonical splitting
// expressions, messages) and the 17 significant digits that always do (files meant to be read back).
#pragma once
#include <petscsys.h>

#include <string>

namespace ctflow {

std::string FormatShortest(PetscReal x);
std::string FormatExact(PetscReal x);

}  // namespace ctflow
