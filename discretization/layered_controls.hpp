// Layered controls: the discrete weights of a trained network, read from HDF5 (docs/controls-format.md).
// Layer n acts on [t_n, t_{n+1}) (piecewise constant in t); in y and h they are piecewise constant on the
// file's cells: the grid's N_y and N_h are the file's, or integer multiples r of them (-Ny, -Nh), each fine
// cell taking its file cell's value (y only for the paper's kernels). Lengths default to L = the file's N
// (Δ = 1/r), where at r = 1 the quadrature weights are 1 and the scheme is the discrete Transformer (§3.4).
#pragma once
#include <string>

#include "discretization/controls.hpp"

namespace ctflow {

class LayeredControls : public Controls {
 public:
  explicit LayeredControls(MPI_Comm comm) : comm_(comm) {}
  // The file SetFromOptions reads (-controls FILE).
  void SetFile(const std::string &path) { path_ = path; }
  // Reads and validates the whole file.
  PetscErrorCode SetFromOptions() override;
  PetscErrorCode Load(const std::string &path);
  // Imposes N_y, N_h (and N_x for per-token biases or an image) on the grid, unit spacing, and refines the
  // kernels to the grid's N_y, N_h.
  PetscErrorCode SetUp(Grid *grid) override;
  // Load, then SetUp.
  PetscErrorCode Load(const std::string &path, Grid *grid);

  PetscInt NumFeedForward() const override { return J_; }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override;
  PetscErrorCode SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const override;
  PetscErrorCode SampleRelaxationRate(PetscReal t, PetscReal *lambda) const override;
  PetscErrorCode LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const override;
  PetscErrorCode LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const override;
  PetscErrorCode SampleFinalNorm(LayerNormTargets *s, bool *present) const override;
  std::string DefaultOrder() const override { return order_; }
  PetscInt PieceKey(PetscReal t) const override;
  std::vector<PetscReal> Breakpoints() const override { return {times_.begin() + 1, times_.end() - 1}; }
  PetscReal SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const override;
  const VitProcessing *Vit() const override { return vit_.patch ? &vit_ : nullptr; }
  bool SameOnEveryToken() const override { return Nx_ == 0; }  // no per-token biases
  PetscReal EndTime() const override { return times_.back(); }
  PetscReal DefaultFinalTime() const override { return times_.back(); }
  PetscReal DefaultTimeStep() const override { return times_[1] - times_[0]; }
  std::string Description() const override;
  // θ in the file's layout (layered_controls_parameters.cpp): every weight, bias and layer-norm target of the file
  // at the file's resolution; the gradients of refined kernels are summed over the fine cells of each file cell.
  PetscErrorCode GetParameters(ControlsArrays *theta) const override;
  PetscErrorCode GetZeroParameters(ControlsArrays *zero) const override;
  PetscErrorCode SetParameters(const ControlsArrays &theta) override;
  PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const override;
  PetscErrorCode AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const override;
  PetscErrorCode AddMlpGradient(PetscReal t, const Grid &grid, const MlpKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFinalNormGradient(const LayerNormTargets &dk, ControlsArrays *g) const override;
  PetscErrorCode AddVitGradient(const VitProcessing &dk, ControlsArrays *g) const override;
  PetscErrorCode AddRelaxationRateGradient(PetscReal t, PetscReal dlambda, ControlsArrays *g) const override;

 private:
  struct Layer {
    // Lent as is when its scale is the grid's (always when given; else the default 1/sqrt(N_y) for the
    // unit-spaced Ω_y, which -Ly may change).
    AttentionKernels attention;
    std::vector<std::vector<PetscReal>> W, b;  // j = 1..J at [j - 1]
    std::vector<bool> b_per_token;             // b_j given as (N_x, N_y) rather than (N_y,)
    std::vector<LayerNormTargets> norms;       // layernorm1, layernorm2, ... at [k - 1]
    MlpKernels mlp;                            // F = 0: none
    bool has_sigma = false;                    // the paper's scalar σ1, σ2 are given
    PetscReal sigma1 = 0, sigma2 = 1;
    bool scale_given = false;       // else s = 1/sqrt(|Ω_y|), eq. (6)
    PetscReal relaxation_rate = 1;  // λ of the relaxation flows relax_<projection>
    bool relaxation_given = false;  // the file gives it (then it is a parameter)
  };
  // The layer acting at time t (left-continuous pieces, with a round-off tolerance at the breakpoints;
  // PieceKey is its index, the last layer also at t_L, or -1 outside [0, t_L]).
  PetscErrorCode LayerAt(PetscReal t, const Layer **layer) const;
  // Visits every parameter array of the file: its name, shape, whether it is an attribute, and the (refined) storage
  // with the refinement factors (r0, r1, r2) of its axes; const and non-const (for SetParameters) versions.
  template <typename Self, typename Visit>
  static PetscErrorCode VisitParameters(Self &self, Visit visit);
  // θ's size reserved in `theta`, before its arrays are added one by one.
  PetscErrorCode ReserveParameters(ControlsArrays *theta) const;
  // s in γ = Softmax_2(s ⟨Q, K⟩) of the layer on this grid.
  static PetscReal Scale(const Layer &layer, const Grid &grid);
  PetscErrorCode LoadVit(const class H5Input &in);
  // Refines the loaded kernels by ry in y and rh in h (piecewise constant on the file's cells).
  PetscErrorCode Refine(PetscInt Ny_fine, PetscInt ry, PetscInt rh);
  PetscErrorCode LoadLayer(const class H5Input &in, PetscInt n, Layer *layer);
  PetscErrorCode LoadNorm(const class H5Input &in, const std::string &prefix, const std::string &eps_object, const std::string &eps_name,
                          LayerNormTargets *norm);

  MPI_Comm comm_;
  std::string path_;
  bool loaded_ = false;
  PetscInt J_ = 0, Ny_ = 0, Nh_ = 0, d_head_ = 0;
  PetscInt ry_ = 1, rh_ = 1;  // refinement of the file's y and h cells
  PetscInt Nx_ = 0;           // tokens the data fixes (per-token biases), or 0
  std::string Nx_source_;     // the dataset that fixes them
  bool causal_ = false, has_final_norm_ = false;
  LayerNormTargets final_norm_;
  VitProcessing vit_;
  std::string order_;
  std::vector<PetscReal> times_;  // t_0 = 0 < t_1 < ... < t_L
  std::vector<Layer> layers_;
};

// The registered creator of "layered".
PetscErrorCode LayeredControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
