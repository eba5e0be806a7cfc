// Layered controls lend the kernels they store (Controls::LendAttention, LendMlp) instead of copying them:
// the lent kernels equal the sampled ones exactly, are one object for every t of a layer, and become a
// sampled copy with the grid's scale when the default attention scale 1/sqrt(|Ω_y|) is not the stored one
// (-Ly). Also the flop counts (PetscLogFlops, exact integers) of the attention operator and of the attention and
// lifted feed-forward transposes: causal attention counts only η ≤ x, a transpose the products it runs.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>

#include "discretization/layered_controls.hpp"
#include "operators/operator.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow::AttentionKernels;
using ctflow::Grid;
using ctflow::LayeredControls;
using ctflow::MlpKernels;

constexpr int Nx = 5, Ny = 4, Nh = 2, F = 3;
constexpr double kScale0 = 0.3;  // layer 0's attention_scale; layer 1 has none (default 1/sqrt(|Ω_y|))

void WriteDataset(hid_t group, const char *name, std::vector<hsize_t> shape, double first) {
  std::vector<double> data(shape.size() == 2 ? shape[0] * shape[1] : shape[0]);
  for (size_t i = 0; i < data.size(); ++i) data[i] = first + 0.1 * (double)i;
  hid_t space = H5Screate_simple((int)shape.size(), shape.data(), nullptr);
  hid_t ds = H5Dcreate2(group, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(ds);
  H5Sclose(space);
}

// Two layers of random attention and feed-forward weights, plus a lifted feed-forward network per layer.
std::string WriteControls(const std::string &name, bool causal) {
  PetscMPIInt rank, size;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  const std::string path = name + "_np" + std::to_string(size) + ".h5";
  ctflow_test::LayeredModel model = ctflow_test::RandomModel(Nx, Ny, Nh, 1, 2, 0.5, false, 11);
  model.layers[0].scale = kScale0;
  EXPECT_EQ(ctflow_test::WriteControlsFile(PETSC_COMM_WORLD, path, model), 0);
  if (rank == 0) {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    for (int n = 0; n < 2; ++n) {
      hid_t g = H5Gopen2(file, ("/layers/" + std::to_string(n)).c_str(), H5P_DEFAULT);
      WriteDataset(g, "mlp_W1", {Ny, F}, n - 0.5);
      WriteDataset(g, "mlp_b1", {F}, n + 0.2);
      WriteDataset(g, "mlp_W2", {F, Ny}, 0.3 - n);
      WriteDataset(g, "mlp_b2", {Ny}, -0.1 * n);
      H5Gclose(g);
    }
    if (causal) {
      const double one = 1;
      hid_t space = H5Screate(H5S_SCALAR), attr = H5Acreate2(file, "causal", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(attr, H5T_NATIVE_DOUBLE, &one);
      H5Aclose(attr);
      H5Sclose(space);
    }
    H5Fclose(file);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
  return path;
}

class ControlsLending : public ::testing::Test {
 protected:
  void Load(const std::string &path, const char *options) {
    ASSERT_EQ(PetscOptionsInsertString(nullptr, options), 0);
    ASSERT_EQ(grid_.SetFromOptions(), 0);
    ASSERT_EQ(controls_.Load(path, &grid_), 0);
    ASSERT_EQ(grid_.SetUp(), 0);
    for (const char *o : {"-Nx", "-Ly"}) PetscOptionsClearValue(nullptr, o);
  }
  Grid grid_{PETSC_COMM_WORLD};
  LayeredControls controls_{PETSC_COMM_WORLD};
};

TEST_F(ControlsLending, LendsTheStoredKernelsOfEachLayer) {
  Load(WriteControls("lending", false), "-Nx 5");
  const AttentionKernels *lent_attention[2];
  const MlpKernels *lent_mlp[2];
  for (int n = 0; n < 2; ++n) {
    const double t = n + 0.25, t_later = n + 0.75;  // two times in layer n = [n, n + 1)
    AttentionKernels storage, sampled;
    const AttentionKernels *again = nullptr;
    ASSERT_EQ(controls_.LendAttention(t, grid_, &storage, &lent_attention[n]), 0);
    ASSERT_EQ(controls_.LendAttention(t_later, grid_, &storage, &again), 0);
    ASSERT_EQ(controls_.SampleAttention(t, grid_, &sampled), 0);
    EXPECT_NE(lent_attention[n], &storage);  // no copy
    EXPECT_EQ(lent_attention[n], again);
    const AttentionKernels &k = *lent_attention[n];
    EXPECT_EQ(k.WQ, sampled.WQ);
    EXPECT_EQ(k.WK, sampled.WK);
    EXPECT_EQ(k.WV, sampled.WV);
    EXPECT_EQ(k.WO, sampled.WO);
    EXPECT_EQ(k.bQ, sampled.bQ);
    EXPECT_EQ(k.c, sampled.c);
    EXPECT_EQ(k.d_head, sampled.d_head);
    EXPECT_EQ(k.causal, sampled.causal);
    EXPECT_EQ(k.scale, sampled.scale);
    EXPECT_EQ(k.scale, n == 0 ? kScale0 : 1 / std::sqrt((double)Ny));  // |Ω_y| = N_y under unit spacing

    MlpKernels mlp_storage, mlp_sampled;
    const MlpKernels *mlp_again = nullptr;
    ASSERT_EQ(controls_.LendMlp(t, grid_, &mlp_storage, &lent_mlp[n]), 0);
    ASSERT_EQ(controls_.LendMlp(t_later, grid_, &mlp_storage, &mlp_again), 0);
    ASSERT_EQ(controls_.SampleMlp(t, grid_, &mlp_sampled), 0);
    EXPECT_NE(lent_mlp[n], &mlp_storage);
    EXPECT_EQ(lent_mlp[n], mlp_again);
    EXPECT_EQ(lent_mlp[n]->F, F);
    EXPECT_EQ(lent_mlp[n]->W1, mlp_sampled.W1);
    EXPECT_EQ(lent_mlp[n]->b1, mlp_sampled.b1);
    EXPECT_EQ(lent_mlp[n]->W2, mlp_sampled.W2);
    EXPECT_EQ(lent_mlp[n]->b2, mlp_sampled.b2);
  }
  EXPECT_NE(lent_attention[0], lent_attention[1]);
  EXPECT_NE(lent_mlp[0], lent_mlp[1]);
}

TEST_F(ControlsLending, DefaultScaleOnAnotherLyIsASampledCopy) {
  Load(WriteControls("lending_ly", false), "-Nx 5 -Ly 9");
  AttentionKernels storage;
  const AttentionKernels *k = nullptr;
  ASSERT_EQ(controls_.LendAttention(1.5, grid_, &storage, &k), 0);  // layer 1: default scale 1/sqrt(9)
  EXPECT_EQ(k, &storage);
  EXPECT_DOUBLE_EQ(k->scale, 1.0 / 3);
  ASSERT_EQ(controls_.LendAttention(0.5, grid_, &storage, &k), 0);  // layer 0: its own scale, lent
  EXPECT_NE(k, &storage);
  EXPECT_EQ(k->scale, kScale0);
}

// The model of WriteControls on N_x = 5 tokens, for the flop counts.
void LoadFlopsModel(const std::string &name, bool causal, Grid *grid, LayeredControls *controls) {
  ASSERT_EQ(PetscOptionsInsertString(nullptr, "-Nx 5"), 0);
  ASSERT_EQ(grid->SetFromOptions(), 0);
  ASSERT_EQ(controls->Load(WriteControls(name, causal), grid), 0);
  ASSERT_EQ(grid->SetUp(), 0);
  PetscOptionsClearValue(nullptr, "-Nx");
}

// The query-key pairs of this rank's queries: x_m N_x, or Σ_k (x_start + k + 1) when causal.
double QueryKeyPairs(const Grid &grid, bool causal) {
  double pairs = 0;
  for (PetscInt k = 0; k < grid.XLocal(); ++k) pairs += causal ? grid.XStart() + k + 1 : Nx;
  return pairs;
}

// The attention flops of one Rhs (PetscLogFlops): projections 6 x_m N_y D, per query-key pair and head
// 4 d_head + 3 (scores, γV, maximum, exponential, sum), output 2 N_h x_m N_y (no W^O: Δh o summed over heads).
// Pairs: x_m N_x, or Σ_k (x_start + k + 1) over the owned queries k when causal.
TEST_F(ControlsLending, AttentionFlopsCountTheQueryKeyPairsComputed) {
  for (bool causal : {false, true}) {
    Grid grid(PETSC_COMM_WORLD);
    LayeredControls controls(PETSC_COMM_WORLD);
    LoadFlopsModel(causal ? "flops_causal" : "flops", causal, &grid, &controls);
    if (HasFatalFailure()) return;
    std::unique_ptr<ctflow::Operator> op;
    ASSERT_EQ(ctflow::OperatorCreate("attention", {&grid, &controls}, &op), 0);
    ASSERT_EQ(op->SetFromOptions(), 0);
    Vec u, f;
    ASSERT_EQ(DMCreateGlobalVector(grid.Layout(), &u), 0);
    ASSERT_EQ(VecDuplicate(u, &f), 0);
    ASSERT_EQ(VecSetRandom(u, nullptr), 0);
    ASSERT_EQ(op->SetUp(u), 0);
    PetscLogDouble before, after;
    ASSERT_EQ(PetscGetFlops(&before), 0);
    ASSERT_EQ(op->Rhs(0.5, u, f), 0);
    ASSERT_EQ(PetscGetFlops(&after), 0);
    const double xm = grid.XLocal(), d = Ny, D = Nh * d;
    const double pairs = QueryKeyPairs(grid, causal);
    EXPECT_EQ(after - before, 6 * xm * Ny * D + Nh * (4 * d + 3) * pairs + 2 * Nh * xm * Ny) << (causal ? "causal" : "full");
    VecDestroy(&u);
    VecDestroy(&f);
  }
}

// The transposes' flops count the products they run: attention's softmax pass 10 d_head + 4 per query-key pair and
// head (S again, dP, dV, dQ, dK; p, dS), its first pass 4 d_head + 3 as the forward's and Q, K, V (6 x_m N_y D) only
// without a recorded forward, dU's 6 x_m N_y D, dW^{Q,K,V} 6 x_m N_y D only with a gradient (no W^O here); the
// lifted feed-forward's dz and dU 4 x_m N_y F, h 2 x_m N_y F without a record, dW1, dW2 4 x_m N_y F with a gradient.
TEST_F(ControlsLending, TransposeFlopsCountTheProductsRun) {
  for (bool causal : {false, true}) {
    Grid grid(PETSC_COMM_WORLD);
    LayeredControls controls(PETSC_COMM_WORLD);
    LoadFlopsModel(causal ? "transpose_flops_causal" : "transpose_flops", causal, &grid, &controls);
    if (HasFatalFailure()) return;
    const double xm = grid.XLocal(), d = Ny, D = Nh * d;
    const double pairs = QueryKeyPairs(grid, causal);
    ctflow::ControlsArrays g;
    ASSERT_EQ(controls.GetZeroParameters(&g), 0);
    for (const char *name : {"attention", "mlp"}) {
      std::unique_ptr<ctflow::Operator> op;
      ASSERT_EQ(ctflow::OperatorCreate(name, {&grid, &controls}, &op), 0);
      ASSERT_EQ(op->SetFromOptions(), 0);
      Vec u, f, G, du;
      ASSERT_EQ(DMCreateGlobalVector(grid.Layout(), &u), 0);
      VecDuplicate(u, &f), VecDuplicate(u, &G), VecDuplicate(u, &du);
      VecSetRandom(u, nullptr), VecSetRandom(G, nullptr), VecSet(du, 0.0);
      ASSERT_EQ(op->SetUp(u), 0);
      for (bool recorded : {false, true})
        for (bool gradient : {false, true}) {
          if (recorded) op->RecordNextRhs(0);
          ASSERT_EQ(op->Rhs(0.5, u, f), 0);
          if (recorded) op->ReuseRecord(0);
          PetscLogDouble before, after;
          ASSERT_EQ(PetscGetFlops(&before), 0);
          ASSERT_EQ(op->RhsTranspose(0.5, u, G, du, gradient ? &g : nullptr), 0);
          ASSERT_EQ(PetscGetFlops(&after), 0);
          const double expected = std::string(name) == "attention" ? (recorded ? 0 : 6 * xm * Ny * D + Nh * (4 * d + 3) * pairs) + 6 * xm * Ny * D +
                                                                         Nh * (10 * d + 4) * pairs + (gradient ? 6 * xm * Ny * D : 0)
                                                                   : (4 + (recorded ? 0 : 2) + (gradient ? 4 : 0)) * xm * Ny * F;
          EXPECT_EQ(after - before, expected) << name << (causal ? " causal" : "") << (recorded ? " recorded" : "") << (gradient ? " gradient" : "");
        }
      VecDestroy(&u), VecDestroy(&f), VecDestroy(&G), VecDestroy(&du);
    }
  }
}

}  // namespace
