// The parameters θ of layered controls in the file's layout (docs/controls-format.md), and the chain rule from the
// sampled kernels to them. Refined kernels (-Ny, -Nh multiples of the file's sizes) are piecewise constant on the
// file's cells, so a file value's gradient is the sum of its fine cells' gradients.
#include <algorithm>
#include <array>
#include <functional>
#include <numeric>

#include "discretization/layered_controls.hpp"

namespace ctflow {

namespace {

using Factors = std::array<PetscInt, 3>;

// The shape padded to three axes.
std::array<hsize_t, 3> Axes(const std::vector<hsize_t> &shape) {
  std::array<hsize_t, 3> n = {1, 1, 1};
  for (size_t i = 0; i < shape.size(); ++i) n[i] = shape[i];
  return n;
}

// The file's resolution: fine and coarse entries coincide.
bool Unrefined(const Factors &r) { return r[0] == 1 && r[1] == 1 && r[2] == 1; }

// fine index → coarse index for every fine cell of an array of coarse shape `shape` refined by r.
template <typename F>
void ForEachFine(const std::vector<hsize_t> &shape, const Factors &r, F f) {
  const std::array<hsize_t, 3> n = Axes(shape);
  size_t k = 0;
  for (hsize_t i0 = 0; i0 < n[0] * r[0]; ++i0)
    for (hsize_t i1 = 0; i1 < n[1] * r[1]; ++i1)
      for (hsize_t i2 = 0; i2 < n[2] * r[2]; ++i2) f(k++, ((i0 / r[0]) * n[1] + i1 / r[1]) * n[2] + i2 / r[2]);
}

// g[name] += the fine gradient summed over each coarse cell (the transpose of refinement).
PetscErrorCode AddCoarsened(MPI_Comm comm, ControlsArrays *g, const std::string &name, const std::vector<hsize_t> &shape, bool attribute,
                            const Factors &r, const PetscReal *fine) {
  PetscFunctionBeginUser;
  PetscCall(g->Add(comm, name, shape, attribute));
  ControlsValues &coarse = g->Find(name)->values;
  if (Unrefined(r)) std::transform(coarse.begin(), coarse.end(), fine, coarse.begin(), std::plus<>());
  else ForEachFine(shape, r, [&](size_t k, size_t c) { coarse[c] += fine[k]; });
  PetscFunctionReturn(0);
}

}  // namespace

// Every parameter array: visit(name, file shape, attribute, fine storage, refinement factors).
template <typename Self, typename Visit>
PetscErrorCode LayeredControls::VisitParameters(Self &self, Visit visit) {
  const hsize_t Nh = self.Nh_ / self.rh_, Ny = self.Ny_ / self.ry_, d = self.d_head_ / self.ry_;
  const PetscInt ry = self.ry_, rh = self.rh_;
  PetscFunctionBeginUser;
  for (size_t n = 0; n < self.layers_.size(); ++n) {
    auto &l = self.layers_[n];
    const std::string g = "/layers/" + std::to_string(n) + "/";
    auto &a = l.attention;
    PetscCall(visit(g + "WQ", {Nh, Ny, d}, false, a.WQ.data(), Factors{rh, ry, ry}));
    PetscCall(visit(g + "WK", {Nh, Ny, d}, false, a.WK.data(), Factors{rh, ry, ry}));
    PetscCall(visit(g + "WV", {Nh, Ny, d}, false, a.WV.data(), Factors{rh, ry, ry}));
    if (!a.WO.empty()) PetscCall(visit(g + "WO", {Nh, d, Ny}, false, a.WO.data(), Factors{rh, 1, 1}));
    if (!a.bQ.empty()) PetscCall(visit(g + "bQ", {Nh, d}, false, a.bQ.data(), Factors{rh, 1, 1}));
    if (!a.c.empty()) PetscCall(visit(g + "c", {Ny}, false, a.c.data(), Factors{1, 1, 1}));
    for (size_t j = 0; j < l.W.size(); ++j) {
      const std::string J = std::to_string(j + 1);
      PetscCall(visit(g + "W" + J, {Ny, Ny}, false, l.W[j].data(), Factors{ry, ry, 1}));
      if (l.b_per_token[j]) PetscCall(visit(g + "b" + J, {(hsize_t)(l.b[j].size() / self.Ny_), Ny}, false, l.b[j].data(), Factors{1, ry, 1}));
      else PetscCall(visit(g + "b" + J, {Ny}, false, l.b[j].data(), Factors{ry, 1, 1}));
    }
    if (l.mlp.F > 0) {
      const hsize_t F = l.mlp.F;
      PetscCall(visit(g + "mlp_W1", {Ny, F}, false, l.mlp.W1.data(), Factors{1, 1, 1}));
      PetscCall(visit(g + "mlp_b1", {F}, false, l.mlp.b1.data(), Factors{1, 1, 1}));
      PetscCall(visit(g + "mlp_W2", {F, Ny}, false, l.mlp.W2.data(), Factors{1, 1, 1}));
      PetscCall(visit(g + "mlp_b2", {Ny}, false, l.mlp.b2.data(), Factors{1, 1, 1}));
    }
    if (l.has_sigma) {
      PetscCall(visit(g + "sigma1", {}, true, &l.sigma1, Factors{1, 1, 1}));
      PetscCall(visit(g + "sigma2", {}, true, &l.sigma2, Factors{1, 1, 1}));
    }
    if (l.relaxation_given) PetscCall(visit(g + "relaxation_rate", {}, true, &l.relaxation_rate, Factors{1, 1, 1}));
    for (size_t k = 0; k < l.norms.size(); ++k) {
      const std::string prefix = g + "layernorm" + std::to_string(k + 1) + "_";
      PetscCall(visit(prefix + "gamma", {Ny}, false, l.norms[k].sigma2_y.data(), Factors{1, 1, 1}));
      PetscCall(visit(prefix + "beta", {Ny}, false, l.norms[k].sigma1_y.data(), Factors{1, 1, 1}));
    }
  }
  if (self.has_final_norm_) {
    PetscCall(visit("/final_norm/gamma", {Ny}, false, self.final_norm_.sigma2_y.data(), Factors{1, 1, 1}));
    PetscCall(visit("/final_norm/beta", {Ny}, false, self.final_norm_.sigma1_y.data(), Factors{1, 1, 1}));
  }
  if (self.vit_.patch > 0) {
    auto &v = self.vit_;
    const hsize_t D = v.channels * v.patch * v.patch, Nx = v.NumTokens(), C = v.classes;
    PetscCall(visit("/vit/patch_embedding", {D, Ny}, false, v.patch_embedding.data(), Factors{1, 1, 1}));
    PetscCall(visit("/vit/patch_bias", {Ny}, false, v.patch_bias.data(), Factors{1, 1, 1}));
    PetscCall(visit("/vit/class_token", {Ny}, false, v.class_token.data(), Factors{1, 1, 1}));
    PetscCall(visit("/vit/position_embedding", {Nx, Ny}, false, v.position_embedding.data(), Factors{1, 1, 1}));
    PetscCall(visit("/vit/head_weight", {Ny, C}, false, v.head_weight.data(), Factors{1, 1, 1}));
    PetscCall(visit("/vit/head_bias", {C}, false, v.head_bias.data(), Factors{1, 1, 1}));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::ReserveParameters(ControlsArrays *theta) const {
  size_t n = 0;
  PetscFunctionBeginUser;
  PetscCall(VisitParameters(*this, [&](const std::string &, const std::vector<hsize_t> &shape, bool, const PetscReal *, const Factors &) {
    n += std::accumulate(shape.begin(), shape.end(), size_t(1), std::multiplies<>());
    return PetscErrorCode(0);
  }));
  PetscCall(theta->Reserve(comm_, n));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::GetParameters(ControlsArrays *theta) const {
  PetscFunctionBeginUser;
  *theta = ControlsArrays();
  PetscCall(ReserveParameters(theta));
  PetscCall(VisitParameters(
      *this,
      [&](const std::string &name, const std::vector<hsize_t> &shape, bool attribute, const PetscReal *fine, const Factors &r) -> PetscErrorCode {
        PetscFunctionBeginUser;
        PetscCall(theta->Add(comm_, name, shape, attribute));
        ControlsValues &coarse = theta->Find(name)->values;
        if (Unrefined(r)) std::copy_n(fine, coarse.size(), coarse.begin());
        else ForEachFine(shape, r, [&](size_t k, size_t c) { coarse[c] = fine[k]; });
        PetscFunctionReturn(0);
      }));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::GetZeroParameters(ControlsArrays *zero) const {
  PetscFunctionBeginUser;
  *zero = ControlsArrays();
  PetscCall(ReserveParameters(zero));
  PetscCall(VisitParameters(*this, [&](const std::string &name, const std::vector<hsize_t> &shape, bool attribute, const PetscReal *,
                                       const Factors &) { return zero->Add(comm_, name, shape, attribute); }));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SetParameters(const ControlsArrays &theta) {
  PetscFunctionBeginUser;
  PetscCall(VisitParameters(
      *this, [&](const std::string &name, const std::vector<hsize_t> &shape, bool, PetscReal *fine, const Factors &r) -> PetscErrorCode {
        PetscFunctionBeginUser;
        const ControlsArray *a = theta.Find(name);
        PetscCheck(a && a->shape == shape, comm_, PETSC_ERR_ARG_WRONG, "SetParameters: no array %s of the controls' shape", name.c_str());
        if (Unrefined(r)) std::copy(a->values.begin(), a->values.end(), fine);
        else ForEachFine(shape, r, [&](size_t k, size_t c) { fine[k] = a->values[c]; });
        PetscFunctionReturn(0);
      }));
  for (const Layer &l : layers_)
    PetscCheck(l.relaxation_rate > 0, comm_, PETSC_ERR_ARG_OUTOFRANGE, "SetParameters: relaxation_rate = %g must be positive",
               (double)l.relaxation_rate);
  for (const Layer &l : layers_)
    PetscCheck(!l.has_sigma || l.sigma2 > 0, comm_, PETSC_ERR_ARG_OUTOFRANGE,
               "SetParameters: sigma2 = %g; the layer-norm standard deviation must be positive", (double)l.sigma2);
  Touch();
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddAttentionGradient(PetscReal t, const Grid &, const AttentionKernels &dk, ControlsArrays *g) const {
  const Layer *layer = nullptr;
  const hsize_t Nh = Nh_ / rh_, Ny = Ny_ / ry_, d = d_head_ / ry_;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  const std::string p = "/layers/" + std::to_string(LayeredControls::PieceKey(t)) + "/";
  PetscCall(AddCoarsened(comm_, g, p + "WQ", {Nh, Ny, d}, false, {rh_, ry_, ry_}, dk.WQ.data()));
  PetscCall(AddCoarsened(comm_, g, p + "WK", {Nh, Ny, d}, false, {rh_, ry_, ry_}, dk.WK.data()));
  PetscCall(AddCoarsened(comm_, g, p + "WV", {Nh, Ny, d}, false, {rh_, ry_, ry_}, dk.WV.data()));
  if (!layer->attention.WO.empty()) PetscCall(AddCoarsened(comm_, g, p + "WO", {Nh, d, Ny}, false, {rh_, 1, 1}, dk.WO.data()));
  if (!layer->attention.bQ.empty()) PetscCall(AddCoarsened(comm_, g, p + "bQ", {Nh, d}, false, {rh_, 1, 1}, dk.bQ.data()));
  if (!layer->attention.c.empty()) PetscCall(AddCoarsened(comm_, g, p + "c", {Ny}, false, {1, 1, 1}, dk.c.data()));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk,
                                                       ControlsArrays *g) const {
  const Layer *layer = nullptr;
  const hsize_t Ny = Ny_ / ry_;
  const PetscInt N = Ny_, xs = grid.XStart(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  const std::string p = "/layers/" + std::to_string(LayeredControls::PieceKey(t)) + "/", J = std::to_string(j);
  PetscCall(AddCoarsened(comm_, g, p + "W" + J, {Ny, Ny}, false, {ry_, ry_, 1}, dk.W.data()));
  if (layer->b_per_token[j - 1]) {
    // Only the owned tokens' rows: the rows of the (N_x, N_y) bias at xs … xs + xm − 1.
    const hsize_t Nx = layer->b[j - 1].size() / N;
    PetscCall(g->Add(comm_, p + "b" + J, {Nx, Ny}));
    ControlsValues &b = g->Find(p + "b" + J)->values;
    for (PetscInt r = 0; r < xm; ++r)
      for (PetscInt l = 0; l < N; ++l) b[(xs + r) * Ny + l / ry_] += dk.b[r * N + l];
  } else {
    PetscCall(g->Add(comm_, p + "b" + J, {Ny}));
    ControlsValues &b = g->Find(p + "b" + J)->values;
    for (PetscInt r = 0; r < xm; ++r)
      for (PetscInt l = 0; l < N; ++l) b[l / ry_] += dk.b[r * N + l];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const {
  const hsize_t Ny = Ny_ / ry_;
  PetscFunctionBeginUser;
  const std::string p = "/layers/" + std::to_string(LayeredControls::PieceKey(t)) + "/";
  if (index == 0) {
    PetscCall(g->Add(comm_, p + "sigma1", {}, true));
    PetscCall(g->Add(comm_, p + "sigma2", {}, true));
    g->Find(p + "sigma1")->values[0] += dk.sigma1;
    g->Find(p + "sigma2")->values[0] += dk.sigma2;
    PetscFunctionReturn(0);
  }
  const std::string prefix = p + "layernorm" + std::to_string(index) + "_";
  PetscCall(AddCoarsened(comm_, g, prefix + "gamma", {Ny}, false, {1, 1, 1}, dk.sigma2_y.data()));
  PetscCall(AddCoarsened(comm_, g, prefix + "beta", {Ny}, false, {1, 1, 1}, dk.sigma1_y.data()));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddMlpGradient(PetscReal t, const Grid &, const MlpKernels &dk, ControlsArrays *g) const {
  const hsize_t Ny = Ny_, F = dk.F;
  PetscFunctionBeginUser;
  const std::string p = "/layers/" + std::to_string(LayeredControls::PieceKey(t)) + "/";
  PetscCall(AddCoarsened(comm_, g, p + "mlp_W1", {Ny, F}, false, {1, 1, 1}, dk.W1.data()));
  PetscCall(AddCoarsened(comm_, g, p + "mlp_b1", {F}, false, {1, 1, 1}, dk.b1.data()));
  PetscCall(AddCoarsened(comm_, g, p + "mlp_W2", {F, Ny}, false, {1, 1, 1}, dk.W2.data()));
  PetscCall(AddCoarsened(comm_, g, p + "mlp_b2", {Ny}, false, {1, 1, 1}, dk.b2.data()));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddFinalNormGradient(const LayerNormTargets &dk, ControlsArrays *g) const {
  const hsize_t Ny = Ny_;
  PetscFunctionBeginUser;
  PetscCall(AddCoarsened(comm_, g, "/final_norm/gamma", {Ny}, false, {1, 1, 1}, dk.sigma2_y.data()));
  PetscCall(AddCoarsened(comm_, g, "/final_norm/beta", {Ny}, false, {1, 1, 1}, dk.sigma1_y.data()));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddVitGradient(const VitProcessing &dk, ControlsArrays *g) const {
  const hsize_t Ny = Ny_, D = vit_.channels * vit_.patch * vit_.patch, Nx = vit_.NumTokens(), C = vit_.classes;
  const std::pair<const char *, std::pair<std::vector<hsize_t>, const std::vector<PetscReal> *>> parts[] = {
      {"/vit/patch_embedding", {{D, Ny}, &dk.patch_embedding}},
      {"/vit/patch_bias", {{Ny}, &dk.patch_bias}},
      {"/vit/class_token", {{Ny}, &dk.class_token}},
      {"/vit/position_embedding", {{Nx, Ny}, &dk.position_embedding}},
      {"/vit/head_weight", {{Ny, C}, &dk.head_weight}},
      {"/vit/head_bias", {{C}, &dk.head_bias}}};
  PetscFunctionBeginUser;
  for (const auto &[name, part] : parts)
    if (!part.second->empty()) PetscCall(AddCoarsened(comm_, g, name, part.first, false, {1, 1, 1}, part.second->data()));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::AddRelaxationRateGradient(PetscReal t, PetscReal dlambda, ControlsArrays *g) const {
  const Layer *layer = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  if (!layer->relaxation_given) PetscFunctionReturn(0);  // the default λ = 1 is not a parameter of the file
  const std::string name = "/layers/" + std::to_string(PieceKey(t)) + "/relaxation_rate";
  PetscCall(g->Add(comm_, name, {}, true));
  g->Find(name)->values[0] += dlambda;
  PetscFunctionReturn(0);
}

}  // namespace ctflow
