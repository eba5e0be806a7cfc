// How ranks on one node exchange messages: Open MPI's shared-memory transport, chosen before MPI_Init.
//
// Open MPI's shared-memory BTL (vader in 4.x, sm in 5.x) sends a message larger than its eager limit (4 KiB) by a
// "single copy": the receiver reads the sender's memory with process_vm_readv (CMA), which pins every 4 KiB page it
// reads. On the 2-core AMD EPYC virtual machine of bench/RESULTS.md that is slower than the two memcpy of
// copy-in/copy-out through the shared segment at every size above the eager limit: an allreduce of a training
// step's 145 KB gradient on 2 ranks takes 14.6 µs with CMA and 6.2 µs without, 16 MB 2.5 ms against 1.5 ms
// (bench/bench_allreduce). So ctflow selects copy-in/copy-out (the parameter's value "none") unless the user
// chose: the variable set in the environment (`mpirun --mca` sets it too) or the parameter named in an MCA
// parameter file is respected, whatever it says. Results do not depend on it (tests/cli/run_mpi_transport.py).
//
// The choice must be the same on every rank of a node: peers that disagree fail in their first large message. It
// therefore depends only on the environment and the files every rank sees, never on a timing.
//
// A process started without a launcher (no mpirun, srun, ...: Open MPI's "singleton") has no peers. Open MPI 4.1
// forks a runtime daemon for it and opens every messaging layer it has, probing fabrics (PSM, PSM2) a single
// process never uses: 0.58 s before main's work starts on the 2-core Xeon of bench/RESULTS.md. ctflow starts it
// isolated (ess_singleton_isolated=1: no daemon; it cannot spawn or connect, which ctflow never does) on the ob1
// layer (pml=ob1, what mpirun selects on one node anyway): 0.18 s. Each is kept if set in the environment; a parameter
// file's pml is the machine's choice for launched jobs and does not concern a process without peers.
#pragma once
#include <petscsys.h>

#include <functional>
#include <string>
#include <vector>

namespace ctflow {

// Sets the shared-memory copy mechanism, and for a process without a launcher its start-up, in the environment where
// the user did not choose; call in main before MPI_Init (before PetscInitialize). A no-op when ctflow is not built
// with Open MPI.
void MpiSelectTransport();
// One line: the MPI library, how its shared-memory messages are copied, a singleton's start-up, and who chose each.
std::string MpiTransportDescription();
// Reads -mpi_view (prints MpiTransportDescription() on rank 0) and reports the description with PetscInfo.
PetscErrorCode MpiTransportViewFromOptions(MPI_Comm comm);

// The decision, separated from the process so that it can be tested with any environment.
struct MpiTransportState {
  int open_mpi_major = 0;                            // 0: not Open MPI
  std::function<const char *(const char *)> getenv;  // the environment
  std::function<bool()> file_sets_copy;              // whether an MCA parameter file sets the parameter
};
struct MpiTransportAction {
  std::string variable, value;  // the environment variable to set, "" for none
  std::string how;              // who chose, for the description
};
MpiTransportAction MpiTransportStep(const MpiTransportState &state);
// Whether a launcher started the process (Open MPI's mpirun, a PMIx or PMI launcher).
bool MpiLaunched(const std::function<const char *(const char *)> &getenv);
// A singleton's start-up (Open MPI 4 only): one action per parameter, none when a launcher started the process.
std::vector<MpiTransportAction> MpiSingletonSteps(const MpiTransportState &state);
// The MCA parameter files Open MPI reads: OMPI_MCA_mca_base_param_files (comma-separated) if set, else the user's and
// the system's; and the system's override file.
std::vector<std::string> MpiParameterFiles(const std::function<const char *(const char *)> &getenv, const std::string &sysconfdir);
// Whether the text of an MCA parameter file sets a *_single_copy_mechanism parameter (a line not commented out).
bool ParameterFileSetsCopy(const std::string &text);

}  // namespace ctflow
