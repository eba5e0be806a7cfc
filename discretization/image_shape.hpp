// ImageShape: a two-dimensional feature domain Ω_y = [0, L_y1] × [0, L_y2] with N_y1 × N_y2 cells (paper §6.1:
// for every token x and time t, u(x, ·, t) is an image; y is a pixel location).
//
//   y = (y1_i, y2_j),  y1_i = (i + 1/2) Δy1,  y2_j = (j + 1/2) Δy2,  Δy_a = L_ya / N_ya;  pixel (i, j) is feature l = i N_y2 + j.
//
// The Grid keeps its one-dimensional view of Ω_y: N_y = N_y1 N_y2 features per token, |Ω_y| = L_y = L_y1 L_y2 and
// Δy = Δy1 Δy2 (the cell area), so every operator that integrates over Ω_y by the midpoint rule (layer norm,
// integral-kernel feed-forward and attention) acts on images unchanged; convolutions (operators/convolution.hpp) use
// the two directions.
#pragma once
#include <petscsys.h>

namespace ctflow {

struct ImageShape {
  PetscInt N[2] = {0, 0};  // N_y1, N_y2 (0: the feature domain is one-dimensional)
  PetscReal L[2] = {1, 1};

  bool Active() const { return N[0] > 0; }
  PetscInt Pixels() const { return N[0] * N[1]; }
  PetscReal d(int a) const { return L[a] / N[a]; }
  PetscReal y(int a, PetscInt i) const { return (i + 0.5) * d(a); }
};

}  // namespace ctflow
