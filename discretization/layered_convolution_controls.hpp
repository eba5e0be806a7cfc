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
  // The layer acting at t, checked against the grid of its stage.
  PetscErrorCode LayerAt(PetscReal t, const Grid &grid, const Layer **layer) const;

  MPI_Comm comm_;
  std::string path_;
  bool loaded_ = false;
  PetscInt J_ = 0, r_[2] = {1, 1};
  std::vector<ControlsStage> layout_;  // refined by r_ after SetUp
  std::vector<Layer> layers_;          // the model's layers, stage by stage
  CvtProcessing cvt_;
};

// The registered creator of "cvt".
PetscErrorCode LayeredConvolutionControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls);

}  // namespace ctflow
