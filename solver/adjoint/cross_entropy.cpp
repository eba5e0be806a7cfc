// The cross-entropy loss of a classifier, ℓ(z, k) = −log softmax(z)_k = log Σ_c exp(z_c) − z_k, on the logits
// z = G(u(T)) of a classification head (the ViT post-processing G of §4.2, eq. (36)).
#include <algorithm>
#include <cmath>

#include "discretization/base/option_checks.hpp"
#include "solver/adjoint/loss.hpp"

namespace ctflow {

namespace {

class CrossEntropy : public Loss {
 public:
  explicit CrossEntropy(MPI_Comm comm) : comm_(comm) {}
  PetscErrorCode SetFromOptions() override {
    PetscBool set;
    PetscFunctionBeginUser;
    PetscOptionsBegin(comm_, nullptr, "Cross-entropy loss (-loss cross_entropy)", "Loss");
    OptionsBlockGuard guard(PetscOptionsObject);
    PetscCall(CtflowOptionsInt("-label", "Class k of -loss cross_entropy (0 ≤ k < classes)", "Loss", label_, &label_, &set));
    PetscOptionsEnd();
    label_set_ = label_set_ || set;
    PetscFunctionReturn(0);
  }
  PetscErrorCode SetUp(const Grid &, const Controls &controls) override {
    PetscFunctionBeginUser;
    PetscCheck(controls.Vit() || controls.Cvt(), comm_, PETSC_ERR_USER_INPUT,
               "-loss cross_entropy needs a classification head (controls with a vision Transformer's /vit or a CvT's /cvt group; %s has none)",
               controls.Description().c_str());
    PetscCheck(label_set_, comm_, PETSC_ERR_USER_INPUT, "-loss cross_entropy needs the class: -label k");
    classes_ = controls.Vit() ? controls.Vit()->classes : controls.Cvt()->classes;
    PetscCheck(label_ >= 0 && label_ < classes_, comm_, PETSC_ERR_USER_INPUT,
               "-label %" PetscInt_FMT " is out of range: the head has %" PetscInt_FMT " classes (0 … %" PetscInt_FMT ")", label_, classes_,
               classes_ - 1);
    PetscFunctionReturn(0);
  }
  // ∂L/∂z = softmax(z) − e_k; ∂L/∂u = 0 (the head's transpose carries it to u).
  PetscErrorCode Evaluate(Vec, const std::vector<PetscReal> &z, PetscReal *value, Vec dLdu, std::vector<PetscReal> *dLdz) override {
    PetscFunctionBeginUser;
    PetscCheck((PetscInt)z.size() == classes_, comm_, PETSC_ERR_ARG_SIZ, "cross_entropy: %zu logits, %" PetscInt_FMT " classes", z.size(), classes_);
    const PetscReal zmax = *std::max_element(z.begin(), z.end());
    PetscReal sum = 0;
    for (PetscReal zc : z) sum += std::exp(zc - zmax);
    *value = zmax + std::log(sum) - z[label_];
    PetscCallCXX(dLdz->resize(z.size()));
    for (size_t c = 0; c < z.size(); ++c) (*dLdz)[c] = std::exp(z[c] - zmax) / sum - ((PetscInt)c == label_ ? 1 : 0);
    PetscCall(VecSet(dLdu, 0.0));
    PetscFunctionReturn(0);
  }
  std::string Description() const override { return "cross_entropy with label " + std::to_string(label_); }

 private:
  MPI_Comm comm_;
  PetscInt label_ = 0, classes_ = 0;
  bool label_set_ = false;
};

}  // namespace

PetscErrorCode CrossEntropyCreate(MPI_Comm comm, std::unique_ptr<Loss> *loss) {
  PetscFunctionBeginUser;
  PetscCallCXX(*loss = std::make_unique<CrossEntropy>(comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
