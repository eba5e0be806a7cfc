#include "solver/training/vit_init.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "discretization/base/option_checks.hpp"
#include "discretization/hdf5_attributes.hpp"

namespace ctflow {

namespace {

// SplitMix64 (Steele, Lea & Flood 2014): uniform doubles in [0, 1) identical on every platform.
class Random {
 public:
  explicit Random(std::uint64_t seed) : x_(seed) {}
  PetscReal Uniform() {
    std::uint64_t z = (x_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (PetscReal)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
  std::vector<PetscReal> Symmetric(size_t n, PetscReal bound) {
    std::vector<PetscReal> v(n);
    for (PetscReal &x : v) x = bound * (2 * Uniform() - 1);
    return v;
  }

 private:
  std::uint64_t x_;
};

bool Dataset(hid_t file, const std::string &name, const std::vector<hsize_t> &shape, const std::vector<PetscReal> &v) {
  hid_t space = H5Screate_simple((int)shape.size(), shape.data(), nullptr);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ds = H5Dcreate2(file, name.c_str(), H5T_IEEE_F64LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0;
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
  return ok;
}

bool Write(hid_t f, const VitArchitecture &a, std::uint64_t seed) {
  const hsize_t Ny = a.dim, Nh = a.heads, d = a.dim / a.heads, F = a.mlp, D = a.channels * a.patch * a.patch, C = a.classes;
  const hsize_t Nx = 1 + (a.height / a.patch) * (a.width / a.patch);
  const std::vector<PetscReal> zeros(std::max({Ny, F, C}), 0.0), ones(Ny, 1.0);
  auto zero = [&](hsize_t n) { return std::vector<PetscReal>(zeros.begin(), zeros.begin() + n); };
  Random r(seed);
  bool ok = true;
  for (PetscInt n = 0; n < a.layers; ++n) {
    const std::string g = "/layers/" + std::to_string(n) + "/";
    const PetscReal bound = 1 / std::sqrt((PetscReal)Ny);
    for (const char *w : {"WQ", "WK", "WV"}) ok = ok && Dataset(f, g + w, {Nh, Ny, d}, r.Symmetric(Nh * Ny * d, bound));
    ok = ok && Dataset(f, g + "WO", {Nh, d, Ny}, r.Symmetric(Nh * d * Ny, bound));
    ok = ok && Dataset(f, g + "mlp_W1", {Ny, F}, r.Symmetric(Ny * F, bound));
    ok = ok && Dataset(f, g + "mlp_W2", {F, Ny}, r.Symmetric(F * Ny, 1 / std::sqrt((PetscReal)F)));
    ok = ok && Dataset(f, g + "bQ", {Nh, d}, std::vector<PetscReal>(Nh * d, 0.0)) && Dataset(f, g + "c", {Ny}, zero(Ny));
    ok = ok && Dataset(f, g + "mlp_b1", {F}, zero(F)) && Dataset(f, g + "mlp_b2", {Ny}, zero(Ny));
    for (const char *k : {"1", "2"})
      ok = ok && Dataset(f, g + "layernorm" + k + "_gamma", {Ny}, ones) && Dataset(f, g + "layernorm" + k + "_beta", {Ny}, zero(Ny)) &&
           H5AttributeWrite(f, g, ("layernorm" + std::string(k) + "_eps").c_str(), a.eps);
    ok = ok && H5AttributeWrite(f, g, "attention_scale", 1 / std::sqrt((PetscReal)d)) &&
         H5AttributeWrite(f, g, "mlp_activation", a.gelu ? "gelu" : "relu");
  }
  ok = ok && Dataset(f, "/vit/patch_embedding", {D, Ny}, r.Symmetric(D * Ny, 1 / std::sqrt((PetscReal)D)));
  ok = ok && Dataset(f, "/vit/position_embedding", {Nx, Ny}, r.Symmetric(Nx * Ny, 0.02 * std::sqrt(3.0)));
  ok = ok && Dataset(f, "/vit/head_weight", {Ny, C}, r.Symmetric(Ny * C, 1 / std::sqrt((PetscReal)Ny)));
  ok = ok && Dataset(f, "/vit/patch_bias", {Ny}, zero(Ny)) && Dataset(f, "/vit/class_token", {Ny}, zero(Ny)) &&
       Dataset(f, "/vit/head_bias", {C}, zero(C));
  ok = ok && H5AttributeWrite(f, "/vit", "channels", (PetscReal)a.channels) && H5AttributeWrite(f, "/vit", "image_height", (PetscReal)a.height) &&
       H5AttributeWrite(f, "/vit", "image_width", (PetscReal)a.width) && H5AttributeWrite(f, "/vit", "patch_size", (PetscReal)a.patch);
  ok = ok && Dataset(f, "/final_norm/gamma", {Ny}, ones) && Dataset(f, "/final_norm/beta", {Ny}, zero(Ny)) &&
       H5AttributeWrite(f, "/final_norm", "eps", a.eps);
  ok = ok && H5AttributeWrite(f, "/", "order", "attention_ln1, mlp_ln2");
  if (a.linear_in_time) ok = ok && H5AttributeWrite(f, "/", "time_interpolation", "linear");
  return ok;
}

}  // namespace

PetscErrorCode VitArchitecture::SetFromOptions(MPI_Comm comm) {
  char activation[16] = "gelu", time[16];
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(activation, gelu ? "gelu" : "relu", sizeof(activation)));
  PetscCall(PetscStrncpy(time, linear_in_time ? "linear" : "constant", sizeof(time)));
  PetscOptionsBegin(comm, nullptr, "Random vision Transformer (ctflow -train without -controls)", "VitArchitecture");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(CtflowOptionsInt("-vit_patch", "Patch size p", "VitArchitecture", patch, &patch, nullptr));
  PetscCall(CtflowOptionsInt("-vit_dim", "Hidden dimension N_y", "VitArchitecture", dim, &dim, nullptr));
  PetscCall(CtflowOptionsInt("-vit_heads", "Heads N_h (d_head = N_y / N_h)", "VitArchitecture", heads, &heads, nullptr));
  PetscCall(CtflowOptionsInt("-vit_mlp", "Hidden points F of the feed-forward flow", "VitArchitecture", mlp, &mlp, nullptr));
  PetscCall(CtflowOptionsInt("-vit_layers", "Layers L (knots with -vit_time linear)", "VitArchitecture", layers, &layers, nullptr));
  PetscCall(CtflowOptionsInt("-vit_classes", "Classes of the head", "VitArchitecture", classes, &classes, nullptr));
  PetscCall(PetscOptionsString("-vit_activation", "gelu or relu", "VitArchitecture", activation, activation, sizeof(activation), nullptr));
  PetscCall(PetscOptionsReal("-vit_layernorm_eps", "ε of every layer norm", "VitArchitecture", eps, &eps, nullptr));
  PetscCall(PetscOptionsString("-vit_time", "Controls in t: constant (layer-wise) or linear (piecewise linear, knots at the layers' starts)",
                               "VitArchitecture", time, time, sizeof(time), nullptr));
  PetscOptionsEnd();
  PetscCheck(!std::strcmp(activation, "gelu") || !std::strcmp(activation, "relu"), comm, PETSC_ERR_USER_INPUT,
             "-vit_activation must be gelu or relu, got '%s'", activation);
  PetscCheck(!std::strcmp(time, "constant") || !std::strcmp(time, "linear"), comm, PETSC_ERR_USER_INPUT,
             "-vit_time must be constant or linear, got '%s'", time);
  gelu = !std::strcmp(activation, "gelu");
  linear_in_time = !std::strcmp(time, "linear");
  PetscFunctionReturn(0);
}

PetscErrorCode VitArchitecture::Check(MPI_Comm comm) const {
  PetscFunctionBeginUser;
  PetscCheck(patch > 0 && dim > 0 && heads > 0 && mlp > 0 && layers > 0 && classes > 1 && eps >= 0, comm, PETSC_ERR_USER_INPUT,
             "-vit_patch, -vit_dim, -vit_heads, -vit_mlp, -vit_layers must be positive, -vit_classes at least 2 and -vit_layernorm_eps non-negative");
  PetscCheck(dim % heads == 0, comm, PETSC_ERR_USER_INPUT, "-vit_dim %" PetscInt_FMT " is not a multiple of -vit_heads %" PetscInt_FMT, dim, heads);
  PetscCheck(height % patch == 0 && width % patch == 0, comm, PETSC_ERR_USER_INPUT,
             "-vit_patch %" PetscInt_FMT " does not divide the images' size %" PetscInt_FMT " × %" PetscInt_FMT, patch, height, width);
  PetscFunctionReturn(0);
}

PetscErrorCode VitControlsWrite(MPI_Comm comm, const VitArchitecture &a, std::uint64_t seed, const std::string &path) {
  PetscFunctionBeginUser;
  PetscCall(a.Check(comm));
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = file >= 0 && Write(file, a, seed);
  if (file >= 0) H5Fclose(file);
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot write the random vision Transformer's controls to '%s'", path.c_str());
  PetscFunctionReturn(0);
}

PetscErrorCode MemoryFile::Create(MPI_Comm comm, const char name[]) {
  PetscFunctionBeginUser;
  const char *tmp = getenv("TMPDIR");
  const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp && tmp[0] ? tmp : "/tmp";
  std::vector<char> path(dir.size() + std::strlen(name) + 16);
  std::snprintf(path.data(), path.size(), "%s/%s-XXXXXX", dir.c_str(), name);
  const int fd = mkstemp(path.data());
  PetscCheck(fd >= 0, comm, PETSC_ERR_FILE_OPEN, "cannot create a temporary file in %s", dir.c_str());
  close(fd);
  path_ = path.data();
  PetscFunctionReturn(0);
}

MemoryFile::~MemoryFile() {
  if (!path_.empty()) unlink(path_.c_str());
}

}  // namespace ctflow
