#include "plan/allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

namespace golfpack::encode {
namespace {

AllocUnit Unit(std::vector<std::pair<uint64_t, double>> pts, std::string name = "u") {
  AllocUnit u;
  u.name = std::move(name);
  int tag = 0;
  for (auto [b, d] : pts) u.points.push_back(OperatingPoint{b, d, tag++});
  return u;
}

struct Brute {
  double distortion = std::numeric_limits<double>::infinity();
  uint64_t bytes = 0;
};

// Exhaustive optimum: minimum total distortion with total bytes <= budget.
Brute BruteForce(const std::vector<AllocUnit>& units, uint64_t budget) {
  Brute best;
  std::vector<size_t> idx(units.size(), 0);
  while (true) {
    uint64_t b = 0;
    double d = 0;
    for (size_t u = 0; u < units.size(); ++u) {
      b += units[u].points[idx[u]].bytes;
      d += units[u].points[idx[u]].distortion;
    }
    if (b <= budget && d < best.distortion) best = Brute{d, b};
    size_t u = 0;
    while (u < units.size() && ++idx[u] == units[u].points.size()) idx[u++] = 0;
    if (u == units.size()) break;
  }
  return best;
}

// Checks the allocation is self-consistent and within budget.
void ExpectConsistent(const std::vector<AllocUnit>& units, uint64_t budget, const Allocation& a) {
  ASSERT_EQ(a.choice.size(), units.size());
  uint64_t b = 0;
  double d = 0;
  for (size_t u = 0; u < units.size(); ++u) {
    ASSERT_LT(a.choice[u], units[u].points.size());
    b += units[u].points[a.choice[u]].bytes;
    d += units[u].points[a.choice[u]].distortion;
  }
  EXPECT_EQ(a.bytes, b);
  EXPECT_DOUBLE_EQ(a.distortion, d);
  EXPECT_LE(a.bytes, budget);
  EXPECT_EQ(a.budget, budget);
}

double MaxHullStepDrop(const std::vector<AllocUnit>& units) {
  double m = 0;
  for (const HullStep& s : HullSteps(units)) m = std::max(m, s.distortion_drop);
  return m;
}

uint64_t SumMin(const std::vector<AllocUnit>& units) {
  uint64_t s = 0;
  for (const auto& u : units) {
    uint64_t lo = UINT64_MAX;
    for (const auto& p : u.points) lo = std::min(lo, p.bytes);
    s += lo;
  }
  return s;
}

uint64_t SumMax(const std::vector<AllocUnit>& units) {
  uint64_t s = 0;
  for (const auto& u : units) {
    uint64_t hi = 0;
    for (const auto& p : u.points) hi = std::max(hi, p.bytes);
    s += hi;
  }
  return s;
}

// Random units: arbitrary (often dominated / non-convex) points.
std::vector<AllocUnit> RandomUnits(std::mt19937_64& rng, size_t n_units, size_t max_points, uint64_t max_bytes,
                                   bool integer_distortion) {
  std::uniform_int_distribution<size_t> np(1, max_points);
  std::uniform_int_distribution<uint64_t> nb(0, max_bytes);
  std::uniform_real_distribution<double> nd(0.0, 10.0);
  std::uniform_int_distribution<int> ni(0, 6);
  std::vector<AllocUnit> units(n_units);
  for (size_t u = 0; u < n_units; ++u) {
    units[u].name = "unit" + std::to_string(u);
    const size_t n = np(rng);
    for (size_t i = 0; i < n; ++i)
      units[u].points.push_back(
          OperatingPoint{nb(rng), integer_distortion ? static_cast<double>(ni(rng)) : nd(rng), static_cast<int>(i)});
  }
  return units;
}

// Quantizer-like units: bytes grow with bits, distortion ~ 4^-bits with noise
// (mostly convex, occasionally not), fine-grained byte costs.
std::vector<AllocUnit> QuantizerUnits(std::mt19937_64& rng, size_t n_units, size_t n_points) {
  std::uniform_int_distribution<uint64_t> size(1000, 200000);
  std::uniform_real_distribution<double> noise(0.8, 1.25);
  std::uniform_real_distribution<double> imp(0.1, 10.0);
  std::vector<AllocUnit> units(n_units);
  for (size_t u = 0; u < n_units; ++u) {
    const uint64_t elems = size(rng);
    const double importance = imp(rng);
    for (size_t i = 0; i < n_points; ++i) {
      const double bits = 1.0 + static_cast<double>(i);
      const uint64_t bytes = static_cast<uint64_t>(std::ceil(elems * bits / 8.0)) + 64 + (rng() % 97);
      const double dist = importance * elems * std::pow(4.0, -bits) * noise(rng) * 1e-6;
      units[u].points.push_back(OperatingPoint{bytes, dist, static_cast<int>(i)});
    }
  }
  return units;
}

TEST(AllocatorHull, HandMadePointsDropDominatedAndNonConvex) {
  // index: 0 (0,10)  1 (10,5)  2 (20,4.5) non-convex (above chord 1-3)
  //        3 (30,1)  4 (25,6) dominated by 1  5 (10,7) same bytes as 1, worse
  //        6 (40,1) dominated by 3 (more bytes, same distortion)
  //        7 (50,0.5)
  std::vector<OperatingPoint> pts = {{0, 10}, {10, 5}, {20, 4.5}, {30, 1}, {25, 6}, {10, 7}, {40, 1}, {50, 0.5}};
  EXPECT_EQ(ParetoFrontier(pts), (std::vector<size_t>{0, 1, 2, 3, 7}));
  EXPECT_EQ(ConvexHull(pts), (std::vector<size_t>{0, 1, 3, 7}));
}

TEST(AllocatorHull, CollinearKeptDuplicatesFirstIndexUnsortedInput) {
  // (0,6) (10,4) (20,2) (30,0) are collinear; duplicate (10,4) at index 4.
  std::vector<OperatingPoint> pts = {{30, 0}, {10, 4}, {0, 6}, {20, 2}, {10, 4}};
  EXPECT_EQ(ConvexHull(pts), (std::vector<size_t>{2, 1, 3, 0}));
  // A single point, and empty input.
  EXPECT_EQ(ConvexHull({{7, 3}}), (std::vector<size_t>{0}));
  EXPECT_TRUE(ConvexHull({}).empty());
}

TEST(AllocatorHull, ZeroBytePointsAndEqualBytes) {
  std::vector<OperatingPoint> pts = {{0, 9}, {0, 8}, {5, 8}, {5, 2}, {9, 2}};
  EXPECT_EQ(ParetoFrontier(pts), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(ConvexHull(pts), (std::vector<size_t>{1, 3}));
}

TEST(AllocatorHull, RandomHullsAreConvexAndBelowEveryPoint) {
  std::mt19937_64 rng(7);
  for (int t = 0; t < 500; ++t) {
    auto units = RandomUnits(rng, 1, 12, 100, false);
    const auto& p = units[0].points;
    const auto h = ConvexHull(p);
    ASSERT_FALSE(h.empty());
    for (size_t k = 0; k + 1 < h.size(); ++k) {
      EXPECT_LT(p[h[k]].bytes, p[h[k + 1]].bytes);
      EXPECT_GT(p[h[k]].distortion, p[h[k + 1]].distortion);
    }
    // Every point lies on or above the hull's piecewise-linear curve, within
    // its byte range, and no point is strictly better than the hull's ends.
    for (const auto& q : p) {
      EXPECT_GE(q.bytes, p[h.front()].bytes);
      if (q.bytes == p[h.front()].bytes) {
        EXPECT_GE(q.distortion, p[h.front()].distortion);
      }
      EXPECT_GE(q.distortion, p[h.back()].distortion);
      for (size_t k = 0; k + 1 < h.size(); ++k) {
        const auto& a = p[h[k]];
        const auto& b = p[h[k + 1]];
        if (q.bytes < a.bytes || q.bytes > b.bytes) continue;
        const double t01 = static_cast<double>(q.bytes - a.bytes) / static_cast<double>(b.bytes - a.bytes);
        EXPECT_GE(q.distortion, a.distortion + t01 * (b.distortion - a.distortion) - 1e-9);
      }
    }
  }
}

TEST(AllocatorHull, HullStepsSlopesNonIncreasingPerUnit) {
  std::mt19937_64 rng(11);
  auto units = RandomUnits(rng, 50, 8, 1000, false);
  const auto steps = HullSteps(units);
  ASSERT_FALSE(steps.empty());
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    EXPECT_GT(s.delta_bytes, 0u);
    EXPECT_GT(s.distortion_drop, 0.0);
    EXPECT_EQ(s.delta_bytes, units[s.unit].points[s.to].bytes - units[s.unit].points[s.from].bytes);
    if (i > 0 && steps[i - 1].unit == s.unit) {
      EXPECT_EQ(steps[i - 1].to, s.from);
      EXPECT_LE(s.slope, steps[i - 1].slope);
    }
  }
}

TEST(Allocator, MatchesBruteForceOnSmallRandomInstances) {
  std::mt19937_64 rng(2024);
  int exact = 0, total = 0;
  double worst_gap = 0;
  for (int t = 0; t < 3000; ++t) {
    auto units = RandomUnits(rng, 5, 4, 60, false);
    const uint64_t lo = SumMin(units), hi = SumMax(units);
    const uint64_t budget = lo + rng() % (hi - lo + 10);
    auto r = Allocate(units, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectConsistent(units, budget, *r);
    const Brute bf = BruteForce(units, budget);
    const double tol = 1e-9 * (1.0 + std::abs(bf.distortion));
    EXPECT_GE(r->distortion, bf.distortion - tol);
    EXPECT_LE(r->distortion, bf.distortion + MaxHullStepDrop(units) + tol);
    ++total;
    if (r->distortion <= bf.distortion + tol) ++exact;
    worst_gap = std::max(worst_gap, r->distortion - bf.distortion);
  }
  std::printf("brute force: %d / %d optimal (%.2f%%), worst gap %.4f\n", exact, total, 100.0 * exact / total,
              worst_gap);
  EXPECT_GE(exact, total * 95 / 100);
}

TEST(Allocator, MatchesBruteForceWithTiesAndEqualBytes) {
  // Few distinct byte values and integer distortions: many exact ties.
  std::mt19937_64 rng(99);
  int exact = 0, total = 0;
  for (int t = 0; t < 3000; ++t) {
    auto units = RandomUnits(rng, 6, 4, 8, true);
    const uint64_t lo = SumMin(units), hi = SumMax(units);
    const uint64_t budget = lo + rng() % (hi - lo + 3);
    auto r = Allocate(units, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectConsistent(units, budget, *r);
    const Brute bf = BruteForce(units, budget);
    EXPECT_GE(r->distortion, bf.distortion - 1e-9);
    EXPECT_LE(r->distortion, bf.distortion + MaxHullStepDrop(units) + 1e-9);
    ++total;
    if (r->distortion <= bf.distortion + 1e-9) ++exact;
  }
  std::printf("brute force (ties): %d / %d optimal (%.2f%%)\n", exact, total, 100.0 * exact / total);
  EXPECT_GE(exact, total * 95 / 100);
}

TEST(Allocator, MatchesBruteForceOnQuantizerLikeInstances) {
  std::mt19937_64 rng(5);
  int exact = 0, total = 0;
  double worst_rel = 0, sum_rel = 0;
  for (int t = 0; t < 300; ++t) {
    auto units = QuantizerUnits(rng, 6, 5);
    const uint64_t lo = SumMin(units), hi = SumMax(units);
    const uint64_t budget = lo + rng() % (hi - lo + 1);
    auto r = Allocate(units, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectConsistent(units, budget, *r);
    const Brute bf = BruteForce(units, budget);
    const double tol = 1e-9 * (1.0 + bf.distortion);
    EXPECT_LE(r->distortion, bf.distortion + MaxHullStepDrop(units) + tol);
    ++total;
    if (r->distortion <= bf.distortion + tol) ++exact;
    worst_rel = std::max(worst_rel, (r->distortion - bf.distortion) / bf.distortion);
    sum_rel += (r->distortion - bf.distortion) / bf.distortion;
  }
  std::printf("brute force (quantizer-like): %d / %d optimal, mean rel gap %.2e, worst %.2e\n", exact, total,
              sum_rel / total, worst_rel);
  EXPECT_GE(exact, total * 90 / 100);
}

// Exact optimum by dynamic programming over bytes (small byte counts only).
double KnapsackOptimum(const std::vector<AllocUnit>& units, uint64_t budget) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(budget + 1, inf), next(budget + 1);
  best[0] = 0;  // best[b]: min distortion with exactly b bytes
  for (const auto& u : units) {
    std::fill(next.begin(), next.end(), inf);
    for (uint64_t b = 0; b <= budget; ++b) {
      if (best[b] == inf) continue;
      for (const auto& p : u.points)
        if (b + p.bytes <= budget) next[b + p.bytes] = std::min(next[b + p.bytes], best[b] + p.distortion);
    }
    std::swap(best, next);
  }
  return *std::min_element(best.begin(), best.end());
}

TEST(Allocator, LagrangianFillExchangeAloneStayWithinBound) {
  // Core polish off: the sweep + fill + exchange path on its own, against
  // brute force. Always within the Lagrangian bound, mostly optimal.
  AllocOptions opts;
  opts.core_units = 0;
  std::mt19937_64 rng(4242);
  int exact = 0, total = 0;
  for (int t = 0; t < 3000; ++t) {
    auto units = (t % 2) ? RandomUnits(rng, 5, 4, 60, false) : QuantizerUnits(rng, 5, 4);
    const uint64_t lo = SumMin(units), hi = SumMax(units);
    const uint64_t budget = lo + rng() % (hi - lo + 10);
    auto r = Allocate(units, budget, opts);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectConsistent(units, budget, *r);
    EXPECT_FALSE(r->core_improved);
    const Brute bf = BruteForce(units, budget);
    const double tol = 1e-9 * (1.0 + std::abs(bf.distortion));
    EXPECT_LE(r->distortion, bf.distortion + MaxHullStepDrop(units) + tol);
    // The polish never makes things worse.
    auto full = Allocate(units, budget);
    ASSERT_TRUE(full.ok());
    EXPECT_LE(full->distortion, r->distortion + tol);
    ++total;
    if (r->distortion <= bf.distortion + tol) ++exact;
  }
  std::printf("brute force (no core polish): %d / %d optimal (%.2f%%)\n", exact, total, 100.0 * exact / total);
  EXPECT_GE(exact, total * 85 / 100);
}

TEST(Allocator, MatchesKnapsackOnInstancesLargerThanTheCore) {
  // 40 units > core_units: the polish cannot cover everything. Exact optimum
  // from a DP over bytes.
  std::mt19937_64 rng(31337);
  int exact = 0, total = 0;
  double worst_rel = 0;
  for (int t = 0; t < 200; ++t) {
    auto units = RandomUnits(rng, 40, 6, 40, false);
    const uint64_t lo = SumMin(units), hi = SumMax(units);
    const uint64_t budget = lo + rng() % (hi - lo + 1);
    auto r = Allocate(units, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectConsistent(units, budget, *r);
    const double opt = KnapsackOptimum(units, budget);
    const double tol = 1e-9 * (1.0 + opt);
    EXPECT_GE(r->distortion, opt - tol);
    EXPECT_LE(r->distortion, opt + MaxHullStepDrop(units) + tol);
    ++total;
    if (r->distortion <= opt + tol) ++exact;
    worst_rel = std::max(worst_rel, (r->distortion - opt) / opt);
  }
  std::printf("knapsack (40 units): %d / %d optimal, worst rel gap %.2e\n", exact, total, worst_rel);
  EXPECT_GE(exact, total * 80 / 100);
  EXPECT_LT(worst_rel, 0.01);
}

TEST(Allocator, FillsToWithinTolerance) {
  std::mt19937_64 rng(3);
  auto units = QuantizerUnits(rng, 20000, 8);
  const uint64_t lo = SumMin(units), hi = SumMax(units);
  for (double frac : {0.05, 0.3, 0.5, 0.9, 0.999}) {
    const uint64_t budget = lo + static_cast<uint64_t>(frac * static_cast<double>(hi - lo));
    auto r = Allocate(units, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectConsistent(units, budget, *r);
    EXPECT_GE(static_cast<double>(r->bytes), (1.0 - 0.001) * static_cast<double>(budget)) << frac;
    EXPECT_FALSE(r->underfilled);
    EXPECT_LE(r->hull_bytes, r->bytes);
    EXPECT_GT(r->lambda, 0.0);
  }
}

TEST(Allocator, ParameterGolfBudgetFillsTo16MB) {
  // ~16 MB budget over ~200 tensors with realistic 2-8 bit candidates.
  std::mt19937_64 rng(16);
  auto units = QuantizerUnits(rng, 200, 7);
  const uint64_t budget = 16'000'000;
  ASSERT_LT(SumMin(units), budget);
  ASSERT_GT(SumMax(units), budget);
  auto r = Allocate(units, budget);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectConsistent(units, budget, *r);
  EXPECT_GE(r->bytes, budget - budget / 1000);
  EXPECT_FALSE(r->underfilled);
}

TEST(Allocator, NeverOverBudgetOnManyRandomInstances) {
  std::mt19937_64 rng(10000);
  for (int t = 0; t < 10000; ++t) {
    const size_t n_units = 1 + rng() % 20;
    const uint64_t max_bytes = (t % 3 == 0) ? 5 : (t % 3 == 1) ? 1000 : 1000000;
    auto units = RandomUnits(rng, n_units, 8, max_bytes, t % 2 == 0);
    const uint64_t lo = SumMin(units), hi = SumMax(units);
    const uint64_t budget = lo + rng() % (hi - lo + 2);
    auto r = Allocate(units, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_LE(r->bytes, budget);
    ExpectConsistent(units, budget, *r);
    if (HasFailure()) break;
  }
}

TEST(Allocator, InfeasibleBudgetGivesMinimumNeeded) {
  std::vector<AllocUnit> units = {Unit({{100, 1.0}, {50, 2.0}}, "a"), Unit({{30, 5.0}, {70, 1.0}}, "b")};
  auto r = Allocate(units, 79);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("80"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("79"), std::string::npos) << r.status().message();
  // Exactly the minimum is feasible: the cheapest points.
  auto ok = Allocate(units, 80);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->choice, (std::vector<size_t>{1, 0}));
  EXPECT_EQ(ok->bytes, 80u);
  EXPECT_FALSE(ok->underfilled);
}

TEST(Allocator, BudgetEqualToSumOfMaxTakesBestPoints) {
  std::mt19937_64 rng(1);
  auto units = QuantizerUnits(rng, 100, 6);
  const uint64_t hi = SumMax(units);
  auto r = Allocate(units, hi);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t u = 0; u < units.size(); ++u) {
    const auto h = ConvexHull(units[u].points);
    EXPECT_EQ(r->choice[u], ParetoFrontier(units[u].points).back());
    EXPECT_EQ(r->choice[u], h.back());
  }
  EXPECT_EQ(r->lambda, 0.0);
  // More budget than can be used: all best points, flagged underfilled.
  auto more = Allocate(units, hi * 2);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->choice, r->choice);
  EXPECT_TRUE(more->underfilled);
}

TEST(Allocator, EdgeCasesSinglePointZeroBytesEmpty) {
  // One-point unit, zero-byte points, a free upgrade at equal bytes.
  std::vector<AllocUnit> units = {Unit({{10, 3.0}}, "single"), Unit({{0, 9.0}, {0, 4.0}, {5, 1.0}}, "zero"),
                                  Unit({{0, 2.0}}, "free")};
  auto r = Allocate(units, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->choice, (std::vector<size_t>{0, 1, 0}));
  EXPECT_EQ(r->bytes, 10u);
  EXPECT_DOUBLE_EQ(r->distortion, 9.0);
  auto r2 = Allocate(units, 15);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->choice, (std::vector<size_t>{0, 2, 0}));
  EXPECT_DOUBLE_EQ(r2->distortion, 6.0);
  EXPECT_FALSE(r2->underfilled);
  // No units at all.
  auto e = Allocate({}, 0);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->choice.empty());
  EXPECT_EQ(e->bytes, 0u);
  EXPECT_FALSE(e->underfilled);
  // Budget 0 with all-zero-byte units.
  auto z = Allocate({Unit({{0, 1.0}, {0, 0.5}})}, 0);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->choice[0], 1u);
}

TEST(Allocator, FillUsesNonHullPoints) {
  // Unit a: hull 0 -> 2 (100 bytes) but budget only allows 60 extra bytes:
  // the non-hull middle point (60 bytes) must be used to fill.
  std::vector<AllocUnit> units = {Unit({{0, 10.0}, {60, 8.0}, {100, 0.0}}, "a")};
  EXPECT_EQ(ConvexHull(units[0].points), (std::vector<size_t>{0, 2}));
  auto r = Allocate(units, 60);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->choice[0], 1u);
  EXPECT_EQ(r->bytes, 60u);
  EXPECT_DOUBLE_EQ(r->lambda, 0.1);
  EXPECT_EQ(r->hull_bytes, 0u);
}

TEST(Allocator, ExchangeImprovesOverGreedy) {
  // Greedy by slope takes a's steeper small step (0.5/byte), leaving 90
  // bytes that fit nothing; swapping a back down lets b take its big step
  // (0.4/byte, but 40 total).
  std::vector<AllocUnit> units = {Unit({{0, 5.0}, {10, 0.0}}, "a"), Unit({{0, 40.0}, {100, 0.0}}, "b")};
  auto r = Allocate(units, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->choice, (std::vector<size_t>{0, 1}));
  EXPECT_DOUBLE_EQ(r->distortion, 5.0);
  EXPECT_EQ(r->hull_bytes, 10u);
  EXPECT_DOUBLE_EQ(r->lambda, 0.4);
  EXPECT_EQ(r->exchanges, 1u);
}

TEST(Allocator, TagsAndChoiceIndexOriginalPoints) {
  AllocUnit u;
  u.name = "t";
  u.points = {{50, 1.0, 42}, {10, 5.0, 7}, {30, 2.0, 13}};
  auto r = Allocate({u}, 35);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->choice[0], 2u);
  EXPECT_EQ(u.points[r->choice[0]].tag, 13);
}

TEST(Allocator, Deterministic) {
  std::mt19937_64 rng(77);
  auto units = QuantizerUnits(rng, 5000, 8);
  // Duplicate units to create exact slope ties across units.
  for (size_t i = 0; i < 1000; ++i) units.push_back(units[i]);
  const uint64_t budget = (SumMin(units) + SumMax(units)) / 2;
  auto a = Allocate(units, budget);
  auto b = Allocate(units, budget);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->choice, b->choice);
  EXPECT_EQ(a->bytes, b->bytes);
  EXPECT_EQ(a->distortion, b->distortion);
  EXPECT_EQ(a->lambda, b->lambda);
}

TEST(Allocator, HugeByteCountsDoNotWrap) {
  const uint64_t half = uint64_t{1} << 63;
  std::vector<AllocUnit> units = {Unit({{0, 10.0}, {half, 0.0}}, "a"), Unit({{0, 10.0}, {half, 1.0}}, "b"),
                                  Unit({{1, 3.0}, {UINT64_MAX, 0.0}}, "c")};
  for (size_t core : {size_t{0}, size_t{16}}) {
    AllocOptions opts;
    opts.core_units = core;
    auto r = Allocate(units, UINT64_MAX - 1, opts);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->choice, (std::vector<size_t>{1, 0, 0}));
    EXPECT_EQ(r->bytes, half + 1);
    EXPECT_DOUBLE_EQ(r->distortion, 13.0);
    EXPECT_TRUE(r->underfilled);
  }
}

TEST(Allocator, RejectsBadInput) {
  auto r = Allocate({Unit({{1, 1.0}}, "ok"), AllocUnit{"empty", {}}}, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);
  auto n = Allocate({Unit({{1, std::nan("")}}, "nan")}, 100);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("non-finite"), std::string::npos);
  AllocOptions bad;
  bad.max_underfill = -0.5;
  EXPECT_FALSE(Allocate({Unit({{1, 1.0}})}, 100, bad).ok());
  // Minimum overflowing uint64 is infeasible, not a wrap-around.
  auto o = Allocate({Unit({{UINT64_MAX, 1.0}}), Unit({{2, 1.0}})}, UINT64_MAX);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
}

TEST(Allocator, LargeInstanceIsFast) {
  std::mt19937_64 rng(100);
  auto units = QuantizerUnits(rng, 100000, 8);
  const uint64_t budget = SumMin(units) + (SumMax(units) - SumMin(units)) / 3;
  auto r = Allocate(units, budget);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->bytes, budget);
  EXPECT_FALSE(r->underfilled);
}

}  // namespace
}  // namespace golfpack::encode

namespace golfpack::encode {
namespace {

// Shared objects: the exhaustive optimum where a group's bytes are paid once
// if any chosen point needs it.
TEST(AllocatorGroups, MatchesBruteForceWithSharedObjectCosts) {
  std::mt19937 rng(11);
  int checked = 0, used_a_group = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    const size_t n_units = 1 + rng() % 4, n_groups = rng() % 3;
    std::vector<AllocGroup> groups(n_groups);
    for (auto& g : groups) g.bytes = 1 + rng() % 40;
    std::vector<AllocUnit> units(n_units);
    for (auto& u : units) {
      u.name = "u";
      const size_t n = 1 + rng() % 4;
      for (size_t k = 0; k < n; ++k) {
        OperatingPoint p{uint64_t(1 + rng() % 60), double(rng() % 1000) / 7.0, int(k)};
        if (k > 0 && n_groups && rng() % 2) p.group = int(rng() % n_groups);
        u.points.push_back(p);
      }
    }
    // Brute force over every choice, paying each used group once.
    double best = std::numeric_limits<double>::infinity();
    uint64_t min_bytes = UINT64_MAX;
    const uint64_t budget = 20 + rng() % 150;
    std::vector<size_t> idx(n_units, 0);
    while (true) {
      uint64_t b = 0;
      double d = 0;
      std::vector<bool> paid(n_groups, false);
      for (size_t u = 0; u < n_units; ++u) {
        const auto& p = units[u].points[idx[u]];
        b += p.bytes, d += p.distortion;
        if (p.group >= 0) paid[size_t(p.group)] = true;
      }
      for (size_t g = 0; g < n_groups; ++g) b += paid[g] ? groups[g].bytes : 0;
      min_bytes = std::min(min_bytes, b);
      if (b <= budget) best = std::min(best, d);
      size_t u = 0;
      while (u < n_units && ++idx[u] == units[u].points.size()) idx[u++] = 0;
      if (u == n_units) break;
    }
    auto r = AllocateGrouped(units, groups, budget);
    if (min_bytes > budget) {
      EXPECT_FALSE(r.ok()) << trial;
      continue;
    }
    ASSERT_TRUE(r.ok()) << trial << ": " << r.status().ToString();
    uint64_t b = 0;
    double d = 0;
    std::vector<bool> paid(n_groups, false);
    for (size_t u = 0; u < n_units; ++u) {
      const auto& p = units[u].points[r->alloc.choice[u]];
      b += p.bytes, d += p.distortion;
      if (p.group >= 0) paid[size_t(p.group)] = true;
    }
    uint64_t gb = 0;
    for (size_t g = 0; g < n_groups; ++g) gb += paid[g] ? groups[g].bytes : 0;
    EXPECT_EQ(r->paid, paid) << trial;
    EXPECT_EQ(r->group_bytes, gb) << trial;
    EXPECT_EQ(r->alloc.bytes, b + gb) << trial;
    EXPECT_LE(r->alloc.bytes, budget) << trial;
    EXPECT_NEAR(r->alloc.distortion, best, 1e-9) << trial;
    used_a_group += gb > 0;
    ++checked;
  }
  EXPECT_GT(checked, 1000);
  EXPECT_GT(used_a_group, 100);  // the instances do exercise shared objects
}

TEST(AllocatorGroups, ObjectCostDecidesWhetherSharingPays) {
  // Two units can each drop distortion 10 -> 0 for 5 bytes with a shared
  // codebook of 30 bytes, or 10 -> 4 for 12 bytes alone.
  std::vector<AllocUnit> units(2);
  for (auto& u : units) {
    u.name = "w";
    u.points = {OperatingPoint{1, 10, 0}, OperatingPoint{12, 4, 1}, OperatingPoint{5, 0, 2, 0}};
  }
  auto small = AllocateGrouped(units, {{"codebook", 30}}, 40);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->alloc.choice, (std::vector<size_t>{2, 2}));  // 30 + 5 + 5 = 40: sharing pays
  EXPECT_EQ(small->alloc.bytes, 40u);
  EXPECT_DOUBLE_EQ(small->alloc.distortion, 0);
  auto dear = AllocateGrouped(units, {{"codebook", 31}}, 40);
  ASSERT_TRUE(dear.ok());
  EXPECT_EQ(dear->alloc.choice, (std::vector<size_t>{1, 1}));  // 41 > 40: each alone
  EXPECT_FALSE(dear->paid[0]);
  EXPECT_FALSE(AllocateGrouped(units, std::vector<AllocGroup>(13), 40).ok());
}

}  // namespace
}  // namespace golfpack::encode
