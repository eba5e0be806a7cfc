// The parameters θ of layered convolutional controls in the layout of their file (docs/controls-format.md, "Convolutional
// models" and "Gradient files"), and the chain rule from the sampled stencils to them. A refined stencil is a linear map R
// of the file's (the fine offsets' weights of RefinedWeights), so the file stencil's gradient is Rᵀ of the fine one's.
#include <algorithm>
#include <functional>
#include <numeric>

#include "discretization/dense_convolution.hpp"
#include "discretization/layered_convolution_controls.hpp"

namespace ctflow {

void LayeredConvolutionControls::Coarsen(PetscInt count, const PetscInt r[2], const PetscInt k[2], const PetscInt K[2], const PetscReal *fine,
                                         PetscReal *coarse) {
  for (PetscInt n = 0; n < count; ++n)
    for (PetscInt j1 = 0; j1 < K[0]; ++j1)
      for (const auto &a : RefinedWeights(j1 - K[0] / 2, k[0], r[0]))
        for (PetscInt j2 = 0; j2 < K[1]; ++j2)
          for (const auto &b : RefinedWeights(j2 - K[1] / 2, k[1], r[1]))
            coarse[(n * k[0] + a.first) * k[1] + b.first] += a.second * b.second * fine[(n * K[0] + j1) * K[1] + j2];
}

std::string LayeredConvolutionControls::LayerGroup(PetscInt n) const {
  const PetscInt s = layers_[n].stage;
  return "/stages/" + std::to_string(s) + "/layers/" + std::to_string(n - (PetscInt)layout_[s].t0) + "/";
}

template <typename Self, typename Visit>
PetscErrorCode LayeredConvolutionControls::VisitParameters(Self &self, Visit visit) {
  auto &layers = self.file_layers_.empty() ? self.layers_ : self.file_layers_;
  const auto shape = [](hsize_t count, const Stencil &st) {
    return count ? std::vector<hsize_t>{count, (hsize_t)st.k[0], (hsize_t)st.k[1]} : std::vector<hsize_t>{(hsize_t)st.k[0], (hsize_t)st.k[1]};
  };
  PetscFunctionBeginUser;
  for (size_t n = 0; n < layers.size(); ++n) {
    auto &l = layers[n];
    const std::string p = self.LayerGroup((PetscInt)n);
    const hsize_t Nh = self.layout_[l.stage].Nh, Nx = self.layout_[l.stage].Nx;
    PetscCall(visit(p + "conv_WQ", shape(Nh, l.WQ), false, l.WQ.w.data()));
    PetscCall(visit(p + "conv_WK", shape(Nh, l.WK), false, l.WK.w.data()));
    PetscCall(visit(p + "conv_WV", shape(Nh, l.WV), false, l.WV.w.data()));
    if (!l.embed.w.empty()) {
      PetscCall(visit(p + "embed_W", shape(Nx, l.embed), false, l.embed.w.data()));
      PetscCall(visit(p + "embed_b", {Nx}, false, l.embed_b.data()));
    }
    for (size_t j = 0; j < l.W.size(); ++j) {
      PetscCall(visit(p + "conv_W" + std::to_string(j + 1), shape(0, l.W[j]), false, l.W[j].w.data()));
      PetscCall(visit(p + "b" + std::to_string(j + 1), {Nx}, false, l.b[j].data()));
    }
    PetscCall(visit(p + "sigma1", {}, true, &l.sigma1));
    PetscCall(visit(p + "sigma2", {}, true, &l.sigma2));
  }
  if (self.cvt_.classes > 0) {
    auto &c = self.cvt_;
    const hsize_t N0 = self.layout_.front().Nx, NL = self.HeadRows(), C = c.channels, k = c.kernel, classes = c.classes;
    PetscCall(visit("/cvt/embedding_W", {N0, C, k, k}, false, c.embedding.data()));
    PetscCall(visit("/cvt/embedding_b", {N0}, false, c.bias.data()));
    PetscCall(visit("/cvt/head_W", {NL, classes}, false, c.head_weight.data()));
    PetscCall(visit("/cvt/head_b", {classes}, false, c.head_bias.data()));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::ReserveParameters(ControlsArrays *theta) const {
  size_t n = 0;
  PetscFunctionBeginUser;
  PetscCall(VisitParameters(*this, [&](const std::string &, const std::vector<hsize_t> &shape, bool, const PetscReal *) {
    n += std::accumulate(shape.begin(), shape.end(), size_t(1), std::multiplies<>());
    return PetscErrorCode(0);
  }));
  PetscCall(theta->Reserve(comm_, n));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::GetParameters(ControlsArrays *theta) const {
  PetscFunctionBeginUser;
  *theta = ControlsArrays();
  PetscCall(ReserveParameters(theta));
  PetscCall(
      VisitParameters(*this, [&](const std::string &name, const std::vector<hsize_t> &shape, bool attribute, const PetscReal *v) -> PetscErrorCode {
        PetscFunctionBeginUser;
        PetscCall(theta->Add(comm_, name, shape, attribute));
        ControlsValues &a = theta->Find(name)->values;
        std::copy_n(v, a.size(), a.begin());
        PetscFunctionReturn(0);
      }));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::GetZeroParameters(ControlsArrays *zero) const {
  PetscFunctionBeginUser;
  *zero = ControlsArrays();
  PetscCall(ReserveParameters(zero));
  PetscCall(VisitParameters(*this, [&](const std::string &name, const std::vector<hsize_t> &shape, bool attribute, const PetscReal *) {
    return zero->Add(comm_, name, shape, attribute);
  }));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SetParameters(const ControlsArrays &theta) {
  PetscFunctionBeginUser;
  PetscCall(VisitParameters(*this, [&](const std::string &name, const std::vector<hsize_t> &shape, bool, PetscReal *v) -> PetscErrorCode {
    PetscFunctionBeginUser;
    const ControlsArray *a = theta.Find(name);
    PetscCheck(a && a->shape == shape, comm_, PETSC_ERR_ARG_WRONG, "SetParameters: no array %s of the controls' shape", name.c_str());
    std::copy(a->values.begin(), a->values.end(), v);
    PetscFunctionReturn(0);
  }));
  for (const Layer &l : file_layers_.empty() ? layers_ : file_layers_)
    PetscCheck(l.sigma2 > 0, comm_, PETSC_ERR_ARG_OUTOFRANGE, "SetParameters: sigma2 = %g; the layer-norm standard deviation must be positive",
               (double)l.sigma2);
  if (!file_layers_.empty()) PetscCallCXX(RefineLayers());
  Touch();
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddStencils(ControlsArrays *g, const std::string &name, const Stencil &file, PetscInt count_total,
                                                       PetscInt first, PetscInt count, const PetscInt K[2], const PetscReal *fine) const {
  const PetscInt kk = file.k[0] * file.k[1];
  PetscFunctionBeginUser;
  if (count_total) PetscCall(g->Add(comm_, name, {(hsize_t)count_total, (hsize_t)file.k[0], (hsize_t)file.k[1]}));
  else PetscCall(g->Add(comm_, name, {(hsize_t)file.k[0], (hsize_t)file.k[1]}));
  PetscReal *coarse = &g->Find(name)->values[first * kk];
  if (r_[0] == 1 && r_[1] == 1)
    for (PetscInt i = 0; i < count * kk; ++i) coarse[i] += fine[i];
  else Coarsen(count, r_, file.k, K, fine, coarse);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddConvAttentionGradient(PetscReal t, const Grid &grid, const ConvAttentionKernels &dk,
                                                                    ControlsArrays *g) const {
  const Layer *l;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  const PetscInt n = PieceKey(t), Nh = layout_[l->stage].Nh;
  const Layer &file = FileLayer(n);
  const std::string p = LayerGroup(n);
  PetscCall(AddStencils(g, p + "conv_WQ", file.WQ, Nh, 0, Nh, dk.k, dk.WQ.data()));
  PetscCall(AddStencils(g, p + "conv_WK", file.WK, Nh, 0, Nh, dk.k, dk.WK.data()));
  PetscCall(AddStencils(g, p + "conv_WV", file.WV, Nh, 0, Nh, dk.k, dk.WV.data()));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddConvEmbeddingGradient(PetscReal t, const Grid &grid, const ConvTokenKernels &dk,
                                                                    ControlsArrays *g) const {
  const Layer *l;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  const PetscInt n = PieceKey(t), Nx = layout_[l->stage].Nx, xs = grid.XStart(), xm = grid.XLocal();
  const std::string p = LayerGroup(n);
  PetscCall(AddStencils(g, p + "embed_W", FileLayer(n).embed, Nx, xs, xm, dk.k, dk.W.data()));
  PetscCall(g->Add(comm_, p + "embed_b", {(hsize_t)Nx}));
  ControlsValues &b = g->Find(p + "embed_b")->values;
  for (PetscInt r = 0; r < xm; ++r) b[xs + r] += dk.b[r];
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddConvFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const ConvTokenKernels &dk,
                                                                      ControlsArrays *g) const {
  const Layer *l;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  const PetscInt n = PieceKey(t), Nx = layout_[l->stage].Nx, xs = grid.XStart(), xm = grid.XLocal();
  const std::string p = LayerGroup(n), J = std::to_string(j);
  PetscCall(AddStencils(g, p + "conv_W" + J, FileLayer(n).W[j - 1], 0, 0, 1, dk.k, dk.W.data()));
  PetscCall(g->Add(comm_, p + "b" + J, {(hsize_t)Nx}));
  ControlsValues &b = g->Find(p + "b" + J)->values;
  for (PetscInt r = 0; r < xm; ++r) b[xs + r] += dk.b[r];
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddLayerNormGradient(PetscInt, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const {
  const PetscInt n = PieceKey(t);
  PetscFunctionBeginUser;
  PetscCheck(n >= 0, comm_, PETSC_ERR_ARG_OUTOFRANGE, "convolutional controls '%s' are defined on [0, %zu); sampled at t = %g", path_.c_str(),
             layers_.size(), (double)t);
  const std::string p = LayerGroup(n);
  PetscCall(g->Add(comm_, p + "sigma1", {}, true));
  PetscCall(g->Add(comm_, p + "sigma2", {}, true));
  g->Find(p + "sigma1")->values[0] += dk.sigma1;
  g->Find(p + "sigma2")->values[0] += dk.sigma2;
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddCvtGradient(const CvtProcessing &dk, ControlsArrays *g) const {
  const hsize_t N0 = layout_.front().Nx, NL = HeadRows(), C = cvt_.channels, k = cvt_.kernel, classes = cvt_.classes;
  const std::pair<const char *, std::pair<std::vector<hsize_t>, const std::vector<PetscReal> *>> parts[] = {
      {"/cvt/embedding_W", {{N0, C, k, k}, &dk.embedding}},
      {"/cvt/embedding_b", {{N0}, &dk.bias}},
      {"/cvt/head_W", {{NL, classes}, &dk.head_weight}},
      {"/cvt/head_b", {{classes}, &dk.head_bias}}};
  PetscFunctionBeginUser;
  for (const auto &[name, part] : parts) {
    if (part.second->empty()) continue;
    PetscCall(g->Add(comm_, name, part.first));
    ControlsValues &a = g->Find(name)->values;
    for (size_t i = 0; i < a.size(); ++i) a[i] += (*part.second)[i];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const {
  const Layer *l;
  ConvAttentionKernels dconv;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  PetscCall(IntegralKernelsAsConvolutionGradient(dk, l->WQ.k, grid, &dconv));
  PetscCall(AddConvAttentionGradient(t, grid, dconv, g));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk,
                                                                  ControlsArrays *g) const {
  const Layer *l;
  ConvTokenKernels dconv;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  PetscCall(IntegralKernelAsConvolutionGradient(dk, l->W[j - 1].k, grid, &dconv));
  PetscCall(AddConvFeedForwardGradient(j, t, grid, dconv, g));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
