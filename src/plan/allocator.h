// Byte-budget allocation: pick one encoding ("operating point") per unit
// (tensor or row group) so the total bytes never exceed a hard budget and the
// summed predicted distortion is as small as the search can make it.
//
// Classic rate-distortion allocation (Shoham & Gersho 1988, "Efficient bit
// allocation for an arbitrary set of quantizers"):
//  1. per unit, drop dominated points (the Pareto frontier: bytes ascending,
//     distortion strictly descending) and take its lower convex hull;
//  2. Lagrangian sweep: all hull steps of all units, in slope order
//     (distortion drop per byte, steepest first), taken while they fit (found
//     by a weighted quickselect, expected O(P), rather than a full sort). This is exact for the budgets it lands on and reaches the largest
//     total <= budget along that path; the slope of the first step that did not
//     fit is the final Lagrange multiplier;
//  3. fill: repeatedly take the best remaining move by distortion drop per
//     byte among ALL frontier points (any unit to any costlier point, hull or
//     not) that still fits, until no move fits;
//  4. exchange: bounded rounds of "one unit down, another unit up" swaps that
//     fit and lower distortion, each followed by another fill;
//  5. core polish: the few units nearest the margin (hull slopes closest to
//     lambda) are re-solved jointly and exactly with all others fixed, by a
//     bounded Pareto-front merge (a small knapsack); then 3-4 again.
// Dominated points (another point of the unit costs no more bytes and has no
// more distortion) are never chosen. Everything is deterministic: ties break
// by unit index, then point order.
//
// Quality: never over budget. Distortion is at most the optimum plus the
// largest single hull-step drop (the Lagrangian bound; steps 3-4 only lower
// it); with at most AllocOptions::core_units units (and fronts within the
// state cap) it is exactly optimal. Runs in O(P log P) for P points in total
// plus a bounded polish.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::encode {

struct OperatingPoint {
  uint64_t bytes = 0;       // exact encoded size of this choice
  double distortion = 0;    // predicted loss increase; must be finite
  int tag = 0;              // caller's candidate id, untouched
  int group = -1;           // shared object it needs (index into AllocGroup list), -1 none
};

struct AllocUnit {
  std::string name;                    // for error messages and reports
  std::vector<OperatingPoint> points;  // >= 1
};

struct AllocOptions {
  // Allowed unused fraction of the budget; more slack sets Allocation::underfilled.
  double max_underfill = 0.001;
  // Bound on the exchange (one down, one up) polish: it considers the
  // exchange_units units nearest the margin, and runs at most
  // max_exchange_rounds rounds and at most exchange_work_limit / (their
  // frontier points) rounds (>= 1), so it costs a bounded number of sorts.
  size_t exchange_units = 8192;
  int max_exchange_rounds = 32;
  uint64_t exchange_work_limit = 2'000'000;
  // Exact core polish: the core_units units nearest the margin are re-solved
  // jointly (Pareto-front merge), at most core_state_cap partial sums kept per
  // merge. 0 disables it.
  size_t core_units = 16;
  size_t core_state_cap = 4096;
};

struct Allocation {
  std::vector<size_t> choice;  // choice[i] indexes units[i].points
  uint64_t bytes = 0;          // sum of chosen bytes, <= budget
  double distortion = 0;       // sum of chosen distortions (summed in unit order)
  // Slope (distortion drop per byte) of the first hull step the Lagrangian
  // sweep could not afford: every steeper hull step was taken. 0 when every
  // hull step fit (the budget does not bind).
  double lambda = 0;
  uint64_t budget = 0;
  // True when budget - bytes > max_underfill * budget: the candidates (as
  // searched) could not fill to within tolerance, e.g. every unit is already
  // at its costliest point, or no remaining move is small enough.
  bool underfilled = false;
  // Diagnostics.
  uint64_t hull_bytes = 0;     // total after the Lagrangian sweep (step 2)
  size_t fill_moves = 0;       // moves taken by fill passes (step 3)
  size_t exchanges = 0;        // improving swaps applied (step 4)
  bool core_improved = false;  // the exact core polish (step 5) lowered distortion
};

// One step along a unit's lower convex hull, for the byte-ROI report.
struct HullStep {
  size_t unit = 0;               // index into units
  size_t from = 0, to = 0;       // indices into units[unit].points
  uint64_t delta_bytes = 0;      // > 0
  double distortion_drop = 0;    // points[from].distortion - points[to].distortion, > 0
  double slope = 0;              // distortion_drop / delta_bytes; non-increasing along a unit
};

// Undominated points of one unit, bytes ascending, distortion strictly
// descending: indices into points. Among equal (bytes, distortion) the first
// index wins. Empty for empty input.
std::vector<size_t> ParetoFrontier(const std::vector<OperatingPoint>& points);

// Lower convex hull of one unit (a subset of ParetoFrontier, same order):
// points strictly above the hull are removed; points exactly on a hull edge
// are kept (they are useful intermediate steps).
std::vector<size_t> ConvexHull(const std::vector<OperatingPoint>& points);

// Every hull step of every unit, grouped by unit (ascending), in hull order.
// Slopes are clamped to be non-increasing within a unit.
std::vector<HullStep> HullSteps(const std::vector<AllocUnit>& units);

// InvalidArgument when a unit has no points, a distortion is not finite, the
// options are out of range, or even the cheapest point of every unit exceeds
// the budget (the message gives the minimum bytes needed).
Result<Allocation> Allocate(const std::vector<AllocUnit>& units, uint64_t budget, const AllocOptions& options = {});

// A shared object (codebook, basis, entropy model) several units' points can
// use: its bytes are paid once, when at least one chosen point needs it.
struct AllocGroup {
  std::string name;
  uint64_t bytes = 0;
};

struct GroupedAllocation {
  Allocation alloc;          // choice indexes the original points; bytes include the groups paid
  std::vector<bool> paid;    // paid[g]: some chosen point uses group g
  uint64_t group_bytes = 0;  // sum of the paid groups' bytes
};

inline constexpr size_t kMaxAllocGroups = 12;

// Allocate with shared objects priced as fixed costs: every subset of groups
// is tried (at most kMaxAllocGroups groups, else InvalidArgument), each with
// the points that need an unpaid group removed and the budget reduced by the
// paid groups' bytes; the subset with the least distortion wins (fewer bytes
// on ties). Exact whenever Allocate is (few units); never over budget.
// With no groups it is Allocate. A point's group must be -1 or < groups.size().
Result<GroupedAllocation> AllocateGrouped(const std::vector<AllocUnit>& units, const std::vector<AllocGroup>& groups,
                                          uint64_t budget, const AllocOptions& options = {});

}  // namespace golfpack::encode
