// FunctionControls: controls θ(t) of eq. (8) given as C++ functions, the way a program tries its own kernels
// without writing a file:
//
//   W^Q, W^K, W^V (ξ, y, h, t)   attention kernels, eq. (3)–(5) with the heads of §5.1
//   W_j (ξ, y, t), b_j (x, y, t) feed-forward layer j = 1..J, eq. (15)
//   σ1(t), σ2(t)                  layer-norm targets S1(σ1, σ2), eq. (14)
//   λ(t)                          rate of the relaxation flows relax_<projection> (default 1)
//
// sampled at the cell centres of any grid at any time (the operators apply the quadrature weights), with the
// attention scale 1/sqrt(|Ω_y|) of eq. (6). Defined on [0, ∞); default T = 1 and Δt = 1/8, as the analytic
// controls. Register a creator that builds one (ControlsRegister) to select it by -controls_type, or hand
// one to Problem::SetControls (examples/ex1_function_controls.cpp).
#pragma once
#include <functional>

#include "discretization/controls.hpp"

namespace ctflow {

struct ControlFunctions {
  using Kernel = std::function<PetscReal(PetscReal xi, PetscReal y, PetscReal h, PetscReal t)>;
  using LayerKernel = std::function<PetscReal(PetscReal xi, PetscReal y, PetscReal t)>;
  using Bias = std::function<PetscReal(PetscReal x, PetscReal y, PetscReal t)>;
  using Scalar = std::function<PetscReal(PetscReal t)>;
  Kernel WQ, WK, WV;
  std::vector<LayerKernel> W;  // W_j at [j - 1]
  std::vector<Bias> b;         // b_j at [j - 1]; same length as W
  Scalar sigma1 = [](PetscReal) { return PetscReal(0); };
  Scalar sigma2 = [](PetscReal) { return PetscReal(1); };
  Scalar lambda = [](PetscReal) { return PetscReal(1); };
};

class FunctionControls : public Controls {
 public:
  // description: what logs and trajectories call these controls.
  FunctionControls(MPI_Comm comm, ControlFunctions f, std::string description);
  // Fails unless every function is given and W, b have the same length.
  PetscErrorCode SetUp(Grid *grid) override;

  PetscInt NumFeedForward() const override { return (PetscInt)f_.W.size(); }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override;
  PetscErrorCode SampleRelaxationRate(PetscReal t, PetscReal *lambda) const override;
  PetscReal EndTime() const override { return PETSC_MAX_REAL; }
  PetscReal DefaultFinalTime() const override { return 1.0; }
  PetscReal DefaultTimeStep() const override { return 0.125; }
  std::string Description() const override { return description_; }

 private:
  MPI_Comm comm_;
  ControlFunctions f_;
  std::string description_;
};

}  // namespace ctflow
