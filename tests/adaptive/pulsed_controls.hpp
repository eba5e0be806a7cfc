// Test-only controls for adaptive Δt: the analytic controls (discretization/analytic_controls.hpp) with the
// value kernels W^V and the feed-forward W_j, b_j multiplied by a(t) = a∞ + (a0 − a∞) e^{−t/τ}. The attention term is
// linear in W^V (no W^O, d_head = N_y) and the feed-forward term in (W_j, b_j), so the flows-only problem is
//   u_t = a(t) (A_att(t, u) + A_ffn1(t, u)),
// the analytic problem at a rate that is a0 at t = 0 and relaxes to a∞ within a few τ. The analytic family
// has no option for such a transient: its time dependence 1 + sin(ω t + φ)/2, ω ∈ [1/2, 2], is uniform on [0, T].
#pragma once
#include <cmath>

#include "discretization/analytic_controls.hpp"

namespace ctflow_test {

class PulsedControls : public ctflow::AnalyticControls {
 public:
  PulsedControls(MPI_Comm comm, double a0, double a_inf, double tau) : AnalyticControls(comm), a0_(a0), a_inf_(a_inf), tau_(tau) {}
  double Rate(PetscReal t) const { return a_inf_ + (a0_ - a_inf_) * std::exp(-t / tau_); }
  PetscErrorCode SampleAttention(PetscReal t, const ctflow::Grid &grid, ctflow::AttentionKernels *k) const override {
    PetscFunctionBeginUser;
    PetscCall(AnalyticControls::SampleAttention(t, grid, k));
    for (PetscReal &w : k->WV) w *= Rate(t);
    PetscFunctionReturn(0);
  }
  PetscErrorCode SampleFeedForward(PetscInt j, PetscReal t, const ctflow::Grid &grid, ctflow::FeedForwardKernel *k) const override {
    PetscFunctionBeginUser;
    PetscCall(AnalyticControls::SampleFeedForward(j, t, grid, k));
    for (PetscReal &w : k->W) w *= Rate(t);
    for (PetscReal &b : k->b) b *= Rate(t);
    PetscFunctionReturn(0);
  }
  std::string Description() const override { return "pulsed " + AnalyticControls::Description(); }

 private:
  double a0_, a_inf_, tau_;
};

}  // namespace ctflow_test
