#include "solver/app/command_line.hpp"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "discretization/base/paths.hpp"

namespace ctflow {

namespace {

// Options files nest at most this deep (PETSc follows -options_file inside an options file).
constexpr size_t kMaxNesting = 16;

std::string OptionsFilesProblem(const std::vector<std::string> &words, std::vector<std::string> *open);

// The options file `path`, included by the files in *open (outermost first).
std::string OptionsFileProblem(const std::string &option, const std::string &path, std::vector<std::string> *open) {
  const std::string problem = InputFileProblem(path);
  if (!problem.empty()) return option + " '" + path + "' " + problem;
  char resolved[PATH_MAX];
  const std::string key = realpath(path.c_str(), resolved) ? resolved : path;
  for (const std::string &outer : *open)
    if (outer == key) return option + " '" + path + "' includes itself (through -options_file)";
  if (open->size() >= kMaxNesting) return option + " '" + path + "': options files nest more than " + std::to_string(kMaxNesting) + " deep";
  if (option != "-options_file") return "";  // YAML: PETSc reads it; it does not include other files by -options_file
  std::ifstream in(path);
  std::vector<std::string> words;
  for (std::string line; std::getline(in, line);) {
    std::istringstream tokens(line.substr(0, line.find('#')));
    for (std::string word; tokens >> word;) words.push_back(word);
  }
  open->push_back(key);
  const std::string nested = OptionsFilesProblem(words, open);
  open->pop_back();
  return nested;
}

// The options files named in a list of words ("-options_file PATH").
std::string OptionsFilesProblem(const std::vector<std::string> &words, std::vector<std::string> *open) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] != "-options_file" && words[i] != "-options_file_yaml") continue;
    if (i + 1 == words.size() || words[i + 1].empty() || words[i + 1][0] == '-') return words[i] + " needs a file name";
    const std::string problem = OptionsFileProblem(words[i], words[i + 1], open);
    if (!problem.empty()) return problem;
  }
  return "";
}

}  // namespace

std::string CommandLineProblem(int argc, char **argv) {
  std::vector<std::string> words, open;
  for (int i = 1; i < argc; ++i) {
    if (!argv[i][0])
      return "an option is given the empty value ''" + (i > 1 ? " (" + std::string(argv[i - 1]) + " '')" : std::string()) +
             "; give it a value or leave it out";
    words.push_back(argv[i]);
  }
  if (const char *env = std::getenv("PETSC_OPTIONS")) {
    std::istringstream tokens(env);
    for (std::string word; tokens >> word;) words.push_back(word);
  }
  return OptionsFilesProblem(words, &open);
}

int CheckCommandLine(MPI_Comm comm, int argc, char **argv) {
  int rank, first;
  MPI_Comm_rank(comm, &rank);
  std::string problem;
  try {
    problem = CommandLineProblem(argc, argv);
  } catch (const std::exception &e) {
    problem = std::string("reading the command line: ") + e.what();
  }
  first = problem.empty() ? INT_MAX : rank;
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == INT_MAX) return 0;
  if (rank == first) {
    std::fprintf(stderr, "ctflow: error: %s\n", problem.c_str());
    std::fflush(stderr);
  }
  return 1;
}

}  // namespace ctflow
