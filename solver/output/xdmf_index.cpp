#include "solver/output/xdmf_index.hpp"

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "discretization/base/collective.hpp"
#include "discretization/base/number_format.hpp"
#include "discretization/base/paths.hpp"

namespace ctflow {

std::string XdmfPathFor(const std::string &h5_path, const std::string &suffix) { return PathWithExtension(h5_path, suffix + ".xmf"); }

// Every file begins with this.
static const char *const kXdmfHead =
    "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"3.0\">\n <Domain>\n"
    "  <Grid Name=\"ctflow\" GridType=\"Collection\" CollectionType=\"Temporal\">\n";

bool XdmfWrittenByCtflow(const std::string &path) { return FileStartsWith(path, kXdmfHead); }

// Text for an XML element or attribute value (file names may hold any character).
static std::string XmlEscaped(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

static std::string XdmfText(const std::string &h5_file, const XdmfSeries &series) {
  const std::string h5_name = XmlEscaped(h5_file);
  std::ostringstream s;
  s << kXdmfHead;
  for (size_t n = 0; n < series.times.size(); ++n) {
    const XdmfAxes &axes = series.axes[n];
    const size_t rank = axes.size();
    std::ostringstream dims;
    for (size_t d = 0; d < rank; ++d) dims << (d ? " " : "") << axes[d].second;
    const std::string mesh = rank == 3 ? "3DRectMesh" : "2DRectMesh", geometry = rank == 3 ? "VXVYVZ" : "VXVY";
    char entry[24];
    std::snprintf(entry, sizeof(entry), "%06zu", n);
    const std::string time = FormatExact(series.times[n]);
    s << "   <Grid Name=\"" << series.field << "_" << entry << "\" GridType=\"Uniform\">\n"
      << "    <Time Value=\"" << time << "\"/>\n"
      << "    <Topology TopologyType=\"" << mesh << "\" NumberOfElements=\"" << dims.str() << "\"/>\n"
      << "    <Geometry GeometryType=\"" << geometry << "\">\n";
    // XDMF lists dimensions slowest first, but VX… takes the fastest axis first.
    for (size_t d = rank; d-- > 0;)
      s << "     <DataItem Dimensions=\"" << axes[d].second << "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">" << h5_name << ":"
        << axes[d].first << "</DataItem>\n";
    s << "    </Geometry>\n"
      << "    <Attribute Name=\"" << series.field << "\" AttributeType=\"Scalar\" Center=\"Node\">\n"
      << "     <DataItem Dimensions=\"" << dims.str() << "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">" << XmlEscaped(series.items[n])
      << "</DataItem>\n"
      << "    </Attribute>\n   </Grid>\n";
  }
  s << "  </Grid>\n </Domain>\n</Xdmf>\n";
  return s.str();
}

PetscErrorCode XdmfIndexWrite(MPI_Comm comm, const std::string &xmf_path, const std::string &h5_path, const XdmfSeries &series) {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  std::string reason;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    std::string text, tmp = xmf_path + ".tmp";
    PetscCallCXX(text = XdmfText(PathFileName(h5_path), series));
    errno = 0;
    FILE *f = std::fopen(tmp.c_str(), "w");
    ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f) ok = std::fclose(f) == 0 && ok;
    ok = ok && std::rename(tmp.c_str(), xmf_path.c_str()) == 0;
    if (!ok) reason = WriteFailureReason(xmf_path, errno), std::remove(tmp.c_str());
  }
  PetscCall(AgreeOnFailure(comm, ok, "could not write the XDMF file '" + xmf_path + "'" + (reason.empty() ? "" : ": " + reason)));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
