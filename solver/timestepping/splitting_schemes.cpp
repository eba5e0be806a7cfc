#include "solver/timestepping/splitting_schemes.hpp"

#include <algorithm>
#include <numeric>

#include "discretization/base/registry.hpp"

namespace ctflow {

namespace {

using Kind = SplittingExpression::Kind;
using Units = std::vector<SplittingExpression>;

struct Scheme {
  PetscInt order;
  SplittingSchemeBuilder build;
};

// Parallel substeps of eq. (59): the average of the units, each with rate factor K.
SplittingExpression Parallel(const Units &units) {
  if (units.size() == 1) return units[0];
  Units branches;
  for (const auto &u : units) branches.push_back(u.Rate((PetscReal)units.size()));
  return SplittingExpression::Group(Kind::Avg, branches);
}

// The paper's order, eq. (13)–(17) and (58).
SplittingExpression Lie(const Units &units, const std::vector<PetscInt> &) { return SplittingExpression::Group(Kind::Seq, units); }

// Half steps [0, 1/2] of U_1..U_{m-1}, the whole step of U_m, then half steps [1/2, 1] in reverse: symmetric.
SplittingExpression Strang(const Units &units, const std::vector<PetscInt> &) {
  const size_t m = units.size();
  Units steps;
  for (size_t k = 0; k + 1 < m; ++k) steps.push_back(units[k].Over(0, 0.5));
  steps.push_back(units[m - 1]);
  for (size_t k = m - 1; k-- > 0;) steps.push_back(units[k].Over(0.5, 1));
  return SplittingExpression::Group(Kind::Seq, steps);
}

// Appendix C, eq. (59).
SplittingExpression ParallelAveraged(const Units &units, const std::vector<PetscInt> &) { return Parallel(units); }

// ARKODE's additive parallel splitting: u = Σ_k Φ_k(u^n) − (K − 1) u^n.
SplittingExpression ParallelAdditive(const Units &units, const std::vector<PetscInt> &) { return SplittingExpression::Group(Kind::Sum, units); }

// The average of Lie and reversed Lie.
SplittingExpression Symmetric(const Units &units, const std::vector<PetscInt> &) {
  return SplittingExpression::Group(
      Kind::Avg, {SplittingExpression::Group(Kind::Seq, units), SplittingExpression::Group(Kind::Seq, Units(units.rbegin(), units.rend()))});
}

// Sequential groups, each a parallel splitting of its units (appendix C, hybrid splitting [46]).
SplittingExpression Hybrid(const Units &units, const std::vector<PetscInt> &groups) {
  Units steps;
  size_t k = 0;
  for (PetscInt g : groups) {
    steps.push_back(Parallel(Units(units.begin() + k, units.begin() + k + g)));
    k += g;
  }
  return steps.size() == 1 ? steps[0] : SplittingExpression::Group(Kind::Seq, steps);
}

PetscErrorCode RegisterBuiltins(Registry<Scheme> &r) {
  PetscFunctionBeginUser;
  PetscCall(r.Register("lie", {1, Lie}));
  PetscCall(r.Register("strang", {2, Strang}));
  PetscCall(r.Register("parallel", {1, ParallelAveraged}));
  PetscCall(r.Register("parallel_add", {1, ParallelAdditive}));
  PetscCall(r.Register("symmetric", {2, Symmetric}));
  PetscCall(r.Register("hybrid", {1, Hybrid}));
  PetscFunctionReturn(0);
}

Registry<Scheme> schemes("splitting scheme", "schemes", RegisterBuiltins);

// The canonical text of e with the branches of every avg and sum node sorted: parallel branches commute, so
// expressions with equal commuted forms are the same composition (up to round-off).
std::string CommutedForm(SplittingExpression e) {
  std::vector<std::string> forms;
  for (auto &c : e.children) forms.push_back(CommutedForm(c));
  if (e.kind == Kind::Avg || e.kind == Kind::Sum) std::sort(forms.begin(), forms.end());
  if (!e.IsGroup()) return SplittingExpressionFormat(e);
  std::string s = std::to_string((int)e.kind) + "(";
  for (const auto &f : forms) s += f + ",";
  e.children.clear();
  return s + ")" + SplittingExpressionFormat(e);
}

PetscErrorCode ResolveGroups(MPI_Comm comm, size_t num_units, const std::vector<PetscInt> &groups, std::vector<PetscInt> *g) {
  PetscFunctionBeginUser;
  *g = groups;
  if (g->empty())
    for (size_t k = 0; k < num_units; k += 2) g->push_back(std::min<PetscInt>(2, num_units - k));
  for (PetscInt size : *g)
    PetscCheck(size > 0, comm, PETSC_ERR_USER_INPUT, "-split_groups: every group needs at least one operator, got %" PetscInt_FMT, size);
  const PetscInt total = std::accumulate(g->begin(), g->end(), PetscInt(0));
  PetscCheck(total == (PetscInt)num_units, comm, PETSC_ERR_USER_INPUT,
             "-split_groups: the group sizes add up to %" PetscInt_FMT " but -split_order has %zu operators", total, num_units);
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode SplittingSchemeRegister(const char name[], PetscInt order, SplittingSchemeBuilder build) {
  PetscFunctionBeginUser;
  PetscCall(schemes.Register(name, {order, build}));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeRegisterAll() {
  PetscFunctionList list;
  PetscFunctionBeginUser;
  PetscCall(schemes.OptionsList(&list));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeOptionsList(PetscFunctionList *list) { return schemes.OptionsList(list); }

std::vector<std::string> SplittingSchemeNames() {
  std::vector<std::string> names;
  (void)schemes.Names(&names);
  return names;
}

PetscErrorCode SplittingSchemeOrder(MPI_Comm comm, const std::string &name, PetscInt *order) {
  const Scheme *s = nullptr;
  PetscFunctionBeginUser;
  PetscCall(schemes.Find(comm, name, &s));
  *order = s->order;
  PetscFunctionReturn(0);
}

std::string SplittingDefaultOrder(PetscInt J) { return J > 0 ? "attention, layernorm, ffn, layernorm" : "attention, layernorm, layernorm"; }

PetscErrorCode SplittingUnitsParse(MPI_Comm comm, const std::string &order, PetscInt J, std::vector<SplittingExpression> *units) {
  PetscFunctionBeginUser;
  PetscCall(SplittingExpressionParseList(comm, order, "-split_order", units));
  for (SplittingExpression &unit : *units) {
    if (unit.IsGroup() || (unit.name != "ffn" && unit.name != "conv_ffn") || unit.HasModifiers()) continue;
    PetscCheck(J > 0, comm, PETSC_ERR_USER_INPUT, "-split_order '%s': '%s' (the feed-forward block) needs J > 0 feed-forward layers", order.c_str(),
               unit.name.c_str());
    std::vector<SplittingExpression> layers;
    for (PetscInt j = 1; j <= J; ++j) {
      PetscCallCXX(layers.push_back(SplittingExpression::Operator(unit.name + std::to_string(j))));
      PetscCallCXX(layers.push_back(SplittingExpression::Operator("relu")));
    }
    PetscCallCXX(
        unit = SplittingExpression::Group(Kind::Avg, {SplittingExpression::Group(Kind::Seq, layers), SplittingExpression::Operator("identity")}));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeBuild(MPI_Comm comm, const std::string &name, const std::vector<SplittingExpression> &units,
                                    const std::vector<PetscInt> &groups, SplittingExpression *scheme) {
  const Scheme *s = nullptr;
  std::vector<PetscInt> g;
  PetscFunctionBeginUser;
  PetscCall(schemes.Find(comm, name, &s));
  PetscCheck(!units.empty(), comm, PETSC_ERR_USER_INPUT, "splitting scheme '%s' needs at least one operator in -split_order", name.c_str());
  PetscCall(ResolveGroups(comm, units.size(), groups, &g));
  PetscCallCXX(*scheme = s->build(units, g));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeUsesGroups(MPI_Comm comm, const std::string &name, const std::vector<SplittingExpression> &units, bool *uses) {
  SplittingExpression one, singletons;
  PetscFunctionBeginUser;
  *uses = false;
  if (units.size() < 2) PetscFunctionReturn(0);
  PetscCall(SplittingSchemeBuild(comm, name, units, {(PetscInt)units.size()}, &one));
  PetscCall(SplittingSchemeBuild(comm, name, units, std::vector<PetscInt>(units.size(), 1), &singletons));
  *uses = SplittingExpressionFormat(one) != SplittingExpressionFormat(singletons);
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeBuildReversed(MPI_Comm comm, const std::string &name, const std::vector<SplittingExpression> &units,
                                            const std::vector<PetscInt> &groups, SplittingExpression *scheme) {
  SplittingExpression forward;
  std::vector<PetscInt> g;
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeBuild(comm, name, units, groups, &forward));
  PetscCall(ResolveGroups(comm, units.size(), groups, &g));
  PetscCall(SplittingSchemeBuild(comm, name, std::vector<SplittingExpression>(units.rbegin(), units.rend()),
                                 std::vector<PetscInt>(g.rbegin(), g.rend()), scheme));
  PetscCheck(CommutedForm(*scheme) != CommutedForm(forward), comm, PETSC_ERR_USER_INPUT,
             "-dt_adapt: the scheme '%s' of these operators is its own reversed-order counterpart (%s), so their difference estimates no "
             "error; use lie, strang, or hybrid with two or more groups",
             name.c_str(), SplittingExpressionFormat(forward).c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, const std::vector<std::string> &units,
                                         const std::vector<PetscInt> &groups, std::string *expr) {
  std::vector<SplittingExpression> trees(units.size());
  SplittingExpression scheme;
  PetscFunctionBeginUser;
  for (size_t k = 0; k < units.size(); ++k) PetscCall(SplittingExpressionParse(comm, units[k], &trees[k]));
  PetscCall(SplittingSchemeBuild(comm, name, trees, groups, &scheme));
  PetscCallCXX(*expr = SplittingExpressionFormat(scheme));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, PetscInt J, std::string *expr) {
  std::vector<SplittingExpression> units;
  SplittingExpression scheme;
  PetscFunctionBeginUser;
  PetscCall(SplittingUnitsParse(comm, SplittingDefaultOrder(J), J, &units));
  PetscCall(SplittingSchemeBuild(comm, name, units, {}, &scheme));
  PetscCallCXX(*expr = SplittingExpressionFormat(scheme));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
