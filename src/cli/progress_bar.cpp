#include "cli/progress_bar.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace golfpack::cli {

std::string HumanCount(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string HumanDuration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = std::lround(s);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

ProgressBar::ProgressBar(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Finish() {
  if (open_line_) std::fputc('\n', stderr);
  open_line_ = false;
}

void ProgressBar::Update(const Progress& p) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (p.stage != stage_) {
    Finish();
    stage_ = p.stage;
    stage_start_ = now;
    last_draw_ = {};
  }
  const bool done = p.total > 0 && p.done >= p.total;
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (!done && since_draw < (tty_ ? 0.1 : 5.0)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - stage_start_).count();
  std::string line = p.stage;
  if (p.total > 0) {
    const double frac = std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total));
    const int width = 24, fill = static_cast<int>(frac * width);
    line += " [" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%%", frac * 100);
    line += pct;
    line += " " + HumanCount(static_cast<double>(p.done)) + "/" + HumanCount(static_cast<double>(p.total)) + " " + p.unit;
    const double eta = p.done > 0 ? elapsed * (static_cast<double>(p.total) / p.done - 1.0) : NAN;
    line += "  " + HumanDuration(elapsed) + " elapsed, ETA " + (done ? "0m00s" : HumanDuration(eta));
  } else {
    // append() rather than a chain of operator+: GCC 12 -O3 raises a false
    // -Wstringop-overflow on the chain.
    line.append(" ").append(HumanCount(static_cast<double>(p.done))).append(" ").append(p.unit);
    line.append("  ").append(HumanDuration(elapsed));
  }
  if (!p.detail.empty()) line += "  " + p.detail;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    open_line_ = true;
    if (done) Finish();
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace golfpack::cli
