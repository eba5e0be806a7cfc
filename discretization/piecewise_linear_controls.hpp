// Piecewise-linear controls θ(t): the layers of a layered controls file (docs/controls-format.md) read as the values
// of θ at K knots τ_k = t_k, the layers' start times (/layer_times; default τ_k = k), linearly interpolated between
// them and constant before τ_0 and after τ_{K−1} up to the end time t_K:
//   θ(t) = (1 − w) θ_k + w θ_{k+1},  w = (t − τ_k)/(τ_{k+1} − τ_k),  τ_k ≤ t < τ_{k+1}.
// θ is continuous in t, so a trained model can be integrated with any Δt and the scheme converges as Δt → 0; at
// Δt = t_{k+1} − t_k with a scheme that samples at the steps' starts (Lie with Euler substeps) it is the layered network
// itself. A file is read this way when its root attribute time_interpolation is "linear" (`ctflow -controls FILE`) or
// with -controls_type piecewise_linear. The parameters and the gradient file keep the layered layout (knot k is
// /layers/k); a kernel's gradient at t goes to its two knots with the weights 1 − w and w (the chain rule through the
// interpolation).
#pragma once
#include "discretization/layered_controls.hpp"

namespace ctflow {

class PiecewiseLinearControls : public LayeredControls {
 public:
  explicit PiecewiseLinearControls(MPI_Comm comm) : LayeredControls(comm) {}
  // τ_0 … τ_{K−1}.
  std::vector<PetscReal> KnotTimes() const;

  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override;
  PetscErrorCode SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const override;
  PetscErrorCode LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const override;
  PetscErrorCode LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const override;
  PetscInt PieceKey(PetscReal) const override { return -1; }
  std::vector<PetscReal> Breakpoints() const override { return {}; }
  PetscReal SubstepSampleTime(PetscReal s, PetscReal, PetscReal) const override { return s; }
  std::string Description() const override;
  PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const override;
  PetscErrorCode AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const override;
  PetscErrorCode AddMlpGradient(PetscReal t, const Grid &grid, const MlpKernels &dk, ControlsArrays *g) const override;

 private:
  // t lies between knots k and k + 1 with weight w of knot k + 1 (w = 0 at and beyond the ends); the times inside
  // layers k and k + 1 at which the layered controls return those knots.
  void Bracket(PetscReal t, PetscReal *tk, PetscReal *tk1, PetscReal *w) const;
};

// The registered creator of "piecewise_linear".
PetscErrorCode PiecewiseLinearControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
