// Layered convolutional controls (controls type cvt, docs/controls-format.md) refined in y1 and y2: the stencils are
// functions on Ω_y, piecewise constant on the file's pixels, so fine offset j (in fine pixels, refinement r) takes the
// value of the file pixel containing j/r, the mean of the two on a face (even r), zero outside. Checked here for r = 2
// in y1 (a 3-pixel stencil becomes 7 pixels with half-weight ends) and r = 3 in y2 (3 → 9), against that rule written
// out, with a file written by this test; and the refined grid's spacing (the file's Ω_y, Δy = 1/r).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>

#include "discretization/layered_convolution_controls.hpp"

namespace {

void Write(hid_t where, const char *name, const std::vector<hsize_t> &shape, const std::vector<double> &v) {
  hid_t space = H5Screate_simple((int)shape.size(), shape.data(), nullptr);
  hid_t ds = H5Dcreate2(where, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(ds);
  H5Sclose(space);
}

void Attribute(hid_t where, const char *name, double v) {
  hid_t space = H5Screate(H5S_SCALAR), a = H5Acreate2(where, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  H5Sclose(space);
}

// The fine value at offset j of a 3-pixel file stencil w refined r times, by the rule of the header.
double Fine(const double *w, int j, int r) {
  double v = 0;
  for (int i = 0; i < 3; ++i) {
    const double lo = (i - 1.5) * r, hi = (i - 0.5) * r;  // file pixel i covers [lo, hi] in fine units
    if (j > lo && j < hi) v += w[i];
    else if (j == lo || j == hi) v += w[i] / 2;
  }
  return v;
}

TEST(LayeredConvolutionControls, RefinedStencilsArePiecewiseConstantOnTheFilesPixels) {
  const std::string path = "refine_cvt.h5";
  const std::vector<double> w = {0.3, -1.2, 0.7, 2.0, 0.5, -0.4, 1.1, -0.9, 0.25};  // (3, 3), asymmetric
  PetscMPIInt rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  if (rank == 0) {
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Gcreate2(f, "/stages", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), g = H5Gcreate2(s, "0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (auto [name, v] : {std::pair{"N_x", 3.0}, std::pair{"N_y1", 6.0}, std::pair{"N_y2", 5.0}, std::pair{"N_h", 1.0}}) Attribute(g, name, v);
    hid_t ls = H5Gcreate2(g, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), l = H5Gcreate2(ls, "0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (const char *name : {"conv_WQ", "conv_WK", "conv_WV"}) Write(l, name, {1, 3, 3}, w);
    Write(l, "conv_W1", {3, 3}, w);
    Write(l, "b1", {3}, {0.1, 0.2, 0.3});
    Attribute(l, "sigma1", 0.0);
    Attribute(l, "sigma2", 1.0);
    for (hid_t id : {l, ls, g, s}) H5Gclose(id);
    H5Fclose(f);
  }
  MPI_Barrier(PETSC_COMM_WORLD);
  ctflow::Grid grid(PETSC_COMM_WORLD);
  ctflow::LayeredConvolutionControls controls(PETSC_COMM_WORLD);
  ASSERT_EQ(grid.SetImageSizes(12, 15), 0);  // r1 = 2, r2 = 3
  ASSERT_EQ(controls.Load(path), 0);
  ASSERT_EQ(controls.SetUp(&grid), 0);
  ASSERT_EQ(grid.SetUp(), 0);
  EXPECT_DOUBLE_EQ(grid.Image().L[0], 6.0);  // the file's Ω_y
  EXPECT_DOUBLE_EQ(grid.Image().d(1), 1.0 / 3);
  ctflow::ConvTokenKernels k;
  ASSERT_EQ(controls.SampleConvFeedForward(1, 0.5, grid, &k), 0);
  ASSERT_EQ(k.k[0], 7);
  ASSERT_EQ(k.k[1], 9);
  for (int j1 = -3; j1 <= 3; ++j1)
    for (int j2 = -4; j2 <= 4; ++j2) {
      double expected = 0;  // the tensor product of the two one-dimensional rules
      for (int i1 = 0; i1 < 3; ++i1) {
        double e1[3] = {0, 0, 0};
        e1[i1] = 1;
        double row[3];
        for (int i2 = 0; i2 < 3; ++i2) row[i2] = w[i1 * 3 + i2];
        expected += Fine(e1, j1, 2) * Fine(row, j2, 3);
      }
      EXPECT_NEAR(k.W[(j1 + 3) * 9 + j2 + 4], expected, 1e-15) << j1 << " " << j2;
    }
  EXPECT_DOUBLE_EQ(k.W[0], w[0] / 2);  // corner (−3, −4): on the stencil's face in y1 (half weight), inside in y2
  if (rank == 0) std::remove(path.c_str());
}

}  // namespace
