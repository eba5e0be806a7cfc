#include "solver/problem/cost_estimate.hpp"

#include <cmath>

namespace ctflow {

namespace {

constexpr double kBlasRate = 2e10, kPairSeconds = 1e-8, kLeafSeconds = 1e-5, kNoteSeconds = 600;

// Seconds of one evaluation of every leaf of the tree, on one of `ranks` ranks.
double TreeSeconds(const SplittingExpression &e, double Nx, double Ny, double Nh, double ranks) {
  if (e.IsGroup()) {
    double s = 0;
    for (const SplittingExpression &child : e.children) s += TreeSeconds(child, Nx, Ny, Nh, ranks);
    return s;
  }
  const double rows = Nx / ranks;
  if (e.name.rfind("attention", 0) == 0)
    return kLeafSeconds + Nh * Nx * rows * (kPairSeconds + 4 * Ny / kBlasRate) + 6 * rows * Ny * Nh * Ny / kBlasRate;
  if (e.name.rfind("ffn", 0) == 0 || e.name.rfind("mlp", 0) == 0) return kLeafSeconds + 2 * rows * Ny * Ny / kBlasRate;
  return kLeafSeconds + rows * Ny * kPairSeconds;
}

}  // namespace

double EstimatedSeconds(const Problem &problem) {
  const Grid &g = problem.GetGrid();
  const Integrator &integrator = problem.GetIntegrator();
  PetscMPIInt ranks = 1;
  MPI_Comm_size(problem.Comm(), &ranks);
  const double steps = integrator.NumSteps() > 0 ? integrator.NumSteps() : std::ceil(integrator.FinalTime() / integrator.TimeStep());
  return steps * TreeSeconds(integrator.Tree(), g.Nx(), g.Ny(), g.Nh(), ranks);
}

PetscErrorCode CostNote(MPI_Comm comm, double seconds, const std::string &what) {
  PetscFunctionBeginUser;
  if (!(seconds > kNoteSeconds)) PetscFunctionReturn(0);
  const double hours = seconds / 3600;
  PetscCall(PetscPrintf(comm, "ctflow: note: %s is estimated to take %.3g %s on this many ranks; -monitor shows its progress\n", what.c_str(),
                        hours < 48 ? hours : hours / 24, hours < 48 ? "hours" : "days"));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
