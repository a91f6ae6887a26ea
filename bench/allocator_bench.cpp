// Byte-budget allocator speed and fill: Allocate() on 10k and 100k units with
// 8 quantizer-like candidates each (bytes ~ elems * bits / 8 plus header
// jitter, distortion ~ importance * elems * 4^-bits with noise, so hulls are
// mostly but not always convex). Standalone: no benchmark library. Prints one
// row per (units, budget): best-of-N wall time, fill % of the budget, the
// underfilled flag, and how much the fill / exchange passes did.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "plan/allocator.h"

namespace {

using golfpack::encode::AllocUnit;
using golfpack::encode::Allocation;
using golfpack::encode::OperatingPoint;
using Clock = std::chrono::steady_clock;

std::vector<AllocUnit> MakeUnits(size_t n_units, size_t n_points, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> size(1000, 200000);
  std::uniform_real_distribution<double> noise(0.8, 1.25);
  std::uniform_real_distribution<double> imp(0.1, 10.0);
  std::vector<AllocUnit> units(n_units);
  for (size_t u = 0; u < n_units; ++u) {
    units[u].name = "t" + std::to_string(u);
    const uint64_t elems = size(rng);
    const double importance = imp(rng);
    for (size_t i = 0; i < n_points; ++i) {
      const double bits = 1.0 + static_cast<double>(i);
      const uint64_t bytes = static_cast<uint64_t>(std::ceil(static_cast<double>(elems) * bits / 8.0)) + 64 + rng() % 97;
      const double dist = importance * static_cast<double>(elems) * std::pow(4.0, -bits) * noise(rng) * 1e-6;
      units[u].points.push_back(OperatingPoint{bytes, dist, static_cast<int>(i)});
    }
  }
  return units;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const size_t n_points = 8;
  std::printf("%8s %6s %7s %9s %9s %11s %6s %7s\n", "units", "points", "budget", "ms", "fill %", "underfilled",
              "fills", "swaps");
  for (size_t n_units : {size_t{10000}, size_t{100000}}) {
    const auto units = MakeUnits(n_units, n_points, 42 + n_units);
    uint64_t lo = 0, hi = 0;
    for (const auto& u : units) {
      uint64_t a = UINT64_MAX, b = 0;
      for (const auto& p : u.points) a = std::min(a, p.bytes), b = std::max(b, p.bytes);
      lo += a;
      hi += b;
    }
    for (double frac : {0.25, 0.5, 0.9}) {
      const uint64_t budget = lo + static_cast<uint64_t>(frac * static_cast<double>(hi - lo));
      double best = 1e30;
      Allocation a;
      for (int r = 0; r < reps; ++r) {
        const auto t0 = Clock::now();
        auto res = golfpack::encode::Allocate(units, budget);
        best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!res.ok()) return std::fprintf(stderr, "allocator_bench: %s\n", res.status().ToString().c_str()), 1;
        a = std::move(res).value();
      }
      if (a.bytes > budget) return std::fprintf(stderr, "allocator_bench: over budget\n"), 1;
      std::printf("%8zu %6zu %6.0f%% %9.1f %9.4f %11s %6zu %7zu\n", n_units, n_points, 100.0 * frac, best,
                  100.0 * static_cast<double>(a.bytes) / static_cast<double>(budget), a.underfilled ? "yes" : "no",
                  a.fill_moves, a.exchanges);
    }
  }
  return 0;
}
