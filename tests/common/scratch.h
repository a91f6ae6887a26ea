// Scratch space for tests: one directory per test process and prefix under
// the system temp dir, removed with everything in it when the process exits.
// ctest runs every gtest case in a process of its own (gtest_discover_tests),
// so cases never share a directory and a run leaves nothing behind (a case
// that crashes leaves its directory, for a look at what it wrote).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace golfpack::testing {

inline std::filesystem::path ScratchDir(const std::string& prefix) {
  struct Cleanup {
    std::vector<std::filesystem::path> dirs;
    ~Cleanup() {
      for (const auto& d : dirs) {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    }
  };
  static Cleanup cleanup;
  const auto d = std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()));
  if (std::find(cleanup.dirs.begin(), cleanup.dirs.end(), d) == cleanup.dirs.end()) cleanup.dirs.push_back(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace golfpack::testing
