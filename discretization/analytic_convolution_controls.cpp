#include "discretization/analytic_convolution_controls.hpp"

#include <cmath>

#include "discretization/base/number_format.hpp"
#include "discretization/base/option_checks.hpp"
#include "discretization/dense_convolution.hpp"

namespace ctflow {

PetscErrorCode AnalyticConvolutionControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls) {
  PetscFunctionBeginUser;
  PetscCallCXX(*controls = std::make_unique<AnalyticConvolutionControls>(comm));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscCall(AnalyticControls::SetFromOptions());
  PetscOptionsBegin(comm_, nullptr, "Analytic convolutional controls (-controls_type convolutional)", "Controls");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsReal("-controls_conv_width", "Width 2a/L_y of the convolution kernels' support [-a, a]^2, as a fraction of L_y1 and L_y2",
                             "AnalyticConvolutionControls", width_, &width_, nullptr));
  PetscOptionsEnd();
  PetscCheck(width_ > 0 && width_ <= 2 && std::isfinite(width_), comm_, PETSC_ERR_USER_INPUT,
             "-controls_conv_width must be in (0, 2] (a support inside [-L_y, L_y]), got %g", (double)width_);
  PetscFunctionReturn(0);
}

std::string AnalyticConvolutionControls::Description() const {
  return "analytic convolutional (seed " + std::to_string(seed_) + ", " + std::to_string(modes_) + " modes, J = " + std::to_string(J_) +
         ", support width " + FormatShortest(width_) + ")";
}

std::string AnalyticConvolutionControls::DefaultOrder() const { return ConvolutionalSchemeOrder(J_, true); }

PetscErrorCode AnalyticConvolutionControls::Stencil(const Grid &grid, PetscInt k[2]) const {
  PetscFunctionBeginUser;
  PetscCheck(grid.TwoDimensional(), comm_, PETSC_ERR_USER_INPUT, "convolutional controls need a two-dimensional feature domain: give -Ny1 and -Ny2");
  const ImageShape &img = grid.Image();
  for (int a = 0; a < 2; ++a) {
    const PetscReal half = width_ * img.L[a] / 2;
    k[a] = 2 * (PetscInt)std::floor(half / img.d(a) * (1 + 1e-12)) + 1;
    PetscCheck(k[a] <= img.N[a], comm_, PETSC_ERR_USER_INPUT,
               "-controls_conv_width %g gives a %" PetscInt_FMT "-pixel stencil in y%d, more than the image's N_y%d = %" PetscInt_FMT, (double)width_,
               k[a], a + 1, a + 1, img.N[a]);
  }
  PetscFunctionReturn(0);
}

void AnalyticConvolutionControls::AddModeStencil(const Mode &m, PetscReal c, PetscReal amplitude, PetscReal t, const Grid &grid, const PetscInt k[2],
                                                 PetscReal z, PetscReal L, PetscReal *w) const {
  const ImageShape &img = grid.Image();
  const PetscReal a1 = width_ * img.L[0] / 2, a2 = width_ * img.L[1] / 2;
  const auto bump = [](PetscReal s) { return std::abs(s) < 1 ? (1 - s * s) * (1 - s * s) : 0.0; };
  PetscReal coef = amplitude / (a1 * a2) * c * (1 + 0.5 * std::sin(m.omega * t + m.phi));
  if (L > 0) coef *= std::cos(PETSC_PI * m.d * z / L);
  for (PetscInt i1 = 0; i1 < k[0]; ++i1) {
    const PetscReal s1 = (i1 - k[0] / 2) * img.d(0) / a1, f1 = coef * bump(s1) * std::cos(PETSC_PI * m.a * s1 + m.phi);
    for (PetscInt i2 = 0; i2 < k[1]; ++i2) {
      const PetscReal s2 = (i2 - k[1] / 2) * img.d(1) / a2;
      w[i1 * k[1] + i2] += f1 * bump(s2) * std::cos(PETSC_PI * m.b * s2);
    }
  }
}

void AnalyticConvolutionControls::SampleStencil(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, const PetscInt k[2], PetscReal z,
                                                PetscReal L, PetscReal *w) const {
  std::fill_n(w, k[0] * k[1], 0.0);
  for (const Mode &m : Modes(kernel)) AddModeStencil(m, m.c, amplitude, t, grid, k, z, L, w);
}

void AnalyticConvolutionControls::SampleBias(PetscInt kernel, PetscReal t, const Grid &grid, std::vector<PetscReal> *b) const {
  for (const Mode &m : Modes(kernel)) {
    const PetscReal coef = 0.5 * m.c * (1 + 0.5 * std::sin(m.omega * t + m.phi));
    for (PetscInt r = 0; r < grid.XLocal(); ++r) (*b)[r] += coef * std::cos(PETSC_PI * m.a * grid.x(grid.XStart() + r) / grid.Lx());
  }
}

PetscErrorCode AnalyticConvolutionControls::SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const {
  const PetscInt Nh = grid.Nh();
  PetscFunctionBeginUser;
  PetscCall(Stencil(grid, k->k));
  const PetscInt n = k->k[0] * k->k[1];
  PetscCallCXX(k->WQ.resize(Nh * n));
  PetscCallCXX(k->WK.resize(Nh * n));
  PetscCallCXX(k->WV.resize(Nh * n));
  for (PetscInt m = 0; m < Nh; ++m) {
    SampleStencil(0, 2.0, t, grid, k->k, grid.h(m), grid.Lh(), &k->WQ[m * n]);
    SampleStencil(1, 2.0, t, grid, k->k, grid.h(m), grid.Lh(), &k->WK[m * n]);
    SampleStencil(2, 1.0, t, grid, k->k, grid.h(m), grid.Lh(), &k->WV[m * n]);
  }
  k->scale = 1 / std::sqrt(grid.Ly());
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleConvAttentionDensely(*this, t, grid, k));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleConvFeedForwardDensely(*this, j, t, grid, k));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const {
  const PetscInt xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCall(Stencil(grid, k->k));
  const PetscInt n = k->k[0] * k->k[1];
  k->per_token = true;
  PetscCallCXX(k->W.resize(xm * n));
  PetscCallCXX(k->b.assign(xm, 0.0));
  for (PetscInt r = 0; r < xm; ++r) SampleStencil(3 + 2 * J_, 0.5, t, grid, k->k, grid.x(grid.XStart() + r), grid.Lx(), &k->W[r * n]);
  SampleBias(4 + 2 * J_, t, grid, &k->b);
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const {
  PetscFunctionBeginUser;
  PetscCheck(j >= 1 && j <= J_, comm_, PETSC_ERR_ARG_OUTOFRANGE, "feed-forward layer %" PetscInt_FMT " requested, J = %" PetscInt_FMT, j, J_);
  PetscCall(Stencil(grid, k->k));
  k->per_token = false;
  PetscCallCXX(k->W.resize(k->k[0] * k->k[1]));
  PetscCallCXX(k->b.assign(grid.XLocal(), 0.0));
  SampleStencil(2 + j, 1.0, t, grid, k->k, 0, 0, k->W.data());
  SampleBias(2 + J_ + j, t, grid, &k->b);
  PetscFunctionReturn(0);
}

std::vector<std::pair<PetscInt, std::string>> AnalyticConvolutionControls::Kernels() const {
  std::vector<std::pair<PetscInt, std::string>> k = AnalyticControls::Kernels();
  k.push_back({3 + 2 * J_, "/embedding/W/c"});
  k.push_back({4 + 2 * J_, "/embedding/b/c"});
  return k;
}

std::string AnalyticConvolutionControls::KernelName(PetscInt kernel) const {
  for (const auto &[number, name] : Kernels())
    if (number == kernel) return name;
  return "";
}

PetscErrorCode AnalyticConvolutionControls::AddStencilGradient(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid,
                                                               const PetscInt k[2], PetscReal z, PetscReal L, const PetscReal *dw,
                                                               ControlsArrays *g) const {
  const std::string name = KernelName(kernel);
  const PetscInt n = k[0] * k[1];
  std::vector<PetscReal> basis;
  PetscFunctionBeginUser;
  PetscCall(g->Add(comm_, name, {(hsize_t)modes_}));
  ControlsValues &dc = g->Find(name)->values;
  const std::vector<Mode> modes = Modes(kernel);
  for (PetscInt p = 0; p < modes_; ++p) {
    PetscCallCXX(basis.assign(n, 0.0));
    AddModeStencil(modes[p], 1.0, amplitude, t, grid, k, z, L, basis.data());
    for (PetscInt s = 0; s < n; ++s) dc[p] += dw[s] * basis[s];
  }
  PetscFunctionReturn(0);
}

// b(x, t) = (1/2) Σ_p c_p cos(π a_p x/L_x) g_p(t) on the owned tokens.
PetscErrorCode AnalyticConvolutionControls::AddBiasGradient(PetscInt kernel, PetscReal t, const Grid &grid, const std::vector<PetscReal> &db,
                                                            ControlsArrays *g) const {
  const std::string name = KernelName(kernel);
  PetscFunctionBeginUser;
  PetscCall(g->Add(comm_, name, {(hsize_t)modes_}));
  ControlsValues &dc = g->Find(name)->values;
  const std::vector<Mode> modes = Modes(kernel);
  for (PetscInt p = 0; p < modes_; ++p) {
    const Mode &m = modes[p];
    PetscReal sum = 0;
    for (PetscInt r = 0; r < grid.XLocal(); ++r) sum += db[r] * std::cos(PETSC_PI * m.a * grid.x(grid.XStart() + r) / grid.Lx());
    dc[p] += 0.5 * (1 + 0.5 * std::sin(m.omega * t + m.phi)) * sum;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk,
                                                                     ControlsArrays *g) const {
  const PetscInt n = dk.k[0] * dk.k[1];
  const std::vector<PetscReal> *dW[3] = {&dk.WQ, &dk.WK, &dk.WV};
  const PetscReal amplitude[3] = {2.0, 2.0, 1.0};
  PetscFunctionBeginUser;
  for (PetscInt q = 0; q < 3; ++q)
    for (PetscInt m = 0; m < grid.Nh(); ++m) PetscCall(AddStencilGradient(q, amplitude[q], t, grid, dk.k, grid.h(m), grid.Lh(), &(*dW[q])[m * n], g));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk,
                                                                     ControlsArrays *g) const {
  const PetscInt n = dk.k[0] * dk.k[1];
  PetscFunctionBeginUser;
  for (PetscInt r = 0; r < grid.XLocal(); ++r)
    PetscCall(AddStencilGradient(3 + 2 * J_, 0.5, t, grid, dk.k, grid.x(grid.XStart() + r), grid.Lx(), &dk.W[r * n], g));
  PetscCall(AddBiasGradient(4 + 2 * J_, t, grid, dk.b, g));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk,
                                                                       ControlsArrays *g) const {
  PetscFunctionBeginUser;
  PetscCall(AddStencilGradient(2 + j, 1.0, t, grid, dk.k, 0, 0, dk.W.data(), g));
  PetscCall(AddBiasGradient(2 + J_ + j, t, grid, dk.b, g));
  PetscFunctionReturn(0);
}

// The integral-kernel operators (attention, ffn<j>) on these controls: their kernels are the stencils made dense.
PetscErrorCode AnalyticConvolutionControls::AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const {
  PetscInt k[2];
  ConvAttentionKernels dconv;
  PetscFunctionBeginUser;
  PetscCall(Stencil(grid, k));
  PetscCall(IntegralKernelsAsConvolutionGradient(dk, k, grid, &dconv));
  PetscCall(AddConvAttentionGradient(t, grid, dconv, g));
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticConvolutionControls::AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk,
                                                                   ControlsArrays *g) const {
  PetscInt k[2];
  ConvTokenKernels dconv;
  PetscFunctionBeginUser;
  PetscCall(Stencil(grid, k));
  PetscCall(IntegralKernelAsConvolutionGradient(dk, k, grid, &dconv));
  PetscCall(AddConvFeedForwardGradient(j, t, grid, dconv, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
