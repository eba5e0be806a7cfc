#include "solver/problem/controls_perturbation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "discretization/analytic_controls.hpp"
#include "discretization/base/number_format.hpp"
#include "discretization/scaled_controls.hpp"

namespace ctflow {

std::string ControlsPerturbation::Label() const {
  return kind == Kind::Seed ? "seed:" + std::to_string((long long)value) : "scale:" + FormatShortest(value);
}

PetscErrorCode ControlsPerturbationParseList(MPI_Comm comm, const std::string &text, const char option[], std::vector<ControlsPerturbation> *list) {
  PetscFunctionBeginUser;
  list->clear();
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string entry;
    PetscCallCXX(entry = text.substr(start, comma - start));
    const size_t a = entry.find_first_not_of(" \t"), b = entry.find_last_not_of(" \t");
    PetscCallCXX(entry = a == std::string::npos ? "" : entry.substr(a, b - a + 1));
    const size_t colon = entry.find(':');
    std::string kind, number;
    PetscCallCXX(kind = entry.substr(0, colon));
    PetscCallCXX(number = colon == std::string::npos ? "" : entry.substr(colon + 1));
    ControlsPerturbation p;
    PetscCheck(kind == "seed" || kind == "scale", comm, PETSC_ERR_USER_INPUT, "%s '%s': unknown perturbation '%s' (choose seed:n or scale:s)", option,
               text.c_str(), entry.c_str());
    p.kind = kind == "seed" ? ControlsPerturbation::Kind::Seed : ControlsPerturbation::Kind::Scale;
    char *end = nullptr;
    p.value = std::strtod(number.c_str(), &end);
    PetscCheck(!number.empty() && *end == 0 && std::isfinite(p.value), comm, PETSC_ERR_USER_INPUT, "%s '%s': '%s' needs a number after '%s:'", option,
               text.c_str(), entry.c_str(), kind.c_str());
    PetscCheck(p.kind == ControlsPerturbation::Kind::Scale || (p.value == std::floor(p.value) && std::abs(p.value) < 1e15), comm,
               PETSC_ERR_USER_INPUT, "%s '%s': the seed in '%s' must be an integer", option, text.c_str(), entry.c_str());
    PetscCallCXX(list->push_back(p));
    start = comma + 1;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode ControlsPerturbationApply(const ControlsPerturbation &p, const Problem &level, Problem *perturbed) {
  PetscFunctionBeginUser;
  if (p.kind == ControlsPerturbation::Kind::Scale) {
    std::unique_ptr<Controls> scaled;
    PetscCallCXX(scaled = std::make_unique<ScaledControls>(level.GetControls(), p.value));
    PetscCall(perturbed->SetControls(std::move(scaled)));
    PetscFunctionReturn(0);
  }
  auto *analytic = dynamic_cast<AnalyticControls *>(&perturbed->GetControls());
  PetscCheck(analytic, level.Comm(), PETSC_ERR_USER_INPUT,
             "-study_sensitivity %s: a seed perturbs analytic controls, and the controls are %s (scale:s perturbs any controls)", p.Label().c_str(),
             level.GetControls().Description().c_str());
  analytic->SetSeed((PetscInt)p.value);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
