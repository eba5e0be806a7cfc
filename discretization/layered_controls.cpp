#include "discretization/layered_controls.hpp"

#include <algorithm>
#include <cmath>

#include "discretization/hdf5_input.hpp"

namespace ctflow {

std::string LayeredControls::Description() const {
  return "layered (" + path_ + ", " + std::to_string(layers_.size()) + " layers, J = " + std::to_string(J_) + ")";
}

PetscErrorCode LayeredControls::Load(const std::string &path, Grid *grid) {
  H5Input in;
  std::vector<hsize_t> shape;
  PetscFunctionBeginUser;
  path_ = path;
  PetscCall(H5Input::Open(comm_, path, "-controls", &in));
  PetscCheck(in.Has("/layers/0"), comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s' has no group '/layers/0' (see docs/controls-format.md)", path.c_str());
  PetscInt L = 0;
  while (in.Has("/layers/" + std::to_string(L))) ++L;

  // Sizes from layer 0; every other layer must agree.
  PetscCall(in.Shape("/layers/0/WQ", &shape));
  PetscCheck(shape.size() == 3 && shape[1] == shape[2], comm_, PETSC_ERR_FILE_UNEXPECTED,
             "-controls file '%s': dataset '/layers/0/WQ' has shape %s, expected (N_h, N_y, N_y)", path.c_str(),
             ShapeString(shape).c_str());
  Nh_ = (PetscInt)shape[0];
  Ny_ = (PetscInt)shape[1];
  const std::string source = "the -controls file '" + path + "'";
  PetscCall(grid->RequireSize("-Ny", Ny_, source.c_str()));
  PetscCall(grid->RequireSize("-Nh", Nh_, source.c_str()));
  grid->SetUnitSpacing(PETSC_TRUE);
  while (in.Has("/layers/0/W" + std::to_string(J_ + 1))) ++J_;

  const std::vector<hsize_t> att = {(hsize_t)Nh_, (hsize_t)Ny_, (hsize_t)Ny_}, sq = {(hsize_t)Ny_, (hsize_t)Ny_},
                             vec = {(hsize_t)Ny_};
  layers_.resize(L);
  for (PetscInt n = 0; n < L; ++n) {
    const std::string g = "/layers/" + std::to_string(n) + "/";
    Layer &layer = layers_[n];
    PetscCall(in.Read(g + "WQ", att, "(N_h, N_y, N_y)", &layer.WQ));
    PetscCall(in.Read(g + "WK", att, "(N_h, N_y, N_y)", &layer.WK));
    PetscCall(in.Read(g + "WV", att, "(N_h, N_y, N_y)", &layer.WV));
    PetscCheck(!in.Has(g + "W" + std::to_string(J_ + 1)), comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': layer %" PetscInt_FMT " has more feed-forward layers than layer 0 (J = %" PetscInt_FMT ")",
               path.c_str(), n, J_);
    layer.W.resize(J_);
    layer.b.resize(J_);
    layer.b_per_token.resize(J_);
    for (PetscInt j = 1; j <= J_; ++j) {
      const std::string b = g + "b" + std::to_string(j);
      PetscCall(in.Read(g + "W" + std::to_string(j), sq, "(N_y, N_y)", &layer.W[j - 1]));
      PetscCall(in.Shape(b, &shape));
      layer.b_per_token[j - 1] = shape.size() == 2;
      if (shape.size() == 2) {
        // b_j(x, y) per token: the file also fixes N_x.
        PetscCall(grid->RequireSize("-Nx", (PetscInt)shape[0], (source + " (dataset " + b + ")").c_str()));
        PetscCall(in.Read(b, {shape[0], (hsize_t)Ny_}, "(N_x, N_y)", &layer.b[j - 1]));
      } else {
        PetscCall(in.Read(b, vec, "(N_y,) or (N_x, N_y)", &layer.b[j - 1]));
      }
    }
    PetscCall(in.ReadAttribute(g, "sigma1", &layer.sigma1, nullptr));
    PetscCall(in.ReadAttribute(g, "sigma2", &layer.sigma2, nullptr));
    PetscCheck(layer.sigma2 > 0, comm_, PETSC_ERR_FILE_UNEXPECTED,
               "-controls file '%s': layer %" PetscInt_FMT " has sigma2 = %g; the layer-norm standard deviation must be positive",
               path.c_str(), n, (double)layer.sigma2);
    bool has_scale;
    PetscCall(in.ReadAttribute(g, "attention_scale", &layer.scale, &has_scale));
    layer.scale_given = has_scale;
  }

  if (in.Has("/layer_times")) {
    PetscCall(in.Read("/layer_times", {(hsize_t)L + 1}, "(num_layers + 1,)", &times_));
    PetscCheck(times_[0] == 0, comm_, PETSC_ERR_FILE_UNEXPECTED, "-controls file '%s': /layer_times must start at 0",
               path.c_str());
    for (PetscInt n = 0; n < L; ++n)
      PetscCheck(times_[n + 1] > times_[n], comm_, PETSC_ERR_FILE_UNEXPECTED,
                 "-controls file '%s': /layer_times must be strictly increasing", path.c_str());
  } else {
    times_.resize(L + 1);
    for (PetscInt n = 0; n <= L; ++n) times_[n] = (PetscReal)n;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::LayerAt(PetscReal t, const Layer **layer) const {
  PetscFunctionBeginUser;
  const PetscReal tol = 1e-10 * std::max<PetscReal>(1, times_.back());
  PetscCheck(t >= -tol && t < times_.back() - tol, comm_, PETSC_ERR_ARG_OUTOFRANGE,
             "layered controls '%s' are defined on [0, %g); sampled at t = %g", path_.c_str(), (double)times_.back(), (double)t);
  const auto it = std::upper_bound(times_.begin(), times_.end(), t + tol);
  *layer = &layers_[(it - times_.begin()) - 1];
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  const Layer *layer;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  PetscCallCXX(k->WQ = layer->WQ);
  PetscCallCXX(k->WK = layer->WK);
  PetscCallCXX(k->WV = layer->WV);
  k->scale = layer->scale_given ? layer->scale : 1 / std::sqrt(grid.Ly());
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  const Layer *layer;
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  PetscCallCXX(k->W = layer->W[j - 1]);
  PetscCallCXX(k->b.resize(xm * Ny));
  const std::vector<PetscReal> &b = layer->b[j - 1];
  for (PetscInt r = 0; r < xm; ++r)
    std::copy_n(layer->b_per_token[j - 1] ? &b[(xs + r) * Ny] : b.data(), Ny, &k->b[r * Ny]);
  PetscFunctionReturn(0);
}

PetscErrorCode LayeredControls::SampleLayerNorm(PetscReal t, LayerNormTargets *s) const {
  const Layer *layer;
  PetscFunctionBeginUser;
  PetscCall(LayerAt(t, &layer));
  s->sigma1 = layer->sigma1;
  s->sigma2 = layer->sigma2;
  PetscFunctionReturn(0);
}

}  // namespace ctflow
