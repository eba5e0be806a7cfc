// Round trip of the trajectory file: every state handed to the writer is in the file bit for bit, with its
// time, step and diagnostics, and the XDMF index lists exactly those states. Runs at np = 1, 2, 3.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "discretization/analytic_controls.hpp"
#include "discretization/initial_state.hpp"
#include "solver/output/state_diagnostics.hpp"
#include "solver/output/trajectory_writer.hpp"
#include "solver/output/xdmf_index.hpp"
#include "solver/timestepping/integrator.hpp"
#include "support/layered_model.hpp"

namespace {

using ctflow_test::Matrix;

struct Saved {
  std::vector<Matrix> states;
  std::vector<double> times;
  std::vector<long long> steps;
};

// Runs the analytic problem of the options database, writing the trajectory and recording what was written.
PetscErrorCode RunAndRecord(MPI_Comm comm, Saved *saved) {
  Vec u;
  PetscFunctionBeginUser;
  ctflow::Grid grid(comm);
  ctflow::AnalyticControls controls(comm);
  ctflow::InitialState f;
  ctflow::TrajectoryWriter traj(comm);
  PetscCall(grid.SetFromOptions());
  PetscCall(controls.SetFromOptions());
  PetscCall(f.SetFromOptions(&grid, controls));
  ctflow::Integrator integrator(grid, controls);
  PetscCall(integrator.SetFromOptions());
  PetscCall(traj.SetFromOptions());
  PetscCall(grid.SetUp());
  PetscCall(DMCreateGlobalVector(grid.Layout(), &u));
  PetscCall(f.Fill(grid, u));
  PetscCall(integrator.SetUp(u));
  const PetscInt N = integrator.NumSteps();
  auto save = [&](PetscInt step, PetscReal t, Vec v) -> PetscErrorCode {
    const PetscInt before = traj.NumSaved();
    Matrix m;
    PetscFunctionBeginUser;
    PetscCall(traj.Write(step, t, v, step == N || step == 0));
    if (traj.NumSaved() > before) {
      PetscCall(ctflow_test::GatherToAll(v, &m));
      saved->states.push_back(m);
      saved->times.push_back(t);
      saved->steps.push_back(step);
    }
    PetscFunctionReturn(0);
  };
  PetscCall(traj.Open(grid, {integrator.Scheme(), controls.Description(), f.Description(), integrator.FinalTime(), integrator.TimeStep()}));
  PetscCall(save(0, 0, u));
  PetscCall(integrator.Solve(u, save));
  PetscCall(traj.Close());
  PetscCall(VecDestroy(&u));
  PetscFunctionReturn(0);
}

std::vector<double> ReadDoubles(hid_t file, const char name[]) {
  hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
  hid_t space = H5Dget_space(ds);
  std::vector<double> a(H5Sget_simple_extent_npoints(space));
  EXPECT_GE(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data()), 0) << name;
  H5Sclose(space);
  H5Dclose(ds);
  return a;
}

std::string ReadString(hid_t file, const char name[]) {
  hid_t attr = H5Aopen(file, name, H5P_DEFAULT), type = H5Aget_type(attr);
  std::string s(H5Tget_size(type), '\0');
  H5Aread(attr, type, s.data());
  H5Tclose(type);
  H5Aclose(attr);
  return s.c_str();
}

TEST(Trajectory, IndexAndSegmentPathsReplaceTheExtension) {
  EXPECT_EQ(ctflow::XdmfPathFor("run.h5"), "run.xmf");
  EXPECT_EQ(ctflow::XdmfPathFor("out/run.v2.h5"), "out/run.v2.xmf");
  EXPECT_EQ(ctflow::XdmfPathFor("out.d/run"), "out.d/run.xmf");
  EXPECT_EQ(ctflow::XdmfPathFor("out/run.h5", "_substeps"), "out/run_substeps.xmf");
  EXPECT_EQ(ctflow::TrajectorySegmentDir("out/run.v2.h5"), "out/run.v2.d");
  EXPECT_EQ(ctflow::TrajectorySegmentDir("out.x/run"), "out.x/run.d");
}

TEST(Trajectory, FileHoldsWhatWasComputed) {
  MPI_Comm comm = PETSC_COMM_WORLD;
  PetscMPIInt size;
  ASSERT_EQ(MPI_Comm_size(comm, &size), 0);
  const std::string path = "roundtrip_np" + std::to_string(size) + ".h5", xmf = ctflow::XdmfPathFor(path);
  const PetscInt Nx = 10, Ny = 6;
  ASSERT_EQ(PetscOptionsInsertString(nullptr, ("-Nx 10 -Ny 6 -Lx 2 -T 1 -dt 0.125 -traj_every 3 -traj " + path).c_str()), 0);
  Saved saved;
  ASSERT_EQ(RunAndRecord(comm, &saved), 0);
  ASSERT_EQ(PetscOptionsClear(nullptr), 0);
  ASSERT_EQ(saved.steps, (std::vector<long long>{0, 3, 6, 8}));  // every 3rd step and the final one

  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  EXPECT_EQ(ReadString(file, "status"), "complete");
  EXPECT_EQ(ReadDoubles(file, "/time"), saved.times);
  const std::vector<double> steps = ReadDoubles(file, "/step");
  EXPECT_EQ(std::vector<long long>(steps.begin(), steps.end()), saved.steps);
  const std::vector<double> x = ReadDoubles(file, "/grid/x"), y = ReadDoubles(file, "/grid/y");
  ASSERT_EQ(x.size(), (size_t)Nx);
  ASSERT_EQ(y.size(), (size_t)Ny);
  EXPECT_DOUBLE_EQ(x[0], 0.1);
  EXPECT_DOUBLE_EQ(y[Ny - 1], (Ny - 0.5) / Ny);
  std::vector<std::vector<double>> diagnostics;
  for (const char *name : ctflow::kDiagnosticNames) diagnostics.push_back(ReadDoubles(file, ("/diagnostics/" + std::string(name)).c_str()));
  for (size_t n = 0; n < saved.states.size(); ++n) {
    char name[32];
    snprintf(name, sizeof(name), "/u/%06zu", n);
    EXPECT_EQ(ReadDoubles(file, name), saved.states[n]) << name << " differs from the state computed at step " << saved.steps[n];
    // The diagnostics, recomputed here from their definitions (solver/output/state_diagnostics.hpp).
    const Matrix &u = saved.states[n];
    double sum2 = 0, max_abs = 0, mean = 0, var = 0;
    for (PetscInt k = 0; k < Nx; ++k) {
      double m = 0, v = 0;
      for (PetscInt l = 0; l < Ny; ++l) m += u[k * Ny + l] / Ny;
      for (PetscInt l = 0; l < Ny; ++l) {
        v += (u[k * Ny + l] - m) * (u[k * Ny + l] - m) / Ny;
        sum2 += u[k * Ny + l] * u[k * Ny + l];
        max_abs = std::max(max_abs, std::abs(u[k * Ny + l]));
      }
      mean += m / Nx;
      var += v / Nx;
    }
    const double expected[] = {std::sqrt(sum2 * (2.0 / Nx) * (1.0 / Ny)), max_abs, mean, var};
    for (int i = 0; i < ctflow::kNumDiagnostics; ++i)
      EXPECT_NEAR(diagnostics[i][n], expected[i], 1e-13 * std::max(1.0, std::abs(expected[i]))) << ctflow::kDiagnosticNames[i] << " of state " << n;
  }
  EXPECT_LT(H5Lexists(file, ("/u/" + std::string("000004")).c_str(), H5P_DEFAULT), 1);
  H5Fclose(file);

  std::ifstream in(xmf);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  size_t listed = 0;
  for (size_t pos = 0; (pos = s.find("<Time Value=", pos)) != std::string::npos; ++pos) ++listed;
  EXPECT_EQ(listed, saved.states.size()) << s;
  // the state is read from its segment, the coordinates from the index
  EXPECT_NE(s.find(ctflow::TrajectorySegmentDir(path) + "/000003.h5:/u</DataItem>"), std::string::npos) << s;
  EXPECT_NE(s.find(path + ":/grid/x</DataItem>"), std::string::npos) << s;
  EXPECT_NE(s.find("NumberOfElements=\"10 6\""), std::string::npos) << s;
  EXPECT_NE(s.find("<Time Value=\"0.375\"/>"), std::string::npos) << "the time of step 3 is not listed";
}

}  // namespace
