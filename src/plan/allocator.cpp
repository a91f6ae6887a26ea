#include "plan/allocator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <queue>
#include <string>
#include <utility>

namespace golfpack::encode {
namespace {

// Sorts `order` (indices into points) by (bytes, distortion, index) and
// appends the undominated ones to `out`.
void FrontierInto(const std::vector<OperatingPoint>& points, std::vector<size_t>& order, std::vector<size_t>& out) {
  order.resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const OperatingPoint& pa = points[a];
    const OperatingPoint& pb = points[b];
    if (pa.bytes != pb.bytes) return pa.bytes < pb.bytes;
    if (pa.distortion != pb.distortion) return pa.distortion < pb.distortion;
    return a < b;
  });
  bool any = false;
  double last = 0;
  for (size_t i : order) {
    if (!any || points[i].distortion < last) {
      out.push_back(i);
      last = points[i].distortion;
      any = true;
    }
  }
}

// Keeps B between A and C when B is on or below the chord A-C, i.e. the drop
// per byte A->B is at least the drop per byte B->C.
inline bool KeepMiddle(uint64_t ba, double da, uint64_t bb, double db, uint64_t bc, double dc) {
  return (da - db) * static_cast<double>(bc - bb) >= (db - dc) * static_cast<double>(bb - ba);
}

// Lower convex hull of a frontier given as (bytes, distortion) arrays of
// length n; appends local positions [0, n) to `hull`.
void HullInto(const uint64_t* b, const double* d, size_t n, std::vector<uint32_t>& hull) {
  const size_t base = hull.size();
  for (size_t p = 0; p < n; ++p) {
    while (hull.size() >= base + 2) {
      const uint32_t a = hull[hull.size() - 2], m = hull.back();
      if (KeepMiddle(b[a], d[a], b[m], d[m], b[p], d[p])) break;
      hull.pop_back();
    }
    hull.push_back(static_cast<uint32_t>(p));
  }
}

// All units' frontiers, flattened. Unit u owns frontier positions
// [off[u], off[u+1]) and hull vertices hpos[hoff[u] .. hoff[u+1]) (local
// frontier positions, ascending).
struct Frontiers {
  std::vector<size_t> off, hoff;
  std::vector<uint64_t> b;
  std::vector<double> d;
  std::vector<size_t> idx;  // original point index
  std::vector<uint32_t> hpos;
};

Frontiers BuildFrontiers(const std::vector<AllocUnit>& units) {
  Frontiers f;
  size_t total = 0;
  for (const AllocUnit& u : units) total += u.points.size();
  f.off.reserve(units.size() + 1);
  f.hoff.reserve(units.size() + 1);
  f.idx.reserve(total);
  f.b.reserve(total);
  f.d.reserve(total);
  f.hpos.reserve(total);
  std::vector<size_t> order;
  f.off.push_back(0);
  f.hoff.push_back(0);
  for (const AllocUnit& u : units) {
    const size_t start = f.idx.size();
    FrontierInto(u.points, order, f.idx);
    for (size_t k = start; k < f.idx.size(); ++k) {
      f.b.push_back(u.points[f.idx[k]].bytes);
      f.d.push_back(u.points[f.idx[k]].distortion);
    }
    HullInto(f.b.data() + start, f.d.data() + start, f.idx.size() - start, f.hpos);
    f.off.push_back(f.idx.size());
    f.hoff.push_back(f.hpos.size());
  }
  return f;
}

// Search state: cur[u] is a local frontier position; R the unused budget.
struct State {
  std::vector<uint32_t> cur;
  uint64_t remaining = 0;
};

struct Move {
  double ratio;  // distortion drop per byte
  uint64_t db;
  uint32_t unit;
  uint32_t to;
};

// Lower priority first: smaller ratio, then larger unit index.
struct MoveLess {
  bool operator()(const Move& a, const Move& b) const {
    if (a.ratio != b.ratio) return a.ratio < b.ratio;
    return a.unit > b.unit;
  }
};

// Best move of unit u by drop per byte that fits in `remaining`; ties prefer
// the larger move. False when nothing fits.
bool BestMove(const Frontiers& f, const State& s, uint32_t u, Move* out) {
  const size_t o = f.off[u], n = f.off[u + 1] - o;
  const size_t c = s.cur[u];
  const uint64_t bc = f.b[o + c];
  const double dc = f.d[o + c];
  bool found = false;
  for (size_t j = c + 1; j < n; ++j) {
    const uint64_t db = f.b[o + j] - bc;
    if (db > s.remaining) break;  // bytes ascend along the frontier
    const double ratio = (dc - f.d[o + j]) / static_cast<double>(db);
    if (!found || ratio >= out->ratio) {
      *out = Move{ratio, db, u, static_cast<uint32_t>(j)};
      found = true;
    }
  }
  return found;
}

// Greedy fill: repeatedly the best fitting move of any unit, by drop per
// byte, until none fits. Lazy max-heap with one entry per unit: keys only go
// down as the remaining budget shrinks, so a popped entry that still fits is
// the true best. Returns the number of moves taken.
size_t Fill(const Frontiers& f, State& s) {
  std::vector<Move> heap;
  heap.reserve(s.cur.size());
  Move m;
  for (uint32_t u = 0; u < s.cur.size(); ++u)
    if (BestMove(f, s, u, &m)) heap.push_back(m);
  std::priority_queue<Move, std::vector<Move>, MoveLess> pq(MoveLess{}, std::move(heap));
  size_t moves = 0;
  while (!pq.empty()) {
    const Move top = pq.top();
    pq.pop();
    if (top.db <= s.remaining) {
      s.cur[top.unit] = top.to;
      s.remaining -= top.db;
      ++moves;
    }
    if (BestMove(f, s, top.unit, &m)) pq.push(m);
  }
  return moves;
}

// The (up to) k units with more than one frontier point whose current
// position is closest to the multiplier: min |log slope - log lambda| over the
// frontier steps just below and just above the current point. Sorted by
// (distance, unit).
std::vector<std::pair<double, uint32_t>> NearMargin(const Frontiers& f, const State& s, double lambda, size_t k) {
  const uint32_t n_units = static_cast<uint32_t>(s.cur.size());
  const double log_lambda = std::log(lambda);
  const auto distance = [&](size_t p, size_t q) {  // frontier positions p < q
    const double v = std::abs(std::log((f.d[p] - f.d[q]) / static_cast<double>(f.b[q] - f.b[p])) - log_lambda);
    return std::isnan(v) ? std::numeric_limits<double>::infinity() : v;
  };
  std::vector<std::pair<double, uint32_t>> rank;
  for (uint32_t u = 0; u < n_units; ++u) {
    const size_t o = f.off[u], n = f.off[u + 1] - o, c = s.cur[u];
    if (n < 2) continue;
    double dist = std::numeric_limits<double>::infinity();
    if (c + 1 < n) dist = distance(o + c, o + c + 1);
    if (c > 0) dist = std::min(dist, distance(o + c - 1, o + c));
    rank.emplace_back(dist, u);
  }
  k = std::min(k, rank.size());
  std::partial_sort(rank.begin(), rank.begin() + static_cast<std::ptrdiff_t>(k), rank.end());
  rank.resize(k);
  return rank;
}

// One exchange round over the candidate units `cand`: the single best "unit u
// down to a cheaper frontier point, unit v != u up to a costlier one" swap
// that fits and lowers the total distortion. Applies it and returns true, or
// returns false. O(C log C) for C frontier points of the candidates.
bool ExchangeRound(const Frontiers& f, State& s, const std::vector<uint32_t>& cand) {
  uint64_t max_freed = 0;
  for (uint32_t u : cand) max_freed = std::max(max_freed, f.b[f.off[u] + s.cur[u]] - f.b[f.off[u]]);
  if (max_freed == 0) return false;
  const uint64_t cap_all = s.remaining + max_freed;  // <= budget: no overflow

  struct Up {
    uint64_t db;
    double gain;
    uint32_t unit, to;
  };
  std::vector<Up> ups;
  for (uint32_t v : cand) {
    const size_t o = f.off[v], n = f.off[v + 1] - o, c = s.cur[v];
    for (size_t j = c + 1; j < n; ++j) {
      const uint64_t db = f.b[o + j] - f.b[o + c];
      if (db > cap_all) break;
      ups.push_back(Up{db, f.d[o + c] - f.d[o + j], v, static_cast<uint32_t>(j)});
    }
  }
  if (ups.empty()) return false;
  std::sort(ups.begin(), ups.end(), [](const Up& a, const Up& b) {
    if (a.db != b.db) return a.db < b.db;
    if (a.unit != b.unit) return a.unit < b.unit;
    return a.to < b.to;
  });
  // Prefix maxima of gain: the best and the best from a different unit.
  struct Best {
    int64_t i1 = -1, i2 = -1;
  };
  std::vector<Best> pre(ups.size());
  Best cur;
  for (size_t i = 0; i < ups.size(); ++i) {
    const Up& e = ups[i];
    if (cur.i1 >= 0 && e.unit == ups[cur.i1].unit) {
      if (e.gain > ups[cur.i1].gain) cur.i1 = static_cast<int64_t>(i);
    } else if (cur.i1 < 0 || e.gain > ups[cur.i1].gain) {
      cur.i2 = cur.i1;
      cur.i1 = static_cast<int64_t>(i);
    } else if (cur.i2 < 0 || e.gain > ups[cur.i2].gain) {
      cur.i2 = static_cast<int64_t>(i);
    }
    pre[i] = cur;
  }
  const double max_gain = ups[pre.back().i1].gain;

  double best_impr = 0;
  uint32_t best_u = 0, best_j = 0;
  int64_t best_up = -1;
  for (uint32_t u : cand) {
    const size_t o = f.off[u], c = s.cur[u];
    for (size_t j = c; j-- > 0;) {
      const double loss = f.d[o + j] - f.d[o + c];
      if (loss >= max_gain) break;  // loss grows as u goes further down
      const uint64_t cap = s.remaining + (f.b[o + c] - f.b[o + j]);
      const auto it = std::upper_bound(ups.begin(), ups.end(), cap, [](uint64_t x, const Up& e) { return x < e.db; });
      if (it == ups.begin()) continue;
      const Best& bb = pre[static_cast<size_t>(it - ups.begin()) - 1];
      const int64_t k = ups[bb.i1].unit != u ? bb.i1 : bb.i2;
      if (k < 0) continue;
      const double gain = ups[k].gain;
      const double impr = gain - loss;
      // Demand a real improvement, not float noise, so rounds cannot cycle.
      if (impr > best_impr && impr > 1e-12 * (gain + loss)) {
        best_impr = impr;
        best_u = u;
        best_j = static_cast<uint32_t>(j);
        best_up = k;
      }
    }
  }
  if (best_up < 0) return false;
  const Up& up = ups[best_up];
  const size_t ou = f.off[best_u];
  const uint64_t freed = f.b[ou + s.cur[best_u]] - f.b[ou + best_j];
  s.cur[best_u] = best_j;
  s.cur[up.unit] = up.to;
  s.remaining = s.remaining + freed - up.db;
  return true;
}


// Exact polish over a small "core": the `max_units` units whose current
// position is closest (in log slope) to the multiplier lambda, i.e. the ones
// the Lagrangian solution is least sure about. Their joint choice is solved
// exactly, with every other unit fixed, by merging Pareto fronts of (bytes,
// distortion) one unit at a time (dominated partial sums dropped, sums that
// cannot fit dropped). A merge that would exceed `state_cap` states keeps that
// unit at its current point instead, so cost is bounded by
// max_units * state_cap * points. Applies the result when it lowers the core's
// distortion. Returns true when it changed anything.
bool CorePolish(const Frontiers& f, State& s, double lambda, size_t max_units, size_t state_cap) {
  if (max_units == 0 || state_cap == 0 || !(lambda > 0)) return false;
  std::vector<std::pair<double, uint32_t>> rank = NearMargin(f, s, lambda, max_units);
  if (rank.empty()) return false;

  // Core budget: the budget minus every non-core unit's bytes.
  uint64_t core_bytes = 0, suffix_min = 0;
  double core_dist = 0;
  for (const auto& [dist, u] : rank) {
    core_bytes += f.b[f.off[u] + s.cur[u]];
    core_dist += f.d[f.off[u] + s.cur[u]];
    suffix_min += f.b[f.off[u]];
  }
  const uint64_t cap_bytes = core_bytes + s.remaining;

  struct Node {
    uint64_t bytes;
    double dist;
    uint32_t parent, point;
  };
  std::vector<std::vector<Node>> stages;
  std::vector<Node> front = {Node{0, 0.0, 0, 0}}, next;
  for (const auto& [dist, u] : rank) {
    const size_t o = f.off[u], n = f.off[u + 1] - o;
    suffix_min -= f.b[o];  // min bytes of the core units after this one
    const uint64_t limit = cap_bytes - suffix_min;
    auto merge = [&](size_t j0, size_t j1) {
      next.clear();
      for (uint32_t i = 0; i < front.size(); ++i)
        for (size_t j = j0; j < j1; ++j) {
          if (f.b[o + j] > limit - front[i].bytes) break;  // bytes ascend; front bytes <= limit
          next.push_back(Node{front[i].bytes + f.b[o + j], front[i].dist + f.d[o + j], i, static_cast<uint32_t>(j)});
        }
      std::sort(next.begin(), next.end(), [](const Node& x, const Node& y) {
        if (x.bytes != y.bytes) return x.bytes < y.bytes;
        if (x.dist != y.dist) return x.dist < y.dist;
        if (x.parent != y.parent) return x.parent < y.parent;
        return x.point < y.point;
      });
      size_t m = 0;
      for (const Node& x : next)
        if (m == 0 || x.dist < next[m - 1].dist) next[m++] = x;
      next.resize(m);
    };
    if (front.size() * n > state_cap * 4) {
      merge(s.cur[u], s.cur[u] + 1);
    } else {
      merge(0, n);
      if (next.size() > state_cap) merge(s.cur[u], s.cur[u] + 1);
    }
    if (next.empty()) return false;  // cannot happen: the current choice fits
    stages.push_back(front);
    std::swap(front, next);
  }
  // front is sorted by bytes with strictly falling distortion: the last is best.
  const Node& best = front.back();
  if (!(best.dist < core_dist - 1e-12 * (std::abs(core_dist) + 1.0))) return false;
  uint32_t at = static_cast<uint32_t>(front.size() - 1);
  const Node* node = &front[at];
  for (size_t st = rank.size(); st-- > 0;) {
    s.cur[rank[st].second] = node->point;
    node = &stages[st][node->parent];
  }
  s.remaining = cap_bytes - best.bytes;
  return true;
}

}  // namespace

std::vector<size_t> ParetoFrontier(const std::vector<OperatingPoint>& points) {
  std::vector<size_t> order, out;
  FrontierInto(points, order, out);
  return out;
}

std::vector<size_t> ConvexHull(const std::vector<OperatingPoint>& points) {
  const std::vector<size_t> front = ParetoFrontier(points);
  std::vector<uint64_t> b(front.size());
  std::vector<double> d(front.size());
  for (size_t k = 0; k < front.size(); ++k) {
    b[k] = points[front[k]].bytes;
    d[k] = points[front[k]].distortion;
  }
  std::vector<uint32_t> hull;
  HullInto(b.data(), d.data(), front.size(), hull);
  std::vector<size_t> out(hull.size());
  for (size_t k = 0; k < hull.size(); ++k) out[k] = front[hull[k]];
  return out;
}

std::vector<HullStep> HullSteps(const std::vector<AllocUnit>& units) {
  std::vector<HullStep> steps;
  for (size_t u = 0; u < units.size(); ++u) {
    const std::vector<OperatingPoint>& p = units[u].points;
    const std::vector<size_t> h = ConvexHull(p);
    double prev = std::numeric_limits<double>::infinity();
    for (size_t k = 0; k + 1 < h.size(); ++k) {
      HullStep s;
      s.unit = u;
      s.from = h[k];
      s.to = h[k + 1];
      s.delta_bytes = p[s.to].bytes - p[s.from].bytes;
      s.distortion_drop = p[s.from].distortion - p[s.to].distortion;
      s.slope = std::min(prev, s.distortion_drop / static_cast<double>(s.delta_bytes));
      prev = s.slope;
      steps.push_back(s);
    }
  }
  return steps;
}

Result<Allocation> Allocate(const std::vector<AllocUnit>& units, uint64_t budget, const AllocOptions& options) {
  if (!(options.max_underfill >= 0.0 && options.max_underfill <= 1.0))
    return InvalidArgument("allocator: max_underfill must be in [0, 1], got " + std::to_string(options.max_underfill));
  if (units.size() >= std::numeric_limits<uint32_t>::max())
    return InvalidArgument("allocator: too many units (" + std::to_string(units.size()) + ")");
  uint64_t min_bytes = 0;
  bool min_overflow = false;
  for (size_t u = 0; u < units.size(); ++u) {
    const AllocUnit& unit = units[u];
    const std::string label = "allocator: unit " + std::to_string(u) + " '" + unit.name + "'";
    if (unit.points.empty()) return InvalidArgument(label + " has no operating points");
    if (unit.points.size() >= std::numeric_limits<uint32_t>::max())
      return InvalidArgument(label + " has too many operating points");
    uint64_t lo = std::numeric_limits<uint64_t>::max();
    for (size_t i = 0; i < unit.points.size(); ++i) {
      if (!std::isfinite(unit.points[i].distortion))
        return InvalidArgument(label + " point " + std::to_string(i) + " has a non-finite distortion");
      lo = std::min(lo, unit.points[i].bytes);
    }
    if (min_bytes > std::numeric_limits<uint64_t>::max() - lo) min_overflow = true;
    min_bytes += lo;
  }
  if (min_overflow || min_bytes > budget)
    return InvalidArgument("allocator: budget " + std::to_string(budget) +
                           " bytes is below the minimum needed: the cheapest point of every unit totals " +
                           (min_overflow ? std::string("more than 2^64") : std::to_string(min_bytes)) + " bytes");

  const Frontiers f = BuildFrontiers(units);
  const uint32_t n_units = static_cast<uint32_t>(units.size());
  State s;
  s.cur.assign(n_units, 0);
  s.remaining = budget - min_bytes;

  Allocation a;
  a.budget = budget;

  // 2. Lagrangian sweep over all hull steps, steepest first. hstep[u] is the
  // current hull vertex of unit u; within a unit slopes are clamped
  // non-increasing so the sort keeps each unit's steps in order.
  struct Seg {
    double slope;
    uint32_t unit, step;
  };
  std::vector<Seg> segs;
  segs.reserve(f.hpos.size());
  for (uint32_t u = 0; u < n_units; ++u) {
    const size_t o = f.off[u], h0 = f.hoff[u], h1 = f.hoff[u + 1];
    double prev = std::numeric_limits<double>::infinity();
    for (size_t k = h0; k + 1 < h1; ++k) {
      const size_t p = o + f.hpos[k], q = o + f.hpos[k + 1];
      const double slope = std::min(prev, (f.d[p] - f.d[q]) / static_cast<double>(f.b[q] - f.b[p]));
      prev = slope;
      segs.push_back(Seg{slope, u, static_cast<uint32_t>(k - h0)});
    }
  }
  // Taking steps in sorted order until the first that does not fit only
  // needs the boundary, not the full order: a weighted quickselect finds it in
  // expected O(M) (nth_element halves, byte sums decide the side). The order
  // (slope desc, unit, step) is total, so the boundary is unique.
  const auto before = [](const Seg& x, const Seg& y) {
    if (x.slope != y.slope) return x.slope > y.slope;
    if (x.unit != y.unit) return x.unit < y.unit;
    return x.step < y.step;
  };
  const auto seg_bytes = [&](const Seg& g) {
    const size_t o = f.off[g.unit], h = f.hoff[g.unit] + g.step;
    return f.b[o + f.hpos[h + 1]] - f.b[o + f.hpos[h]];
  };
  // Invariant: segs[0, lo) are taken (they precede all of segs[lo, end)),
  // s.remaining is what is left, and the boundary lies in [lo, hi) unless
  // hi == size (everything may fit).
  size_t lo = 0, hi = segs.size(), boundary = segs.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(segs.begin() + static_cast<std::ptrdiff_t>(lo), segs.begin() + static_cast<std::ptrdiff_t>(mid),
                     segs.begin() + static_cast<std::ptrdiff_t>(hi), before);
    uint64_t sum = 0;
    bool over = false;
    for (size_t i = lo; i < mid && !over; ++i) {
      const uint64_t db = seg_bytes(segs[i]);
      over = db > s.remaining - sum;  // sum <= remaining here: no overflow
      sum += over ? 0 : db;
    }
    if (over) {
      hi = mid;
      continue;
    }
    s.remaining -= sum;
    const uint64_t db = seg_bytes(segs[mid]);
    if (db > s.remaining) {
      boundary = mid;
      break;
    }
    s.remaining -= db;
    lo = mid + 1;
  }
  // The taken set is a prefix of each unit's steps (slopes are non-increasing
  // within a unit and ties break by step), so its count per unit is the step.
  for (size_t i = 0; i < boundary; ++i) {
    const Seg& g = segs[i];
    s.cur[g.unit] = std::max(s.cur[g.unit], f.hpos[f.hoff[g.unit] + g.step + 1]);
  }
  if (boundary < segs.size()) a.lambda = segs[boundary].slope;
  a.hull_bytes = budget - s.remaining;

  // 3. Fill with any frontier move; 4. bounded exchange rounds.
  a.fill_moves = Fill(f, s);
  // The exchange looks at the options.exchange_units units nearest the margin
  // (all of them when there are fewer), re-picked every round.
  std::vector<uint32_t> cand;
  uint64_t cand_points = 1;
  const auto pick = [&] {
    cand.clear();
    for (const auto& [dist, u] : NearMargin(f, s, a.lambda, options.exchange_units)) cand.push_back(u);
    std::sort(cand.begin(), cand.end());
    cand_points = 1;
    for (uint32_t u : cand) cand_points += f.off[u + 1] - f.off[u];
  };
  uint64_t r = 0;
  auto exchange = [&] {
    if (!(a.lambda > 0)) return;  // every hull step fit: all units at their best point
    while (true) {
      pick();
      const uint64_t rounds =
          std::min<uint64_t>(static_cast<uint64_t>(std::max(0, options.max_exchange_rounds)),
                             std::max<uint64_t>(1, options.exchange_work_limit / cand_points));
      if (r >= rounds || cand.size() < 2 || !ExchangeRound(f, s, cand)) break;
      ++r;
      ++a.exchanges;
      a.fill_moves += Fill(f, s);
    }
  };
  exchange();
  // 5. Exact polish of the units nearest the margin, then fill/exchange again.
  if (CorePolish(f, s, a.lambda, options.core_units, options.core_state_cap)) {
    a.core_improved = true;
    a.fill_moves += Fill(f, s);
    exchange();
  }

  a.choice.resize(n_units);
  for (uint32_t u = 0; u < n_units; ++u) {
    a.choice[u] = f.idx[f.off[u] + s.cur[u]];
    const OperatingPoint& p = units[u].points[a.choice[u]];
    a.bytes += p.bytes;
    a.distortion += p.distortion;
  }
  if (a.bytes > budget || a.bytes != budget - s.remaining)
    return Internal("allocator: byte accounting mismatch (" + std::to_string(a.bytes) + " vs budget " +
                    std::to_string(budget) + ")");
  a.underfilled = static_cast<double>(budget - a.bytes) > options.max_underfill * static_cast<double>(budget);
  return a;
}

Result<GroupedAllocation> AllocateGrouped(const std::vector<AllocUnit>& units, const std::vector<AllocGroup>& groups,
                                          uint64_t budget, const AllocOptions& options) {
  if (groups.size() > kMaxAllocGroups)
    return InvalidArgument("allocator: " + std::to_string(groups.size()) + " shared-object groups, at most " +
                           std::to_string(kMaxAllocGroups) + " are searched exactly");
  for (const AllocUnit& u : units)
    for (const OperatingPoint& p : u.points)
      if (p.group < -1 || p.group >= static_cast<int>(groups.size()))
        return InvalidArgument("allocator: unit '" + u.name + "' has a point in group " + std::to_string(p.group) +
                               " of " + std::to_string(groups.size()));
  std::optional<GroupedAllocation> best;
  Status last = Status::Ok();
  for (uint32_t mask = 0; mask < (1u << groups.size()); ++mask) {
    uint64_t paid_bytes = 0;
    for (size_t g = 0; g < groups.size(); ++g)
      if (mask >> g & 1) paid_bytes += groups[g].bytes;
    if (paid_bytes > budget) continue;
    // Only points whose group is paid; index maps back to the unit's points.
    std::vector<AllocUnit> sub(units.size());
    std::vector<std::vector<size_t>> index(units.size());
    bool feasible = true;
    for (size_t i = 0; i < units.size() && feasible; ++i) {
      sub[i].name = units[i].name;
      for (size_t k = 0; k < units[i].points.size(); ++k) {
        const int g = units[i].points[k].group;
        if (g >= 0 && !(mask >> g & 1)) continue;
        sub[i].points.push_back(units[i].points[k]);
        index[i].push_back(k);
      }
      feasible = !sub[i].points.empty();
    }
    if (!feasible) continue;
    auto a = Allocate(sub, budget - paid_bytes, options);
    if (!a.ok()) {
      last = a.status();
      continue;
    }
    GroupedAllocation r;
    r.paid.assign(groups.size(), false);
    for (size_t i = 0; i < units.size(); ++i) {
      a->choice[i] = index[i][a->choice[i]];
      const int g = units[i].points[a->choice[i]].group;
      if (g >= 0) r.paid[static_cast<size_t>(g)] = true;
    }
    for (size_t g = 0; g < groups.size(); ++g)
      if (r.paid[g]) r.group_bytes += groups[g].bytes;
    r.alloc = std::move(*a);
    r.alloc.bytes += r.group_bytes;
    r.alloc.budget = budget;
    r.alloc.underfilled = static_cast<double>(budget - r.alloc.bytes) > options.max_underfill * static_cast<double>(budget);
    if (!best || r.alloc.distortion < best->alloc.distortion ||
        (r.alloc.distortion == best->alloc.distortion && r.alloc.bytes < best->alloc.bytes))
      best = std::move(r);
  }
  if (!best) {
    if (!last.ok()) return last;
    return InvalidArgument("allocator: no choice of shared objects fits the budget of " + std::to_string(budget) + " bytes");
  }
  return std::move(*best);
}

}  // namespace golfpack::encode
