#include "solver/timestepping/splitting_schemes.hpp"

#include <algorithm>
#include <numeric>

namespace ctflow {

namespace {

struct Registered {
  std::string name;
  PetscInt order;
};
PetscFunctionList scheme_list = nullptr;
std::vector<Registered> schemes;

std::string Names() {
  std::string s;
  for (const auto &r : schemes) s += (s.empty() ? "" : ", ") + r.name;
  return s;
}

// U with the modifier `mod` ("[a, b]" or "*r"); a unit that carries modifiers already is wrapped in seq(...).
std::string With(const std::string &unit, const std::string &mod) {
  int depth = 0;
  for (char c : unit) {
    depth += (c == '(') - (c == ')');
    if (depth == 0 && (c == '[' || c == '*' || c == '@')) return "seq(" + unit + ")" + mod;
  }
  return unit + mod;
}

std::string Join(const char *head, const std::vector<std::string> &parts) {
  std::string s = std::string(head) + "(";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
  return s + ")";
}

// Parallel substeps of eq. (59): the average of the units, each with rate factor K.
std::string Parallel(const std::vector<std::string> &units) {
  if (units.size() == 1) return units[0];
  std::vector<std::string> branches;
  for (const auto &u : units) branches.push_back(With(u, "*" + std::to_string(units.size())));
  return Join("avg", branches);
}

// The paper's order, eq. (13)–(17) and (58).
std::string Lie(const std::vector<std::string> &units, const std::vector<PetscInt> &) { return Join("seq", units); }

// Half steps [0, 1/2] of U_1..U_{m-1}, the whole step of U_m, then half steps [1/2, 1] in reverse: symmetric.
std::string Strang(const std::vector<std::string> &units, const std::vector<PetscInt> &) {
  const size_t m = units.size();
  std::vector<std::string> steps;
  for (size_t k = 0; k + 1 < m; ++k) steps.push_back(With(units[k], "[0, 0.5]"));
  steps.push_back(units[m - 1]);
  for (size_t k = m - 1; k-- > 0;) steps.push_back(With(units[k], "[0.5, 1]"));
  return Join("seq", steps);
}

// Appendix C, eq. (59).
std::string ParallelAveraged(const std::vector<std::string> &units, const std::vector<PetscInt> &) { return Parallel(units); }

// ARKODE's additive parallel splitting: u = Σ_k Φ_k(u^n) − (K − 1) u^n.
std::string ParallelAdditive(const std::vector<std::string> &units, const std::vector<PetscInt> &) { return Join("sum", units); }

// The average of Lie and reversed Lie.
std::string Symmetric(const std::vector<std::string> &units, const std::vector<PetscInt> &) {
  return Join("avg", {Join("seq", units), Join("seq", std::vector<std::string>(units.rbegin(), units.rend()))});
}

// Sequential groups, each a parallel splitting of its units (appendix C, hybrid splitting [46]).
std::string Hybrid(const std::vector<std::string> &units, const std::vector<PetscInt> &groups) {
  std::vector<std::string> steps;
  size_t k = 0;
  for (PetscInt g : groups) {
    steps.push_back(Parallel(std::vector<std::string>(units.begin() + k, units.begin() + k + g)));
    k += g;
  }
  return steps.size() == 1 ? steps[0] : Join("seq", steps);
}

// The top-level parts of a comma-separated list ("a, seq(b, c)[0, 0.5]" → "a", "seq(b, c)[0, 0.5]").
std::vector<std::string> SplitTopLevel(const std::string &list) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : list) {
    depth += (c == '(' || c == '[') - (c == ')' || c == ']');
    if (c == ',' && depth == 0) parts.emplace_back();
    else if (!(c == ' ' && parts.back().empty())) parts.back() += c;
  }
  return parts;
}

// expr with the branches of every avg and sum node sorted: parallel branches commute, so expressions with
// equal commuted forms are the same composition (up to round-off).
std::string CommutedForm(const std::string &expr) {
  const std::string head = expr.substr(0, 4);
  if (head != "seq(" && head != "avg(" && head != "sum(") return expr;
  size_t close = 4;
  for (int depth = 1; depth > 0; ++close) depth += (expr[close] == '(') - (expr[close] == ')');
  std::vector<std::string> children = SplitTopLevel(expr.substr(4, close - 5));
  for (std::string &c : children) c = CommutedForm(c);
  if (head != "seq(") std::sort(children.begin(), children.end());
  return Join(head.substr(0, 3).c_str(), children) + expr.substr(close);
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
  PetscCall(PetscFunctionListAdd(&scheme_list, name, build));
  PetscCallCXX(schemes.push_back({name, order}));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeRegisterAll() {
  static bool registered = false;
  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(0);
  registered = true;
  PetscCall(SplittingSchemeRegister("lie", 1, Lie));
  PetscCall(SplittingSchemeRegister("strang", 2, Strang));
  PetscCall(SplittingSchemeRegister("parallel", 1, ParallelAveraged));
  PetscCall(SplittingSchemeRegister("parallel_add", 1, ParallelAdditive));
  PetscCall(SplittingSchemeRegister("symmetric", 2, Symmetric));
  PetscCall(SplittingSchemeRegister("hybrid", 1, Hybrid));
  PetscFunctionReturn(0);
}

PetscFunctionList SplittingSchemeList() { return scheme_list; }

std::vector<std::string> SplittingSchemeNames() {
  std::vector<std::string> names;
  for (const auto &r : schemes) names.push_back(r.name);
  return names;
}

PetscErrorCode SplittingSchemeOrder(MPI_Comm comm, const std::string &name, PetscInt *order) {
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeRegisterAll());
  for (const auto &r : schemes)
    if (r.name == name) {
      *order = r.order;
      PetscFunctionReturn(0);
    }
  SETERRQ(comm, PETSC_ERR_USER_INPUT, "unknown splitting scheme '%s'; known schemes: %s", name.c_str(), Names().c_str());
}

std::string SplittingDefaultOrder(PetscInt J) { return J > 0 ? "attention, layernorm, ffn, layernorm" : "attention, layernorm, layernorm"; }

PetscErrorCode SplittingUnitsParse(MPI_Comm comm, const std::string &order, PetscInt J, std::vector<std::string> *units) {
  PetscFunctionBeginUser;
  units->clear();
  int depth = 0;
  std::string unit;
  for (size_t i = 0; i <= order.size(); ++i) {
    const char c = i < order.size() ? order[i] : ',';
    depth += (c == '(') - (c == ')');
    if (c != ',' || depth > 0) {
      if (!(unit.empty() && c == ' ')) unit += c;
      continue;
    }
    while (!unit.empty() && unit.back() == ' ') unit.pop_back();
    PetscCheck(!unit.empty(), comm, PETSC_ERR_USER_INPUT, "-split_order '%s': empty entry %zu (expected a comma-separated list of operators)",
               order.c_str(), units->size() + 1);
    if (unit == "ffn") {
      PetscCheck(J > 0, comm, PETSC_ERR_USER_INPUT, "-split_order '%s': 'ffn' (the feed-forward block) needs J > 0 feed-forward layers",
                 order.c_str());
      std::string ffn;
      for (PetscInt j = 1; j <= J; ++j) ffn += (j > 1 ? ", ffn" : "ffn") + std::to_string(j) + ", relu";
      unit = "avg(seq(" + ffn + "), identity)";
    }
    PetscCallCXX(units->push_back(unit));
    unit.clear();
  }
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, const std::vector<std::string> &units,
                                         const std::vector<PetscInt> &groups, std::string *expr) {
  SplittingSchemeBuilder build = nullptr;
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeRegisterAll());
  PetscCall(PetscFunctionListFind(scheme_list, name.c_str(), &build));
  PetscCheck(build, comm, PETSC_ERR_USER_INPUT, "unknown splitting scheme '%s'; known schemes: %s", name.c_str(), Names().c_str());
  PetscCheck(!units.empty(), comm, PETSC_ERR_USER_INPUT, "splitting scheme '%s' needs at least one operator in -split_order", name.c_str());
  std::vector<PetscInt> g;
  PetscCall(ResolveGroups(comm, units.size(), groups, &g));
  PetscCallCXX(*expr = build(units, g));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeExpression(MPI_Comm comm, const std::string &name, PetscInt J, std::string *expr) {
  std::vector<std::string> units;
  PetscFunctionBeginUser;
  PetscCall(SplittingUnitsParse(comm, SplittingDefaultOrder(J), J, &units));
  PetscCall(SplittingSchemeExpression(comm, name, units, {}, expr));
  PetscFunctionReturn(0);
}

PetscErrorCode SplittingSchemeReversedExpression(MPI_Comm comm, const std::string &name, const std::vector<std::string> &units,
                                                 const std::vector<PetscInt> &groups, std::string *expr) {
  std::vector<PetscInt> g;
  std::string forward;
  PetscFunctionBeginUser;
  PetscCall(SplittingSchemeExpression(comm, name, units, groups, &forward));
  PetscCall(ResolveGroups(comm, units.size(), groups, &g));
  PetscCall(SplittingSchemeExpression(comm, name, std::vector<std::string>(units.rbegin(), units.rend()), std::vector<PetscInt>(g.rbegin(), g.rend()),
                                      expr));
  PetscCheck(CommutedForm(*expr) != CommutedForm(forward), comm, PETSC_ERR_USER_INPUT,
             "-dt_adapt: the scheme '%s' of these operators is its own reversed-order counterpart (%s), so their difference estimates no "
             "error; use lie, strang, or hybrid with two or more groups",
             name.c_str(), forward.c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
