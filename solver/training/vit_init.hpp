// A vision Transformer of a given architecture with random parameters, as a layered controls file
// (docs/controls-format.md) that lives in memory: the starting point of `ctflow -train` without -controls.
//
// The architecture is torchvision's VisionTransformer (pre-LN encoder layers with exact GELU, a final layer norm, a
// class token and learned position embeddings; paper §4.2), options (each with a setter):
//   -vit_patch p (4), -vit_dim N_y (32), -vit_heads N_h (4, d_head = N_y / N_h), -vit_mlp F (64), -vit_layers L (4),
//   -vit_classes C (10), -vit_activation gelu|relu, -vit_layernorm_eps ε (1e-6), -vit_time constant|linear
// The image size (channels, height, width) is the dataset's. With -vit_time linear the L layers are the knots of
// controls piecewise linear in t (discretization/piecewise_linear_controls.hpp).
//
// The random initialisation (seed -train_seed; SplitMix64, u = (x >> 11) 2^-53, the same on every rank and machine):
// every weight of a linear map (patch embedding, WQ, WK, WV, WO, mlp_W1, mlp_W2, the head) uniform in
// [−1/√fan_in, 1/√fan_in) with fan_in its number of rows (torch.nn.Linear's bound; N_y for WO), drawn in the order
// layer 0 … L − 1 (WQ, WK, WV, WO, mlp_W1, mlp_W2), then patch embedding, position embedding, head; the position
// embedding uniform with standard deviation 0.02; every bias, the class token and β zero; γ = 1; attention scale
// 1/√d_head.
#pragma once
#include <petscsys.h>

#include <cstdint>
#include <string>

namespace ctflow {

struct VitArchitecture {
  PetscInt patch = 4, dim = 32, heads = 4, mlp = 64, layers = 4, classes = 10;
  PetscInt channels = 1, height = 8, width = 8;  // the images'
  bool gelu = true, linear_in_time = false;
  PetscReal eps = 1e-6;
  PetscErrorCode SetFromOptions(MPI_Comm comm);
  PetscErrorCode Check(MPI_Comm comm) const;
};

// Writes a random ViT of architecture a to path (serial HDF5; every rank may write its own copy).
PetscErrorCode VitControlsWrite(MPI_Comm comm, const VitArchitecture &a, std::uint64_t seed, const std::string &path);

// A file in memory: a temporary file on the tmpfs /dev/shm (else $TMPDIR or /tmp), removed with the object; a path that
// HDF5 and LayeredControls open like any file.
class MemoryFile {
 public:
  PetscErrorCode Create(MPI_Comm comm, const char name[]);
  ~MemoryFile();
  const std::string &Path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ctflow
