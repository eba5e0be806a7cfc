#include "discretization/piecewise_linear_controls.hpp"

namespace ctflow {

namespace {

// a ← (1 − w) a + w b.
void Mix(std::vector<PetscReal> *a, const std::vector<PetscReal> &b, PetscReal w) {
  for (size_t i = 0; i < a->size(); ++i) (*a)[i] = (1 - w) * (*a)[i] + w * b[i];
}
void ScaleBy(std::vector<PetscReal> *a, PetscReal w) {
  for (PetscReal &x : *a) x *= w;
}

}  // namespace

std::vector<PetscReal> PiecewiseLinearControls::KnotTimes() const {
  std::vector<PetscReal> tau = {0};
  for (PetscReal b : LayeredControls::Breakpoints()) tau.push_back(b);
  return tau;
}

void PiecewiseLinearControls::Bracket(PetscReal t, PetscReal *tk, PetscReal *tk1, PetscReal *w) const {
  std::vector<PetscReal> ends = KnotTimes();  // t_0 … t_K: the knots and the end time
  ends.push_back(EndTime());
  const size_t K = ends.size() - 1;
  size_t k = 0;
  while (k + 1 < K && t >= ends[k + 1]) ++k;
  *w = k + 1 < K && t > ends[k] ? (t - ends[k]) / (ends[k + 1] - ends[k]) : 0;
  *tk = (ends[k] + ends[k + 1]) / 2;
  *tk1 = k + 1 < K ? (ends[k + 1] + ends[k + 2]) / 2 : *tk;
}

std::string PiecewiseLinearControls::Description() const {
  return "piecewise linear in t (" + LayeredControls::Description() + " as " + std::to_string(KnotTimes().size()) + " knots)";
}

PetscErrorCode PiecewiseLinearControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  PetscReal a, b, w;
  AttentionKernels next;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  PetscCall(LayeredControls::SampleAttention(a, grid, k));
  if (w == 0) PetscFunctionReturn(0);
  PetscCall(LayeredControls::SampleAttention(b, grid, &next));
  for (auto m :
       {&AttentionKernels::WQ, &AttentionKernels::WK, &AttentionKernels::WV, &AttentionKernels::WO, &AttentionKernels::bQ, &AttentionKernels::c})
    Mix(&(k->*m), next.*m, w);
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  PetscReal a, b, w;
  FeedForwardKernel next;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  PetscCall(LayeredControls::SampleFeedForward(j, a, grid, k));
  if (w == 0) PetscFunctionReturn(0);
  PetscCall(LayeredControls::SampleFeedForward(j, b, grid, &next));
  Mix(&k->W, next.W, w);
  Mix(&k->b, next.b, w);
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const {
  PetscReal a, b, w;
  LayerNormTargets next;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  PetscCall(LayeredControls::SampleLayerNorm(index, a, s));
  if (w == 0) PetscFunctionReturn(0);
  PetscCall(LayeredControls::SampleLayerNorm(index, b, &next));
  s->sigma1 = (1 - w) * s->sigma1 + w * next.sigma1;
  s->sigma2 = (1 - w) * s->sigma2 + w * next.sigma2;
  Mix(&s->sigma1_y, next.sigma1_y, w);
  Mix(&s->sigma2_y, next.sigma2_y, w);
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::SampleMlp(PetscReal t, const Grid &grid, MlpKernels *k) const {
  PetscReal a, b, w;
  MlpKernels next;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  const MlpKernels *lent = nullptr;  // the layered controls' own SampleMlp lends through the virtual LendMlp
  PetscCall(LayeredControls::LendMlp(a, grid, nullptr, &lent));
  PetscCallCXX(*k = *lent);
  if (w == 0) PetscFunctionReturn(0);
  PetscCall(LayeredControls::LendMlp(b, grid, nullptr, &lent));
  PetscCallCXX(next = *lent);
  for (auto m : {&MlpKernels::W1, &MlpKernels::b1, &MlpKernels::W2, &MlpKernels::b2}) Mix(&(k->*m), next.*m, w);
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::LendAttention(PetscReal t, const Grid &grid, AttentionKernels *storage, const AttentionKernels **k) const {
  return Controls::LendAttention(t, grid, storage, k);
}

PetscErrorCode PiecewiseLinearControls::LendMlp(PetscReal t, const Grid &grid, MlpKernels *storage, const MlpKernels **k) const {
  return Controls::LendMlp(t, grid, storage, k);
}

PetscErrorCode PiecewiseLinearControls::AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const {
  PetscReal a, b, w;
  AttentionKernels part = dk;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  if (w == 0) PetscFunctionReturn(LayeredControls::AddAttentionGradient(a, grid, dk, g));
  for (auto m :
       {&AttentionKernels::WQ, &AttentionKernels::WK, &AttentionKernels::WV, &AttentionKernels::WO, &AttentionKernels::bQ, &AttentionKernels::c})
    ScaleBy(&(part.*m), 1 - w);
  PetscCall(LayeredControls::AddAttentionGradient(a, grid, part, g));
  part = dk;
  for (auto m :
       {&AttentionKernels::WQ, &AttentionKernels::WK, &AttentionKernels::WV, &AttentionKernels::WO, &AttentionKernels::bQ, &AttentionKernels::c})
    ScaleBy(&(part.*m), w);
  PetscCall(LayeredControls::AddAttentionGradient(b, grid, part, g));
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk,
                                                               ControlsArrays *g) const {
  PetscReal a, b, w;
  FeedForwardKernel part = dk;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  if (w == 0) PetscFunctionReturn(LayeredControls::AddFeedForwardGradient(j, a, grid, dk, g));
  ScaleBy(&part.W, 1 - w), ScaleBy(&part.b, 1 - w);
  PetscCall(LayeredControls::AddFeedForwardGradient(j, a, grid, part, g));
  part = dk;
  ScaleBy(&part.W, w), ScaleBy(&part.b, w);
  PetscCall(LayeredControls::AddFeedForwardGradient(j, b, grid, part, g));
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::AddLayerNormGradient(PetscInt index, PetscReal t, const LayerNormTargets &dk, ControlsArrays *g) const {
  PetscReal a, b, w;
  LayerNormTargets part = dk;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  if (w == 0) PetscFunctionReturn(LayeredControls::AddLayerNormGradient(index, a, dk, g));
  part.sigma1 *= 1 - w, part.sigma2 *= 1 - w, ScaleBy(&part.sigma1_y, 1 - w), ScaleBy(&part.sigma2_y, 1 - w);
  PetscCall(LayeredControls::AddLayerNormGradient(index, a, part, g));
  part = dk;
  part.sigma1 *= w, part.sigma2 *= w, ScaleBy(&part.sigma1_y, w), ScaleBy(&part.sigma2_y, w);
  PetscCall(LayeredControls::AddLayerNormGradient(index, b, part, g));
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControls::AddMlpGradient(PetscReal t, const Grid &grid, const MlpKernels &dk, ControlsArrays *g) const {
  PetscReal a, b, w;
  MlpKernels part = dk;
  PetscFunctionBeginUser;
  Bracket(t, &a, &b, &w);
  if (w == 0) PetscFunctionReturn(LayeredControls::AddMlpGradient(a, grid, dk, g));
  for (auto m : {&MlpKernels::W1, &MlpKernels::b1, &MlpKernels::W2, &MlpKernels::b2}) ScaleBy(&(part.*m), 1 - w);
  PetscCall(LayeredControls::AddMlpGradient(a, grid, part, g));
  part = dk;
  for (auto m : {&MlpKernels::W1, &MlpKernels::b1, &MlpKernels::W2, &MlpKernels::b2}) ScaleBy(&(part.*m), w);
  PetscCall(LayeredControls::AddMlpGradient(b, grid, part, g));
  PetscFunctionReturn(0);
}

PetscErrorCode PiecewiseLinearControlsCreate(MPI_Comm comm, std::unique_ptr<Controls> *controls) {
  PetscFunctionBeginUser;
  PetscCallCXX(*controls = std::make_unique<PiecewiseLinearControls>(comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
