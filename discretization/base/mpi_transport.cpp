#include "discretization/base/mpi_transport.hpp"

#include "discretization/base/option_checks.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ctflow {

#ifndef CTFLOW_MPI_SYSCONFDIR
#define CTFLOW_MPI_SYSCONFDIR "/etc/openmpi"
#endif

static std::string transport_how;  // MpiSelectTransport's decisions, for the description

// The parameter's name in this Open MPI (5.x renamed vader to sm and keeps the old name as an alias).
static std::string CopyParameter(int major) { return major >= 5 ? "btl_sm_single_copy_mechanism" : "btl_vader_single_copy_mechanism"; }

std::vector<std::string> MpiParameterFiles(const std::function<const char *(const char *)> &getenv, const std::string &sysconfdir) {
  std::vector<std::string> files;
  const char *list = getenv("OMPI_MCA_mca_base_param_files");
  if (!list || !*list) list = getenv("OMPI_MCA_mca_param_files");  // its synonym
  if (list && *list) {
    std::istringstream in(list);
    for (std::string f; std::getline(in, f, ',');)
      if (!f.empty()) files.push_back(f);
  } else {
    if (const char *home = getenv("HOME")) files.push_back(std::string(home) + "/.openmpi/mca-params.conf");
    files.push_back(sysconfdir + "/openmpi-mca-params.conf");
  }
  files.push_back(sysconfdir + "/openmpi-mca-params-override.conf");  // read always, and wins over the environment
  return files;
}

bool ParameterFileSetsCopy(const std::string &text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const std::string name = line.substr(start, line.find('=') - start);
    if (name.find("single_copy_mechanism") != std::string::npos) return true;
  }
  return false;
}

MpiTransportAction MpiTransportStep(const MpiTransportState &state) {
  MpiTransportAction act;
  if (!state.open_mpi_major) return act;
  const std::string ours = CopyParameter(state.open_mpi_major);
  for (const char *name : {"btl_vader_single_copy_mechanism", "btl_sm_single_copy_mechanism"}) {
    const std::string variable = std::string("OMPI_MCA_") + name;
    if (const char *value = state.getenv(variable.c_str())) {
      act.how = variable + "=" + value + " set in the environment";
      return act;
    }
  }
  if (state.file_sets_copy && state.file_sets_copy()) {
    act.how = ours + " set in an MCA parameter file";
    return act;
  }
  act.variable = "OMPI_MCA_" + ours;
  act.value = "none";
  act.how = ours + "=none selected by ctflow (copy-in/copy-out, faster than CMA where measured: bench/RESULTS.md)";
  return act;
}

bool MpiLaunched(const std::function<const char *(const char *)> &getenv) {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_FD"})
    if (getenv(name)) return true;
  return false;
}

std::vector<MpiTransportAction> MpiSingletonSteps(const MpiTransportState &state) {
  std::vector<MpiTransportAction> acts;
  if (state.open_mpi_major != 4 || MpiLaunched(state.getenv)) return acts;
  for (const auto &[name, value] : {std::pair<std::string, std::string>{"ess_singleton_isolated", "1"}, {"pml", "ob1"}}) {
    MpiTransportAction act;
    const std::string variable = "OMPI_MCA_" + name;
    if (const char *set = state.getenv(variable.c_str())) {
      act.how = variable + "=" + set + " set in the environment";
    } else {
      act.variable = variable, act.value = value;
      act.how = name + "=" + value + " selected by ctflow";
    }
    acts.push_back(act);
  }
  return acts;
}

void MpiSelectTransport() {
#ifdef OPEN_MPI
  MpiTransportState state;
  state.open_mpi_major = OMPI_MAJOR_VERSION;
  state.getenv = [](const char *name) -> const char * { return std::getenv(name); };
  state.file_sets_copy = [&state] {
    for (const std::string &path : MpiParameterFiles(state.getenv, CTFLOW_MPI_SYSCONFDIR)) {
      std::ifstream in(path);
      std::stringstream text;
      if (in && (text << in.rdbuf()) && ParameterFileSetsCopy(text.str())) return true;
    }
    return false;
  };
  const MpiTransportAction act = MpiTransportStep(state);
  if (!act.variable.empty()) setenv(act.variable.c_str(), act.value.c_str(), 1);
  transport_how = "shared memory: " + act.how;
  const std::vector<MpiTransportAction> singleton = MpiSingletonSteps(state);
  for (size_t i = 0; i < singleton.size(); ++i) {
    if (!singleton[i].variable.empty()) setenv(singleton[i].variable.c_str(), singleton[i].value.c_str(), 1);
    transport_how += (i ? ", " : "; started without a launcher: ") + singleton[i].how;
  }
#endif
}

std::string MpiTransportDescription() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  std::string library(version, (size_t)length);
  library = library.substr(0, library.find_first_of(",\n"));  // "Open MPI v4.1.4, package: …" → "Open MPI v4.1.4"
  if (transport_how.empty()) return library;
  return library + ", " + transport_how;
}

PetscErrorCode MpiTransportViewFromOptions(MPI_Comm comm) {
  static bool viewed = false;
  PetscBool view = PETSC_FALSE;
  PetscFunctionBeginUser;
  if (viewed) PetscFunctionReturn(0);
  viewed = true;
  PetscOptionsBegin(comm, nullptr, "MPI transport (chosen at start-up: an MCA parameter set by the user, else ctflow's choice)", "MPI");
  OptionsBlockGuard guard(PetscOptionsObject);
  PetscCall(PetscOptionsBool("-mpi_view", "Print the MPI library and how its shared-memory messages are copied", "MpiSelectTransport", view, &view,
                             nullptr));
  PetscOptionsEnd();
  const std::string text = MpiTransportDescription();
  PetscCall(PetscInfo(nullptr, "MPI: %s\n", text.c_str()));
  if (view) PetscCall(PetscPrintf(comm, "MPI: %s\n", text.c_str()));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
