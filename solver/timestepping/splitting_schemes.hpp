// Registry of named splitting schemes (-split NAME). A scheme is data: a builder that turns the units to split
// (-split_order) and, for hybrid splitting, their grouping (-split_groups) into a splitting expression tree
// (solver/timestepping/splitting_expression.hpp), plus its nominal order p in Δt (for exact or high-order substeps
// and smooth controls; tests/splitting/ checks it for every registered scheme; -dt_adapt uses it in its step-size
// rule). Adding a scheme is one builder and one SplittingSchemeRegister call (the built-in ones: RegisterBuiltins
// in splitting_schemes.cpp).
//
// Units: each is a node; "ffn" stands for the paper's feed-forward block with skip relaxation,
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

#include "solver/timestepping/splitting_expression.hpp"

namespace ctflow {

// units: the operator order; groups: sizes of the consecutive groups of hybrid splitting (summing to m).
using SplittingSchemeBuilder = SplittingExpression (*)(const std::vector<SplittingExpression> &units, const std::vector<PetscInt> &groups);

PetscErrorCode SplittingSchemeRegister(const char name[], PetscInt order, SplittingSchemeBuilder build);
// Makes sure the built-in schemes are registered (they are on first use anyway).
PetscErrorCode SplittingSchemeRegisterAll();
// The registered names, for PetscOptionsFList and in registration order; a scheme's nominal order.
PetscErrorCode SplittingSchemeOptionsList(PetscFunctionList *list);
std::vector<std::string> SplittingSchemeNames();
PetscErrorCode SplittingSchemeOrder(MPI_Comm comm, const std::string &name, PetscInt *order);

// The paper's operator order for J feed-forward layers, "attention, layernorm, ffn, layernorm" (without ffn for J = 0).
std::string SplittingDefaultOrder(PetscInt J);
// The units of an operator order (-split_order): its comma-separated nodes, "ffn" expanded into the feed-forward
// block for J layers (and "conv_ffn" into the block of convolutional layers conv_ffn1 … conv_ffnJ, paper §6).
PetscErrorCode SplittingUnitsParse(MPI_Comm comm, const std::string &order, PetscInt J, std::vector<SplittingExpression> *units);
// The tree of scheme `name` for these units. groups: empty means consecutive pairs; else must sum to units.size().
PetscErrorCode SplittingSchemeBuild(MPI_Comm comm, const std::string &name, const std::vector<SplittingExpression> &units,
                                    const std::vector<PetscInt> &groups, SplittingExpression *scheme);
// Whether the scheme's composition of these units depends on -split_groups (one group against singletons differ).
PetscErrorCode SplittingSchemeUsesGroups(MPI_Comm comm, const std::string &name, const std::vector<SplittingExpression> &units, bool *uses);
// The error-estimate counterpart of -dt_adapt (solver/timestepping/step_adapt.hpp): scheme `name` built from the units
// in reverse order (for hybrid splitting also the groups): reversed Lie seq(U_m, ..., U_1), the shifted Strang
// seq(U_m[0, 0.5], ..., U_1, ..., U_m[0.5, 1]). Fails if that is the scheme itself up to the order of parallel
// branches, which commute (symmetric, parallel, parallel_add, hybrid with one group, a single unit).
PetscErrorCode SplittingSchemeBuildReversed(MPI_Comm comm, const std::string &name, const std::vector<SplittingExpression> &units,
                                            const std::vector<PetscInt> &groups, SplittingExpression *scheme);

// The canonical text of the same, for units given as text, or for the paper's order with J feed-forward layers.
PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, const std::vector<std::string> &units,
                                         const std::vector<PetscInt> &groups, std::string *expr);
PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, PetscInt J, std::string *expr);

}  // namespace ctflow
