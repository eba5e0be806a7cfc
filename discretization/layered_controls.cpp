#include "discretization/layered_controls.hpp"

#include <algorithm>
#include <cmath>

#include "discretization/base/sizes.hpp"
#include "discretization/hdf5_input.hpp"

namespace ctflow {

std::string LayeredControls::Description() const { return "layered (" + path_ + ", " + std::to_string(layers_.size()) + " layers)"; }

PetscErrorCode LayeredControls::LoadNorm(const H5Input &in, const std::string &prefix, const std::string &eps_object, const std::string &eps_name,
                                         LayerNormTargets *norm) {
  const std::vector<hsize_t> vec = {(hsize_t)Ny_};
  bool has_eps;
  PetscFunctionBeginUser;
  PetscCall(in.Read(prefix + "gamma", vec, "(N_y,)", &norm->sigma2_y));
  PetscCall(in.Read(prefix + "beta", vec, "(N_y,)", &norm->sigma1_y));
  PetscCall(in.ReadAttribute(eps_object, eps_name.c_str(), &norm->eps, &has_eps));
  if (!has_eps) norm->eps = -1;
  PetscCheck(!has_eps || norm->eps >= 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': %s must be non-negative", path_.c_str(),
             (eps_object + eps_name).c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls) {
  PetscFunctionBeginUser;
  PetscCallCXX(*controls = std::make_unique<LayeredControls>(comm));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::LoadLayer(const H5Input &in, PetscInt n, Layer *layer) {
  const std::string g = "/layers/" + std::to_string(n) + "/";
  const hsize_t Nh = Nh_, Ny = Ny_, d = d_head_;
  std::vector<hsize_t> shape;
  bool found;
  PetscFunctionBeginUser;
  // Attention, eq. (37)–(41) with rank-d_head factors, an affine query and a constant output c(y).
  AttentionKernels &a = layer->attention;
  PetscCall(in.Read(g + "WQ", {Nh, Ny, d}, "(N_h, N_y, d_head)", &a.WQ));
  PetscCall(in.Read(g + "WK", {Nh, Ny, d}, "(N_h, N_y, d_head)", &a.WK));
  PetscCall(in.Read(g + "WV", {Nh, Ny, d}, "(N_h, N_y, d_head)", &a.WV));
  if (in.Has(g + "WO")) PetscCall(in.Read(g + "WO", {Nh, d, Ny}, "(N_h, d_head, N_y)", &a.WO));
  else
    PetscCheck(d == Ny, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': layer %" PetscInt_FMT " has d_head = %d != N_y = %d but no WO",
               path_.c_str(), n, (int)d, (int)Ny);
  if (in.Has(g + "bQ")) PetscCall(in.Read(g + "bQ", {Nh, d}, "(N_h, d_head)", &a.bQ));
  if (in.Has(g + "c")) PetscCall(in.Read(g + "c", {Ny}, "(N_y,)", &a.c));
  PetscCall(in.ReadAttribute(g, "attention_scale", &a.scale, &found));
  layer->scale_given = found;
  if (!found) a.scale = 1 / std::sqrt((PetscReal)Ny);  // |Ω_y| = N_y (unit spacing) unless -Ly says otherwise

  // The paper's feed-forward layers W_j, b_j, eq. (34).
  PetscCheck(!in.Has(g + "W" + std::to_string(J_ + 1)), comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': layer %" PetscInt_FMT " has more feed-forward layers than layer 0 (J = %" PetscInt_FMT ")", path_.c_str(), n, J_);
  layer->W.resize(J_);
  layer->b.resize(J_);
  layer->b_per_token.resize(J_);
  for (PetscInt j = 1; j <= J_; ++j) {
    const std::string b = g + "b" + std::to_string(j);
    PetscCall(in.Read(g + "W" + std::to_string(j), {Ny, Ny}, "(N_y, N_y)", &layer->W[j - 1]));
    PetscCall(in.Shape(b, &shape));
    layer->b_per_token[j - 1] = shape.size() == 2;
    if (shape.size() == 2) {
      // b_j(x, y) per token: the file also fixes N_x.
      PetscCheck(Nx_ == 0 || Nx_ == (PetscInt)shape[0], comm_, PETSC_ERR_FILE_UNEXPECTED,
                 "-controls file '%s': dataset %s has %llu tokens but %s has %" PetscInt_FMT, path_.c_str(), b.c_str(), (unsigned long long)shape[0],
                 Nx_source_.c_str(), Nx_);
      if (Nx_ == 0) PetscCallCXX(Nx_source_ = "the -controls file '" + path_ + "' (dataset " + b + ")");
      Nx_ = (PetscInt)shape[0];
      PetscCall(in.Read(b, {shape[0], Ny}, "(N_x, N_y)", &layer->b[j - 1]));
    } else {
      PetscCall(in.Read(b, {Ny}, "(N_y,) or (N_x, N_y)", &layer->b[j - 1]));
    }
  }

  // Lifted feed-forward network on F hidden points.
  if (in.Has(g + "mlp_W1")) {
    MlpKernels &m = layer->mlp;
    std::string activation = "relu";
    PetscCall(in.Shape(g + "mlp_W1", &shape));
    PetscCheck(shape.size() == 2 && shape[0] == Ny && shape[1] > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': dataset '%smlp_W1' has shape %s, expected (N_y, F)", path_.c_str(), g.c_str(), ShapeString(shape).c_str());
    const hsize_t F = shape[1];
    m.F = (PetscInt)F;
    PetscCall(in.Read(g + "mlp_W1", {Ny, F}, "(N_y, F)", &m.W1));
    PetscCall(in.Read(g + "mlp_b1", {F}, "(F,)", &m.b1));
    PetscCall(in.Read(g + "mlp_W2", {F, Ny}, "(F, N_y)", &m.W2));
    PetscCall(in.Read(g + "mlp_b2", {Ny}, "(N_y,)", &m.b2));
    PetscCall(in.ReadAttribute(g, "mlp_activation", &activation, &found));
    PetscCheck(activation == "relu" || activation == "gelu", comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': layer %" PetscInt_FMT " has mlp_activation '%s'; supported: relu, gelu", path_.c_str(), n, activation.c_str());
    m.gelu = activation == "gelu";
  }

  // Layer norms: the paper's scalar σ1, σ2, and named ones with per-feature targets.
  bool has_sigma2;
  PetscCall(in.ReadAttribute(g, "sigma1", &layer->sigma1, &layer->has_sigma));
  PetscCall(in.ReadAttribute(g, "sigma2", &layer->sigma2, &has_sigma2));
  PetscCheck(layer->has_sigma == has_sigma2, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': layer %" PetscInt_FMT " must give both sigma1 and sigma2 or neither", path_.c_str(), n);
  PetscCheck(!layer->has_sigma || layer->sigma2 > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': layer %" PetscInt_FMT " has sigma2 = %g; the layer-norm standard deviation must be positive", path_.c_str(), n,
             (double)layer->sigma2);
  for (PetscInt k = 1; in.Has(g + "layernorm" + std::to_string(k) + "_gamma"); ++k) {
    const std::string prefix = "layernorm" + std::to_string(k) + "_";
    layer->norms.emplace_back();
    PetscCall(LoadNorm(in, g + prefix, g, prefix + "eps", &layer->norms.back()));
  }
  PetscCall(in.ReadAttribute(g, "relaxation_rate", &layer->relaxation_rate, &found));
  layer->relaxation_given = found;
  PetscCheck(std::isfinite(layer->relaxation_rate) && layer->relaxation_rate > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': layer %" PetscInt_FMT " has relaxation_rate = %g; it must be positive", path_.c_str(), n,
             (double)layer->relaxation_rate);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::LoadVit(const H5Input &in) {
  const hsize_t Ny = Ny_;
  std::vector<hsize_t> shape;
  PetscInt D, Nx;
  PetscFunctionBeginUser;
  PetscCall(in.ReadCount("/vit", "channels", &vit_.channels));
  PetscCall(in.ReadCount("/vit", "image_height", &vit_.height));
  PetscCall(in.ReadCount("/vit", "image_width", &vit_.width));
  PetscCall(in.ReadCount("/vit", "patch_size", &vit_.patch));
  PetscCheck(vit_.height % vit_.patch == 0 && vit_.width % vit_.patch == 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': /vit needs an image size divisible by patch_size", path_.c_str());
  PetscCall(SizeToPetscInt(comm_, "the /vit patch embedding's rows (C p p)", {(size_t)vit_.channels, (size_t)vit_.patch, (size_t)vit_.patch}, &D));
  PetscCall(SizeToPetscInt(comm_, "the /vit patches (H/p × W/p)", {(size_t)(vit_.height / vit_.patch), (size_t)(vit_.width / vit_.patch)}, &Nx));
  Nx = vit_.NumTokens();
  PetscCall(in.Read("/vit/patch_embedding", {(hsize_t)D, Ny}, "(C p p, N_y)", &vit_.patch_embedding));
  PetscCall(in.Read("/vit/patch_bias", {Ny}, "(N_y,)", &vit_.patch_bias));
  PetscCall(in.Read("/vit/class_token", {Ny}, "(N_y,)", &vit_.class_token));
  PetscCall(in.Read("/vit/position_embedding", {(hsize_t)Nx, Ny}, "(N_x, N_y)", &vit_.position_embedding));
  PetscCall(in.Shape("/vit/head_weight", &shape));
  PetscCheck(shape.size() == 2 && shape[0] == Ny && shape[1] > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': dataset '/vit/head_weight' has shape %s, expected (N_y, classes)", path_.c_str(), ShapeString(shape).c_str());
  vit_.classes = (PetscInt)shape[1];
  PetscCall(in.Read("/vit/head_weight", {Ny, shape[1]}, "(N_y, classes)", &vit_.head_weight));
  PetscCall(in.Read("/vit/head_bias", {shape[1]}, "(classes,)", &vit_.head_bias));
  PetscFunctionReturn(0);
}

// out[i0][i1][i2] = a[i0 / r0][i1 / r1][i2 / r2] for a of shape (n0, n1, n2): piecewise-constant refinement.
static std::vector<PetscReal> RefineArray(const std::vector<PetscReal> &a, PetscInt n0, PetscInt n1, PetscInt n2, PetscInt r0, PetscInt r1,
                                          PetscInt r2) {
  std::vector<PetscReal> out;
  if (a.empty()) return out;
  out.resize(a.size() * r0 * r1 * r2);
  PetscInt k = 0;
  for (PetscInt i0 = 0; i0 < n0 * r0; ++i0)
    for (PetscInt i1 = 0; i1 < n1 * r1; ++i1)
      for (PetscInt i2 = 0; i2 < n2 * r2; ++i2) out[k++] = a[((i0 / r0) * n1 + i1 / r1) * n2 + i2 / r2];
  return out;
}

PetscErrorCode LayeredControls::Refine(PetscInt Ny_fine, PetscInt ry, PetscInt rh) {
  const PetscInt Ny = Ny_, Nh = Nh_, d = d_head_;
  PetscFunctionBeginUser;
  if (ry > 1) {
    // y-refinement is defined for the paper's kernels only (docs/controls-format.md); name the first other dataset.
    std::string what;
    if (d != Ny) what = "rank-d_head attention factors (d_head = " + std::to_string(d) + ")";
    else if (vit_.patch > 0) what = "/vit";
    else if (has_final_norm_) what = "/final_norm";
    for (size_t n = 0; n < layers_.size() && what.empty(); ++n) {
      const Layer &l = layers_[n];
      const std::string g = "/layers/" + std::to_string(n) + "/";
      if (!l.attention.WO.empty()) what = g + "WO";
      else if (!l.attention.bQ.empty()) what = g + "bQ";
      else if (!l.attention.c.empty()) what = g + "c";
      else if (l.mlp.F > 0) what = g + "mlp_W1";
      else if (!l.norms.empty()) what = g + "layernorm1_gamma";
    }
    PetscCheck(what.empty(), comm_, PETSC_ERR_USER_INPUT,
               "-Ny %" PetscInt_FMT " refines the -controls file '%s' (N_y = %" PetscInt_FMT
               "), which only the paper's kernels allow (WQ, WK, WV with d_head = N_y and no WO; W_j, b_j; sigma1, sigma2); it has %s",
               Ny_fine, path_.c_str(), Ny, what.c_str());
  }
  // Each fine cell takes the value of the file's cell that contains it (docs/controls-format.md).
  for (Layer &l : layers_) {
    AttentionKernels &a = l.attention;
    PetscCallCXX(a.WQ = RefineArray(a.WQ, Nh, Ny, d, rh, ry, ry));
    PetscCallCXX(a.WK = RefineArray(a.WK, Nh, Ny, d, rh, ry, ry));
    PetscCallCXX(a.WV = RefineArray(a.WV, Nh, Ny, d, rh, ry, ry));
    PetscCallCXX(a.WO = RefineArray(a.WO, Nh, d, Ny, rh, 1, 1));
    PetscCallCXX(a.bQ = RefineArray(a.bQ, Nh, d, 1, rh, 1, 1));
    for (PetscInt j = 0; j < J_; ++j) {
      PetscCallCXX(l.W[j] = RefineArray(l.W[j], Ny, Ny, 1, ry, ry, 1));
      PetscCallCXX(l.b[j] = RefineArray(l.b[j], (PetscInt)l.b[j].size() / Ny, Ny, 1, 1, ry, 1));
    }
  }
  Ny_ *= ry;
  Nh_ *= rh;
  d_head_ *= ry;
  ry_ *= ry, rh_ *= rh;
  for (Layer &l : layers_) l.attention.d_head = d_head_;
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscCheck(!path_.empty(), comm_, PETSC_ERR_USER_INPUT, "layered controls need a file: give -controls FILE");
  if (!loaded_) PetscCall(Load(path_));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::Load(const std::string &path) {
  H5Input in;
  std::vector<hsize_t> shape;
  PetscReal causal = 0;
  bool found;
  PetscFunctionBeginUser;
  path_ = path;
  PetscCall(H5Input::Open(comm_, path, "-controls", &in));
  PetscCheck(in.Has("/layers/0"), comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s' has no group '/layers/0' (see docs/controls-format.md)",
             path.c_str());
  PetscInt L = 0;
  while (in.Has("/layers/" + std::to_string(L))) ++L;

  // Sizes from layer 0; every other layer must agree.
  PetscCall(in.Shape("/layers/0/WQ", &shape));
  PetscCheck(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': dataset '/layers/0/WQ' has shape %s, expected (N_h, N_y, d_head)", path.c_str(), ShapeString(shape).c_str());
  Nh_ = (PetscInt)shape[0];
  Ny_ = (PetscInt)shape[1];
  d_head_ = (PetscInt)shape[2];
  while (in.Has("/layers/0/W" + std::to_string(J_ + 1))) ++J_;

  layers_.resize(L);
  for (PetscInt n = 0; n < L; ++n) PetscCall(LoadLayer(in, n, &layers_[n]));

  PetscCall(in.ReadAttribute("/", "causal", &causal, &found));
  causal_ = causal != 0;
  PetscCall(in.ReadAttribute("/", "order", &order_, &found));
  if (in.Has("/vit")) PetscCall(LoadVit(in));
  has_final_norm_ = in.Has("/final_norm");
  if (has_final_norm_) PetscCall(LoadNorm(in, "/final_norm/", "/final_norm", "eps", &final_norm_));
  for (Layer &l : layers_) {
    l.attention.d_head = d_head_;
    l.attention.causal = causal_;
  }

  if (in.Has("/layer_times")) {
    PetscCall(in.Read("/layer_times", {(hsize_t)L + 1}, "(num_layers + 1,)", &times_));
    PetscCheck(times_[0] == 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': /layer_times must start at 0", path.c_str());
    for (PetscInt n = 0; n < L; ++n)
      PetscCheck(times_[n + 1] > times_[n], comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': /layer_times must be strictly increasing",
                 path.c_str());
  } else {
    times_.resize(L + 1);
    for (PetscInt n = 0; n <= L; ++n) times_[n] = (PetscReal)n;
  }
  loaded_ = true;
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SetUp(Grid *grid) {
  const std::string source = "the -controls file '" + path_ + "'";
  PetscInt ry, rh;
  PetscFunctionBeginUser;
  PetscCheck(loaded_, comm_, PETSC_ERR_ORDER, "LayeredControls::SetUp needs a loaded file");
  PetscCall(grid->RequireRefinableSize("-Ny", Ny_, source.c_str(), &ry));
  PetscCall(grid->RequireRefinableSize("-Nh", Nh_, source.c_str(), &rh));
  grid->SetUnitSpacing(PETSC_TRUE);
  if (Nx_) PetscCall(grid->RequireSize("-Nx", Nx_, Nx_source_.c_str()));
  if (vit_.patch) PetscCall(grid->RequireSize("-Nx", vit_.NumTokens(), ("the image size of the -controls file '" + path_ + "'").c_str()));
  if (ry > 1 || rh > 1) PetscCall(Refine(grid->Ny(), ry, rh));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::Load(const std::string &path, Grid *grid) {
  PetscFunctionBeginUser;
  PetscCall(Load(path));
  PetscCall(SetUp(grid));
  PetscFunctionReturn(0);
}

PetscInt LayeredControls::PieceKey(PetscReal t) const {
  const PetscReal tol = 1e-10 * std::max<PetscReal>(1, times_.back());
  if (!(t >= -tol && t <= times_.back() + tol)) return -1;
  // The last layer also at t_L (a projection at the end of the last step samples it there).
  return std::min((PetscInt)(std::upper_bound(times_.begin(), times_.end(), t + tol) - times_.begin()) - 1, (PetscInt)layers_.size() - 1);
}

PetscReal LayeredControls::SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const {
  const PetscReal tol = 1e-10 * std::max<PetscReal>(1, times_.back());
  if (s < hi - tol || hi - lo <= 2 * tol) return s;  // left-closed layers: s sees the layer containing (s, s + ε)
  // s is the substep's right end: the layer containing (hi − ε, hi), sampled at a time inside it.
  const auto after = std::lower_bound(times_.begin(), times_.end(), hi - tol);
  const PetscReal start = after == times_.begin() ? times_.front() : *(after - 1);
  return (std::max(lo, start) + hi) / 2;
}

PetscErrorCode LayeredControls::LayerAt(PetscReal t, const Layer **layer) const {
  const PetscInt n = LayeredControls::PieceKey(t);  // the layer, also for a derived source that samples continuously
  PetscFunctionBeginUser;
  PetscCheck(n >= 0, comm_, PETSC_ERR_ARG_OUTOFRANGE, "layered controls '%s' are defined on [0, %g]; sampled at t = %g", path_.c_str(),
             (double)times_.back(), (double)t);
  *layer = &layers_[n];
  PetscFunctionReturn(0);
}

PetscReal LayeredControls::Scale(const Layer &layer, const Grid &grid) {
  return layer.scale_given ? layer.attention.scale : 1 / std::sqrt(grid.Ly());
}

PetscErrorCode LayeredControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  const Layer *layer = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  PetscCallCXX(*k = layer->attention);
  k->scale = Scale(*layer, grid);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const {
  const Layer *layer = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  if (layer->attention.scale == Scale(*layer, grid)) *k = &layer->attention;
  else PetscCall(Controls::LendAttention(t, grid, storage, k));  // a default scale on another |Ω_y|: a copy
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  const Layer *layer = nullptr;
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  PetscCallCXX(k->W = layer->W[j - 1]);
  PetscCallCXX(k->b.resize(xm * Ny));
  const std::vector<PetscReal> &b = layer->b[j - 1];
  for (PetscInt r = 0; r < xm; ++r) std::copy_n(layer->b_per_token[j - 1] ? &b[(xs + r) * Ny] : b.data(), Ny, &k->b[r * Ny]);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const {
  const MlpKernels *lent = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LendMlp(t, grid, nullptr, &lent));
  PetscCallCXX(*k = *lent);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::LendMlp(PetscReal t, const Grid &grid, MlpKernels *, const MlpKernels **k) const {
  const Layer *layer = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  PetscCheck(layer->mlp.F > 0, grid.Comm(), PETSC_ERR_USER_INPUT, "the -controls file '%s' has no lifted feed-forward network (mlp_W1 ...) at t = %g",
             path_.c_str(), (double)t);
  *k = &layer->mlp;
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleRelaxationRate(PetscReal t, PetscReal *lambda) const {
  const Layer *layer = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  *lambda = layer->relaxation_rate;
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const {
  const Layer *layer = nullptr;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  if (index == 0) {
    PetscCheck(layer->has_sigma, comm_, PETSC_ERR_USER_INPUT,
               "the -controls file '%s' has no sigma1/sigma2 (the paper's layer norm, operator 'layernorm') at t = %g", path_.c_str(), (double)t);
    *s = LayerNormTargets();
    s->sigma1 = layer->sigma1;
    s->sigma2 = layer->sigma2;
    PetscFunctionReturn(0);
  }
  PetscCheck(index >= 1 && index <= (PetscInt)layer->norms.size(), comm_, PETSC_ERR_USER_INPUT,
             "the -controls file '%s' has no layernorm%" PetscInt_FMT "_gamma at t = %g", path_.c_str(), index, (double)t);
  PetscCallCXX(*s = layer->norms[index - 1]);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleFinalNorm(LayerNormTargets *s, bool *present) const {
  PetscFunctionBeginUser;
  *present = has_final_norm_;
  if (has_final_norm_) PetscCallCXX(*s = final_norm_);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
