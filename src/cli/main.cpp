// golfpack: turn a small trained language model into the smallest artifact
// that still predicts text well, and measure it honestly.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"
#include "train/threads.h"

int main(int argc, char** argv) {
  using namespace golfpack::cli;
  CLI::App app{"golfpack: Parameter Golf data, training, evaluation and model compression"};
  app.set_version_flag("--version", "golfpack " GOLFPACK_VERSION);
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_flag("-q,--quiet", g.quiet, "no progress output")->configurable(false);
  app.add_flag("-v,--verbose", g.verbose, "more detail on stderr");
  app.add_option("--threads", g.threads, "CPU threads for libtorch (default: all cores)")->check(CLI::NonNegativeNumber);

  std::vector<std::pair<CLI::App*, Runner>> commands;
  auto add = [&](Runner (*f)(CLI::App&, GlobalOptions&)) {
    Runner r = f(app, g);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(r));
  };
  // `data` runs in the golfpack-data executable: forward everything after it.
  auto* data = app.add_subcommand("data", "corpus -> sentencepiece tokenizer (PG settings) -> Parameter Golf token shards");
  data->prefix_command();
  data->set_help_flag();  // --help goes to golfpack-data
  add(AddTrainCommand);
  add(AddEvalCommand);
  add(AddCalibrateCommand);
  add(AddPackCommand);
  add(AddUnpackCommand);
  add(AddInspectCommand);
  add(AddDemoCommand);
  add(AddInfoCommand);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (data->parsed()) {
    std::vector<std::string> args;
    if (g.quiet) args.push_back("-q");
    args.push_back("data");
    for (const auto& a : data->remaining()) args.push_back(a);
    golfpack::Status s = ExecDataTool(args);  // returns only on failure
    std::fprintf(stderr, "golfpack data: error: %s\n", s.ToString().c_str());
    return 1;
  }
  // libtorch's default can be 1 thread (seen on Debian's build), and its GEMMs
  // run in OpenBLAS's own pool, which torch::set_num_threads does not size:
  // set both to --threads (default: every available core).
  const golfpack::train::CpuThreads threads = golfpack::train::SetCpuThreads(g.threads);
  if (g.verbose)
    std::fprintf(stderr, "threads: libtorch %d, OpenBLAS %s; sgemm from %s%s%s\n", threads.torch_threads,
                 threads.blas_threads < 0 ? "not loaded" : std::to_string(threads.blas_threads).c_str(),
                 threads.gemm_library.empty() ? "?" : threads.gemm_library.c_str(),
                 threads.blas_config.empty() ? "" : " - ", threads.blas_config.c_str());
  for (auto& [cmd, run] : commands) {
    if (!cmd->parsed()) continue;
    golfpack::Status s;
    try {
      s = run();
    } catch (const std::exception& e) {  // libtorch reports shape/alloc failures as exceptions
      s = golfpack::Internal(std::string("unexpected exception: ") + e.what());
    }
    if (!s.ok()) {
      std::fprintf(stderr, "golfpack %s: error: %s\n", cmd->get_name().c_str(), s.ToString().c_str());
      return 1;
    }
    return 0;
  }
  return 2;
}
