// How a splitting scheme treats the non-smooth terms ∂I_S1, ∂I_S2 of eq. (7) (-split_projections,
// Integrator::SetProjectionForm; docs/continuum.md):
//
//   hard      the paper's: a projection leaf (layernorm, relu, ...) is its exact proximal map, eq. (14), (17), (24).
//             When S1 ∩ S2 = ∅ the limit Δt → 0 forgets the controls (docs/continuum.md).
//   relax     every projection leaf P other than identity becomes the relaxation flow relax_<P>, u_t = λ (P_S(u) − u)
//             (operators/projection_relaxation.hpp); with Euler substeps and λΔt = 1 a step is the hard one. Schemes of
//             order 2 (strang, symmetric) split a skip average avg(X, identity, ...) of K branches, which with flows
//             is a first-order parallel splitting of u_t = (1/K) X, into the units of X at rate 1/K (the feed-forward
//             block becomes ffn1*1/2, relax_relu*1/2, ...); schemes of order 1 keep the paper's block.
//   manifold  the layer norm as a constraint (a projection method, GNI §IV.4): the units other than the paper's
//             `layernorm` must be flows; each becomes tangent_<unit> (operators/tangent_flow.hpp), the scheme splits
//             those, and every step is
//                 seq(layernorm[1/2, 1/2], <scheme of the tangent flows>, layernorm[1, 1]),
//             the first projection onto S1 at the step's midpoint (so that the flows see the constraint of
//             t + Δt/2 when σ1, σ2 vary), the last at its end. The scheme keeps its order on the projected flow
//             u_t = Π_{T_u S1} A(u), the limit of the hard model.
#pragma once
#include <string>
#include <vector>

#include "operators/operator.hpp"
#include "solver/timestepping/splitting_expression.hpp"

namespace ctflow {

enum class ProjectionForm { Hard, Relax, Manifold };
// "hard", "relax", "manifold", in the order of the enum.
extern const char *const ProjectionFormNames[3];
// The form named `name`; another name is an error naming `option` and the three names.
PetscErrorCode ProjectionFormParse(MPI_Comm comm, const char option[], const std::string &name, ProjectionForm *form);

// The units a scheme of nominal order `order` splits in this form. Manifold: *constraint is the layer-norm leaf the
// units named (they lose it).
PetscErrorCode ProjectionFormUnits(MPI_Comm comm, ProjectionForm form, PetscInt order, std::vector<SplittingExpression> *units,
                                   SplittingExpression *constraint);
// A step of this form around the scheme's tree (manifold: the projections around it; otherwise the tree).
SplittingExpression ProjectionFormStep(ProjectionForm form, const SplittingExpression &scheme, const SplittingExpression &constraint);
// relax: e with every projection leaf other than identity renamed relax_<name> (the operators are created with ctx
// to learn their kind); otherwise e.
PetscErrorCode ProjectionFormLeaves(ProjectionForm form, const SplittingExpression &e, const OperatorContext &ctx, SplittingExpression *out);

}  // namespace ctflow
