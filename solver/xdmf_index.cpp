#include "solver/xdmf_index.hpp"

#include <cstdio>
#include <sstream>

namespace ctflow {

static std::string BaseName(const std::string &path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string XdmfPathFor(const std::string &h5_path) {
  const size_t slash = h5_path.find_last_of('/'), dot = h5_path.find_last_of('.');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
  return (has_ext ? h5_path.substr(0, dot) : h5_path) + ".xmf";
}

static std::string XdmfText(const std::string &h5_name, PetscInt Nx, PetscInt Ny, const std::vector<PetscReal> &times) {
  std::ostringstream s;
  char time[64];
  s << "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"3.0\">\n <Domain>\n"
    << "  <Grid Name=\"ctflow\" GridType=\"Collection\" CollectionType=\"Temporal\">\n";
  for (size_t n = 0; n < times.size(); ++n) {
    char state[16];
    std::snprintf(state, sizeof(state), "%06zu", n);
    std::snprintf(time, sizeof(time), "%.17g", (double)times[n]);
    // XDMF lists dimensions slowest first and VXVY takes the fastest axis first: u is (N_x, N_y) row-major.
    s << "   <Grid Name=\"u_" << state << "\" GridType=\"Uniform\">\n"
      << "    <Time Value=\"" << time << "\"/>\n"
      << "    <Topology TopologyType=\"2DRectMesh\" NumberOfElements=\"" << Nx << " " << Ny << "\"/>\n"
      << "    <Geometry GeometryType=\"VXVY\">\n"
      << "     <DataItem Dimensions=\"" << Ny << "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">" << h5_name << ":/grid/y</DataItem>\n"
      << "     <DataItem Dimensions=\"" << Nx << "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">" << h5_name << ":/grid/x</DataItem>\n"
      << "    </Geometry>\n"
      << "    <Attribute Name=\"u\" AttributeType=\"Scalar\" Center=\"Node\">\n"
      << "     <DataItem Dimensions=\"" << Nx << " " << Ny << "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">" << h5_name
      << ":/u/" << state << "</DataItem>\n"
      << "    </Attribute>\n   </Grid>\n";
  }
  s << "  </Grid>\n </Domain>\n</Xdmf>\n";
  return s.str();
}

PetscErrorCode XdmfIndexWrite(MPI_Comm comm, const std::string &xmf_path, const std::string &h5_path, PetscInt Nx, PetscInt Ny,
                              const std::vector<PetscReal> &times) {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    std::string text, tmp = xmf_path + ".tmp";
    PetscCallCXX(text = XdmfText(BaseName(h5_path), Nx, Ny, times));
    FILE *f = std::fopen(tmp.c_str(), "w");
    ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f) ok = std::fclose(f) == 0 && ok;
    ok = ok && std::rename(tmp.c_str(), xmf_path.c_str()) == 0;
    if (!ok) std::remove(tmp.c_str());
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "could not write the XDMF file '%s'", xmf_path.c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
