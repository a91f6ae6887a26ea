// Draws library Progress reports on stderr: an in-place bar with rate and ETA
// on a terminal, a plain line every few seconds otherwise (logs, CI).
#pragma once

#include <chrono>
#include <string>

#include "core/progress.h"

namespace golfpack::cli {

class ProgressBar {
 public:
  explicit ProgressBar(bool quiet = false);
  ~ProgressBar();
  void Update(const Progress& p);
  void Finish();  // ends the current line
  ProgressFn Callback() {
    return [this](const Progress& p) { Update(p); };
  }

 private:
  bool quiet_, tty_;
  std::string stage_;
  bool open_line_ = false;
  std::chrono::steady_clock::time_point stage_start_, last_draw_;
};

// "1.2k", "3.4M"
std::string HumanCount(double v);
// "1m05s", "2h03m"
std::string HumanDuration(double seconds);

}  // namespace golfpack::cli
