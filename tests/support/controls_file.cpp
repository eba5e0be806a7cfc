// Writing a LayeredModel as an HDF5 controls file, and random models.
#include <hdf5.h>

#include <algorithm>

#include "support/layered_model.hpp"

namespace ctflow_test {

LayeredModel RandomModel(int Nx, int Ny, int Nh, int J, int num_layers, double w_std, bool bias_per_token, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto random = [&](size_t n, double std_dev) {
    Matrix m(n);
    for (double &v : m) v = std_dev * normal(rng);
    return m;
  };
  LayeredModel model{Nx, Ny, Nh, J, bias_per_token, {}};
  for (int n = 0; n < num_layers; ++n) {
    Layer layer;
    for (int m = 0; m < Nh; ++m) {
      layer.WQ.push_back(random(Ny * Ny, w_std));
      layer.WK.push_back(random(Ny * Ny, w_std));
      layer.WV.push_back(random(Ny * Ny, w_std));
    }
    for (int j = 0; j < J; ++j) {
      layer.W.push_back(random(Ny * Ny, w_std));
      if (!bias_per_token) {
        layer.b.push_back(random(Ny, 0.5));
        continue;
      }
      // The paper's b_j(x): one value per token, constant along y (eq. (34) adds b_k to row k).
      Matrix b = random(Nx, 0.5), bxy(Nx * Ny);
      for (int k = 0; k < Nx; ++k) std::fill_n(&bxy[k * Ny], Ny, b[k]);
      layer.b.push_back(bxy);
    }
    layer.sigma1 = uniform(rng) - 0.5;
    layer.sigma2 = 0.5 + 1.5 * uniform(rng);
    model.layers.push_back(layer);
  }
  return model;
}

Matrix RandomState(int Nx, int Ny, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix u(Nx * Ny);
  for (double &v : u) v = normal(rng);
  return u;
}

static void WriteDataset(hid_t group, const char *name, const std::vector<hsize_t> &shape, const double *data) {
  hid_t space = H5Screate_simple((int)shape.size(), shape.data(), nullptr);
  hid_t ds = H5Dcreate2(group, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(ds);
  H5Sclose(space);
}

static void WriteAttribute(hid_t group, const char *name, double value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(group, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, H5T_NATIVE_DOUBLE, &value);
  H5Aclose(attr);
  H5Sclose(space);
}

PetscErrorCode WriteControlsFile(MPI_Comm comm, const std::string &path, const LayeredModel &model) {
  PetscMPIInt rank;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    const hsize_t Nh = model.Nh, Ny = model.Ny, Nx = model.Nx;
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "cannot create %s", path.c_str());
    hid_t layers = H5Gcreate2(file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (size_t n = 0; n < model.layers.size(); ++n) {
      const Layer &L = model.layers[n];
      hid_t g = H5Gcreate2(layers, std::to_string(n).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      for (auto [name, W] : {std::pair{"WQ", &L.WQ}, std::pair{"WK", &L.WK}, std::pair{"WV", &L.WV}}) {
        Matrix packed;
        for (const Matrix &Wm : *W) packed.insert(packed.end(), Wm.begin(), Wm.end());
        WriteDataset(g, name, {Nh, Ny, Ny}, packed.data());
      }
      for (int j = 1; j <= model.J; ++j) {
        WriteDataset(g, ("W" + std::to_string(j)).c_str(), {Ny, Ny}, L.W[j - 1].data());
        if (model.bias_per_token) WriteDataset(g, ("b" + std::to_string(j)).c_str(), {Nx, Ny}, L.b[j - 1].data());
        else WriteDataset(g, ("b" + std::to_string(j)).c_str(), {Ny}, L.b[j - 1].data());
      }
      WriteAttribute(g, "sigma1", L.sigma1);
      WriteAttribute(g, "sigma2", L.sigma2);
      if (L.scale >= 0) WriteAttribute(g, "attention_scale", L.scale);
      if (L.relaxation_rate > 0) WriteAttribute(g, "relaxation_rate", L.relaxation_rate);
      H5Gclose(g);
    }
    H5Gclose(layers);
    H5Fclose(file);
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscFunctionReturn(0);
}

}  // namespace ctflow_test
