#include "discretization/layered_convolution_controls.hpp"

#include <algorithm>
#include <cmath>

#include "discretization/dense_convolution.hpp"
#include "discretization/hdf5_input.hpp"

namespace ctflow {

PetscErrorCode LayeredConvolutionControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls) {
  PetscFunctionBeginUser;
  PetscCallCXX(*controls = std::make_unique<LayeredConvolutionControls>(comm));
  PetscFunctionReturn(0);
}

std::string LayeredConvolutionControls::Description() const {
  return "cvt (" + path_ + ", " + std::to_string(layout_.size()) + (layout_.size() == 1 ? " stage, " : " stages, ") + std::to_string(layers_.size()) +
         " layers)";
}

// A positive integer attribute (stored as float64, as every attribute of the format).
static PetscErrorCode IntAttribute(const H5Input &in, const std::string &object, const char name[], PetscInt min, PetscInt *value) {
  PetscReal v;
  PetscFunctionBeginUser;
  PetscCall(in.ReadAttribute(object, name, &v, nullptr));
  PetscCheck(v == std::floor(v) && v >= min && v <= 1e9, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': attribute '%s' of '%s' must be an integer >= %" PetscInt_FMT ", got %g", in.Path().c_str(), name, object.c_str(),
             min, (double)v);
  *value = (PetscInt)v;
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::LoadStencils(const H5Input &in, const std::string &name, PetscInt count, const char count_name[],
                                                        PetscInt s, Stencil *st) {
  const ControlsStage &stage = layout_[s];
  const std::string meaning = count ? "(" + std::string(count_name) + ", k1, k2)" : "(k1, k2)";
  std::vector<hsize_t> shape;
  PetscFunctionBeginUser;
  PetscCall(in.Shape(name, &shape));
  const size_t rank = count ? 3 : 2;
  PetscCheck(shape.size() == rank, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': dataset '%s' has shape %s, expected %s", path_.c_str(),
             name.c_str(), ShapeString(shape).c_str(), meaning.c_str());
  PetscCheck(!count || shape[0] == (hsize_t)count, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': dataset '%s' has shape %s, expected %s with %s = %" PetscInt_FMT " of stage %" PetscInt_FMT, path_.c_str(),
             name.c_str(), ShapeString(shape).c_str(), meaning.c_str(), count_name, count, s);
  const PetscInt pixels[2] = {stage.Ny1, stage.Ny2};
  for (int a = 0; a < 2; ++a) {
    const PetscInt k = (PetscInt)shape[rank - 2 + a];
    PetscCheck(k > 0 && k % 2 == 1, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': dataset '%s' has a stencil of %" PetscInt_FMT
               " pixels in y%d; a stencil centred on its pixel has an odd, "
               "positive size",
               path_.c_str(), name.c_str(), k, a + 1);
    PetscCheck(k <= pixels[a], comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': dataset '%s' has a stencil of %" PetscInt_FMT " pixels in y%d, more than the %" PetscInt_FMT
               " pixels of stage %" PetscInt_FMT,
               path_.c_str(), name.c_str(), k, a + 1, pixels[a], s);
    st->k[a] = k;
  }
  PetscCall(in.Read(name, shape, meaning.c_str(), &st->w));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::LoadStage(const H5Input &in, PetscInt s) {
  const std::string g = "/stages/" + std::to_string(s);
  ControlsStage &stage = layout_[s];
  PetscFunctionBeginUser;
  PetscCall(IntAttribute(in, g, "N_x", 1, &stage.Nx));
  PetscCall(IntAttribute(in, g, "N_y1", 1, &stage.Ny1));
  PetscCall(IntAttribute(in, g, "N_y2", 1, &stage.Ny2));
  PetscCall(IntAttribute(in, g, "N_h", 1, &stage.Nh));
  const hsize_t Nx = stage.Nx;
  PetscInt L = 0;
  while (in.Has(g + "/layers/" + std::to_string(L))) ++L;
  PetscCheck(L > 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': stage %" PetscInt_FMT " has no group '%s/layers/0'", path_.c_str(), s,
             g.c_str());
  stage.t0 = (PetscReal)layers_.size();
  stage.t1 = stage.t0 + L;
  bool embedding = false;
  for (PetscInt n = 0; n < L; ++n) {
    const std::string p = g + "/layers/" + std::to_string(n) + "/";
    Layer layer;
    layer.stage = s;
    if (s == 0 && n == 0)
      while (in.Has(p + "conv_W" + std::to_string(J_ + 1))) ++J_;
    PetscCall(LoadStencils(in, p + "conv_WQ", stage.Nh, "N_h", s, &layer.WQ));
    PetscCall(LoadStencils(in, p + "conv_WK", stage.Nh, "N_h", s, &layer.WK));
    PetscCall(LoadStencils(in, p + "conv_WV", stage.Nh, "N_h", s, &layer.WV));
    if (n == 0) embedding = in.Has(p + "embed_W");
    PetscCheck(in.Has(p + "embed_W") == embedding, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': '%sembed_W': every layer of a stage has a token embedding, or none", path_.c_str(), p.c_str());
    if (embedding) {
      PetscCall(LoadStencils(in, p + "embed_W", stage.Nx, "N_x", s, &layer.embed));
      PetscCall(in.Read(p + "embed_b", {Nx}, "(N_x,)", &layer.embed_b));
    }
    PetscCheck(!in.Has(p + "conv_W" + std::to_string(J_ + 1)), comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': '%s' has more feed-forward layers than the first layer (J = %" PetscInt_FMT ")", path_.c_str(), p.c_str(), J_);
    layer.W.resize(J_);
    layer.b.resize(J_);
    for (PetscInt j = 1; j <= J_; ++j) {
      PetscCall(LoadStencils(in, p + "conv_W" + std::to_string(j), 0, "", s, &layer.W[j - 1]));
      PetscCall(in.Read(p + "b" + std::to_string(j), {Nx}, "(N_x,)", &layer.b[j - 1]));
    }
    PetscCall(in.ReadAttribute(p, "sigma1", &layer.sigma1, nullptr));
    PetscCall(in.ReadAttribute(p, "sigma2", &layer.sigma2, nullptr));
    PetscCheck(layer.sigma2 > 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': '%s' has sigma2 = %g; it must be positive", path_.c_str(),
               p.c_str(), (double)layer.sigma2);
    PetscCall(in.ReadAttribute(p, "attention_scale", &layer.scale, &layer.scale_given));
    PetscCallCXX(layers_.push_back(std::move(layer)));
  }
  PetscCallCXX(stage.order = ConvolutionalSchemeOrder(J_, embedding));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::LoadCvt(const H5Input &in) {
  std::vector<hsize_t> shape;
  PetscFunctionBeginUser;
  PetscCall(in.Shape("/cvt/embedding_W", &shape));
  const ControlsStage &first = layout_.front();
  PetscCheck(shape.size() == 4 && shape[0] == (hsize_t)first.Nx && shape[1] > 0 && shape[2] > 0 && shape[2] == shape[3], comm_,
             PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': dataset '/cvt/embedding_W' has shape %s, expected (N_x = %" PetscInt_FMT ", C, k, k)",
             path_.c_str(), ShapeString(shape).c_str(), first.Nx);
  cvt_.channels = (PetscInt)shape[1];
  cvt_.kernel = (PetscInt)shape[2];
  PetscCall(in.Read("/cvt/embedding_W", shape, "(N_x, C, k, k)", &cvt_.embedding));
  PetscCall(in.Read("/cvt/embedding_b", {(hsize_t)first.Nx}, "(N_x,)", &cvt_.bias));
  PetscCall(IntAttribute(in, "/cvt", "stride", 1, &cvt_.stride));
  PetscCall(IntAttribute(in, "/cvt", "padding", 0, &cvt_.padding));
  PetscCall(IntAttribute(in, "/cvt", "image_height", 1, &cvt_.height));
  PetscCall(IntAttribute(in, "/cvt", "image_width", 1, &cvt_.width));
  PetscCheck(cvt_.OutputSize(cvt_.height) == first.Ny1 && cvt_.OutputSize(cvt_.width) == first.Ny2, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': the /cvt embedding (kernel %" PetscInt_FMT ", stride %" PetscInt_FMT ", padding %" PetscInt_FMT
             ") of a %" PetscInt_FMT " x %" PetscInt_FMT " image gives %" PetscInt_FMT " x %" PetscInt_FMT " pixels, but stage 0 has %" PetscInt_FMT
             " x %" PetscInt_FMT,
             path_.c_str(), cvt_.kernel, cvt_.stride, cvt_.padding, cvt_.height, cvt_.width, cvt_.OutputSize(cvt_.height),
             cvt_.OutputSize(cvt_.width), first.Ny1, first.Ny2);
  std::string head = "pixel_mean";
  bool found;
  PetscCall(in.ReadAttribute("/cvt", "head", &head, &found));
  PetscCheck(head == "pixel_mean" || head == "class_token", comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': /cvt attribute head = '%s'; known heads: class_token, pixel_mean", path_.c_str(), head.c_str());
  cvt_.head = head == "class_token" ? CvtHead::kClassToken : CvtHead::kPixelMean;
  const hsize_t rows = (hsize_t)HeadRows();
  const char *meaning = cvt_.head == CvtHead::kClassToken ? "(N_y1 N_y2 of the last stage, classes)" : "(N_x of the last stage, classes)";
  PetscCall(in.Shape("/cvt/head_W", &shape));
  PetscCheck(shape.size() == 2 && shape[0] == rows && shape[1] > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': dataset '/cvt/head_W' has shape %s, expected %s = (%" PetscInt_FMT ", classes) for head = %s", path_.c_str(),
             ShapeString(shape).c_str(), meaning, (PetscInt)rows, head.c_str());
  cvt_.classes = (PetscInt)shape[1];
  PetscCall(in.Read("/cvt/head_W", shape, meaning, &cvt_.head_weight));
  PetscCall(in.Read("/cvt/head_b", {shape[1]}, "(classes,)", &cvt_.head_bias));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SetFromOptions() {
  PetscFunctionBeginUser;
  PetscCheck(!path_.empty(), comm_, PETSC_ERR_USER_INPUT, "convolutional layered controls need a file: give -controls FILE");
  if (!loaded_) PetscCall(Load(path_));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::Load(const std::string &path) {
  H5Input in;
  std::string order;
  bool has_order;
  PetscFunctionBeginUser;
  path_ = path;
  J_ = 0;
  r_[0] = r_[1] = 1;
  layers_.clear();
  file_layers_.clear();
  PetscCall(H5Input::Open(comm_, path, "-controls", &in));
  PetscCheck(in.Has("/stages/0"), comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s' has no group '/stages/0' (see docs/controls-format.md)",
             path.c_str());
  PetscInt K = 0;
  while (in.Has("/stages/" + std::to_string(K))) ++K;
  PetscCallCXX(layout_.assign(K, ControlsStage()));
  for (PetscInt s = 0; s < K; ++s) PetscCall(LoadStage(in, s));
  // Consecutive stages: the transfer of discretization/stage_transfer.hpp must exist between their grids.
  for (PetscInt s = 1; s < K; ++s) {
    const ControlsStage &a = layout_[s - 1], &b = layout_[s];
    PetscCheck(a.Nx % b.Nx == 0 || b.Nx % a.Nx == 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': the transfer from stage %" PetscInt_FMT " (N_x = %" PetscInt_FMT ") to stage %" PetscInt_FMT
               " (N_x = %" PetscInt_FMT ") does not divide the grid: one token count must divide the other",
               path.c_str(), s - 1, a.Nx, s, b.Nx);
    PetscCheck(a.Ny1 % b.Ny1 == 0 && a.Ny2 % b.Ny2 == 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': the transfer from stage %" PetscInt_FMT " (%" PetscInt_FMT " x %" PetscInt_FMT " pixels) to stage %" PetscInt_FMT
               " (%" PetscInt_FMT " x %" PetscInt_FMT ") does not divide the grid: each stage's pixels must divide the previous stage's",
               path.c_str(), s - 1, a.Ny1, a.Ny2, s, b.Ny1, b.Ny2);
  }
  PetscCall(in.ReadAttribute("/", "order", &order, &has_order));
  if (has_order)
    for (ControlsStage &stage : layout_) stage.order = order;
  if (in.Has("/cvt")) PetscCall(LoadCvt(in));
  loaded_ = true;
  PetscFunctionReturn(0);
}

// The weights of fine offset j of a stencil of k = 2c + 1 file pixels refined r times (see the header): the file cell
// containing j/r (weight 1), or the two cells at a face (1/2 each), cells outside the stencil dropped.
std::vector<std::pair<PetscInt, PetscReal>> LayeredConvolutionControls::RefinedWeights(PetscInt j, PetscInt k, PetscInt r) {
  const PetscInt num = 2 * j + k * r;  // 2r (j/r + c + 1/2): the position in half-cells from the stencil's start
  std::vector<std::pair<PetscInt, PetscReal>> w;
  if (num % (2 * r)) w.push_back({num / (2 * r), 1.0});
  else w = {{num / (2 * r) - 1, 0.5}, {num / (2 * r), 0.5}};
  w.erase(std::remove_if(w.begin(), w.end(), [k](const auto &e) { return e.first < 0 || e.first >= k; }), w.end());
  return w;
}

void LayeredConvolutionControls::Refine(PetscInt count, const PetscInt r[2], PetscInt k[2], std::vector<PetscReal> *w) {
  const PetscInt K[2] = {2 * ((k[0] * r[0]) / 2) + 1, 2 * ((k[1] * r[1]) / 2) + 1};
  std::vector<PetscReal> out(count * K[0] * K[1], 0.0);
  for (PetscInt n = 0; n < count; ++n)
    for (PetscInt j1 = 0; j1 < K[0]; ++j1)
      for (const auto &a : RefinedWeights(j1 - K[0] / 2, k[0], r[0]))
        for (PetscInt j2 = 0; j2 < K[1]; ++j2)
          for (const auto &b : RefinedWeights(j2 - K[1] / 2, k[1], r[1]))
            out[(n * K[0] + j1) * K[1] + j2] += a.second * b.second * (*w)[(n * k[0] + a.first) * k[1] + b.first];
  *w = std::move(out);
  k[0] = K[0], k[1] = K[1];
}

PetscErrorCode LayeredConvolutionControls::SetUp(Grid *grid) {
  const std::string source = "the -controls file '" + path_ + "'";
  PetscInt r[2];
  PetscFunctionBeginUser;
  PetscCheck(loaded_, comm_, PETSC_ERR_ORDER, "LayeredConvolutionControls::SetUp needs a loaded file");
  if (r_[0] > 1 || r_[1] > 1) {  // back to the file's stencils (and the parameters set since) before refining again
    PetscCallCXX(layers_ = std::move(file_layers_));
    file_layers_.clear();
    for (ControlsStage &stage : layout_) stage.Ny1 /= r_[0], stage.Ny2 /= r_[1];
    r_[0] = r_[1] = 1;
  }
  PetscCall(grid->RequireSize("-Nx", layout_[0].Nx, source.c_str()));
  PetscCall(grid->RequireSize("-Nh", layout_[0].Nh, source.c_str()));
  PetscCall(grid->RequireRefinableSize("-Ny1", layout_[0].Ny1, source.c_str(), &r[0]));
  PetscCall(grid->RequireRefinableSize("-Ny2", layout_[0].Ny2, source.c_str(), &r[1]));
  grid->SetUnitSpacing(PETSC_TRUE);
  PetscCheck(!Cvt() || (r[0] == 1 && r[1] == 1), comm_, PETSC_ERR_USER_INPUT,
             "-Ny1, -Ny2 refine the pixels of %s, whose /cvt image embedding fixes them (%" PetscInt_FMT " x %" PetscInt_FMT ")", source.c_str(),
             layout_[0].Ny1, layout_[0].Ny2);
  r_[0] = r[0], r_[1] = r[1];
  file_layers_.clear();
  if (r[0] == 1 && r[1] == 1) PetscFunctionReturn(0);
  for (ControlsStage &stage : layout_) stage.Ny1 *= r[0], stage.Ny2 *= r[1];
  PetscCallCXX(file_layers_ = layers_);
  PetscCallCXX(RefineLayers());
  PetscFunctionReturn(0);
}

void LayeredConvolutionControls::RefineLayers() {
  layers_ = file_layers_;
  for (Layer &l : layers_) {
    const PetscInt Nh = layout_[l.stage].Nh, Nx = layout_[l.stage].Nx;
    for (Stencil *st : {&l.WQ, &l.WK, &l.WV}) Refine(Nh, r_, st->k, &st->w);
    if (!l.embed.w.empty()) Refine(Nx, r_, l.embed.k, &l.embed.w);
    for (Stencil &st : l.W) Refine(1, r_, st.k, &st.w);
  }
}

PetscInt LayeredConvolutionControls::PieceKey(PetscReal t) const {
  const PetscReal L = (PetscReal)layers_.size(), tol = 1e-10 * std::max<PetscReal>(1, L);
  if (!(t >= -tol && t < L - tol)) return -1;
  return std::min((PetscInt)std::floor(t + tol), (PetscInt)layers_.size() - 1);
}

std::vector<PetscReal> LayeredConvolutionControls::Breakpoints() const {
  std::vector<PetscReal> t;
  for (size_t n = 1; n < layers_.size(); ++n) t.push_back((PetscReal)n);
  return t;
}

PetscReal LayeredConvolutionControls::SubstepSampleTime(PetscReal s, PetscReal lo, PetscReal hi) const {
  const PetscReal tol = 1e-10 * std::max<PetscReal>(1, (PetscReal)layers_.size());
  if (s < hi - tol || hi - lo <= 2 * tol) return s;  // layers are left-closed
  // s is the substep's right end: a time inside the layer that acts just before hi.
  const PetscReal start = std::max<PetscReal>(0, std::ceil(hi - tol) - 1);
  return (std::max(lo, start) + hi) / 2;
}

PetscErrorCode LayeredConvolutionControls::LayerAt(PetscReal t, const Grid &grid, const Layer **layer) const {
  const PetscInt n = PieceKey(t);
  PetscFunctionBeginUser;
  PetscCheck(n >= 0, comm_, PETSC_ERR_ARG_OUTOFRANGE, "convolutional controls '%s' are defined on [0, %zu); sampled at t = %g", path_.c_str(),
             layers_.size(), (double)t);
  *layer = &layers_[n];
  const ControlsStage &st = layout_[(*layer)->stage];
  PetscCheck(grid.TwoDimensional() && grid.Nx() == st.Nx && grid.Nh() == st.Nh && grid.Image().N[0] == st.Ny1 && grid.Image().N[1] == st.Ny2, comm_,
             PETSC_ERR_ARG_INCOMP,
             "convolutional controls '%s' at t = %g are stage %" PetscInt_FMT "'s (N_x = %" PetscInt_FMT ", %" PetscInt_FMT " x %" PetscInt_FMT
             " pixels, N_h = %" PetscInt_FMT "); sampled on another grid",
             path_.c_str(), (double)t, (*layer)->stage, st.Nx, st.Ny1, st.Ny2, st.Nh);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SampleConvAttention(PetscReal t, const Grid &grid, ConvAttentionKernels *k) const {
  const Layer *l;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  k->k[0] = l->WQ.k[0], k->k[1] = l->WQ.k[1];
  PetscCheck(l->WK.k[0] == k->k[0] && l->WK.k[1] == k->k[1] && l->WV.k[0] == k->k[0] && l->WV.k[1] == k->k[1], comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': conv_WQ, conv_WK and conv_WV of a layer need the same stencil size", path_.c_str());
  PetscCallCXX(k->WQ = l->WQ.w);
  PetscCallCXX(k->WK = l->WK.w);
  PetscCallCXX(k->WV = l->WV.w);
  k->scale = l->scale_given ? l->scale : 1 / std::sqrt(grid.Ly());
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SampleConvEmbedding(PetscReal t, const Grid &grid, ConvTokenKernels *k) const {
  const Layer *l;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, grid, &l));
  PetscCheck(!l->embed.w.empty(), comm_, PETSC_ERR_USER_INPUT, "the -controls file '%s' has no token embedding (embed_W) in stage %" PetscInt_FMT,
             path_.c_str(), l->stage);
  const PetscInt n = l->embed.k[0] * l->embed.k[1], xs = grid.XStart(), xm = grid.XLocal();
  k->k[0] = l->embed.k[0], k->k[1] = l->embed.k[1];
  k->per_token = true;
  PetscCallCXX(k->W.assign(&l->embed.w[xs * n], &l->embed.w[(xs + xm) * n]));
  PetscCallCXX(k->b.assign(&l->embed_b[xs], &l->embed_b[xs + xm]));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SampleConvFeedForward(PetscInt j, PetscReal t, const Grid &grid, ConvTokenKernels *k) const {
  const Layer *l;
  PetscFunctionBeginUser;
  PetscCheck(j >= 1 && j <= J_, comm_, PETSC_ERR_ARG_OUTOFRANGE, "feed-forward layer %" PetscInt_FMT " requested, J = %" PetscInt_FMT, j, J_);
  PetscCall(LayerAt(t, grid, &l));
  const Stencil &st = l->W[j - 1];
  k->k[0] = st.k[0], k->k[1] = st.k[1];
  k->per_token = false;
  PetscCallCXX(k->W = st.w);
  PetscCallCXX(k->b.assign(&l->b[j - 1][grid.XStart()], &l->b[j - 1][grid.XStart() + grid.XLocal()]));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleConvAttentionDensely(*this, t, grid, k));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  PetscFunctionBeginUser;
  PetscCall(SampleConvFeedForwardDensely(*this, j, t, grid, k));
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredConvolutionControls::SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const {
  const PetscInt n = PieceKey(t);
  PetscFunctionBeginUser;
  PetscCheck(index == 0, comm_, PETSC_ERR_USER_INPUT,
             "convolutional controls have one layer norm (operator 'layernorm'), not layernorm%" PetscInt_FMT, index);
  PetscCheck(n >= 0, comm_, PETSC_ERR_ARG_OUTOFRANGE, "convolutional controls '%s' are defined on [0, %zu); sampled at t = %g", path_.c_str(),
             layers_.size(), (double)t);
  *s = LayerNormTargets();
  s->sigma1 = layers_[n].sigma1;
  s->sigma2 = layers_[n].sigma2;
  PetscFunctionReturn(0);
}

}  // namespace ctflow
