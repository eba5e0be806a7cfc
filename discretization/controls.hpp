// Controls θ(t) = {W^Q, W^K, W^V (per head), W_j, b_j (j = 1..J), σ1, σ2} of the continuous Transformer,
// paper eq. (8), with the multi-head kernels of §5.1. A Controls object is a continuous object: it is
// sampled on whatever Grid it is given, at any time t.
//
// Kernels are returned as point values (not quadrature-weighted); the operators apply the quadrature
// weights Δy, Δx, Δh. The head-feature variable z of rank-d_head attention and the hidden variable z of
// the lifted feed-forward network are discretised with the spacing Δy of Ω_y. Index conventions (row-major):
//   attention  W[m][i][r] = W(ξ = y_i, z_r, h = h_m),  i.e. Q(x, z_r, h_m) ≈ Σ_i u(x, y_i) W[m][i][r] Δy + b^Q(z_r, h_m)
//              WO[m][r][l] = W^O(z_r, y_l, h_m); without WO, d_head = N_y and W^O is the identity (the paper)
//   FFN        W[i][l]    = W_j(ξ = y_i, y = y_l),         b[k][l] = b_j(x_k, y_l) for the owned tokens k
//
// Sources are registered by name (ControlsRegister; -controls_type): "analytic", the seeded smooth kernels of
// analytic_controls.hpp (the default), "layered", the discrete weights of a file (-controls FILE,
// docs/controls-format.md), and whatever a program registers, e.g. a FunctionControls (function_controls.hpp)
// built from C++ functions of (ξ, y, h, t). Life cycle: create, SetFromOptions (the source's own options; a file
// is read here), SetUp(grid) before grid->SetUp() (the sizes the data imposes), then sample at will.
#pragma once
#include <petscsys.h>

#include <memory>
#include <vector>

#include "discretization/controls_arrays.hpp"
#include "discretization/convolution_kernels.hpp"
#include "discretization/cvt_processing.hpp"
#include "discretization/grid.hpp"
#include "discretization/stages.hpp"
#include "discretization/vit_processing.hpp"

namespace ctflow {

struct AttentionKernels {
  PetscInt d_head = 0;                // rank of the per-head factors (N_y in the paper)
  std::vector<PetscReal> WQ, WK, WV;  // N_h × N_y × d_head each
  std::vector<PetscReal> WO;          // N_h × d_head × N_y, or empty: identity (requires d_head = N_y)
  std::vector<PetscReal> bQ;          // N_h × d_head query bias, or empty (a key bias cancels in the softmax)
  std::vector<PetscReal> c;           // N_y constant output c(y) = Σ_m b^V_m W^O_m + b^O, or empty
  PetscReal scale = 1;                // s in γ = Softmax_2(s ⟨Q, K⟩); eq. (6) and (37): 1/sqrt(|Ω_y|)
  bool causal = false;                // Volterra kernel: softmax and integral over η ≤ x only
};

// Lifted feed-forward network on a hidden domain of F points, one flow substep (no projection on its
// output): A(u)(x, y) = ∫ W2(z, y) act(∫ W1(ξ, z) u(x, ξ) dξ + b1(z)) dz + b2(y).
struct MlpKernels {
  PetscInt F = 0;
  std::vector<PetscReal> W1, b1, W2, b2;  // N_y × F, F, F × N_y, N_y
  bool gelu = false;                      // act = GELU (exact erf form) instead of ReLU
};

struct FeedForwardKernel {
  std::vector<PetscReal> W;  // N_y × N_y
  std::vector<PetscReal> b;  // XLocal × N_y
};

struct LayerNormTargets {
  PetscReal sigma1 = 0, sigma2 = 1;  // S1(σ1, σ2): mean σ1 and variance σ2² along y, eq. (22)
  // Per-feature targets σ1(y), σ2(y) (torch's β, γ): projection onto S1(0, 1), then u ← σ2(y) u + σ1(y).
  std::vector<PetscReal> sigma1_y, sigma2_y;  // N_y each, or empty: the scalars above
  PetscReal eps = -1;                         // ε from the controls, or < 0: the -layernorm_eps option
};

class Controls {
 public:
  virtual ~Controls() = default;
  // Reads the source's own options (e.g. -controls_seed) and its data.
  virtual PetscErrorCode SetFromOptions() { return 0; }
  // Fixes the grid sizes the data imposes (N_y, N_h; N_x for per-token data), sets unit spacing for discrete weights
  // and fits the kernels to the grid's sizes (refinement). Call before grid->SetUp().
  virtual PetscErrorCode SetUp(Grid *) { return 0; }
  // J, the number of feed-forward layers.
  virtual PetscInt NumFeedForward() const = 0;
  virtual PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const = 0;
  // j = 1..J
  virtual PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const = 0;
  // index 0: the paper's layer norm (one σ1, σ2 per time); k ≥ 1: the k-th named layer norm of a layer.
  virtual PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const = 0;
  virtual PetscErrorCode SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const;
  // λ(t) > 0 of the relaxation flows u_t = λ (P_S(u) − u) (operators/projection_relaxation.hpp); default 1.
  virtual PetscErrorCode SampleRelaxationRate(PetscReal t, PetscReal *lambda) const;
  // The kernels at t without copying them where the controls store them (layered controls): *k points
  // either at the controls' own immutable copy, valid while the controls live, or at *storage, which the
  // default fills with SampleAttention / SampleMlp. Operators keep *k while PieceKey(t) is unchanged.
  virtual PetscErrorCode LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const;
  virtual PetscErrorCode LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const;
  // Convolutional models (paper §6) on a two-dimensional Ω_y: the stencils of attention (eq. (42)), of the token embedding
  // (term IV, eq. (43)–(44)) and of the convolutional feed-forward layer j = 1..J. The defaults fail: no such kernels.
  virtual PetscErrorCode SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const;
  virtual PetscErrorCode SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const;
  virtual PetscErrorCode SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const;
  // A projection applied once after the last step (a final layer norm); *present = false if none.
  virtual PetscErrorCode SampleFinalNorm(LayerNormTargets *s, bool *present) const;
  // The splitting expression applied once at t = T after the last step ("final_norm" when SampleFinalNorm has one),
  // or "".
  virtual std::string FinalExpression() const;
  // A vision Transformer's pre- and post-processing (§4.2), or nullptr.
  virtual const VitProcessing *Vit() const { return nullptr; }
  // A convolutional vision Transformer's pre- and post-processing (§6.2 with §4.2), or nullptr.
  virtual const CvtProcessing *Cvt() const { return nullptr; }
  // The stages of a staged model (discretization/stages.hpp; after SetUp), or nullptr: one stage on [0, EndTime()].
  virtual const std::vector<ControlsStage> *Stages() const { return nullptr; }
  // Whether the controls act alike on every token (no per-token parameters, nothing depending on the position x), so
  // that a grid of several sequences (Grid::SetSequences: a batch stacked in x) is exact for them. Known after loading.
  virtual bool SameOnEveryToken() const { return false; }
  // The operator order the controls were made for, comma separated (e.g. a pre-LN network's
  // "attention_ln1, mlp_ln2"), which every splitting scheme then splits; "" for the paper's order.
  virtual std::string DefaultOrder() const { return ""; }
  // Samples at t and t' with the same key ≥ 0 are identical (layered controls: the layer index), so an
  // operator may keep what it sampled; -1: the controls vary continuously in t, sample every time.
  virtual PetscInt PieceKey(PetscReal) const { return -1; }
  // Times in (0, EndTime()) where the controls jump (layered controls: the layer boundaries t_1 … t_{L−1}),
  // increasing; empty for controls continuous in t. Adaptive steps end exactly on them.
  virtual std::vector<PetscReal> Breakpoints() const { return {}; }
  // The time at which a substep over [lo, hi] samples the controls for s ∈ [lo, hi]: the controls of the
  // piece containing the substep's interior, so at its right end hi the left limit (layered controls: a
  // time inside the layer acting just before hi, not the next layer starting at hi). Continuous controls: s.
  virtual PetscReal SubstepSampleTime(PetscReal s, PetscReal /*lo*/, PetscReal /*hi*/) const { return s; }
  // The controls are defined on [0, EndTime()]; the natural run length and step for this source.
  virtual PetscReal EndTime() const = 0;
  virtual PetscReal DefaultFinalTime() const = 0;
  virtual PetscReal DefaultTimeStep() const = 0;
  // Short description for logs and trajectory attributes, e.g. "analytic (seed 0, 4 modes)".
  virtual std::string Description() const = 0;

  // The parameters θ (discretization/controls_arrays.hpp: the layout of the source's file; empty: none). Setting
  // them changes what every later sample returns (State() changes, so operators sample again).
  virtual PetscErrorCode GetParameters(ControlsArrays *theta) const;
  virtual PetscErrorCode SetParameters(const ControlsArrays &theta);
  // The layout of GetParameters with every value zero, e.g. a gradient before the adjoint (the default copies θ first).
  virtual PetscErrorCode GetZeroParameters(ControlsArrays *zero) const;
  virtual PetscObjectState State() const { return state_; }
  // The chain rule from the kernels sampled at t to θ: g += (∂k/∂θ)^T dk for the gradient dk of a sampled kernel,
  // g in the layout of GetParameters. This rank's share (the tokens it owns); sum over the ranks afterwards. The
  // default (controls without parameters) adds nothing.
  virtual PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const;
  virtual PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const;
  // dk: ∂L/∂σ1, ∂L/∂σ2 in sigma1, sigma2 (or per feature in sigma1_y, sigma2_y).
  virtual PetscErrorCode AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const;
  virtual PetscErrorCode AddMlpGradient(PetscReal t, const Grid &grid, const MlpKernels &dk, ControlsArrays *g) const;
  virtual PetscErrorCode AddFinalNormGradient(const LayerNormTargets &dk, ControlsArrays *g) const;
  virtual PetscErrorCode AddVitGradient(const VitProcessing &dk, ControlsArrays *g) const;
  // dλ: ∂L/∂λ of the relaxation rate sampled at t.
  virtual PetscErrorCode AddRelaxationRateGradient(PetscReal t, PetscReal dlambda, ControlsArrays *g) const;
  // Convolutional models: dk holds ∂L/∂ of the stencils sampled at t (SampleConvAttention, SampleConvEmbedding,
  // SampleConvFeedForward; per_token: the owned tokens' stencils) and of the biases b(x) of the owned tokens.
  virtual PetscErrorCode AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk, ControlsArrays *g) const;
  virtual PetscErrorCode AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const;
  virtual PetscErrorCode AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const;
  // A CvT's pre- and post-processing (Cvt()): ∂L/∂ of its embedding, bias, head weight and head bias.
  virtual PetscErrorCode AddCvtGradient(const CvtProcessing &dk, ControlsArrays *g) const;

 protected:
  void Touch() { ++state_; }

 private:
  PetscObjectState state_ = 0;
};

// A controls source of comm, created by its registered name.
using ControlsCreator = PetscErrorCode (*)(MPI_Comm comm, std::unique_ptr<Controls> *controls);
PetscErrorCode ControlsRegister(const char name[], ControlsCreator create);
PetscErrorCode ControlsCreate(MPI_Comm comm, const std::string &type, std::unique_ptr<Controls> *controls);
// The registered names, for PetscOptionsFList.
PetscErrorCode ControlsOptionsList(PetscFunctionList *list);
// The source that reads a -controls file: "cvt" if it has /stages (a convolutional model), "piecewise_linear" if its
// root attribute time_interpolation is "linear", else "layered" (also for a file that cannot be read: loading reports why).
PetscErrorCode ControlsFileType(MPI_Comm comm, const std::string &path, std::string *type);

}  // namespace ctflow
