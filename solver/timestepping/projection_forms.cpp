#include "solver/timestepping/projection_forms.hpp"

namespace ctflow {

const char *const ProjectionFormNames[3] = {"hard", "relax", "manifold"};

PetscErrorCode ProjectionFormParse(MPI_Comm comm, const char option[], const std::string &name, ProjectionForm *form) {
  PetscFunctionBeginUser;
  for (int k = 0; k < 3; ++k)
    if (name == ProjectionFormNames[k]) {
      *form = (ProjectionForm)k;
      PetscFunctionReturn(0);
    }
  SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s must be hard, relax or manifold, got '%s'", option, name.c_str());
}

namespace {

using Kind = SplittingExpression::Kind;

bool IsLeaf(const SplittingExpression &e, const char name[]) { return !e.IsGroup() && e.name == name; }

// avg(X, identity, ...) with one branch X that is not the identity and no modifiers on the group: the units of X
// (its children if X is a seq without modifiers) at rate 1/K; any other unit as it is.
void OpenSkipAverage(const SplittingExpression &u, std::vector<SplittingExpression> *out) {
  const SplittingExpression *branch = nullptr;
  size_t others = 0;
  if (u.kind == Kind::Avg && !u.HasModifiers())
    for (const auto &c : u.children) {
      if (IsLeaf(c, "identity")) continue;
      branch = &c;
      ++others;
    }
  if (others != 1) {
    out->push_back(u);
    return;
  }
  const PetscReal rate = 1.0 / (PetscReal)u.children.size();
  if (branch->kind == Kind::Seq && !branch->HasModifiers())
    for (const auto &c : branch->children) out->push_back(c.Rate(rate));
  else out->push_back(branch->Rate(rate));
}

// Every leaf of e renamed prefix + name.
SplittingExpression Prefixed(SplittingExpression e, const std::string &prefix) {
  if (!e.IsGroup()) e.name = prefix + e.name;
  for (auto &c : e.children) c = Prefixed(c, prefix);
  return e;
}

}  // namespace

PetscErrorCode ProjectionFormUnits(MPI_Comm comm, ProjectionForm form, PetscInt order, std::vector<SplittingExpression> *units,
                                   SplittingExpression *constraint) {
  std::vector<SplittingExpression> out;
  std::string names;
  PetscFunctionBeginUser;
  if (form == ProjectionForm::Hard || (form == ProjectionForm::Relax && order < 2)) PetscFunctionReturn(0);
  if (form == ProjectionForm::Relax) {
    for (const auto &u : *units) PetscCallCXX(OpenSkipAverage(u, &out));
    PetscCallCXX(*units = out);
    PetscFunctionReturn(0);
  }
  bool found = false;
  for (const auto &u : *units) {
    PetscCallCXX(names += (names.empty() ? "" : ", ") + SplittingExpressionFormat(u));
    if (IsLeaf(u, "layernorm")) found = true;
    else PetscCallCXX(out.push_back(Prefixed(u, "tangent_")));
  }
  PetscCheck(found, comm, PETSC_ERR_USER_INPUT,
             "-split_projections manifold constrains the flows to the layer norm's S1, but the operators '%s' have no unit 'layernorm'",
             names.c_str());
  PetscCheck(!out.empty(), comm, PETSC_ERR_USER_INPUT, "-split_projections manifold: the operators '%s' have no flow besides the layer norm",
             names.c_str());
  *constraint = SplittingExpression::Operator("layernorm");
  PetscCallCXX(*units = out);
  PetscFunctionReturn(0);
}

SplittingExpression ProjectionFormStep(ProjectionForm form, const SplittingExpression &scheme, const SplittingExpression &constraint) {
  if (form != ProjectionForm::Manifold) return scheme;
  return SplittingExpression::Group(Kind::Seq, {constraint.Over(0.5, 0.5), scheme, constraint.Over(1, 1)});
}

PetscErrorCode ProjectionFormLeaves(ProjectionForm form, const SplittingExpression &e, const OperatorContext &ctx, SplittingExpression *out) {
  PetscFunctionBeginUser;
  PetscCallCXX(*out = e);
  if (form != ProjectionForm::Relax) PetscFunctionReturn(0);
  if (e.IsGroup()) {
    for (size_t k = 0; k < e.children.size(); ++k) PetscCall(ProjectionFormLeaves(form, e.children[k], ctx, &out->children[k]));
    PetscFunctionReturn(0);
  }
  std::unique_ptr<Operator> op;
  PetscCall(OperatorCreate(e.name, ctx, &op));
  if (op->Kind() == OperatorKind::Projection && e.name != "identity") PetscCallCXX(out->name = "relax_" + e.name);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
