// Open MPI's shared-memory copy mechanism chosen at start-up (discretization/base/mpi_transport.hpp), with injected
// environments and parameter files: the user's choice is kept wherever it is made, otherwise copy-in/copy-out is
// selected under the parameter's name of the Open MPI version, and nothing is set for another MPI. A process without
// a launcher starts isolated on ob1 (Open MPI 4), unless the environment says otherwise.
#include <gtest/gtest.h>

#include <map>

#include "discretization/base/mpi_transport.hpp"

namespace {

using ctflow::MpiLaunched;
using ctflow::MpiParameterFiles;
using ctflow::MpiSingletonSteps;
using ctflow::MpiTransportAction;
using ctflow::MpiTransportState;
using ctflow::MpiTransportStep;
using ctflow::ParameterFileSetsCopy;

struct Environment {
  std::map<std::string, std::string> values;
  std::function<const char *(const char *)> Get() const {
    return [this](const char *name) -> const char * {
      const auto it = values.find(name);
      return it == values.end() ? nullptr : it->second.c_str();
    };
  }
};

MpiTransportState State(int major, const Environment &env, bool file_sets_copy = false) {
  MpiTransportState state;
  state.open_mpi_major = major;
  state.getenv = env.Get();
  state.file_sets_copy = [file_sets_copy] { return file_sets_copy; };
  return state;
}

MpiTransportAction Step(int major, const Environment &env, bool file_sets_copy = false) {
  return MpiTransportStep(State(major, env, file_sets_copy));
}

TEST(MpiTransport, CopyInCopyOutSelectedUnderTheVersionsName) {
  const Environment none;
  MpiTransportAction act = Step(4, none);
  EXPECT_EQ(act.variable, "OMPI_MCA_btl_vader_single_copy_mechanism");
  EXPECT_EQ(act.value, "none");
  EXPECT_NE(act.how.find("selected by ctflow"), std::string::npos) << act.how;
  act = Step(5, none);
  EXPECT_EQ(act.variable, "OMPI_MCA_btl_sm_single_copy_mechanism");
  EXPECT_EQ(act.value, "none");
}

TEST(MpiTransport, TheUsersEnvironmentIsKeptUnderEitherName) {
  for (const char *name : {"OMPI_MCA_btl_vader_single_copy_mechanism", "OMPI_MCA_btl_sm_single_copy_mechanism"})
    for (int major : {4, 5}) {
      Environment env;
      env.values[name] = "cma";
      const MpiTransportAction act = Step(major, env);
      EXPECT_TRUE(act.variable.empty()) << name << " in Open MPI " << major;
      EXPECT_EQ(act.how, std::string(name) + "=cma set in the environment");
    }
}

TEST(MpiTransport, AParameterFilesChoiceIsKept) {
  const MpiTransportAction act = Step(4, Environment(), true);
  EXPECT_TRUE(act.variable.empty());
  EXPECT_EQ(act.how, "btl_vader_single_copy_mechanism set in an MCA parameter file");
}

TEST(MpiTransport, NothingForAnotherMpi) {
  const MpiTransportAction act = Step(0, Environment());
  EXPECT_TRUE(act.variable.empty());
  EXPECT_TRUE(act.how.empty());
}

std::vector<MpiTransportAction> SingletonSteps(int major, const Environment &env) { return MpiSingletonSteps(State(major, env)); }

TEST(MpiTransport, ASingletonStartsIsolatedOnOb1) {
  const std::vector<MpiTransportAction> acts = SingletonSteps(4, Environment());
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(acts[0].variable, "OMPI_MCA_ess_singleton_isolated");
  EXPECT_EQ(acts[0].value, "1");
  EXPECT_EQ(acts[0].how, "ess_singleton_isolated=1 selected by ctflow");
  EXPECT_EQ(acts[1].variable, "OMPI_MCA_pml");
  EXPECT_EQ(acts[1].value, "ob1");
  EXPECT_EQ(acts[1].how, "pml=ob1 selected by ctflow");
}

TEST(MpiTransport, ASingletonKeepsTheUsersEnvironment) {
  Environment env;
  env.values["OMPI_MCA_pml"] = "cm";
  const std::vector<MpiTransportAction> acts = SingletonSteps(4, env);
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(acts[0].variable, "OMPI_MCA_ess_singleton_isolated");
  EXPECT_TRUE(acts[1].variable.empty());
  EXPECT_EQ(acts[1].how, "OMPI_MCA_pml=cm set in the environment");
}

TEST(MpiTransport, ALaunchedProcessOrAnotherMpiIsLeftAsItIs) {
  for (const char *launcher : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_FD"}) {
    Environment env;
    env.values[launcher] = "2";
    EXPECT_TRUE(MpiLaunched(env.Get())) << launcher;
    EXPECT_TRUE(SingletonSteps(4, env).empty()) << launcher;
  }
  EXPECT_FALSE(MpiLaunched(Environment().Get()));
  for (int major : {0, 3, 5}) EXPECT_TRUE(SingletonSteps(major, Environment()).empty()) << major;
}

TEST(MpiTransport, ParameterFilesAreTheListedOnesOrTheUsersAndTheSystemsAndTheOverride) {
  const std::string override_file = "/etc/openmpi/openmpi-mca-params-override.conf";
  Environment env;
  env.values["HOME"] = "/home/u";
  EXPECT_EQ(MpiParameterFiles(env.Get(), "/etc/openmpi"),
            (std::vector<std::string>{"/home/u/.openmpi/mca-params.conf", "/etc/openmpi/openmpi-mca-params.conf", override_file}));
  env.values["OMPI_MCA_mca_param_files"] = "/c.conf";  // the synonym
  EXPECT_EQ(MpiParameterFiles(env.Get(), "/etc/openmpi"), (std::vector<std::string>{"/c.conf", override_file}));
  env.values["OMPI_MCA_mca_base_param_files"] = "/a.conf,,/b.conf";
  EXPECT_EQ(MpiParameterFiles(env.Get(), "/etc/openmpi"), (std::vector<std::string>{"/a.conf", "/b.conf", override_file}));
  EXPECT_EQ(MpiParameterFiles(Environment().Get(), "/etc/openmpi"),
            (std::vector<std::string>{"/etc/openmpi/openmpi-mca-params.conf", override_file}));
}

TEST(MpiTransport, AParameterFileSetsTheCopyOnlyOnAnActiveLine) {
  EXPECT_TRUE(ParameterFileSetsCopy("btl_vader_single_copy_mechanism = cma\n"));
  EXPECT_TRUE(ParameterFileSetsCopy("# comment\n  btl_sm_single_copy_mechanism=none"));
  EXPECT_FALSE(ParameterFileSetsCopy("# btl_vader_single_copy_mechanism = cma\n"));
  EXPECT_FALSE(ParameterFileSetsCopy("btl = self,vader\nmpi_leave_pinned = 1\n"));
  EXPECT_FALSE(ParameterFileSetsCopy("note = single_copy_mechanism\n"));  // in a value, not the name
  EXPECT_FALSE(ParameterFileSetsCopy(""));
}

}  // namespace
