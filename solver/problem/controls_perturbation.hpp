// ControlsPerturbation: a change θ → θ' of a Problem's controls, for the sensitivity part of a convergence study
// (-study_sensitivity, solver/problem/convergence_study.hpp): does the refined solution still depend on θ?
//
//   seed:n    analytic controls of seed n instead of the configured seed (everything else as configured);
//   scale:s   every flow term multiplied by s (discretization/scaled_controls.hpp); scale:0 keeps only the
//             projections (and relaxation flows), so a model whose limit forgets its controls shows it there.
//
// Written as a comma-separated list, e.g. "seed:5,scale:0".
#pragma once
#include <string>
#include <vector>

#include "solver/problem/problem.hpp"

namespace ctflow {

struct ControlsPerturbation {
  enum class Kind { Seed, Scale };
  Kind kind = Kind::Scale;
  PetscReal value = 0;
  // "seed:5", "scale:0.5"
  std::string Label() const;
};

// The list of `option` (text as above); an unknown kind or a malformed number is an error naming the entry.
PetscErrorCode ControlsPerturbationParseList(MPI_Comm comm, const std::string &text, const char option[], std::vector<ControlsPerturbation> *list);
// Gives `perturbed` (configured like `level`, not yet set up) the perturbed controls of `level` (set up; it must
// outlive `perturbed` for scale:s). Fails for seed:n unless the controls are analytic.
PetscErrorCode ControlsPerturbationApply(const ControlsPerturbation &p, const Problem &level, Problem *perturbed);

}  // namespace ctflow
