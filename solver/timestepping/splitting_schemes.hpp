// Registry of named splitting schemes (-split NAME). A scheme is data: a builder that turns the operator
// order (the units to split, -split_order) and, for hybrid splitting, their grouping (-split_groups) into a
// composition expression (solver/timestepping/composition.hpp), plus its nominal order p in Δt (for exact or high-order
// substeps and smooth controls; the convergence test in tests/splitting/ checks it for every scheme; -dt_adapt
// uses it in its step-size rule).
// Adding a scheme is one builder and one SplittingSchemeRegister line in SplittingSchemeRegisterAll.
//
// Units: each is an expression; "ffn" stands for the paper's feed-forward block with skip relaxation,
// avg(seq(ffn1, relu, ..., ffnJ, relu), identity) (eq. (15), (16), (23)), which every scheme treats as
// one indivisible unit. The default order is the paper's: attention, layernorm, ffn, layernorm.
// For units U_1..U_m the built-in schemes are (docs/splitting.md):
//   lie           seq(U_1, ..., U_m)                                     eq. (13)–(17), (58)    order 1
//   strang        seq(U_1[0, 1/2], ..., U_m, ..., U_1[1/2, 1])                                  order 2
//   parallel      avg(U_1*m, ..., U_m*m)                                 eq. (59)               order 1
//   parallel_add  sum(U_1, ..., U_m)                                     ARKODE additive        order 1
//   symmetric     avg(seq(U_1, ..., U_m), seq(U_m, ..., U_1))                                   order 2
//   hybrid        seq(avg(G_1 with rates |G_1|), avg(G_2 ...), ...)      appendix C [46]        order 1
#pragma once
#include <petscsys.h>

#include <string>
#include <vector>

namespace ctflow {

// units: the operator order; groups: sizes of the consecutive groups of hybrid splitting (summing to m).
using SplittingSchemeBuilder = std::string (*)(const std::vector<std::string> &units, const std::vector<PetscInt> &groups);

PetscErrorCode SplittingSchemeRegister(const char name[], PetscInt order, SplittingSchemeBuilder build);
PetscErrorCode SplittingSchemeRegisterAll();
// The registered list, for PetscOptionsFList; the names in registration order; a scheme's nominal order.
PetscFunctionList SplittingSchemeList();
std::vector<std::string> SplittingSchemeNames();
PetscErrorCode SplittingSchemeOrder(MPI_Comm comm, const std::string &name, PetscInt *order);

// The paper's operator order for J feed-forward layers, "attention, layernorm, ffn, layernorm" (without ffn for J = 0).
std::string SplittingDefaultOrder(PetscInt J);
// Splits an operator order at its top-level commas and expands "ffn" into the feed-forward block for J layers.
PetscErrorCode SplittingUnitsParse(MPI_Comm comm, const std::string &order, PetscInt J, std::vector<std::string> *units);
// The expression of scheme `name` for these units. groups: empty means consecutive pairs; else must sum to units.size().
PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, const std::vector<std::string> &units,
                                         const std::vector<PetscInt> &groups, std::string *expr);
// The error-estimate counterpart of -dt_adapt (solver/timestepping/step_adapt.hpp): scheme `name` built from the units in
// reverse order (for hybrid splitting also the groups): reversed Lie seq(U_m, ..., U_1), the shifted Strang
// seq(U_m[0, 0.5], ..., U_1, ..., U_m[0.5, 1]). Fails if that is the scheme itself up to the order of parallel
// branches, which commute (symmetric, parallel, parallel_add, hybrid with one group, a single unit).
PetscErrorCode SplittingSchemeReversedExpression(MPI_Comm comm, const std::string &name, const std::vector<std::string> &units,
                                                 const std::vector<PetscInt> &groups, std::string *expr);
// The same for the paper's order with J feed-forward layers.
PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, PetscInt J, std::string *expr);

}  // namespace ctflow
