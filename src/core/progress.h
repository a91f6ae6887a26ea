// Long-running library work reports progress through this callback; the CLI
// draws the bar. Libraries never print.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace golfpack {

struct Progress {
  std::string stage;     // "tokenizer", "shards", "train", "eval", ...
  uint64_t done = 0;     // units finished
  uint64_t total = 0;    // 0 when unknown
  std::string unit;      // "docs", "steps", "tokens", ...
  std::string detail;    // free text, e.g. "loss 3.21  12.3k tok/s"
};

using ProgressFn = std::function<void(const Progress&)>;

}  // namespace golfpack
