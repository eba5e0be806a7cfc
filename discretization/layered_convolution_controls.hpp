// Layered convolutional controls (registered as "cvt"): the weights of a convolution Transformer or a K-stage CvT
// (paper §6) read from HDF5 (docs/controls-format.md, "Convolutional models"): stages, each with its grid (N_x tokens,
// N_y1 × N_y2 pixels, N_h heads) and its layers of stencils, and optionally the pre- and post-processing of an image
// classifier (/cvt, discretization/cvt_processing.hpp). Layer n of the model acts on [n, n + 1) (stage by stage), so
// with Δt = 1 and unit spacing one Lie step of the §6.2 scheme is one layer of the network.
//
// Kernels are point values on each stage's pixels, W(ξ) at the offsets ξ = (s1 Δy1, s2 Δy2) of its grid: the first
// stage has unit spacing (L_ya = N_ya), every later stage covers the same Ω_y with coarser pixels, so its kernels act at
// its own scale. Refinement -Ny1 r1 N_y1, -Ny2 r2 N_y2 (every stage alike; stencils are functions on Ω_y, piecewise
// constant on the file's pixels): fine offset j takes the value of the file's stencil cell containing j/r, the mean of
// the two cells on either side where j/r lies on a cell face (even r), zero outside; a k-pixel stencil becomes
// 2⌊r k/2⌋ + 1 pixels (3k for r = 3, 2k + 1 with half-weight ends for r = 2).
//
// Parameters θ (GetParameters; layered_convolution_controls_parameters.cpp): every dataset and the sigma1, sigma2 attributes
// of the file, in its layout and at its resolution ("/stages/<s>/layers/<n>/conv_WQ", …, "/cvt/head_W"); the gradient of a
// refined stencil is the transpose of the refinement applied to the fine stencil's gradient.
#pragma once
#include <string>

#include "discretization/controls.hpp"

namespace ctflow {

class LayeredConvolutionControls : public Controls {
 public:
  explicit LayeredConvolutionControls(MPI_Comm comm) : comm_(comm) {}
  // The file SetFromOptions reads (-controls FILE).
  void SetFile(const std::string &path) { path_ = path; }
  PetscErrorCode SetFromOptions() override;
  // Reads and validates the whole file.
  PetscErrorCode Load(const std::string &path);
  // Imposes the first stage's N_x, N_h and (refinable) N_y1, N_y2 and unit spacing on grid; refines every stage.
  PetscErrorCode SetUp(Grid *grid) override;

  PetscInt NumFeedForward() const override { return J_; }
  PetscErrorCode SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const override;
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const override;
  PetscErrorCode SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const override;
  PetscErrorCode SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const override;
  PetscErrorCode SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const override;
  PetscErrorCode SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const override;
  const CvtProcessing *Cvt() const override { return cvt_.classes > 0 ? &cvt_ : nullptr; }
  const std::vector<ControlsStage> *Stages() const override { return &layout_; }
  std::string DefaultOrder() const override { return layout_.empty() ? "" : layout_[0].order; }
  PetscInt PieceKey(PetscReal t) const override;
  std::vector<PetscReal> Breakpoints() const override;
  PetscReal SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const override;
  PetscReal EndTime() const override { return (PetscReal)layers_.size(); }
  PetscReal DefaultFinalTime() const override { return (PetscReal)layers_.size(); }
  PetscReal DefaultTimeStep() const override { return 1; }
  std::string Description() const override;

  PetscErrorCode GetParameters(ControlsArrays *theta) const override;
  PetscErrorCode SetParameters(const ControlsArrays &theta) override;
  PetscErrorCode GetZeroParameters(ControlsArrays *zero) const override;
  PetscErrorCode AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const override;
  PetscErrorCode AddCvtGradient(const CvtProcessing &dk, ControlsArrays *g) const override;
  // The integral-kernel operators (attention, ffn<j>) on these controls: the dense kernels' gradients as the stencils'.
  PetscErrorCode AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const override;
  PetscErrorCode AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk, ControlsArrays *g) const override;

 private:
  struct Stencil {
    PetscInt k[2] = {0, 0};
    std::vector<PetscReal> w;  // (count ×) k1 × k2
  };
  struct Layer {
    PetscInt stage = 0;
    Stencil WQ, WK, WV;  // N_h stencils each
    Stencil embed;       // N_x stencils, or none
    std::vector<PetscReal> embed_b;
    std::vector<Stencil> W;  // j = 1..J
    std::vector<std::vector<PetscReal>> b;
    PetscReal sigma1 = 0, sigma2 = 1, scale = 0;
    bool scale_given = false;
  };
  PetscErrorCode LoadStage(const class H5Input &in, PetscInt s);
  // Dataset name: count stencils (N_h or N_x of stage s, named count_name) or, count = 0, one; odd sizes that fit the stage.
  PetscErrorCode LoadStencils(const class H5Input &in, const std::string &name, PetscInt count, const char count_name[], PetscInt s, Stencil *st);
  PetscErrorCode LoadCvt(const class H5Input &in);
  // The rows of /cvt/head_W: the last stage's N_x (pixel_mean) or N_y1 N_y2 (class_token).
  PetscInt HeadRows() const { return cvt_.head == CvtHead::kClassToken ? layout_.back().Ny1 * layout_.back().Ny2 : layout_.back().Nx; }
  // The layer acting at t, checked against the grid of its stage.
  PetscErrorCode LayerAt(PetscReal t, const Grid &grid, const Layer **layer) const;
  // Fine offset j of a stencil of k file pixels refined r times: the file cells it takes and their weights.
  static std::vector<std::pair<PetscInt, PetscReal>> RefinedWeights(PetscInt j, PetscInt k, PetscInt r);
  // count stencils of k file pixels refined by r (k becomes the refined size), and the transpose of that map:
  // coarse (count × k1 k2, the file's size k) += Rᵀ fine (count × K1 K2).
  static void Refine(PetscInt count, const PetscInt r[2], PetscInt k[2], std::vector<PetscReal> *w);
  static void Coarsen(PetscInt count, const PetscInt r[2], const PetscInt k[2], const PetscInt K[2], const PetscReal *fine, PetscReal *coarse);
  // layers_ ← the file's layers refined by r_ (file_layers_ keeps the file's when r_ > 1).
  void RefineLayers();
  // Every parameter of the file's layers (file_layers_, or layers_ when unrefined): visit(name, shape, attribute, values).
  template <typename Self, typename Visit>
  static PetscErrorCode VisitParameters(Self &self, Visit visit);
  // θ's size reserved in `theta`, before its arrays are added one by one.
  PetscErrorCode ReserveParameters(ControlsArrays *theta) const;
  // "/stages/<s>/layers/<i>/" of the model's layer n, and that layer at the file's resolution.
  std::string LayerGroup(PetscInt n) const;
  const Layer &FileLayer(PetscInt n) const { return file_layers_.empty() ? layers_[n] : file_layers_[n]; }
  // g[name] (shape (count_total, k1, k2) or (k1, k2)) += the file-resolution gradient of `count` fine stencils of size K
  // from row `first` on.
  PetscErrorCode AddStencils(ControlsArrays *g, const std::string &name, const Stencil &file, PetscInt count_total, PetscInt first, PetscInt count,
                             const PetscInt K[2], const PetscReal *fine) const;

  MPI_Comm comm_;
  std::string path_;
  bool loaded_ = false;
  PetscInt J_ = 0, r_[2] = {1, 1};
  std::vector<ControlsStage> layout_;  // refined by r_ after SetUp
  std::vector<Layer> layers_;          // the model's layers, stage by stage
  std::vector<Layer> file_layers_;     // their stencils at the file's resolution when refined (SetParameters refines them again)
  CvtProcessing cvt_;
};

// The registered creator of "cvt".
PetscErrorCode LayeredConvolutionControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
