#include "plan/rd.h"

#include "codec/tcq_grid.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/encodings.h"
#include "plan/allocator.h"
#include "codec/ans_grid.h"
#include "codec/codecs.h"
#include "codec/encoder.h"
#include "codec/lowrank.h"
#include "codec/patch.h"
#include "codec/tcq_grid.h"
#include "plan/patch_source.h"
#include "plan/distortion.h"
#include "io/pg_names.h"

namespace golfpack::encode {

namespace {

std::string Substitute(const std::string& family, double step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", step);
  std::string out = family;
  const auto at = out.find("{s}");
  if (at != std::string::npos) out.replace(at, 3, buf);
  return out;
}

// Decoded weights of an encoded tensor, through the registry (what the artifact holds).
Result<std::vector<float>> Decode(const gpk::EncodedTensor& e, uint64_t numel) {
  const gpk::EncodingTraits* t = gpk::FindEncoding(e.encoding);
  if (!t) return Internal("unknown encoding " + std::to_string(e.encoding));
  std::vector<float> out(numel);
  GP_RETURN_IF_ERROR(t->decode({e.shape, numel, e.params, e.payload}, out));
  return out;
}

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t VarintLen(uint64_t v) {
  uint64_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// The bytes an encoded tensor adds to the file that depend on its encoding,
// with one uncompressed section per tensor: the payload (the section), its
// params, and the manifest varints that hold their sizes (the section's
// stored and raw sizes and the entry's length are the payload size; then
// params_size and the encoding id). Everything else in the file is fixed.
uint64_t Price(uint64_t payload, uint64_t params, uint32_t encoding) {
  return payload + 3 * VarintLen(payload) + params + VarintLen(params) + VarintLen(encoding);
}
uint64_t Price(const gpk::EncodedTensor& e) { return Price(e.payload.size(), e.params.size(), e.encoding); }

struct Cand {
  RdCandidate c;
  uint64_t price = 0;
  gpk::EncodedTensor enc;  // empty payload until packed (plain candidates are priced without packing)
  bool packed = false;
  int base_tag = -1;       // protection paths: the grid candidate it corrects (a unit tag, below)
  LowRankSpec lr;          // lqer: how its factors are stored
  PatchSpec patch;         // sparse, blocks, columns, rows: how the corrections are stored
  std::shared_ptr<const PatchValues> patch_values;  // ... and which units, with what values (unquantized)
  int lqer_index = -1;     // a patch over an lqer candidate: its index in the set (the patch corrects what it left)
  uint64_t grid_price = 0;  // columns (OWQ): the price of its own grid part (GPTQ re-run), else 0: the base's
  // GPTQ candidates, for the rowalloc path: per row, tr(e_r H e_r^T) (not
  // per token, no row weight) and the bits its codes cost under the
  // candidate's own histogram. Empty when GPTQ had dead columns.
  std::shared_ptr<const std::vector<std::pair<double, double>>> row_stats;
  // A protection candidate over a tcq candidate (not over its grid base):
  // the trellis tensor it wraps, and the lqer fit made on that tensor's error.
  std::shared_ptr<const gpk::EncodedTensor> over;
  std::shared_ptr<const LowRankFactors> over_fit;
  int over_index = -1;  // ... and that tcq candidate's index in the set
};

// The protection paths on one grid candidate. lqer: factors fitted once at
// the largest rank (a truncated SVD is nested, so every smaller rank is a
// slice), one candidate per (rank, factor bits); then the patch paths'
// candidates (sparse, blocks, columns, rows), one per (units, value bits).
struct LqerSet {
  LowRankFactors fit;
  std::vector<Cand> cands;
};
constexpr int kLqerPerBase = 256;  // unit tags: 2 * steps + base_tag * 256 + index in the set

// The patch paths: their name, unit, and the ladder of unit counts.
struct PatchPath {
  std::string name;
  gpk::PatchUnit unit;
};
const std::vector<PatchPath>& PatchPaths() {
  static const std::vector<PatchPath> paths = {{"sparse", gpk::kPatchElement},
                                               {"blocks", gpk::kPatchBlock},
                                               {"columns", gpk::kPatchColumn},
                                               {"rows", gpk::kPatchRow}};
  return paths;
}
// Unit counts tried for a tensor with `units` units of `unit` (a few per
// octave of the fraction protected; see RdOptions::paths).
std::vector<uint64_t> PatchCounts(gpk::PatchUnit unit, uint64_t units) {
  std::vector<uint64_t> out;
  auto add = [&](uint64_t c) {
    c = std::max<uint64_t>(c, 1);
    if (c <= units && (out.empty() || out.back() != c)) out.push_back(c);
  };
  switch (unit) {
    case gpk::kPatchElement:
      for (uint64_t d : {4096, 1024, 256, 64}) add(units / d);
      break;
    case gpk::kPatchBlock:
      for (uint64_t d : {1024, 256, 64, 16}) add(units / d);
      break;
    default:  // columns, rows: up to a quarter of them
      for (uint64_t c = 1; c <= 64 && c <= units / 4; c *= 2) add(c);
      break;
  }
  return out;
}

struct Work {
  const io::Tensor* tensor = nullptr;
  const Eigen::MatrixXd* h = nullptr;
  double sensitivity = 1.0;
  double tcq_sensitivity = 1.0;  // for candidates on a trellis grid (RdOptions::tcq_sensitivity)
  // The sensitivity that prices a candidate with encoder spec `spec`.
  double Sens(const std::string& spec) const { return spec.rfind("gptq:tcq:", 0) == 0 ? tcq_sensitivity : sensitivity; }
  std::vector<uint64_t> shape;
  uint64_t rows = 0, cols = 0;
  std::vector<float> values;
  std::vector<double> rw;                 // the proxy's row weights (empty: every row weighs 1)
  std::vector<Cand> plain;                // one per step, the plain family
  std::vector<std::optional<Cand>> gptq;  // by step index, made on demand, kept across budgets
  std::map<int, LqerSet> lqer;            // by the tag of the grid candidate they correct, kept across budgets
  int center = -1, lo = -1, hi = -1;      // the GPTQ window's step indices (center: the first allocation's)
};

// fn(i) for i in [0, n) on `threads` threads, largest `cost` first; the first error wins.
Status ParallelFor(size_t n, unsigned threads, const std::vector<double>& cost, const std::function<Status(size_t)>& fn) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  std::vector<Status> status(n);
  std::atomic<size_t> next{0};
  auto worker = [&]() {
    for (size_t i; (i = next++) < n;) status[order[i]] = fn(order[i]);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::min<size_t>(threads, n); ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  for (const Status& st : status)
    if (!st.ok()) return st;
  return Status::Ok();
}

}  // namespace

// What a candidate source sees of one grid candidate of one tensor: the
// tensor, the candidate and its unit tag, its error E = W - Q and tr(E H E^T)
// (weighted by the tensor's row weights), and a patch source on E, made on
// first use and shared by the patch paths.
struct SourceInput {
  const Work& w;
  const Cand& base;
  int base_tag;
  const Eigen::MatrixXf& e;
  double base_tr;
  std::optional<PatchSource> patches;
};

struct RdPlanner::Impl {
  // A candidate source: the candidates one path offers on one grid candidate,
  // each priced in exact bytes and proxied, appended to the set. rd is the
  // grid ladder plus a table of these, built from --paths in Create and run
  // in table order (a later source may build on an earlier one's candidates,
  // as sparse patches over lqer corrections do). A new path is one more row.
  struct CandidateSource {
    std::string path;
    std::function<Status(const Impl&, SourceInput&, LqerSet&)> add;
  };

  const io::TensorFile* model = nullptr;
  const Hessians* hessians = nullptr;
  RdOptions o;
  std::string family, plain_family;
  std::vector<double> steps;
  bool two_phase = false;
  bool ladder = false;  // the family has a continuous step (fine fill possible)
  unsigned threads = 1;
  uint64_t code = 0;
  std::vector<Work> work;
  std::vector<gpk::EncodedTensor> fixed;
  std::vector<int> work_of;
  uint64_t fixed_bytes = 0;  // the file minus every allocated tensor's Price
  GptqOptions gptq_options;
  bool gptq_ans = false;     // the GPTQ family is gptq:ans (factorisations are cached)
  std::map<const Eigen::MatrixXd*, std::unique_ptr<GptqFactor>> factors;
  bool lqer = false;  // the lqer path is on
  bool rowstep = false;  // the rowstep path is on
  bool rowalloc = false;  // the rowalloc path is on
  bool tcq = false;       // the tcq path is on
  // Factorisations without act-order, for the tcq path (its trellis walks the stored column order).
  std::map<const Eigen::MatrixXd*, std::unique_ptr<GptqFactor>> tcq_factors;
  // The shrunk copies of the calibration Hessians (RdOptions::hessian_shrink),
  // one per distinct Hessian, so tensors that share an input share it.
  std::map<const Eigen::MatrixXd*, std::unique_ptr<Eigen::MatrixXd>> shrunk;
  double first_lambda = 0;  // the first (plain) allocation's lambda, for rowalloc
  int lqer_max_rank = 0;
  std::vector<PatchPath> patch_paths;  // the patch paths that are on
  std::vector<CandidateSource> sources;  // every path but grid, in table order
  // Lower Cholesky factor L of H + damp I per Hessian: ||X L||_F^2 is the
  // proxy tr(X H X^T) (damped), so the best rank-r correction under it is a
  // truncated SVD of E L.
  std::map<const Eigen::MatrixXd*, Eigen::MatrixXf> chol;
  double ladder_seconds = 0;
  mutable std::mutex source_mu;  // guards source_cpu
  mutable std::map<std::string, double> source_cpu;  // RdTimings::source_cpu

  // A unit's points name candidates by tag: plain[t] for t < steps, gptq[t -
  // steps] below 2 * steps, then the lqer sets.
  const Cand& CandOf(const Work& w, int tag) const {
    const int n = static_cast<int>(steps.size());
    if (tag < n) return w.plain[static_cast<size_t>(tag)];
    if (tag < 2 * n) return *w.gptq[static_cast<size_t>(tag - n)];
    const int x = tag - 2 * n;
    return w.lqer.at(x / kLqerPerBase).cands[static_cast<size_t>(x % kLqerPerBase)];
  }
  // The price of a protected candidate's grid part: its base grid candidate,
  // or (OWQ) the grid it re-ran GPTQ for.
  uint64_t GridPrice(const Work& w, const Cand& c) const {
    return c.grid_price ? c.grid_price : CandOf(w, c.base_tag).price;
  }
  int LqerTag(int base_tag, size_t j) const {
    return 2 * static_cast<int>(steps.size()) + base_tag * kLqerPerBase + static_cast<int>(j);
  }

  // Every enabled path's candidates on grid candidate `base` (tag base_tag)
  // of w: the candidate sources in table order (see CandidateSource).
  Result<LqerSet> FitLqer(const Work& w, const Cand& base, int base_tag) const {
    const auto rows = static_cast<Eigen::Index>(w.rows), cols = static_cast<Eigen::Index>(w.cols);
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    GP_ASSIGN_OR_RETURN(std::vector<float> q, Decode(base.enc, w.rows * w.cols));
    Eigen::MatrixXf e(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r)
      for (Eigen::Index c = 0; c < cols; ++c) {
        const size_t i = static_cast<size_t>(r * cols + c);
        e(r, c) = w.values[i] - q[i];
      }
    LqerSet set;
    SourceInput in{w, base, base_tag, e, base.c.proxy * double(tokens), {}};
    for (const CandidateSource& s : sources) {
      const auto t = Clock::now();
      GP_RETURN_IF_ERROR(s.add(*this, in, set));
      std::lock_guard lock(source_mu);
      source_cpu[s.path] += Since(t);
    }
    for (size_t i = 0, n = set.cands.size(); i < n; ++i)
      if (set.cands[i].c.path == "tcq") {
        const Cand t = set.cands[i];  // a copy: set grows
        GP_RETURN_IF_ERROR(AddOverTcq(w, t, int(i), base_tag, set));
      }
    return set;
  }

  // The lqer and patch paths again, over tcq candidate t (made on grid
  // candidate base_tag) instead of over the grid: the trellis takes the
  // bulk, the corrections its low-rank part and its salient units. GPTQ-kept
  // patches (OWQ columns) and the paths that re-run a grid are not offered.
  Status AddOverTcq(const Work& w, const Cand& t, int t_index, int base_tag, LqerSet& set) const {
    const auto rows = static_cast<Eigen::Index>(w.rows), cols = static_cast<Eigen::Index>(w.cols);
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    GP_ASSIGN_OR_RETURN(std::vector<float> q, Decode(t.enc, w.rows * w.cols));
    Eigen::MatrixXf e(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r)
      for (Eigen::Index c = 0; c < cols; ++c) e(r, c) = w.values[size_t(r * cols + c)] - q[size_t(r * cols + c)];
    LqerSet sub;
    SourceInput in{w, t, base_tag, e, t.c.proxy * double(tokens), {}};
    for (const CandidateSource& s : sources) {
      if (s.path == "tcq" || s.path == "rowstep" || s.path == "rowalloc" || s.path == "columns") continue;
      const auto t0 = Clock::now();
      GP_RETURN_IF_ERROR(s.add(*this, in, sub));
      std::lock_guard lock(source_mu);
      source_cpu[s.path] += Since(t0);
    }
    const auto over = std::make_shared<const gpk::EncodedTensor>(t.enc);
    const auto fit = std::make_shared<const LowRankFactors>(std::move(sub.fit));
    const int off = static_cast<int>(set.cands.size());
    for (Cand& c : sub.cands) {
      if (set.cands.size() >= size_t(kLqerPerBase))
        return Internal("recipe rd: more than 256 protection candidates on one grid candidate");
      c.over = over;
      c.over_fit = fit;
      c.over_index = t_index;
      if (c.lqer_index >= 0) c.lqer_index += off;
      if (!c.grid_price) c.grid_price = t.price;
      c.base_tag = base_tag;
      set.cands.push_back(std::move(c));
    }
    return Status::Ok();
  }

  // The patch source on in's error (made once per grid candidate, shared by the patch paths).
  const PatchSource& PatchesOf(SourceInput& in) const {
    if (!in.patches) {
      in.patches.emplace(in.e, *in.w.h, in.base_tr);
      in.patches->set_exact(o.patch_exact);
      in.patches->set_row_weights(in.w.rw);
    }
    return *in.patches;
  }

  // Sparse patches over the cheapest corrections (rank <= 2) already in
  // `set`: a correction buys the low-rank part of the error, a patch its
  // salient entries. G after the correction is G - A (B H), without a new E H.
  Status AddPatchesOverLqer(SourceInput& in, const PatchPath& path, LqerSet& set) const {
    const Work& w = in.w;
    const size_t n_lqer = set.cands.size();
    for (size_t j = 0; j < n_lqer; ++j) {
      if (set.cands[j].c.path != "lqer" || set.cands[j].c.rank > 2) continue;
      const Cand lq = set.cands[j];  // a copy: AddPatches grows set.cands
      const LowRankFactors fq = QuantizeFactors({set.fit.a.leftCols(lq.c.rank), set.fit.b.topRows(lq.c.rank)}, lq.lr);
      const Eigen::MatrixXd bh = fq.b.cast<double>() * *w.h;
      PatchSource after(in.e - fq.a * fq.b, PatchesOf(in).g() - fq.a.cast<double>() * bh, *w.h,
                        lq.c.proxy * double(std::max<int64_t>(hessians->tokens(), 1)));
      after.set_exact(o.patch_exact);
      after.set_row_weights(w.rw);
      GP_RETURN_IF_ERROR(AddPatches(w, in.base, in.base_tag, after, {path}, &lq, int(j), set));
    }
    return Status::Ok();
  }

  // tr(E H E^T) (row-weighted, not per token) of E = W - q after a GPTQ run:
  // from the run's own error accounting when that is exact (no dead columns,
  // no row weights; GptqRunStats::err_damped), else the full product.
  double GptqTrace(const Work& w, std::span<const float> q, const GptqRunStats& st) const {
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    if (st.dead_columns == 0 && st.row_err_damped.size() == w.rows) {
      double t = 0;
      for (uint64_t r = 0; r < w.rows; ++r)
        t += (w.rw.empty() ? 1.0 : w.rw[r]) * GptqRowTrace(w, q, st, r);
      return std::max(0.0, t);
    }
    return HessianProxy(w.values, q, w.rows, w.cols, *w.h, tokens, w.rw) * double(tokens);
  }
  // Row r's share of tr(E H E^T): e_r (H + damp I) e_r^T - damp ||e_r||^2.
  static double GptqRowTrace(const Work& w, std::span<const float> q, const GptqRunStats& st, uint64_t r) {
    double e2 = 0;
    for (uint64_t c = r * w.cols; c < (r + 1) * w.cols; ++c) {
      const double e = double(w.values[c]) - double(q[c]);
      e2 += e * e;
    }
    return st.row_err_damped[r] - st.damp_used * e2;
  }

  // GPTQ again with `spec` (base's grid with a step multiplier per row) as a
  // candidate of `path` on `base`: a grid of its own (no protection bytes),
  // priced exactly and proxied from the run's own error accounting.
  Status AddRowStepped(const Work& w, const Cand& base, int base_tag, const GptqAnsGridEncoder& g, AnsGridSpec spec,
                       const char* path, const std::string& suffix, LqerSet& set) const {
    GptqRunStats stats;
    GP_ASSIGN_OR_RETURN(AnsGridQuant qu, GptqAnsGridQuant(w.tensor->name, w.shape, w.values, *factors.at(w.h), spec,
                                                          g.options(), &stats));
    GP_ASSIGN_OR_RETURN(gpk::EncodedTensor enc, PackAnsGrid(w.tensor->name, w.shape, spec, qu));
    set.cands.push_back(OwnGrid(w, base, base_tag, std::move(enc), base.c.spec + suffix, path, DequantizeAnsGrid(qu), stats));
    return Status::Ok();
  }

  // The rowalloc candidates of w (on its GPTQ window's center candidate
  // only): rows as allocation units. Under GPTQ the rows of a matrix are
  // independent (each row's error feedback stays in the row), so row r at
  // step s costs exactly what it costs in the window's GPTQ run at s: its
  // share of the proxy, and about the bits its codes take there. For each
  // multiple mu of the first allocation's lambda, every row takes the window
  // step that minimises its predicted loss + mu * lambda * bytes; one GPTQ
  // run with those steps (encoding 7's scale per row: no extra bytes) is
  // then priced exactly and proxied from its own error accounting.
  Status AddRowAlloc(const Work& w, const Cand& base, int base_tag, LqerSet& set) const {
    const int ns = static_cast<int>(steps.size());
    if (!gptq_ans || !factors.count(w.h) || w.rows < 2 || base_tag != ns + w.center || !(first_lambda > 0))
      return Status::Ok();
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(base.c.spec));
    const auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc.get());
    if (!g || g->grid().group_size != 0) return Status::Ok();
    std::vector<int> sis;
    for (int si = w.lo; si <= w.hi; ++si)
      if (w.gptq[size_t(si)] && w.gptq[size_t(si)]->row_stats) sis.push_back(si);
    if (sis.size() < 2) return Status::Ok();
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    std::vector<std::vector<int>> seen;
    for (double mu : o.rowalloc_lambdas) {
      const double lam = mu * first_lambda;
      std::vector<int> pick(w.rows);
      for (uint64_t r = 0; r < w.rows; ++r) {
        double best = 0;
        for (size_t i = 0; i < sis.size(); ++i) {
          const auto& [tr, bits] = (*w.gptq[size_t(sis[i])]->row_stats)[r];
          const double cost = w.sensitivity * (w.rw.empty() ? 1.0 : w.rw[r]) * tr / double(tokens) + lam * bits / 8;
          if (i == 0 || cost < best) {
            best = cost;
            pick[r] = sis[i];
          }
        }
      }
      if (std::all_of(pick.begin(), pick.end(), [&](int p) { return p == pick[0]; })) continue;  // a grid candidate
      if (std::find(seen.begin(), seen.end(), pick) != seen.end()) continue;
      seen.push_back(pick);
      AnsGridSpec spec = g->grid();
      spec.row_step.resize(w.rows);
      for (uint64_t r = 0; r < w.rows; ++r) spec.row_step[r] = steps[size_t(pick[r])] / base.c.step;
      char buf[32];
      std::snprintf(buf, sizeof buf, "+rowalloc%g", mu);
      GP_RETURN_IF_ERROR(AddRowStepped(w, base, base_tag, *g, std::move(spec), "rowalloc", buf, set));
    }
    return Status::Ok();
  }

  // The tcq candidates on GPTQ candidate `base` into `set`: block-LDLQ TCQ
  // at base's step times each ratio, a representation of its own (no bytes on
  // top of a grid), priced exactly and proxied from its own error accounting.
  Status AddTcq(const Work& w, const Cand& base, int base_tag, LqerSet& set) const {
    if (!gptq_ans || !tcq_factors.count(w.h)) return Status::Ok();
    if (!o.tcq_only.empty() &&
        std::none_of(o.tcq_only.begin(), o.tcq_only.end(),
                     [&](const std::string& s) { return w.tensor->name.find(s) != std::string::npos; }))
      return Status::Ok();
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(base.c.spec));
    const auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc.get());
    if (!g || g->grid().group_size != 0) return Status::Ok();
    for (double ratio : o.tcq_ratios) {
      TcqGridSpec spec;
      spec.step = g->grid().step * ratio;
      spec.scale_dtype = g->grid().scale_dtype;
      spec.state_bits = o.tcq_state_bits;
      spec.rate_classes = o.tcq_rate_classes;
      spec.lambda = o.tcq_lambda;
      spec.debias = std::any_of(o.tcq_debias_skip.begin(), o.tcq_debias_skip.end(),
                                [&](const std::string& s) { return w.tensor->name.find(s) != std::string::npos; })
                        ? 0.0
                        : o.tcq_debias;
      GptqRunStats stats;
      const Hessians::RowMajorMatrix* row_hw =
          spec.debias > 0 && o.tcq_debias_row_metric ? hessians->RowHw(w.tensor->name) : nullptr;
      std::span<const double> metric;
      if (row_hw && uint64_t(row_hw->rows()) == w.shape[0] && uint64_t(row_hw->cols()) == w.shape[1])
        metric = std::span<const double>(row_hw->data(), size_t(row_hw->size()));
      GP_ASSIGN_OR_RETURN(TcqGridQuant qu, GptqTcqGridQuant(w.tensor->name, w.shape, w.values, *tcq_factors.at(w.h),
                                                            spec, &stats, w.h, metric));
      GP_ASSIGN_OR_RETURN(gpk::EncodedTensor enc, PackTcqGrid(w.tensor->name, w.shape, spec, qu));
      set.cands.push_back(
          OwnGrid(w, base, base_tag, std::move(enc), "gptq:" + spec.ToString() + ":row", "tcq", DequantizeTcqGrid(qu), stats));
    }
    return Status::Ok();
  }

  // A candidate of `path` on `base` that is a grid of its own (no bytes on
  // top of a grid): `enc`, priced exactly, proxied from its GPTQ run's own
  // error accounting (q: what it decodes to).
  Cand OwnGrid(const Work& w, const Cand& base, int base_tag, gpk::EncodedTensor enc, std::string spec, const char* path,
               std::span<const float> q, const GptqRunStats& stats) const {
    Cand c;
    c.enc = std::move(enc);
    c.packed = true;
    c.c.spec = std::move(spec);
    c.c.step = base.c.step;
    c.c.gptq = true;
    c.c.path = path;
    c.c.bytes = c.enc.payload.size() + c.enc.params.size();
    c.price = Price(c.enc);
    c.grid_price = c.price;
    c.c.proxy = GptqTrace(w, q, stats) / double(std::max<int64_t>(hessians->tokens(), 1));
    c.c.predicted = w.Sens(c.c.spec) * c.c.proxy;
    c.base_tag = base_tag;
    return c;
  }

  // The rowstep candidates on GPTQ candidate `base` into `set`: GPTQ again at
  // base's step with a multiplier per row (RdOptions::paths, "rowstep"),
  // priced exactly and proxied from GPTQ's own error accounting.
  Status AddRowSteps(const Work& w, const Cand& base, int base_tag, LqerSet& set) const {
    if (!gptq_ans || !factors.count(w.h) || w.rows < 2) return Status::Ok();
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(base.c.spec));
    const auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc.get());
    if (!g || g->grid().group_size != 0) return Status::Ok();
    // log(sigma_r sqrt(w_r)) per row (rows with sigma 0 keep multiplier 1).
    std::vector<double> lg(w.rows, 0.0);
    double mean = 0;
    uint64_t n = 0;
    for (uint64_t r = 0; r < w.rows; ++r) {
      const float* x = w.values.data() + r * w.cols;
      double m = 0, ss = 0;
      for (uint64_t c = 0; c < w.cols; ++c) m += x[c];
      m /= double(w.cols);
      for (uint64_t c = 0; c < w.cols; ++c) ss += (x[c] - m) * (x[c] - m);
      const double sigma = w.cols > 1 ? std::sqrt(ss / double(w.cols - 1)) : 0.0;
      if (!(sigma > 0)) {
        lg[r] = std::nan("");
        continue;
      }
      lg[r] = std::log(sigma) + 0.5 * std::log(w.rw.empty() ? 1.0 : w.rw[r]);
      mean += lg[r];
      ++n;
    }
    if (n == 0) return Status::Ok();
    mean /= double(n);
    for (double gamma : o.rowstep_gammas) {
      AnsGridSpec spec = g->grid();
      spec.row_step.assign(w.rows, 1.0);
      for (uint64_t r = 0; r < w.rows; ++r)
        if (!std::isnan(lg[r])) spec.row_step[r] = std::clamp(std::exp(gamma * (mean - lg[r])), 0.125, 8.0);
      char buf[32];
      std::snprintf(buf, sizeof buf, "+rowstep%g", gamma);
      GP_RETURN_IF_ERROR(AddRowStepped(w, base, base_tag, *g, std::move(spec), "rowstep", buf, set));
    }
    return Status::Ok();
  }

  // The lqer candidates on `base` (error e) into `set`.
  Status AddLqer(const Work& w, const Cand& base, int base_tag, const Eigen::MatrixXf& e, double base_tr,
                 LqerSet& set) const {
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    const Eigen::MatrixXf& l = chol.at(w.h);
    // Under row weights the best correction is a truncated SVD of S E L,
    // S = diag(sqrt(r)), with A = S^-1 A'.
    Eigen::VectorXf sr = Eigen::VectorXf::Ones(e.rows());
    for (size_t i = 0; i < w.rw.size(); ++i) sr(Eigen::Index(i)) = std::sqrt(float(w.rw[i]));
    const Eigen::MatrixXf m = sr.asDiagonal() * e * l;
    GP_ASSIGN_OR_RETURN(set.fit, FitLowRank(m, {}, lqer_max_rank));
    set.fit.a = sr.cwiseInverse().asDiagonal() * set.fit.a;
    // B = B' L^-1, i.e. L^T B^T = B'^T.
    set.fit.b = l.transpose().triangularView<Eigen::Upper>().solve(set.fit.b.transpose()).transpose();
    // The proxy of E - A B with the factors as stored, from the base's own tr(E H E^T).
    const Eigen::VectorXd srd = sr.cast<double>();
    const Eigen::MatrixXd ed = srd.asDiagonal() * e.cast<double>();
    const auto fitted = static_cast<int>(set.fit.a.cols());
    for (int rank : o.lqer_ranks) {
      if (rank > fitted) continue;
      for (int bits : o.lqer_bits) {
        LowRankSpec spec;
        spec.rank = rank;
        spec.bits = bits;
        spec.group = bits == 16 ? 0 : o.lqer_group;
        LowRankFactors slice{set.fit.a.leftCols(rank), set.fit.b.topRows(rank)};
        const LowRankFactors fq = QuantizeFactors(slice, spec);
        Cand c;
        c.c.spec = base.c.spec + LowRankSuffix(spec);  // the encoder spec: "...+lr4", "...+lr2:b8"
        c.c.step = base.c.step;
        c.c.gptq = base.c.gptq;
        c.c.path = "lqer";
        c.c.rank = rank;
        const std::vector<uint8_t> params =
            LowRankParams(base.enc.encoding, base.enc.params, base.enc.payload.size(), spec);
        const uint64_t payload = base.enc.payload.size() + LowRankFactorBytes(w.rows, w.cols, spec);
        c.c.bytes = payload + params.size();
        c.price = Price(payload, params.size(), gpk::kLowRank);
        c.c.proxy = CorrectedHessianProxy(base_tr, ed, srd.asDiagonal() * fq.a.cast<double>(), fq.b.cast<double>(), *w.h,
                                          tokens);
        c.c.predicted = w.Sens(c.c.spec) * c.c.proxy;
        c.base_tag = base_tag;
        c.lr = spec;
        set.cands.push_back(std::move(c));
      }
    }
    return Status::Ok();
  }

  // The patch paths' candidates on `base` (error e) into `set`: for each
  // path, the units PatchSource picks at each count of the ladder, stored at
  // each of RdOptions::patch_bits, priced exactly and proxied exactly.
  // Patches that GPTQ knows about: the `count` units (input columns as OWQ
  // protects them, single weights as SpQR's outliers, or micro-blocks) with
  // the largest H_jj * E_ij^2 (summed over the unit) under `base` are kept
  // exactly by a new GPTQ run at base's step (codes 0, no error spread from
  // them; the GPTQ factorisation is the cached one), and a patch stores them
  // as GPTQ left them. Priced on the real bytes, proxied by the full proxy of
  // what a decoder gets.
  Status AddGptqPatches(const Work& w, const Cand& base, int base_tag, const Eigen::MatrixXf& e, const PatchPath& path,
                        LqerSet& set) const {
    if (!gptq_ans || !factors.count(w.h)) return Status::Ok();
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(base.c.spec));
    const auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc.get());
    if (!g) return Status::Ok();
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    const uint64_t rows = w.rows, cols = w.cols;
    PatchSpec ps;
    ps.unit = path.unit;
    ps.block = o.patch_block;
    if (path.unit == gpk::kPatchBlock && cols % uint64_t(o.patch_block) != 0) return Status::Ok();
    const uint64_t nu = PatchUnitCount(ps, rows, cols), len = PatchUnitLen(ps, rows, cols);
    std::vector<double> score(nu, 0.0);
    for (uint64_t u = 0; u < nu; ++u)
      for (uint64_t t = 0; t < len; ++t) {
        const uint64_t pos = PatchPosition(ps, cols, len, u, t);
        const auto r = Eigen::Index(pos / cols), c = Eigen::Index(pos % cols);
        score[u] += (w.rw.empty() ? 1.0 : w.rw[size_t(r)]) * (*w.h)(c, c) * double(e(r, c)) * double(e(r, c));
      }
    std::vector<uint64_t> order(nu);
    for (uint64_t u = 0; u < nu; ++u) order[u] = u;
    for (uint64_t count : PatchCounts(path.unit, nu)) {
      std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(count), order.end(),
                        [&](uint64_t a, uint64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
      PatchValues v;
      v.units.assign(order.begin(), order.begin() + std::ptrdiff_t(count));
      std::sort(v.units.begin(), v.units.end());
      // One flag per column (columns), else one per weight.
      std::vector<uint8_t> keep(path.unit == gpk::kPatchColumn ? cols : rows * cols, 0);
      for (uint64_t u : v.units)
        for (uint64_t t = 0; t < len; ++t)
          keep[path.unit == gpk::kPatchColumn ? u : PatchPosition(ps, cols, len, u, t)] = 1;
      std::vector<float> kept;
      GptqRunStats stats;
      GP_ASSIGN_OR_RETURN(AnsGridQuant qu, GptqAnsGridQuant(w.tensor->name, w.shape, w.values, *factors.at(w.h),
                                                            g->grid(), g->options(), &stats, keep, &kept));
      GP_ASSIGN_OR_RETURN(gpk::EncodedTensor inner, PackAnsGrid(w.tensor->name, w.shape, g->grid(), qu));
      // GPTQ's own output Q_g: the grid values, and the kept values where it kept them.
      std::vector<float> qg = DequantizeAnsGrid(qu);
      v.values.resize(count * len);
      std::vector<std::pair<uint64_t, size_t>> at;  // (flat position, index in v.values), ascending
      at.reserve(count * len);
      for (size_t i = 0; i < count; ++i)
        for (uint64_t t = 0; t < len; ++t) {
          const uint64_t pos = PatchPosition(ps, cols, len, v.units[i], t);
          v.values[i * len + t] = kept[pos] - qg[pos];
          qg[pos] = kept[pos];
          at.push_back({pos, i * len + t});
        }
      std::sort(at.begin(), at.end());
      // The stored patch differs from what GPTQ kept by its rounding S, so the
      // proxy is that of E_g - S, from tr(E_g H E_g^T) (GPTQ's own accounting).
      const double trace_g = GptqTrace(w, qg, stats);
      std::vector<float> eg(rows * cols);
      for (size_t i = 0; i < eg.size(); ++i) eg[i] = w.values[i] - qg[i];
      std::vector<uint64_t> spos(at.size());
      for (size_t i = 0; i < at.size(); ++i) spos[i] = at[i].first;
      std::vector<float> sval(at.size());
      for (int bits : o.patch_bits) {
        ps.bits = bits;
        const std::vector<float> applied = QuantizePatchValues(v, ps, len);
        for (size_t i = 0; i < at.size(); ++i) sval[i] = applied[at[i].second] - v.values[at[i].second];
        Cand c;
        GP_ASSIGN_OR_RETURN(c.enc, EncodePatch(inner, v, ps));
        c.packed = true;
        c.c.spec = base.c.spec + "+" + path.name + std::to_string(count) + ":" + ps.ToString();
        c.c.step = base.c.step;
        c.c.gptq = base.c.gptq;
        c.c.path = path.name;
        c.c.bytes = c.enc.payload.size() + c.enc.params.size();
        c.price = Price(c.enc);
        c.c.proxy = SparseCorrectedHessianProxy(trace_g, eg, cols, spos, sval, *w.h, tokens, w.rw);
        c.c.predicted = w.Sens(c.c.spec) * c.c.proxy;
        c.base_tag = base_tag;
        c.patch = ps;
        c.grid_price = Price(inner);
        if (set.cands.size() >= size_t(kLqerPerBase))
          return Internal("recipe rd: more than 256 protection candidates on one grid candidate");
        set.cands.push_back(std::move(c));
      }
    }
    return Status::Ok();
  }

  // With `lq` (set.cands[lq_index], an lqer candidate on `base`), the
  // patches go over that correction (patch over lowrank over the grid).
  Status AddPatches(const Work& w, const Cand& base, int base_tag, const PatchSource& src,
                    const std::vector<PatchPath>& paths, const Cand* lq, int lq_index, LqerSet& set) const {
    const int64_t tokens = std::max<int64_t>(hessians->tokens(), 1);
    // The inner tensor the patch wraps: the grid candidate, or the correction over it.
    uint32_t inner_enc = base.enc.encoding;
    std::vector<uint8_t> inner_params = base.enc.params;
    uint64_t inner_payload = base.enc.payload.size();
    if (lq) {
      inner_enc = gpk::kLowRank;
      inner_params = LowRankParams(base.enc.encoding, base.enc.params, base.enc.payload.size(), lq->lr);
      inner_payload += LowRankFactorBytes(w.rows, w.cols, lq->lr);
    }
    for (const PatchPath& path : paths) {
      // Columns always, and with exact values (the default) single weights and
      // blocks too, are kept by GPTQ itself (over a correction: fitted after it).
      if (!lq && base.c.path != "tcq" && (path.unit == gpk::kPatchColumn || (o.patch_exact && path.unit != gpk::kPatchRow))) {
        GP_RETURN_IF_ERROR(AddGptqPatches(w, base, base_tag, src.e(), path, set));
        continue;
      }
      if (path.unit == gpk::kPatchColumn) continue;
      PatchSpec ps;
      ps.unit = path.unit;
      ps.block = o.patch_block;
      if (path.unit == gpk::kPatchBlock && w.cols % static_cast<uint64_t>(o.patch_block) != 0) continue;
      const uint64_t len = PatchUnitLen(ps, w.rows, w.cols);
      for (uint64_t count : PatchCounts(path.unit, PatchUnitCount(ps, w.rows, w.cols))) {
        auto chosen = std::make_shared<const PatchValues>(src.Select(ps, count));
        for (int bits : o.patch_bits) {
          ps.bits = bits;
          const PatchValues applied{chosen->units, QuantizePatchValues(*chosen, ps, len)};
          const PatchBytes pb = PatchBytesOf(inner_enc, inner_params, inner_payload, *chosen, ps, len);
          Cand c;
          c.c.spec = (lq ? lq->c.spec : base.c.spec) + "+" + path.name + std::to_string(count) + ":" + ps.ToString();
          c.c.step = base.c.step;
          c.c.gptq = base.c.gptq;
          c.c.path = path.name;
          c.c.bytes = pb.payload + pb.params;
          c.price = Price(pb.payload, pb.params, gpk::kPatch);
          c.c.proxy = src.Trace(ps, applied) / double(tokens);
          c.c.predicted = w.Sens(c.c.spec) * c.c.proxy;
          c.base_tag = base_tag;
          c.patch = ps;
          c.patch_values = chosen;
          if (lq) {
            c.c.rank = lq->c.rank;
            c.lr = lq->lr;
            c.lqer_index = lq_index;
          }
          if (set.cands.size() >= size_t(kLqerPerBase))
            return Internal("recipe rd: more than 256 protection candidates on one grid candidate");
          set.cands.push_back(std::move(c));
        }
      }
    }
    return Status::Ok();
  }

  // Cholesky factors of the Hessians of `ks` that are not cached yet; a
  // Hessian that stays indefinite after 3 damping increases gets none (its
  // tensors get no lqer candidates).
  void EnsureChol(const std::vector<size_t>& ks) {
    for (size_t k : ks) {
      const Eigen::MatrixXd* h = work[k].h;
      if (chol.count(h)) continue;
      const Eigen::Index n = h->cols();
      double damp = n > 0 ? 0.01 * h->diagonal().mean() : 0.0;
      if (!(damp > 0)) damp = 1e-8;
      Eigen::MatrixXf l;
      for (int attempt = 0; attempt < 4; ++attempt, damp *= 10) {
        Eigen::LLT<Eigen::MatrixXd> llt(*h + damp * Eigen::MatrixXd::Identity(n, n));
        if (llt.info() == Eigen::Success) {
          l = Eigen::MatrixXd(llt.matrixL()).cast<float>();
          break;
        }
      }
      chol.emplace(h, std::move(l));
    }
  }

  // One candidate of tensor w at `step` in `fam`, priced and proxied once.
  // Plain ans-grid candidates are priced exactly without building their
  // stream unless `pack` (only the chosen ones are packed, at assembly).
  Result<Cand> Evaluate(const Work& w, const std::string& fam, double step, bool pack) const {
    Cand out;
    out.c.spec = Substitute(fam, step);
    out.c.step = step;
    out.c.gptq = fam.rfind("gptq:", 0) == 0;
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(out.c.spec));
    const std::string& name = w.tensor->name;
    const int64_t tokens = hessians->tokens();
    std::vector<float> q;
    std::optional<double> proxy;
    if (const auto* a = dynamic_cast<const AnsGridEncoder*>(enc.get())) {
      std::vector<double> weights;  // RDO column weights: diag(H), as AnsGridEncoder uses
      if (a->grid().rdo_lambda > 0) {
        weights.resize(w.cols);
        for (uint64_t c = 0; c < w.cols; ++c)
          weights[c] = (*w.h)(static_cast<Eigen::Index>(c), static_cast<Eigen::Index>(c));
      }
      GP_ASSIGN_OR_RETURN(AnsGridQuant qu, QuantizeAnsGrid(name, w.shape, w.values, a->grid(), weights));
      if (pack) {
        GP_ASSIGN_OR_RETURN(out.enc, PackAnsGrid(name, w.shape, a->grid(), qu));
        out.packed = true;
      } else {
        GP_ASSIGN_OR_RETURN(uint64_t payload, AnsGridPayloadBytes(a->grid(), qu));
        gpk::AnsGridParams params;  // as PackAnsGrid writes them
        params.scale_dtype = a->grid().scale_dtype;
        params.group_size = a->grid().group_size;
        params.model = a->grid().model;
        out.enc.name = name;
        out.enc.encoding = gpk::kAnsGrid;
        out.enc.params = params.Serialize();
        out.c.bytes = payload + out.enc.params.size();
        out.price = Price(payload, out.enc.params.size(), out.enc.encoding);
      }
      q = DequantizeAnsGrid(qu);
    } else if (const auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc.get()); g && factors.count(w.h)) {
      GptqRunStats stats;
      GP_ASSIGN_OR_RETURN(AnsGridQuant qu, GptqAnsGridQuant(name, w.shape, w.values, *factors.at(w.h), g->grid(),
                                                            g->options(), &stats));
      GP_ASSIGN_OR_RETURN(out.enc, PackAnsGrid(name, w.shape, g->grid(), qu));
      out.packed = true;
      q = DequantizeAnsGrid(qu);
      // tr(E H E^T) from GPTQ's own error accounting (GptqRunStats::err_damped).
      proxy = GptqTrace(w, q, stats) / double(std::max<int64_t>(tokens, 1));
      if (rowalloc && stats.dead_columns == 0) {  // per row: its trace share and its bits under this histogram
        std::map<int, uint64_t> hist;
        for (int16_t code : qu.codes) ++hist[code];
        std::map<int, double> bits;
        for (const auto& [code, n] : hist) bits[code] = -std::log2(double(n) / double(qu.codes.size()));
        auto rs = std::make_shared<std::vector<std::pair<double, double>>>(w.rows);
        for (uint64_t r = 0; r < w.rows; ++r) {
          double b = 0;
          for (uint64_t c = r * w.cols; c < (r + 1) * w.cols; ++c) b += bits[qu.codes[c]];
          (*rs)[r] = {GptqRowTrace(w, q, stats, r), b};
        }
        out.row_stats = std::move(rs);
      }
    } else {
      GP_ASSIGN_OR_RETURN(out.enc, enc->Encode(name, w.shape, w.values, enc->needs_hessian() ? w.h : nullptr));
      out.packed = true;
      GP_ASSIGN_OR_RETURN(q, Decode(out.enc, w.rows * w.cols));
    }
    if (out.packed) {
      out.c.bytes = out.enc.payload.size() + out.enc.params.size();
      out.price = Price(out.enc);
    }
    if (!proxy)
      // GPTQ correlates its errors across columns: those need the full proxy
      // (plan/distortion.h); the sensitivities were fitted against it too.
      proxy = out.c.gptq ? HessianProxy(w.values, q, w.rows, w.cols, *w.h, tokens, w.rw)
                         : DiagHessianProxy(w.values, q, w.rows, w.cols, *w.h, tokens, w.rw);
    out.c.proxy = *proxy;
    out.c.predicted = w.sensitivity * out.c.proxy;
    return out;
  }

  // The candidate ready to write: packs a plain one (the same bytes it was priced at).
  Result<const gpk::EncodedTensor*> Packed(const Work& w, const Cand& c, std::optional<Cand>& storage) const {
    if (c.packed) return &c.enc;
    if (c.base_tag >= 0) {
      std::optional<Cand> base_storage;
      const gpk::EncodedTensor* base = c.over.get();
      if (!base) {
        GP_ASSIGN_OR_RETURN(base, Packed(w, CandOf(w, c.base_tag), base_storage));
      }
      const LowRankFactors& fit = c.over_fit ? *c.over_fit : w.lqer.at(c.base_tag).fit;
      Cand p = c;
      if (c.patch_values && c.lqer_index < 0) {
        GP_ASSIGN_OR_RETURN(p.enc, EncodePatch(*base, *c.patch_values, c.patch));
      } else if (c.patch_values) {
        GP_ASSIGN_OR_RETURN(gpk::EncodedTensor lr,
                            EncodeLowRank(*base, {fit.a.leftCols(c.lr.rank), fit.b.topRows(c.lr.rank)}, c.lr));
        GP_ASSIGN_OR_RETURN(p.enc, EncodePatch(lr, *c.patch_values, c.patch));
      } else {
        const LowRankFactors slice{fit.a.leftCols(c.lr.rank), fit.b.topRows(c.lr.rank)};
        GP_ASSIGN_OR_RETURN(p.enc, EncodeLowRank(*base, slice, c.lr));
      }
      p.packed = true;
      if (Price(p.enc) != c.price)
        return Internal("recipe rd: '" + c.c.spec + "' of " + w.tensor->name + " packs to other bytes than priced");
      storage = std::move(p);
      return &storage->enc;
    }
    GP_ASSIGN_OR_RETURN(Cand p, Evaluate(w, c.c.gptq ? family : plain_family, c.c.step, /*pack=*/true));
    if (p.price != c.price)
      return Internal("recipe rd: '" + c.c.spec + "' of " + w.tensor->name + " packs to other bytes than priced");
    storage = std::move(p);
    return &storage->enc;
  }

  // Factorisations of the Hessians of `ks` that are not cached yet.
  Status EnsureFactors(const std::vector<size_t>& ks) {
    if (!gptq_ans) return Status::Ok();
    GP_RETURN_IF_ERROR(Factorize(ks, gptq_options, factors));
    if (!tcq) return Status::Ok();
    GptqOptions no_act = gptq_options;
    no_act.act_order = false;
    if (o.tcq_damp >= 0) no_act.percdamp = o.tcq_damp;
    return Factorize(ks, no_act, tcq_factors);
  }
  // The factorisations with `options` of the Hessians of `ks` not in `into` yet, in parallel.
  Status Factorize(const std::vector<size_t>& ks, const GptqOptions& options,
                   std::map<const Eigen::MatrixXd*, std::unique_ptr<GptqFactor>>& into) {
    std::vector<const Eigen::MatrixXd*> need;
    std::vector<std::string> names;
    for (size_t k : ks) {
      const Eigen::MatrixXd* h = work[k].h;
      if (into.count(h) || std::find(need.begin(), need.end(), h) != need.end()) continue;
      need.push_back(h);
      names.push_back(work[k].tensor->name);
    }
    std::vector<std::unique_ptr<GptqFactor>> made(need.size());
    std::vector<double> cost(need.size());
    for (size_t i = 0; i < need.size(); ++i) cost[i] = std::pow(double(need[i]->cols()), 3);
    GP_RETURN_IF_ERROR(ParallelFor(need.size(), threads, cost, [&](size_t i) -> Status {
      GP_ASSIGN_OR_RETURN(GptqFactor f, GptqFactorize(names[i], *need[i], options));
      made[i] = std::make_unique<GptqFactor>(std::move(f));
      return Status::Ok();
    }));
    for (size_t i = 0; i < need.size(); ++i) into.emplace(need[i], std::move(made[i]));
    return Status::Ok();
  }

  Result<RdResult> Pack(uint64_t budget);

  // Bytes the protection paths add on top of their grid candidates in `a`.
  uint64_t ProtectBytes(const std::vector<AllocUnit>& units, const Allocation& a) const {
    uint64_t p = 0;
    for (size_t k = 0; k < units.size(); ++k) {
      const Cand& c = CandOf(work[k], units[k].points[a.choice[k]].tag);
      if (c.base_tag >= 0) p += c.price - GridPrice(work[k], c);
    }
    return p;
  }

  // RdOptions::protect_max: the protection paths' bytes are priced mu times
  // over in the allocation (the real prices stay those of the file), with mu
  // found by bisection as the smallest that keeps them within the cap. The
  // units keep their points (in the same order) with the inflated prices.
  Status CapProtection(std::vector<AllocUnit>& units, uint64_t alloc_budget, Allocation& alloc, RdResult& result) const {
    if (ProtectBytes(units, alloc) <= o.protect_max) return Status::Ok();
    const std::vector<AllocUnit> real = units;
    auto inflate = [&](double mu) {
      std::vector<AllocUnit> u = real;
      for (size_t k = 0; k < u.size(); ++k)
        for (auto& pt : u[k].points) {
          const Cand& c = CandOf(work[k], pt.tag);
          if (c.base_tag < 0) continue;
          const uint64_t base = GridPrice(work[k], c);
          const double extra = std::ceil(mu * double(c.price - base));
          pt.bytes = extra > 1e15 ? uint64_t(1e15) : base + uint64_t(extra);
        }
      return u;
    };
    double lo = 1, hi = 2;
    std::optional<std::pair<std::vector<AllocUnit>, Allocation>> best;
    for (;; hi *= 4) {  // the first mu that fits the cap
      std::vector<AllocUnit> u = inflate(hi);
      GP_ASSIGN_OR_RETURN(Allocation a, Allocate(u, alloc_budget));
      ++result.allocation_rounds;
      if (ProtectBytes(u, a) <= o.protect_max) {
        best.emplace(std::move(u), std::move(a));
        break;
      }
      lo = hi;
      if (hi > 1e12) break;
    }
    if (best) {
      for (int it = 0; it < 16; ++it) {
        const double mid = std::sqrt(lo * hi);
        std::vector<AllocUnit> u = inflate(mid);
        GP_ASSIGN_OR_RETURN(Allocation a, Allocate(u, alloc_budget));
        ++result.allocation_rounds;
        if (ProtectBytes(u, a) <= o.protect_max) {
          hi = mid;
          best.emplace(std::move(u), std::move(a));
        } else {
          lo = mid;
        }
      }
    } else {  // no price keeps it under the cap: no protection at all
      std::vector<AllocUnit> u = real;
      for (size_t k = 0; k < u.size(); ++k)
        std::erase_if(u[k].points, [&](const OperatingPoint& pt) { return CandOf(work[k], pt.tag).base_tag >= 0; });
      GP_ASSIGN_OR_RETURN(Allocation a, Allocate(u, alloc_budget));
      ++result.allocation_rounds;
      best.emplace(std::move(u), std::move(a));
    }
    units = std::move(best->first);
    alloc = std::move(best->second);
    return Status::Ok();
  }
};

RdPlanner::RdPlanner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RdPlanner::RdPlanner(RdPlanner&&) noexcept = default;
RdPlanner& RdPlanner::operator=(RdPlanner&&) noexcept = default;
RdPlanner::~RdPlanner() = default;

uint64_t RdPlanner::min_counted_bytes() const {
  uint64_t total = impl_->fixed_bytes + impl_->code;
  for (const Work& w : impl_->work) {
    uint64_t lo = UINT64_MAX;
    for (const Cand& c : w.plain) lo = std::min(lo, c.price);
    total += lo;
  }
  return total;
}

uint64_t RdPlanner::max_plain_counted_bytes() const {
  uint64_t total = impl_->fixed_bytes + impl_->code;
  for (const Work& w : impl_->work) {
    uint64_t hi = 0;
    for (const Cand& c : w.plain) hi = std::max(hi, c.price);
    total += hi;
  }
  return total;
}

Result<RdPlanner> RdPlanner::Create(const io::TensorFile& model, const Hessians& hessians, const RdOptions& o) {
  const auto t0 = Clock::now();
  RegisterAllCodecs();
  auto impl = std::make_unique<Impl>();
  Impl& p = *impl;
  p.model = &model;
  p.hessians = &hessians;
  p.o = o;
  p.family = o.family;
  p.steps = o.steps;
  if (p.family.empty()) {
    // GPTQ error feedback onto the entropy-coded grid: at equal bytes it
    // roughly halves the measured loss of plain rounding on the demo model.
    // Column classes (cc, ans_grid model 9) where they pay: 0.9 % fewer
    // stream bytes on the 17M shape (docs/results/coders.md).
    if (MakeEncoder("gptq:ans:s0.5:row:cc").ok()) {
      p.family = "gptq:ans:s{s}:row:cc";
    } else {
      p.family = "u{s}:row:none";  // fixed-bit grids when no entropy-coded grid is built in
    }
  }
  if (p.steps.empty()) {
    if (p.family.rfind("u{s}", 0) == 0) {
      p.steps = {2, 3, 4, 5, 6, 7, 8};
    } else {
      // Step = s * row std, half-octave apart: from ~10 bits/param (s = 1/256)
      // down to ~0.5 (s = 2.8).
      for (int k = 0; k < 20; ++k) p.steps.push_back(std::ldexp(std::pow(2.0, 0.5 * k), -8));
    }
  }
  p.threads = o.threads > 0 ? static_cast<unsigned>(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  p.code = o.code_bytes_set ? o.code_bytes : DecoderCodeBytes();
  // GPTQ families are priced in two phases (see RdOptions::gptq_neighbors).
  p.two_phase = p.family.rfind("gptq:", 0) == 0 && o.gptq_neighbors >= 0;
  p.plain_family = p.two_phase ? p.family.substr(5) : p.family;
  if (p.two_phase) {  // GPTQ's own options (act-order, damping, block) mean nothing to plain rounding
    std::string plain;
    size_t at = 0;
    while (at <= p.plain_family.size()) {
      const size_t end = std::min(p.plain_family.find(':', at), p.plain_family.size());
      const std::string tok = p.plain_family.substr(at, end - at);
      if (!(tok == "noact" || tok == "act" || tok.rfind("damp", 0) == 0 || tok.rfind("block", 0) == 0))
        plain += (plain.empty() ? "" : ":") + tok;
      at = end + 1;
    }
    p.plain_family = plain;
  }
  p.ladder = p.family.find("{s}") != std::string::npos && p.family.rfind("u{s}", 0) != 0;
  if (p.two_phase) {
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(Substitute(p.family, p.steps.front())));
    if (const auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc.get())) {
      p.gptq_ans = true;
      p.gptq_options = g->options();
    }
  }
  // Paths.
  const std::vector<std::string> known = RdPathNames();
  for (const std::string& path : o.paths)
    if (std::find(known.begin(), known.end(), path) == known.end())
      return InvalidArgument("recipe rd: unknown path '" + path + "' in --paths (known: grid, lqer, sparse, blocks, columns, rows, rowstep, rowalloc, tcq)");
  auto wants = [&](const char* path) {
    return o.paths.empty() || std::find(o.paths.begin(), o.paths.end(), path) != o.paths.end();
  };
  if (!wants("grid"))
    return InvalidArgument("recipe rd: --paths must include grid (every other path builds on its candidates)");
  p.lqer = wants("lqer") && p.two_phase && !o.lqer_ranks.empty() && !o.lqer_bits.empty();
  if (!o.paths.empty() && wants("lqer") && !p.two_phase)
    return InvalidArgument("recipe rd: path lqer needs a GPTQ family (its candidates correct GPTQ's error); family '" +
                           p.family + "'");
  if (p.lqer) {
    if (o.lqer_ranks.size() * o.lqer_bits.size() > 128)
      return InvalidArgument("recipe rd: at most 128 lqer (rank, bits) pairs");
    for (int r : o.lqer_ranks)
      if (r < 1 || r > 255) return InvalidArgument("recipe rd: lqer rank " + std::to_string(r) + " is not in 1..255");
    for (int b : o.lqer_bits)
      if (!((b >= 2 && b <= 8) || b == 16))
        return InvalidArgument("recipe rd: lqer factor bits " + std::to_string(b) + " are not 2..8 or 16");
    if (o.lqer_group < 0) return InvalidArgument("recipe rd: lqer group must be >= 0");
    p.lqer_max_rank = *std::max_element(o.lqer_ranks.begin(), o.lqer_ranks.end());
  }
  p.rowstep = wants("rowstep") && p.two_phase && !o.rowstep_gammas.empty();
  p.rowalloc = wants("rowalloc") && p.two_phase && !o.rowalloc_lambdas.empty();
  p.tcq = wants("tcq") && p.two_phase && !o.tcq_ratios.empty();
  if (!o.paths.empty() && wants("tcq") && !p.two_phase)
    return InvalidArgument("recipe rd: path tcq needs a GPTQ family; family '" + p.family + "'");
  for (double r : o.tcq_ratios)
    if (!(std::isfinite(r) && r > 0 && r <= 4)) return InvalidArgument("recipe rd: tcq step ratios must be in (0, 4]");
  if (o.tcq_state_bits < 2 || o.tcq_state_bits > 8) return InvalidArgument("recipe rd: tcq state bits must be 2..8");
  if (!(std::isfinite(o.hessian_shrink) && o.hessian_shrink >= 0 && o.hessian_shrink <= 10))
    return InvalidArgument("recipe rd: hessian shrink must be in [0, 10]");
  if (!o.paths.empty() && wants("rowalloc") && !p.two_phase)
    return InvalidArgument("recipe rd: path rowalloc needs a GPTQ family; family '" + p.family + "'");
  for (double mu : o.rowalloc_lambdas)
    if (!(std::isfinite(mu) && mu > 0)) return InvalidArgument("recipe rd: rowalloc lambda multiples must be > 0");
  if (!o.paths.empty() && wants("rowstep") && !p.two_phase)
    return InvalidArgument("recipe rd: path rowstep needs a GPTQ family; family '" + p.family + "'");
  for (double gm : o.rowstep_gammas)
    if (!(std::isfinite(gm) && gm > 0 && gm <= 4)) return InvalidArgument("recipe rd: rowstep exponents must be in (0, 4]");
  for (const PatchPath& path : PatchPaths()) {
    if (!wants(path.name.c_str()) || o.patch_bits.empty()) continue;
    if (!p.two_phase) {
      if (o.paths.empty()) continue;
      return InvalidArgument("recipe rd: path " + path.name + " needs a GPTQ family (its candidates correct GPTQ's error); family '" +
                             p.family + "'");
    }
    p.patch_paths.push_back(path);
  }
  // The candidate sources, in table order.
  if (p.rowalloc)
    p.sources.push_back({"rowalloc", [](const Impl& i, SourceInput& in, LqerSet& set) {
                           return i.AddRowAlloc(in.w, in.base, in.base_tag, set);
                         }});
  if (p.tcq)
    p.sources.push_back({"tcq", [](const Impl& i, SourceInput& in, LqerSet& set) {
                           return i.AddTcq(in.w, in.base, in.base_tag, set);
                         }});
  if (p.rowstep)
    p.sources.push_back({"rowstep", [](const Impl& i, SourceInput& in, LqerSet& set) {
                           return i.AddRowSteps(in.w, in.base, in.base_tag, set);
                         }});
  if (p.lqer)
    p.sources.push_back({"lqer", [](const Impl& i, SourceInput& in, LqerSet& set) {
                           if (!i.chol.count(in.w.h) || i.chol.at(in.w.h).size() == 0) return Status::Ok();
                           return i.AddLqer(in.w, in.base, in.base_tag, in.e, in.base_tr, set);
                         }});
  for (const PatchPath& path : p.patch_paths)
    p.sources.push_back({path.name, [path](const Impl& i, SourceInput& in, LqerSet& set) {
                           return i.AddPatches(in.w, in.base, in.base_tag, i.PatchesOf(in), {path}, nullptr, -1, set);
                         }});
  if (p.lqer)
    for (const PatchPath& path : p.patch_paths)
      if (path.unit == gpk::kPatchElement)
        p.sources.push_back({path.name, [path](const Impl& i, SourceInput& in, LqerSet& set) {
                               return i.AddPatchesOverLqer(in, path, set);
                             }});
  for (int b : o.patch_bits)
    if (!((b >= 2 && b <= 8) || b == 16))
      return InvalidArgument("recipe rd: patch value bits " + std::to_string(b) + " are not 2..8 or 16");
  if (o.patch_block < 1) return InvalidArgument("recipe rd: patch block must be >= 1");

  const double fisher_floor =
      std::isnan(o.row_fisher_floor) ? hessians.RowFisherFloor().value_or(-1.0) : o.row_fisher_floor;
  if (fisher_floor >= 0 && hessians.row_fisher().empty())
    return InvalidArgument("recipe rd: row Fisher weights asked for, but the calibration has no row Fisher "
                           "(golfpack calibrate --row-fisher FLOOR)");
  // Split: quantizable tensors get a candidate ladder; the rest is fixed.
  p.fixed.resize(model.tensors.size());
  p.work_of.assign(model.tensors.size(), -1);
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const io::Tensor& t = model.tensors[i];
    const Eigen::MatrixXd* h = t.shape.size() == 2 ? hessians.ForWeight(t.name) : nullptr;
    if (h && o.hessian_shrink > 0) {
      auto& copy = p.shrunk[h];
      if (!copy) {
        copy = std::make_unique<Eigen::MatrixXd>(*h);
        const double add = o.hessian_shrink * (h->rows() ? h->diagonal().mean() : 0.0);
        copy->diagonal().array() += add;
      }
      h = copy.get();
    }
    if (h) {
      p.work_of[i] = static_cast<int>(p.work.size());
      Work w;
      w.tensor = &t;
      w.h = h;
      w.sensitivity = hessians.Sensitivity(t.name).value_or(1.0);
      w.tcq_sensitivity = o.tcq_sensitivity.count(t.name) ? o.tcq_sensitivity.at(t.name)
                                                           : hessians.TcqSensitivity(t.name).value_or(w.sensitivity);
      w.rw = hessians.RowWeights(t.name, t.shape[0], o.token_row_floor, fisher_floor);
      w.shape.assign(t.shape.begin(), t.shape.end());
      w.rows = w.shape[0];
      w.cols = w.shape[1];
      GP_ASSIGN_OR_RETURN(w.values, t.ToFloat32());
      w.plain.resize(p.steps.size());
      w.gptq.resize(p.steps.size());
      p.work.push_back(std::move(w));
      continue;
    }
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(io::IsControlTensorName(t.name) ? "f32" : "f16"));
    GP_ASSIGN_OR_RETURN(std::vector<float> v, t.ToFloat32());
    std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
    GP_ASSIGN_OR_RETURN(p.fixed[i], enc->Encode(t.name, shape, v, nullptr));
  }
  if (p.work.empty()) return InvalidArgument("recipe rd: no tensor has a Hessian in the calibration file");

  // The plain ladder: one task per (tensor, step).
  const size_t ns = p.steps.size();
  std::vector<double> cost(p.work.size() * ns);
  for (size_t k = 0; k < p.work.size(); ++k)
    for (size_t si = 0; si < ns; ++si) cost[k * ns + si] = double(p.work[k].rows * p.work[k].cols);
  std::vector<std::atomic<size_t>> left(p.work.size());
  for (auto& l : left) l = ns;
  std::atomic<size_t> done{0};
  std::mutex progress_mu;
  GP_RETURN_IF_ERROR(ParallelFor(p.work.size() * ns, p.threads, cost, [&](size_t task) -> Status {
    const size_t k = task / ns, si = task % ns;
    Work& w = p.work[k];
    GP_ASSIGN_OR_RETURN(w.plain[si], p.Evaluate(w, p.plain_family, p.steps[si], /*pack=*/false));
    if (--left[k] == 0 && o.progress) {
      std::lock_guard<std::mutex> lock(progress_mu);
      o.progress({"candidates", ++done, p.work.size(), "tensors", w.tensor->name});
    }
    return Status::Ok();
  }));

  // The fixed part of the file: one real build with the cheapest candidates.
  std::vector<gpk::EncodedTensor> tensors;
  uint64_t priced = 0;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    if (p.work_of[i] < 0) {
      tensors.push_back(p.fixed[i]);
      continue;
    }
    const Work& w = p.work[static_cast<size_t>(p.work_of[i])];
    size_t best = 0;
    for (size_t c = 1; c < w.plain.size(); ++c)
      if (w.plain[c].price < w.plain[best].price) best = c;
    std::optional<Cand> storage;
    GP_ASSIGN_OR_RETURN(const gpk::EncodedTensor* e, p.Packed(w, w.plain[best], storage));
    tensors.push_back(*e);
    priced += w.plain[best].price;
  }
  gpk::WriteOptions wopt;
  wopt.metadata = {{"golfpack.recipe", "rd"}, {"golfpack.format", "gpk-1"}};
  wopt.metadata.merge(io::ArchitectureMetadata(model.metadata));
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> base, gpk::BuildArtifact(tensors, wopt));
  p.fixed_bytes = base.size() - priced;
  p.ladder_seconds = Since(t0);
  return RdPlanner(std::move(impl));
}

Result<RdResult> RdPlanner::Pack(uint64_t budget) { return impl_->Pack(budget); }

Result<RdResult> RdPlanner::Impl::Pack(uint64_t budget) {
  const auto t0 = Clock::now();
  if (budget == 0) return InvalidArgument("recipe rd needs --budget BYTES");
  RdResult result;
  result.family = family;
  result.timings.ladder = ladder_seconds;
  const size_t nw = work.size(), ns = steps.size();
  const uint64_t overhead = fixed_bytes + code;
  uint64_t min_var = 0;
  for (const Work& w : work) {
    uint64_t lo = UINT64_MAX;
    for (const Cand& c : w.plain) lo = std::min(lo, c.price);
    min_var += lo;
  }
  if (overhead + min_var > budget)
    return InvalidArgument("recipe rd: --budget " + std::to_string(budget) + " is below the smallest possible artifact (" +
                           std::to_string(overhead + min_var) + " bytes counted, code " + std::to_string(code) +
                           " included)");
  const uint64_t alloc_budget = budget - overhead;

  auto cand_of = [&](size_t k, int tag) -> const Cand& { return CandOf(work[k], tag); };
  std::vector<AllocUnit> units(nw);
  for (size_t k = 0; k < nw; ++k) {
    units[k].name = work[k].tensor->name;
    for (size_t i = 0; i < ns; ++i)
      units[k].points.push_back({work[k].plain[i].price, work[k].plain[i].c.predicted, static_cast<int>(i)});
  }
  auto ta = Clock::now();
  GP_ASSIGN_OR_RETURN(Allocation alloc, Allocate(units, alloc_budget));
  result.allocation_rounds = 1;
  first_lambda = alloc.lambda;
  result.timings.allocation += Since(ta);

  if (two_phase) {
    // Phase 2: GPTQ around the steps plain rounding would get (cached across budgets).
    std::vector<std::pair<int, int>> window(nw);
    std::vector<int> center(nw);
    const int protect_reach = o.protect_neighbors < 0 ? o.gptq_neighbors : std::min(o.protect_neighbors, o.gptq_neighbors);
    std::vector<size_t> tasks;  // k * ns + si
    std::vector<size_t> ks;
    for (size_t k = 0; k < nw; ++k) {
      center[k] = units[k].points[alloc.choice[k]].tag;
      window[k] = {std::max(0, center[k] - o.gptq_neighbors), std::min(static_cast<int>(ns) - 1, center[k] + o.gptq_neighbors)};
      work[k].center = center[k];
      work[k].lo = window[k].first;
      work[k].hi = window[k].second;
      bool any = false;
      for (int si = window[k].first; si <= window[k].second; ++si)
        if (!work[k].gptq[static_cast<size_t>(si)]) {
          tasks.push_back(k * ns + static_cast<size_t>(si));
          any = true;
        }
      if (any) ks.push_back(k);
    }
    const auto tf = Clock::now();
    GP_RETURN_IF_ERROR(EnsureFactors(ks));
    result.timings.factor = Since(tf);
    const auto tg = Clock::now();
    std::vector<double> cost(tasks.size());
    for (size_t i = 0; i < tasks.size(); ++i) {
      const Work& w = work[tasks[i] / ns];
      cost[i] = double(w.rows) * double(w.cols) * double(w.cols);
    }
    std::vector<std::atomic<size_t>> left(nw);
    for (size_t i = 0; i < tasks.size(); ++i) ++left[tasks[i] / ns];
    std::atomic<size_t> done{0};
    std::mutex progress_mu;
    GP_RETURN_IF_ERROR(ParallelFor(tasks.size(), threads, cost, [&](size_t i) -> Status {
      const size_t k = tasks[i] / ns, si = tasks[i] % ns;
      Work& w = work[k];
      GP_ASSIGN_OR_RETURN(Cand c, Evaluate(w, family, steps[si], /*pack=*/true));
      w.gptq[si] = std::move(c);
      if (--left[k] == 0 && o.progress) {
        std::lock_guard<std::mutex> lock(progress_mu);
        o.progress({"gptq", ++done, ks.size(), "tensors", w.tensor->name});
      }
      return Status::Ok();
    }));
    result.timings.gptq = Since(tg);
    if (!sources.empty()) {
      // The protection paths: corrections of every GPTQ candidate in the window.
      const auto tl = Clock::now();
      if (lqer) EnsureChol(ks);
      std::vector<std::pair<size_t, int>> fits;  // (k, base tag)
      std::vector<size_t> lks;
      for (size_t k = 0; k < nw; ++k) {
        if (patch_paths.empty() && !rowstep && !rowalloc && !tcq && chol.at(work[k].h).size() == 0) continue;
        bool any = false;
        for (int si = window[k].first; si <= window[k].second; ++si) {
          const int tag = static_cast<int>(ns) + si;
          if (std::abs(si - center[k]) > protect_reach || work[k].lqer.count(tag)) continue;
          work[k].lqer.emplace(tag, LqerSet{});
          fits.push_back({k, tag});
          any = true;
        }
        if (any) lks.push_back(k);
      }
      std::vector<double> lcost(fits.size());
      for (size_t i = 0; i < fits.size(); ++i) {
        const Work& w = work[fits[i].first];
        lcost[i] = double(w.rows) * double(w.cols) * double(w.cols);
      }
      std::vector<std::atomic<size_t>> lleft(nw);
      for (const auto& f : fits) ++lleft[f.first];
      std::atomic<size_t> ldone{0};
      GP_RETURN_IF_ERROR(ParallelFor(fits.size(), threads, lcost, [&](size_t i) -> Status {
        const auto [k, tag] = fits[i];
        Work& w = work[k];
        GP_ASSIGN_OR_RETURN(w.lqer.at(tag), FitLqer(w, CandOf(w, tag), tag));
        if (--lleft[k] == 0 && o.progress) {
          std::lock_guard<std::mutex> lock(progress_mu);
          o.progress({"lqer", ++ldone, lks.size(), "tensors", w.tensor->name});
        }
        return Status::Ok();
      }));
      result.timings.lqer = Since(tl);
      result.timings.source_cpu = std::exchange(source_cpu, {});
    }
    // GPTQ candidates, priced by the full proxy, plus the plain candidates
    // cheaper than all of them (so the smallest budgets stay reachable; plain
    // rounding's errors are nearly uncorrelated across columns, where the
    // diagonal proxy is the full one's expectation).
    for (size_t k = 0; k < nw; ++k) {
      AllocUnit u;
      u.name = work[k].tensor->name;
      uint64_t lo = UINT64_MAX;
      for (int si = window[k].first; si <= window[k].second; ++si) {
        const Cand& c = *work[k].gptq[static_cast<size_t>(si)];
        const int tag = static_cast<int>(ns) + si;
        u.points.push_back({c.price, c.c.predicted, tag});
        lo = std::min(lo, c.price);
        if (auto it = work[k].lqer.find(tag); it != work[k].lqer.end())
          for (size_t j = 0; j < it->second.cands.size(); ++j)
            u.points.push_back({it->second.cands[j].price, it->second.cands[j].c.predicted, LqerTag(tag, j)});
      }
      for (size_t i = 0; i < ns; ++i)
        if (work[k].plain[i].price < lo)
          u.points.push_back({work[k].plain[i].price, work[k].plain[i].c.predicted, static_cast<int>(i)});
      units[k] = std::move(u);
    }
    ta = Clock::now();
    GP_ASSIGN_OR_RETURN(alloc, Allocate(units, alloc_budget));
    ++result.allocation_rounds;
    if (o.protect_max != UINT64_MAX) GP_RETURN_IF_ERROR(CapProtection(units, alloc_budget, alloc, result));
    result.timings.allocation += Since(ta);
  }

  // The pick per tensor; fine-fill candidates live in `fine` (this budget only).
  struct Fill {
    std::vector<const Cand*> pick;
    std::vector<std::optional<Cand>> fine;
    uint64_t total = 0;
    int fine_steps = 0;
    double predicted = 0;
  };
  const auto tfill = Clock::now();
  auto finish = [&](const std::vector<AllocUnit>& units, const Allocation& alloc, Fill& f) -> Status {
    f.pick.assign(nw, nullptr);
    f.fine.assign(nw, std::nullopt);
    f.total = overhead;
    auto& pick = f.pick;
    auto& fine = f.fine;
    uint64_t& total = f.total;
    for (size_t k = 0; k < nw; ++k) {
      pick[k] = &cand_of(k, units[k].points[alloc.choice[k]].tag);
      total += pick[k]->price;
    }
    if (total > budget) return Internal("recipe rd: the allocation is over the budget");

    // Fine fill: the ladder is half an octave apart, so some slack can be left
    // over. Move the tensors with the best return per byte to a step between
    // their rung and the next finer one (bisection on the step) while the slack
    // allows, until it is within 0.1% of the budget. Prices are exact.
    auto slope = [&](size_t k) {  // predicted loss saved per byte by the next finer candidate of the unit
      const Cand& c = *pick[k];
      double best = 0;
      for (const auto& pt : units[k].points) {
        const Cand& other = cand_of(k, pt.tag);
        if (other.c.gptq == c.c.gptq && other.price > c.price && other.c.predicted < c.c.predicted)
          best = std::max(best, (c.c.predicted - other.c.predicted) / double(other.price - c.price));
      }
      return best;
    };
    std::vector<size_t> order(nw);
    std::vector<double> slopes(nw);
    for (size_t k = 0; k < nw; ++k) {
      order[k] = k;
      slopes[k] = slope(k);
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return slopes[a] > slopes[b]; });
    for (size_t k : order) {
      const uint64_t slack = budget - total;
      if (!ladder || slack <= budget / 1000) break;
      const Work& w = work[k];
      // Search between the chosen step and the next finer rung (smaller step,
      // more bytes), in the chosen candidate's family.
      const Cand& chosen = *pick[k];
      if (chosen.base_tag >= 0) continue;  // an lqer pick: its grid step stays where the allocator put it
      const std::string& fam = chosen.c.gptq ? family : plain_family;
      double lo = -1, hi = chosen.c.step;
      for (double s : steps)
        if (s < chosen.c.step) lo = std::max(lo, s);
      if (lo <= 0) continue;  // already at the finest rung
      std::optional<Cand> best;
      for (int it = 0; it < (chosen.c.gptq ? 6 : 10); ++it) {
        const double mid = std::sqrt(lo * hi);
        GP_ASSIGN_OR_RETURN(Cand c, Evaluate(w, fam, mid, /*pack=*/false));
        if (c.price <= chosen.price + slack) {
          if (c.c.predicted < (best ? best->c.predicted : chosen.c.predicted)) best = std::move(c);
          hi = mid;  // fits: try a finer step
        } else {
          lo = mid;
        }
      }
      if (!best) continue;
      total = total - chosen.price + best->price;
      fine[k] = std::move(best);
      pick[k] = &*fine[k];
      ++f.fine_steps;
    }
    for (size_t k = 0; k < nw; ++k) f.predicted += pick[k]->c.predicted;
    return Status::Ok();
  };
  Fill fill;
  GP_RETURN_IF_ERROR(finish(units, alloc, fill));
  // A tensor that takes a correction keeps its grid rung (no fine fill), so
  // the grid-only allocation, finished on its own, can predict less loss
  // when the corrections buy little: keep whichever predicts less.
  bool any_lqer = false;
  for (const Cand* c : fill.pick) any_lqer |= c->base_tag >= 0;
  if (any_lqer) {
    std::vector<AllocUnit> grid_units = units;
    for (size_t k = 0; k < nw; ++k)
      std::erase_if(grid_units[k].points, [&](const OperatingPoint& pt) { return cand_of(k, pt.tag).base_tag >= 0; });
    GP_ASSIGN_OR_RETURN(Allocation grid_alloc, Allocate(grid_units, alloc_budget));
    ++result.allocation_rounds;
    Fill grid_fill;
    GP_RETURN_IF_ERROR(finish(grid_units, grid_alloc, grid_fill));
    if (grid_fill.predicted < fill.predicted) {
      units = std::move(grid_units);
      alloc = std::move(grid_alloc);
      fill = std::move(grid_fill);
    }
  }
  std::vector<const Cand*>& pick = fill.pick;
  std::vector<std::optional<Cand>>& fine = fill.fine;
  const uint64_t total = fill.total;
  result.fine_steps = fill.fine_steps;
  result.underfilled = budget - total > budget / 1000;
  result.timings.fine_fill = Since(tfill);

  // The one real build, checked against the prices.
  const auto tb = Clock::now();
  std::vector<gpk::EncodedTensor> tensors;
  tensors.reserve(model->tensors.size());
  for (size_t i = 0; i < model->tensors.size(); ++i) {
    if (work_of[i] < 0) {
      tensors.push_back(fixed[i]);
      continue;
    }
    const size_t k = static_cast<size_t>(work_of[i]);
    std::optional<Cand> storage;
    GP_ASSIGN_OR_RETURN(const gpk::EncodedTensor* e, Packed(work[k], *pick[k], storage));
    tensors.push_back(*e);
  }
  gpk::WriteOptions wopt;
  wopt.metadata = {{"golfpack.recipe", "rd"}, {"golfpack.format", "gpk-1"}};
  wopt.metadata.merge(io::ArchitectureMetadata(model->metadata));
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, gpk::BuildArtifact(tensors, wopt));  // one uncompressed section per tensor
  tensors.clear();
  if (bytes.size() + code != total)
    return Internal("recipe rd: the artifact is " + std::to_string(bytes.size() + code) + " bytes counted, priced at " +
                    std::to_string(total));

  // Report.
  auto art = gpk::Artifact::Parse(bytes, "rd");
  if (!art.ok()) return Internal("recipe rd built an unreadable artifact: " + art.status().ToString());
  std::map<std::string, uint64_t> accounted;
  const gpk::ByteAccount acct = gpk::AccountBytes(*art);
  for (size_t i = 0; i < art->tensors().size(); ++i) accounted[art->tensors()[i].name] = acct.tensors[i];
  for (size_t k = 0; k < nw; ++k) {
    RdTensorReport r;
    r.name = work[k].tensor->name;
    r.numel = static_cast<uint64_t>(work[k].tensor->numel());
    r.sensitivity = work[k].sensitivity;
    // Every plain candidate, then the GPTQ (and lqer) candidates this budget used, then the fine step.
    const int tag = units[k].points[alloc.choice[k]].tag;
    for (const Cand& c : work[k].plain) r.candidates.push_back(c.c);
    if (tag < static_cast<int>(ns)) r.chosen = static_cast<size_t>(tag);
    for (const auto& pt : units[k].points)
      if (pt.tag >= static_cast<int>(ns)) {
        if (pt.tag == tag) r.chosen = r.candidates.size();
        r.candidates.push_back(cand_of(k, pt.tag).c);
      }
    if (fine[k]) {
      r.candidates.push_back(fine[k]->c);
      r.chosen = r.candidates.size() - 1;
    }
    r.bytes = accounted[r.name];
    const RdCandidate& c = r.candidates[r.chosen];
    r.predicted_loss = c.predicted;
    size_t cheapest = 0;
    for (size_t i = 1; i < r.candidates.size(); ++i)
      if (r.candidates[i].bytes < r.candidates[cheapest].bytes) cheapest = i;
    r.loss_bought = r.candidates[cheapest].predicted - c.predicted;
    // Marginal return at the chosen point: the best further improvement per KB.
    for (const auto& other : r.candidates)
      if (other.gptq == c.gptq && other.path == c.path && other.bytes > c.bytes && other.predicted < c.predicted)
        r.marginal_loss_per_kb =
            std::max(r.marginal_loss_per_kb, (c.predicted - other.predicted) / double(other.bytes - c.bytes) * 1024.0);
    result.predicted_loss += r.predicted_loss;
    result.tensors.push_back(std::move(r));
  }
  // What each path got.
  RdPathReport grid{"grid"};
  std::vector<RdPathReport> prot;  // the protection paths that are on, in RdPathNames order
  if (lqer) prot.push_back({"lqer"});
  for (const PatchPath& path : patch_paths) prot.push_back({path.name});
  if (rowstep) prot.push_back({"rowstep"});
  if (rowalloc) prot.push_back({"rowalloc"});
  if (tcq) prot.push_back({"tcq"});
  auto prot_of = [&](const std::string& name) -> RdPathReport& {
    for (auto& r : prot)
      if (r.path == name) return r;
    return prot.front();  // unreachable: every protection candidate's path is on
  };
  for (size_t k = 0; k < nw; ++k) {
    const Cand& c = *pick[k];
    // What the chosen candidate builds on: its grid candidate, or the tcq candidate it corrects.
    const Cand& base = c.over_index >= 0 ? work[k].lqer.at(c.base_tag).cands[size_t(c.over_index)]
                       : c.base_tag >= 0 ? CandOf(work[k], c.base_tag)
                                         : c;
    if (c.over_index >= 0) ++prot_of("tcq").units;
    ++grid.units;
    grid.bytes += c.base_tag >= 0 ? GridPrice(work[k], c) : c.price;
    uint64_t cheapest = UINT64_MAX;
    double cheapest_loss = 0;
    for (const auto& pt : units[k].points) {
      const Cand& x = cand_of(k, pt.tag);
      if (x.base_tag < 0 && x.price < cheapest) {
        cheapest = x.price;
        cheapest_loss = x.c.predicted;
      }
    }
    if (cheapest != UINT64_MAX) grid.loss_bought += std::max(0.0, cheapest_loss - base.c.predicted);
    if (c.base_tag < 0) grid.marginal_loss_per_kb = std::max(grid.marginal_loss_per_kb, result.tensors[k].marginal_loss_per_kb);
    // Protection: what the correction added, and per path the best next
    // correction on the same grid candidate.
    const int base_tag = c.base_tag >= 0 ? c.base_tag : units[k].points[alloc.choice[k]].tag;
    if (c.base_tag >= 0) {
      // A patch over a correction: the correction's share goes to lqer.
      const Cand& under = c.lqer_index >= 0 ? work[k].lqer.at(c.base_tag).cands[size_t(c.lqer_index)] : base;
      const uint64_t under_price = c.lqer_index >= 0 ? under.price : GridPrice(work[k], c);
      if (c.lqer_index >= 0) {
        RdPathReport& l = prot_of("lqer");
        ++l.units;
        l.bytes += under.price - base.price;
        l.loss_bought += base.c.predicted - under.c.predicted;
      }
      RdPathReport& r = prot_of(c.c.path);
      ++r.units;
      r.bytes += c.price - under_price;
      r.loss_bought += under.c.predicted - c.c.predicted;
    }
    if (auto it = work[k].lqer.find(base_tag); it != work[k].lqer.end() && !fine[k])
      for (const Cand& x : it->second.cands)
        if (x.price > c.price && x.c.predicted < c.c.predicted) {
          RdPathReport& r = prot_of(x.c.path);
          r.marginal_loss_per_kb =
              std::max(r.marginal_loss_per_kb, (c.c.predicted - x.c.predicted) / double(x.price - c.price) * 1024.0);
        }
  }
  result.paths.push_back(grid);
  for (auto& r : prot) result.paths.push_back(r);
  result.lambda = alloc.lambda;
  PackResult& pr = result.pack;
  pr.bytes = std::move(bytes);
  pr.file_bytes = pr.bytes.size();
  pr.code_bytes = code;
  pr.counted_bytes = pr.file_bytes + code;
  for (const auto& t : model->tensors) {
    pr.params += static_cast<uint64_t>(t.numel());
    pr.tensors.push_back({t.name, std::vector<uint64_t>(t.shape.begin(), t.shape.end()), static_cast<uint64_t>(t.numel()),
                          "", 0, 0});
  }
  result.timings.assembly = Since(tb);
  pr.seconds = Since(t0) + ladder_seconds;
  result.timings.total = pr.seconds;
  return result;
}

std::vector<std::string> RdPathNames() {
  return {"grid", "lqer", "sparse", "blocks", "columns", "rows", "rowstep", "rowalloc", "tcq"};
}

Result<RdResult> PackRd(const io::TensorFile& model, const Hessians& hessians, const RdOptions& o) {
  if (o.budget == 0) return InvalidArgument("recipe rd needs --budget BYTES");
  GP_ASSIGN_OR_RETURN(RdPlanner planner, RdPlanner::Create(model, hessians, o));
  return planner.Pack(o.budget);
}

std::string RdReportJson(const RdResult& r) {
  nlohmann::json j;
  j["recipe"] = "rd";
  j["family"] = r.family;
  j["file_bytes"] = r.pack.file_bytes;
  j["code_bytes"] = r.pack.code_bytes;
  j["counted_bytes"] = r.pack.counted_bytes;
  j["params"] = r.pack.params;
  j["predicted_loss_increase"] = r.predicted_loss;
  j["lambda_loss_per_byte"] = r.lambda;
  j["seconds"] = r.pack.seconds;
  const RdTimings& t = r.timings;
  j["timings"] = {{"ladder", t.ladder}, {"factor", t.factor},       {"gptq", t.gptq},          {"protection", t.lqer},
                  {"allocation", t.allocation}, {"fine_fill", t.fine_fill}, {"assembly", t.assembly}, {"total", t.total}};
  for (const auto& [path, sec] : t.source_cpu) j["timings"]["source_cpu"][path] = sec;
  for (const auto& t : r.tensors) {
    nlohmann::json row = {{"name", t.name},
                          {"params", t.numel},
                          {"sensitivity", t.sensitivity},
                          {"chosen", t.candidates[t.chosen].spec},
                          {"bytes", t.bytes},
                          {"bits_per_param", 8.0 * double(t.bytes) / double(std::max<uint64_t>(t.numel, 1))},
                          {"predicted_loss", t.predicted_loss},
                          {"loss_bought", t.loss_bought},
                          {"marginal_loss_per_kb", t.marginal_loss_per_kb}};
    for (const auto& c : t.candidates)
      row["candidates"].push_back({{"spec", c.spec}, {"bytes", c.bytes}, {"proxy", c.proxy}, {"predicted", c.predicted}});
    j["tensors"].push_back(row);
  }
  for (const auto& p : r.paths)
    j["paths"].push_back({{"path", p.path},
                          {"units", p.units},
                          {"bytes", p.bytes},
                          {"loss_bought", p.loss_bought},
                          {"marginal_loss_per_kb", p.marginal_loss_per_kb}});
  return j.dump(2);
}

}  // namespace golfpack::encode
