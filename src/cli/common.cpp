#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cli/commands.h"

namespace golfpack::cli {

std::string TrainPattern(const std::string& dir) { return dir + "/fineweb_train_*.bin"; }
std::string ValPattern(const std::string& dir) { return dir + "/fineweb_val_*.bin"; }

void Say(const GlobalOptions& g, const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

namespace {

std::string DataToolPath() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    auto sibling = std::filesystem::path(self).parent_path() / "golfpack-data";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  return "golfpack-data";  // resolved through PATH
}

std::vector<char*> Argv(const std::string& exe, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

}  // namespace

extern "C" char** environ;

Status RunDataTool(const std::vector<std::string>& args) {
  const std::string exe = DataToolPath();
  auto argv = Argv(exe, args);
  pid_t pid;
  if (int e = ::posix_spawnp(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ); e != 0)
    return NotFound(exe + ": cannot run: " + std::strerror(e) + " (build it with scripts/setup)");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return IoError(exe + ": waitpid failed: " + std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Internal("the data step (" + exe + ") failed; its error is above");
}

Status ExecDataTool(const std::vector<std::string>& args) {
  const std::string exe = DataToolPath();
  auto argv = Argv(exe, args);
  ::execvp(exe.c_str(), argv.data());
  return NotFound(exe + ": cannot run: " + std::strerror(errno) + " (build it with scripts/setup)");
}

}  // namespace golfpack::cli
