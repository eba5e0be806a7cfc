// Full-batch training with PETSc's TAO (-train_optimizer tao): TAO minimises the objective of Trainer::Objective over
// the whole training set, its method and tolerances from TAO's own options (-tao_type lmvm | blmvm | bncg | …,
// -tao_gatol, -tao_monitor, -tao_ls_type, …), -train_epochs its iteration limit. θ lives in a Vec distributed over the
// ranks; each evaluation gathers it on every rank (VecScatterCreateToAll), and every rank writes its part of the
// gradient. One progress line per TAO iteration; checkpoints hold θ only (a restart starts TAO afresh from them).
#include <petsctao.h>

#include <cmath>

#include "solver/training/trainer.hpp"

namespace ctflow {

namespace {

struct TaoContext {
  explicit TaoContext(Trainer *t) : trainer(t) {}
  Trainer *trainer;
  UniqueScatter scatter;
  UniqueVec all;
  std::vector<PetscInt> everything;
  PetscReal start = 0, last_correct = 0;
};

// θ ← X (on every rank).
PetscErrorCode Gather(TaoContext &c, Vec X, std::vector<PetscReal> *theta) {
  const PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(VecScatterBegin(c.scatter, X, c.all, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(c.scatter, X, c.all, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(c.all, &a));
  PetscCallCXX(theta->assign(a, a + theta->size()));
  PetscCall(VecRestoreArrayRead(c.all, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode ObjectiveAndGradient(Tao, Vec X, PetscReal *f, Vec G, void *ctx) {
  TaoContext &c = *static_cast<TaoContext *>(ctx);
  std::vector<PetscReal> theta = c.trainer->Parameters(), g;
  PetscInt lo, hi;
  PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(Gather(c, X, &theta));
  PetscCall(c.trainer->SetParameters(theta));
  PetscCall(c.trainer->Objective(c.trainer->TrainData(), c.everything, f, &c.last_correct, &g));
  PetscCall(VecGetOwnershipRange(G, &lo, &hi));
  PetscCall(VecGetArray(G, &a));
  for (PetscInt i = lo; i < hi; ++i) a[i - lo] = g[i];
  PetscCall(VecRestoreArray(G, &a));
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode Trainer::SetUpTao() {
  PetscFunctionBeginUser;
  PetscCall(TaoCreate(comm_, tao_.Out()));
  PetscCall(TaoSetType(tao_, TAOLMVM));
  PetscCall(TaoSetMaximumIterations(tao_, epochs_ - first_epoch_));
  PetscCall(TaoSetFromOptions(tao_));
  PetscFunctionReturn(0);
}

PetscErrorCode Trainer::TrainTao() {
  TaoContext c(this);
  Tao tao = tao_;
  UniqueVec x;
  PetscInt lo, hi;
  PetscScalar *a;
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < train_.Size(); ++i) PetscCallCXX(c.everything.push_back(i));
  PetscCall(VecCreateMPI(comm_, PETSC_DECIDE, (PetscInt)theta_.size(), x.Out()));
  PetscCall(VecGetOwnershipRange(x, &lo, &hi));
  PetscCall(VecGetArray(x, &a));
  for (PetscInt i = lo; i < hi; ++i) a[i - lo] = theta_[i];
  PetscCall(VecRestoreArray(x, &a));
  PetscCall(VecScatterCreateToAll(x, c.scatter.Out(), c.all.Out()));
  PetscCall(TaoSetSolution(tao, x));
  PetscCall(TaoSetObjectiveAndGradient(tao, nullptr, ObjectiveAndGradient, &c));
  c.start = MPI_Wtime();
  PetscCall(TaoSetMonitor(
      tao,
      [](Tao t, void *ctx) -> PetscErrorCode {
        TaoContext &c = *static_cast<TaoContext *>(ctx);
        Trainer &self = *c.trainer;
        PetscInt its;
        PetscReal f, gnorm, step = 0;
        TaoLineSearch ls;
        PetscFunctionBeginUser;
        PetscCall(TaoGetSolutionStatus(t, &its, &f, &gnorm, nullptr, nullptr, nullptr));
        PetscCall(TaoGetLineSearch(t, &ls));
        if (ls) PetscCall(TaoLineSearchGetStepLength(ls, &step));
        std::vector<PetscReal> theta = self.Parameters();
        Vec X;
        PetscCall(TaoGetSolution(t, &X));
        PetscCall(Gather(c, X, &theta));
        PetscCall(self.SetParameters(theta));
        PetscCall(self.RecordEpoch(self.first_epoch_ + its, f, c.last_correct, gnorm, step, MPI_Wtime() - c.start));
        const PetscInt epoch = self.first_epoch_ + its;
        if (its > 0 && self.checkpoint_every_ && epoch % self.checkpoint_every_ == 0) PetscCall(self.SaveCheckpoint(epoch));
        c.start = MPI_Wtime();
        PetscFunctionReturn(0);
      },
      &c, nullptr));
  PetscCall(TaoSolve(tao));
  Vec X;
  PetscCall(TaoGetSolution(tao, &X));
  PetscCall(Gather(c, X, &theta_));
  PetscCall(SetParameters(theta_));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
