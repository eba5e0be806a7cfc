// ScopedOptions: inserts PETSc options for one test (a command-line string) and clears them when it goes out of scope,
// so that tests in one process do not see each other's options.
#pragma once
#include <gtest/gtest.h>
#include <petscsys.h>

#include <cctype>
#include <sstream>
#include <string>
#include <vector>

namespace ctflow_test {

class ScopedOptions {
 public:
  explicit ScopedOptions(const std::string &options) {
    EXPECT_EQ(PetscOptionsInsertString(nullptr, options.c_str()), 0);
    std::istringstream in(options);
    for (std::string word; in >> word;)
      if (word[0] == '-' && !std::isdigit((unsigned char)word[1])) keys_.push_back(word);
  }
  ~ScopedOptions() {
    for (const std::string &k : keys_) (void)PetscOptionsClearValue(nullptr, k.c_str());
  }
  ScopedOptions(const ScopedOptions &) = delete;
  ScopedOptions &operator=(const ScopedOptions &) = delete;

 private:
  std::vector<std::string> keys_;
};

}  // namespace ctflow_test
