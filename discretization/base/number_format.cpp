#include "discretization/base/number_format.hpp"

#include <cstdio>
#include <cstdlib>

namespace ctflow {

std::string FormatShortest(PetscReal x) {
  char s[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(s, sizeof(s), "%.*g", digits, (double)x);
    if (std::strtod(s, nullptr) == (double)x) break;
  }
  return s;
}

std::string FormatExact(PetscReal x) {
  char s[32];
  std::snprintf(s, sizeof(s), "%.17g", (double)x);
  return s;
}

}  // namespace ctflow
