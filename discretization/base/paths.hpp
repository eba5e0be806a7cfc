// File names and output paths, in one place: the directory and name of a path, the name a trajectory's
// companion files take, and the collective check that an output file can be written before a run
// produces anything (std::filesystem underneath).
#pragma once
#include <petscsys.h>

#include <string>
#include <utility>
#include <vector>

namespace ctflow {

// The directory of path ("." for a bare file name).
std::string PathDirectory(const std::string &path);
// The last component of path.
std::string PathFileName(const std::string &path);
// path with its extension (if any) replaced by `replacement`: ("out/run.h5", ".xmf") → "out/run.xmf";
// ("out.d/run", ".xmf") → "out.d/run.xmf"; a leading dot of the file name is not an extension.
std::string PathWithExtension(const std::string &path, const std::string &replacement);
// path with `tag` inserted before its extension: ("run.h5", "_level2") → "run_level2.h5".
std::string PathWithTag(const std::string &path, const std::string &tag);

// Why path cannot be read as an input file: "does not exist", "is a directory", "is not a regular file (…)", "is
// not readable"; "" if it can. A FIFO or a device is refused before it is opened: reading it could wait forever.
std::string InputFileProblem(const std::string &path);
// After a write under path failed: "no space left on the file system" if its file system is (nearly) full, else
// the operating system's message for errno_value (0: "").
std::string WriteFailureReason(const std::string &path, int errno_value);

// Collective: fails on every rank unless the file system of `path` has room for about `bytes` more (rank 0's
// view). Checked before each parallel HDF5 file is written, since parallel HDF5's collective close cannot recover
// from a full disk (discretization/state_file.hpp).
PetscErrorCode CheckFreeSpace(MPI_Comm comm, const std::string &path, double bytes);

// The files a run reads, each with the option that named it: {"-u0", "tokens.h5"}, … (Problem::Inputs).
using InputFiles = std::vector<std::pair<std::string, std::string>>;
// The files a run writes, each with the option that named it: {"-traj", "run.h5"}, {"-gradient", "g.h5"}, …
using OutputFiles = std::vector<std::pair<std::string, std::string>>;
// Collective: fails unless no two outputs name the same file (made absolute, symbolic links resolved where the path
// exists): the later would replace the earlier, with both reported as written.
PetscErrorCode CheckDistinctOutputs(MPI_Comm comm, const OutputFiles &outputs);
// Whether a and b name the same existing file (device and inode: links and other spellings included).
bool SameFile(const std::string &a, const std::string &b);
// Whether the file at path begins with `text` (how ctflow recognises its own text outputs).
bool FileStartsWith(const std::string &path, const std::string &text);

// The first bytes of every HDF5 file: the signature of ctflow's HDF5 outputs for CheckWritableFile.
inline const std::string kHdf5Signature = "\211HDF\r\n\032\n";

// Collective: fails on every rank unless rank 0 can write the output file `path`: its directory exists and is
// writable, and if the path exists it is a writable regular file that ctflow wrote, i.e. that begins with
// `signature` (ctflow replaces only files it created), and not one of the run's `inputs`. option names the path for
// the message, e.g. "-study_csv".
PetscErrorCode CheckWritableFile(MPI_Comm comm, const std::string &path, const char option[], const std::string &signature,
                                 const InputFiles &inputs = {});

}  // namespace ctflow
