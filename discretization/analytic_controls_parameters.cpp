// The parameters of the analytic controls: the coefficients c_p of every kernel's modes (analytic_controls.hpp).
// Each kernel is linear in them, W = Σ_p c_p B_p with B_p = (A/L_y) cos(π a_p ξ/L_y) cos(π b_p y/L_y) cos(π d_p h/L_h)
// g_p(t), so ∂L/∂c_p = Σ_{i,l,m} ∂L/∂W(ξ_i, y_l, h_m) B_p(ξ_i, y_l, h_m).
#include <algorithm>
#include <cmath>

#include "discretization/analytic_controls.hpp"

namespace ctflow {

std::vector<std::pair<PetscInt, std::string>> AnalyticControls::Kernels() const {
  std::vector<std::pair<PetscInt, std::string>> k = {{0, "/attention/WQ/c"}, {1, "/attention/WK/c"}, {2, "/attention/WV/c"}};
  for (PetscInt j = 1; j <= J_; ++j) {
    k.push_back({2 + j, "/ffn" + std::to_string(j) + "/W/c"});
    k.push_back({2 + J_ + j, "/ffn" + std::to_string(j) + "/b/c"});
  }
  return k;
}

PetscErrorCode AnalyticControls::GetParameters(ControlsArrays *theta) const {
  PetscFunctionBeginUser;
  *theta = ControlsArrays();
  for (const auto &[kernel, name] : Kernels()) {
    PetscCall(theta->Add(comm_, name, {(hsize_t)modes_}));
    ControlsValues &c = theta->Find(name)->values;
    const std::vector<Mode> modes = Modes(kernel);
    for (PetscInt p = 0; p < modes_; ++p) c[p] = modes[p].c;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticControls::SetParameters(const ControlsArrays &theta) {
  PetscFunctionBeginUser;
  const std::vector<std::pair<PetscInt, std::string>> kernels = Kernels();
  PetscInt count = 0;
  for (const auto &k : kernels) count = std::max(count, k.first + 1);
  PetscCallCXX(coefficients_.assign(count, {}));
  for (const auto &[kernel, name] : kernels) {
    const ControlsArray *a = theta.Find(name);
    PetscCheck(a && (PetscInt)a->values.size() == modes_, comm_, PETSC_ERR_ARG_WRONG, "SetParameters: no array %s of %" PetscInt_FMT " coefficients",
               name.c_str(), modes_);
    PetscCallCXX(coefficients_[kernel].assign(a->values.begin(), a->values.end()));
  }
  Touch();
  PetscFunctionReturn(0);
}

void AnalyticControls::AddKernelGradient(PetscInt kernel, PetscReal amplitude, PetscReal t, const Grid &grid, PetscReal h, PetscBool use_h,
                                         const PetscReal *dW, PetscReal *dc) const {
  const PetscInt Ny = grid.Ny();
  const PetscReal Ly = grid.Ly();
  const std::vector<Mode> modes = Modes(kernel);
  for (PetscInt p = 0; p < modes_; ++p) {
    const Mode &m = modes[p];
    PetscReal coef = amplitude / Ly * (1 + 0.5 * std::sin(m.omega * t + m.phi)), sum = 0;
    if (use_h) coef *= std::cos(PETSC_PI * m.d * h / grid.Lh());
    for (PetscInt i = 0; i < Ny; ++i) {
      PetscReal row = 0;
      for (PetscInt l = 0; l < Ny; ++l) row += dW[i * Ny + l] * std::cos(PETSC_PI * m.b * grid.y(l) / Ly);
      sum += row * std::cos(PETSC_PI * m.a * grid.y(i) / Ly);
    }
    dc[p] += coef * sum;
  }
}

PetscErrorCode AnalyticControls::AddAttentionGradient(PetscReal t, const Grid &grid, const AttentionKernels &dk, ControlsArrays *g) const {
  const PetscInt n = grid.Ny() * grid.Ny();
  const std::vector<PetscReal> *dW[3] = {&dk.WQ, &dk.WK, &dk.WV};
  const PetscReal amplitude[3] = {2.0, 2.0, 1.0};
  PetscFunctionBeginUser;
  for (PetscInt q = 0; q < 3; ++q) {
    const std::string name = Kernels()[q].second;
    PetscCall(g->Add(comm_, name, {(hsize_t)modes_}));
    for (PetscInt m = 0; m < grid.Nh(); ++m)
      AddKernelGradient(q, amplitude[q], t, grid, grid.h(m), PETSC_TRUE, &(*dW[q])[m * n], g->Find(name)->values.data());
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AnalyticControls::AddFeedForwardGradient(PetscInt j, PetscReal t, const Grid &grid, const FeedForwardKernel &dk,
                                                        ControlsArrays *g) const {
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  const std::string W = "/ffn" + std::to_string(j) + "/W/c", b = "/ffn" + std::to_string(j) + "/b/c";
  PetscFunctionBeginUser;
  PetscCall(g->Add(comm_, W, {(hsize_t)modes_}));
  PetscCall(g->Add(comm_, b, {(hsize_t)modes_}));
  AddKernelGradient(2 + j, 1.0, t, grid, 0, PETSC_FALSE, dk.W.data(), g->Find(W)->values.data());
  // b_j(x, y, t) = (1/2) Σ_p c_p cos(π a x/L_x) cos(π b y/L_y) g_p(t) on the owned tokens.
  const std::vector<Mode> modes = Modes(2 + J_ + j);
  ControlsValues &dc = g->Find(b)->values;
  for (PetscInt p = 0; p < modes_; ++p) {
    const Mode &m = modes[p];
    PetscReal sum = 0;
    for (PetscInt r = 0; r < xm; ++r)
      for (PetscInt l = 0; l < Ny; ++l)
        sum += dk.b[r * Ny + l] * std::cos(PETSC_PI * m.a * grid.x(xs + r) / grid.Lx()) * std::cos(PETSC_PI * m.b * grid.y(l) / grid.Ly());
    dc[p] += 0.5 * (1 + 0.5 * std::sin(m.omega * t + m.phi)) * sum;
  }
  PetscFunctionReturn(0);
}

}  // namespace ctflow
