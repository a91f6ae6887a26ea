// `golfpack info`: the version, the .gpk format version, the counted decoder
// (its source bytes and files) and the encoding registry.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "plan/pack.h"
#include "gpk/artifact.h"
#include "gpk/encodings.h"

namespace golfpack::cli {

Runner AddInfoCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("info", "version, format version, counted decoder bytes, encodings");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print JSON");
  return [json]() -> Status {
    const auto files = encode::DecoderFiles();
    if (*json) {
      nlohmann::json j;
      j["version"] = GOLFPACK_VERSION;
      j["format_version"] = gpk::kFormatVersion;
      j["format_versions_read"] = {1, gpk::kFormatVersion};
      j["decoder_code_bytes"] = encode::DecoderCodeBytes();
      j["decoder_files"] = files;
      for (const auto& e : gpk::AllEncodings())
        j["encodings"].push_back({{"id", e.id}, {"name", e.name}, {"fixed_rate", e.fixed_rate}, {"object_refs", e.refs}});
      std::printf("%s\n", j.dump(2).c_str());
      return Status::Ok();
    }
    std::printf("golfpack %s\n", GOLFPACK_VERSION);
    std::printf("format version %u (reads 1 to %u)\n", unsigned(gpk::kFormatVersion), unsigned(gpk::kFormatVersion));
    std::printf("counted decoder %llu bytes of source in %zu files (src/gpk, C++20 std only)\n",
                static_cast<unsigned long long>(encode::DecoderCodeBytes()), files.size());
    std::printf("encodings:\n");
    for (const auto& e : gpk::AllEncodings())
      std::printf("  %2u  %-15s %s%s\n", e.id, e.name, e.fixed_rate ? "fixed-rate" : "variable-rate",
                  e.refs ? ", takes a shared object" : "");
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
