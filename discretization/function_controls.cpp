#include "discretization/function_controls.hpp"

#include <cmath>

namespace ctflow {

FunctionControls::FunctionControls(MPI_Comm comm, ControlFunctions f, std::string description)
    : comm_(comm), f_(std::move(f)), description_(std::move(description)) {}

PetscErrorCode FunctionControls::SetUp(Grid *) {
  PetscFunctionBeginUser;
  PetscCheck(f_.WQ && f_.WK && f_.WV && f_.sigma1 && f_.sigma2, comm_, PETSC_ERR_ARG_WRONG,
             "controls '%s': W^Q, W^K, W^V, σ1 and σ2 must all be given", description_.c_str());
  PetscCheck(f_.W.size() == f_.b.size(), comm_, PETSC_ERR_ARG_WRONG, "controls '%s': %zu feed-forward kernels W_j but %zu biases b_j",
             description_.c_str(), f_.W.size(), f_.b.size());
  for (size_t j = 0; j < f_.W.size(); ++j)
    PetscCheck(f_.W[j] && f_.b[j], comm_, PETSC_ERR_ARG_WRONG, "controls '%s': W_%zu or b_%zu is missing", description_.c_str(), j + 1, j + 1);
  PetscFunctionReturn(0);
}

PetscErrorCode FunctionControls::SampleAttention(PetscReal t, const Grid &grid, AttentionKernels *k) const {
  const PetscInt Ny = grid.Ny(), Nh = grid.Nh();
  const ControlFunctions::Kernel *kernel[3] = {&f_.WQ, &f_.WK, &f_.WV};
  std::vector<PetscReal> *out[3] = {&k->WQ, &k->WK, &k->WV};
  PetscFunctionBeginUser;
  for (int q = 0; q < 3; ++q) {
    PetscCallCXX(out[q]->resize(Nh * Ny * Ny));
    PetscCallCXX(for (PetscInt m = 0; m < Nh; ++m) for (PetscInt i = 0; i < Ny; ++i) for (PetscInt l = 0; l < Ny; ++l)(
                     *out[q])[(m * Ny + i) * Ny + l] = (*kernel[q])(grid.y(i), grid.y(l), grid.h(m), t));
  }
  k->d_head = Ny;
  k->scale = 1 / std::sqrt(grid.Ly());
  PetscFunctionReturn(0);
}

PetscErrorCode FunctionControls::SampleFeedForward(PetscInt j, PetscReal t, const Grid &grid, FeedForwardKernel *k) const {
  const PetscInt Ny = grid.Ny(), xs = grid.XStart(), xm = grid.XLocal();
  PetscFunctionBeginUser;
  PetscCheck(j >= 1 && j <= NumFeedForward(), comm_, PETSC_ERR_ARG_OUTOFRANGE, "feed-forward layer %" PetscInt_FMT " requested, J = %" PetscInt_FMT,
             j, NumFeedForward());
  PetscCallCXX(k->W.resize(Ny * Ny));
  PetscCallCXX(k->b.resize(xm * Ny));
  // The functions are the program's: an exception they throw becomes a PETSc error here.
  PetscCallCXX(for (PetscInt i = 0; i < Ny; ++i) for (PetscInt l = 0; l < Ny; ++l) k->W[i * Ny + l] = f_.W[j - 1](grid.y(i), grid.y(l), t));
  PetscCallCXX(for (PetscInt r = 0; r < xm; ++r) for (PetscInt l = 0; l < Ny; ++l) k->b[r * Ny + l] = f_.b[j - 1](grid.x(xs + r), grid.y(l), t));
  PetscFunctionReturn(0);
}

PetscErrorCode FunctionControls::SampleLayerNorm(PetscInt index, PetscReal t, LayerNormTargets *s) const {
  PetscFunctionBeginUser;
  PetscCheck(index == 0, comm_, PETSC_ERR_USER_INPUT, "the controls '%s' have one layer norm (operator 'layernorm'), not layernorm%" PetscInt_FMT,
             description_.c_str(), index);
  *s = LayerNormTargets();
  PetscCallCXX(s->sigma1 = f_.sigma1(t));
  PetscCallCXX(s->sigma2 = f_.sigma2(t));
  PetscFunctionReturn(0);
}

PetscErrorCode FunctionControls::SampleRelaxationRate(PetscReal t, PetscReal *lambda) const {
  PetscFunctionBeginUser;
  PetscCallCXX(*lambda = f_.lambda(t));
  PetscCheck(std::isfinite(*lambda) && *lambda > 0, comm_, PETSC_ERR_USER_INPUT,
             "the controls '%s' have λ(%g) = %g; the relaxation rate must be positive", description_.c_str(), (double)t, (double)*lambda);
  PetscFunctionReturn(0);
}

}  // namespace ctflow
