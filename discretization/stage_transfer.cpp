#include "discretization/stage_transfer.hpp"

namespace ctflow {

PetscErrorCode StageTransfer::SetUp(const Grid &from, const Grid &to) {
  const MPI_Comm comm = to.Comm();
  PetscFunctionBeginUser;
  PetscCheck(from.TwoDimensional() && to.TwoDimensional(), comm, PETSC_ERR_ARG_WRONG, "a stage transfer needs two-dimensional feature domains");
  const PetscInt Nf = from.Nx(), Nt = to.Nx();
  PetscCheck(Nf % Nt == 0 || Nt % Nf == 0, comm, PETSC_ERR_USER_INPUT,
             "a stage transfer from %" PetscInt_FMT " to %" PetscInt_FMT " tokens: neither divides the other", Nf, Nt);
  restrict_ = Nf >= Nt ? Nf / Nt : 1;
  prolong_ = Nt > Nf ? Nt / Nf : 1;
  for (int a = 0; a < 2; ++a) {
    const PetscInt nf = from.Image().N[a], nt = to.Image().N[a];
    PetscCheck(nf % nt == 0, comm, PETSC_ERR_USER_INPUT,
               "a stage transfer from N_y%d = %" PetscInt_FMT " to %" PetscInt_FMT
               " pixels: the next stage's pixels must divide the previous stage's",
               a + 1, nf, nt);
    pool_[a] = nf / nt, N_[a] = nt;
  }
  xs_ = to.XStart(), xm_ = to.XLocal();
  // Source tokens of the owned destination tokens xs … xs + xm − 1: one contiguous block of the source vector.
  first_ = prolong_ > 1 ? xs_ / prolong_ : xs_ * restrict_;
  const PetscInt last = prolong_ > 1 ? (xs_ + xm_ - 1) / prolong_ : (xs_ + xm_) * restrict_ - 1, n = (last - first_ + 1) * from.Ny();
  UniqueVec source;
  UniqueIS is;
  PetscCall(DMCreateGlobalVector(from.Layout(), source.Out()));
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, n, local_.Out()));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, n, first_ * from.Ny(), 1, is.Out()));
  PetscCall(VecScatterCreate(source, is, local_, nullptr, scatter_.Out()));
  PetscFunctionReturn(0);
}

PetscErrorCode StageTransfer::Apply(Vec from, Vec to) const {
  const PetscInt N2 = N_[1], Nyt = N_[0] * N_[1], N2f = N_[1] * pool_[1], Nyf = N_[0] * pool_[0] * N2f;
  const PetscReal w = 1.0 / (PetscReal)(restrict_ * pool_[0] * pool_[1]);
  const PetscScalar *f;
  PetscScalar *t;
  PetscFunctionBeginUser;
  PetscCall(VecScatterBegin(scatter_, from, local_, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter_, from, local_, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(local_, &f));
  PetscCall(VecGetArrayWrite(to, &t));
  for (PetscInt k = 0; k < xm_; ++k) {
    const PetscInt source = prolong_ > 1 ? (xs_ + k) / prolong_ - first_ : k * restrict_;  // first source token, local
    for (PetscInt i = 0; i < N_[0]; ++i)
      for (PetscInt j = 0; j < N2; ++j) {
        PetscReal sum = 0;
        for (PetscInt a = 0; a < restrict_; ++a)
          for (PetscInt b = 0; b < pool_[0]; ++b)
            for (PetscInt c = 0; c < pool_[1]; ++c) sum += f[(source + a) * Nyf + (i * pool_[0] + b) * N2f + j * pool_[1] + c];
        t[k * Nyt + i * N2 + j] = w * sum;
      }
  }
  PetscCall(VecRestoreArrayWrite(to, &t));
  PetscCall(VecRestoreArrayRead(local_, &f));
  PetscFunctionReturn(0);
}

PetscErrorCode StageTransfer::ApplyTranspose(Vec to, Vec from) const {
  const PetscInt N2 = N_[1], Nyt = N_[0] * N_[1], N2f = N_[1] * pool_[1], Nyf = N_[0] * pool_[0] * N2f;
  const PetscReal w = 1.0 / (PetscReal)(restrict_ * pool_[0] * pool_[1]);
  const PetscScalar *t;
  PetscScalar *f;
  PetscFunctionBeginUser;
  PetscCall(VecSet(local_, 0.0));
  PetscCall(VecGetArray(local_, &f));
  PetscCall(VecGetArrayRead(to, &t));
  for (PetscInt k = 0; k < xm_; ++k) {
    const PetscInt source = prolong_ > 1 ? (xs_ + k) / prolong_ - first_ : k * restrict_;
    for (PetscInt i = 0; i < N_[0]; ++i)
      for (PetscInt j = 0; j < N2; ++j) {
        const PetscReal v = w * t[k * Nyt + i * N2 + j];
        for (PetscInt a = 0; a < restrict_; ++a)
          for (PetscInt b = 0; b < pool_[0]; ++b)
            for (PetscInt c = 0; c < pool_[1]; ++c) f[(source + a) * Nyf + (i * pool_[0] + b) * N2f + j * pool_[1] + c] += v;
      }
  }
  PetscCall(VecRestoreArrayRead(to, &t));
  PetscCall(VecRestoreArray(local_, &f));
  PetscCall(VecSet(from, 0.0));
  PetscCall(VecScatterBegin(scatter_, local_, from, ADD_VALUES, SCATTER_REVERSE));
  PetscCall(VecScatterEnd(scatter_, local_, from, ADD_VALUES, SCATTER_REVERSE));
  PetscFunctionReturn(0);
}

std::string StageTransfer::Description() const {
  std::string tokens = restrict_ > 1  ? "tokens /" + std::to_string(restrict_) + " (restriction)"
                       : prolong_ > 1 ? "tokens x" + std::to_string(prolong_) + " (prolongation)"
                                      : "the same tokens";
  std::string pixels =
      pool_[0] * pool_[1] > 1 ? "pixels /" + std::to_string(pool_[0]) + "x" + std::to_string(pool_[1]) + " (restriction)" : "the same pixels";
  return tokens + ", " + pixels;
}

}  // namespace ctflow
