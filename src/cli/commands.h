// One function per subcommand. Each registers its flags on the app and returns
// the function that runs it; that returns a Status which main prints as one line.
// This header is torch-free: golfpack-data includes it too.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "core/status.h"

namespace golfpack::cli {

struct GlobalOptions {
  bool quiet = false;
  int verbose = 0;
  int threads = 0;  // 0 = all cores
};

using Runner = std::function<Status()>;

// `data` lives in the golfpack-data executable (sentencepiece must not share a
// process with libtorch); `golfpack data` and `golfpack demo` run it.
Runner AddDataCommand(CLI::App& app, GlobalOptions& g);
Runner AddTrainCommand(CLI::App& app, GlobalOptions& g);
Runner AddEvalCommand(CLI::App& app, GlobalOptions& g);
Runner AddDemoCommand(CLI::App& app, GlobalOptions& g);
Runner AddCalibrateCommand(CLI::App& app, GlobalOptions& g);
Runner AddPackCommand(CLI::App& app, GlobalOptions& g);
Runner AddUnpackCommand(CLI::App& app, GlobalOptions& g);
Runner AddInspectCommand(CLI::App& app, GlobalOptions& g);
Runner AddInfoCommand(CLI::App& app, GlobalOptions& g);

// "<dir>/fineweb_train_*.bin" etc. from a data directory.
std::string TrainPattern(const std::string& dir);
std::string ValPattern(const std::string& dir);

// Results go to stdout (progress goes to stderr).
void Say(const GlobalOptions& g, const std::string& line);

// Runs the golfpack-data executable (next to this one, else on PATH) with
// `args` and waits; a non-zero exit becomes an error Status.
Status RunDataTool(const std::vector<std::string>& args);
// Replaces this process with golfpack-data (for `golfpack data ...`).
Status ExecDataTool(const std::vector<std::string>& args);

}  // namespace golfpack::cli
