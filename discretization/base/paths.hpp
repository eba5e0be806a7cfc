// File names and output paths, in one place: the directory and name of a path, the name a trajectory's
// companion files take, and the collective check that an output file can be written before a run
// produces anything (std::filesystem underneath).
#pragma once
#include <petscsys.h>

#include <string>

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

// Collective: fails on every rank unless rank 0 can write `path` (its directory exists and is writable, and
// the file, if it exists, is writable). option names the path for the message, e.g. "-study_csv".
PetscErrorCode CheckWritableFile(MPI_Comm comm, const std::string &path, const char option[]);

}  // namespace ctflow
