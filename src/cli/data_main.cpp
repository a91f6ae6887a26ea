// golfpack-data: the sentencepiece half of the CLI (tokenizer training and
// corpus encoding). It is a separate executable because sentencepiece and
// libtorch cannot share a process (src/data/CMakeLists.txt says why);
// `golfpack data ...` runs it with the same arguments.
#include <cstdio>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace golfpack::cli;
  CLI::App app{"golfpack-data: corpus -> sentencepiece tokenizer -> Parameter Golf shards (run as `golfpack data`)"};
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_flag("-q,--quiet", g.quiet, "no progress output");
  app.add_flag("-v,--verbose", g.verbose, "more detail on stderr");
  Runner run = AddDataCommand(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  golfpack::Status s = run();
  if (!s.ok()) {
    std::fprintf(stderr, "golfpack data: error: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
