// Substep integrators: how a flow leaf of a splitting scheme (solver/timestepping/composition.hpp) solves its substep
//   v_t = r A(s, v),  s ∈ [t0, t0 + h],
// the sub-problem of appendix C, eq. (58) (r = 1) and (59) (r = K). Registered by name:
//   euler  one explicit Euler step v += h r A(t0, v): the paper's eq. (13) and first line of (23);
//   ts     a PETSc TS with options prefix "split_<operator>_" (default: classical RK4, one step per
//          substep, no adaptivity; -split_<operator>_ts_type, -split_<operator>_ts_max_snes_failures, ...
//          and -split_<operator>_ts_steps n for n equal steps per substep). A negative h (a backward
//          substep of a composition with negative coefficients) runs the TS forward in τ = |s - t0|;
//   implicit, exact  for affine flows only (Operator::Affine, e.g. ffn<j>): backward Euler by a dense LU, and
//          the exact flow of the linear ODE with coefficients frozen at the substep's midpoint
//          (solver/timestepping/affine_substeps.cpp). Requesting them for another flow fails at set-up.
// Every integrator samples the controls through Controls::SubstepSampleTime, so a substep over [t0, t0 + h]
// sees the piece of piecewise-constant controls that contains its interior, also at its end points.
// Projections are not integrated: their substep is the exact proximal map, independent of h.
#pragma once
#include <memory>
#include <string>

#include "operators/operator.hpp"

namespace ctflow {

class SubstepIntegrator {
 public:
  virtual ~SubstepIntegrator() = default;
  // Work vectors like `like`; reads the integrator's options for operator `op`.
  virtual PetscErrorCode SetUp(Operator &op, Vec like) = 0;
  // v ← v(t0 + h) for v_t = rate A(s, v), v(t0) = v.
  virtual PetscErrorCode Advance(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v) = 0;
  // The transpose of Advance from the state v0 it started at (docs/adjoint.md): λ, the adjoint of the result, becomes
  // the adjoint of v0 in place, and g (may be null) gains the parameters' share.
  virtual PetscErrorCode AdvanceTranspose(Operator &op, PetscReal t0, PetscReal h, PetscReal rate, Vec v0, Vec lambda, ControlsArrays *g);
  // The leaf's tape slot (solver/timestepping/composition.hpp): an integrator whose operator evaluations can be
  // recorded for the transpose uses it (Operator::RecordNextRhs).
  virtual void SetTape(PetscInt /*slot*/, bool /*record*/) {}
};

using SubstepIntegratorCreator = PetscErrorCode (*)(std::unique_ptr<SubstepIntegrator> *integrator);

// Adds an integrator (the built-in ones: RegisterBuiltins in substep_integrators.cpp).
PetscErrorCode SubstepIntegratorRegister(const char name[], SubstepIntegratorCreator create);
// The registered names, for PetscOptionsFList.
PetscErrorCode SubstepIntegratorOptionsList(PetscFunctionList *list);
PetscErrorCode SubstepIntegratorCreate(MPI_Comm comm, const std::string &name, std::unique_ptr<SubstepIntegrator> *integrator);

// Creators of the integrators for affine flows (solver/timestepping/affine_substeps.cpp).
PetscErrorCode ImplicitSubstepCreate(std::unique_ptr<SubstepIntegrator> *integrator);
PetscErrorCode ExactSubstepCreate(std::unique_ptr<SubstepIntegrator> *integrator);

}  // namespace ctflow
