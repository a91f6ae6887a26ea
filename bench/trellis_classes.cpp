// Would column classes pay inside trellis grids? (issue 9: ans_grid model 9's
// per-column tables exist for plain grids only.)
//
// For every ans_grid tensor of an artifact that is a trellis grid (models 2 to
// 8), plain or inside lowrank / patch, the trellis walk is replayed to split
// the codes into the two unions' symbols, each with its column. The two union
// streams are then priced as the format stores them (one order-0 table each)
// and as a stream with K column classes shared by both unions would store
// them (2K tables, one per union and class), for K = 2, 4, 8, 16, with the
// classes found the way model 9's writer finds them (quantiles of the
// columns' mean |code|, then moves to the cheapest class until none moves),
// here summing both unions' code lengths. The classed price includes what
// the classes cost to store: log2 K bits per column, the model header of
// each union, and a symbol count per (union, class) segment, so that a
// lockstep decoder could decode each union stream before the walk. Prices are
// ideal code lengths under the quantised tables plus the tables' bytes (the
// estimate rd prices candidates with), at the best table precision; the
// rANS states and the existing n1/size0 fields are common to both and left
// out. The stored union streams' bytes are printed for scale.
//
//   trellis_classes FILE.gpk [--tsv PATH]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/file_util.h"
#include "core/rans.h"

namespace gp = golfpack;

namespace {

// Ungerboeck's (h0, h1) for 2^v states, v = 2..8 (FORMAT.md, "trellis grids").
constexpr uint32_t kH[7][2] = {{05, 02}, {013, 04}, {023, 04}, {045, 010}, {0103, 024}, {0235, 0126}, {0515, 0362}};

using Hist = std::vector<std::pair<uint16_t, uint32_t>>;  // (symbol, count)

// Bytes of the tables for counts (one count vector per table; empty = no
// table) plus the ideal code length, at the best precision. header5: the
// context-model header (K tables share it) instead of each table's own.
double Price(const std::vector<std::vector<uint64_t>>& counts, size_t alphabet, int z, bool header5) {
  double best = std::numeric_limits<double>::infinity();
  for (int m = gp::kRansMinScaleBits; m <= gp::kRansMaxScaleBits; ++m) {
    double est = header5 ? 2.0 + gp::VarintSize(alphabet) + gp::VarintSize(uint64_t(z)) +
                               gp::VarintSize(uint64_t{1} << counts.size())
                         : 0.0;
    bool ok = true;
    for (const auto& c : counts) {
      if (c.empty()) continue;
      auto t = gp::FrequencyTable::FromCounts(c, m);
      if (!t.ok()) {
        ok = false;
        break;
      }
      est += double(header5 ? t->BodySize() : t->SerializedSize()) + t->CostBits(c) / 8.0;
    }
    if (ok) best = std::min(best, est);
  }
  return best;
}

struct Union {
  int z = 0;                 // max |v|
  std::vector<Hist> hist;    // per column
  uint64_t n = 0;
};

// Classes shared by both unions: model 9's search with both unions' code
// lengths summed. mean_abs: each column's mean |code|.
std::vector<uint8_t> Classify(const Union (&u)[2], const std::vector<double>& mean_abs, int k) {
  const size_t cols = mean_abs.size();
  std::vector<std::pair<double, size_t>> order(cols);
  for (size_t c = 0; c < cols; ++c) order[c] = {mean_abs[c], c};
  std::sort(order.begin(), order.end());
  std::vector<uint8_t> cls(cols);
  for (size_t i = 0; i < cols; ++i) cls[order[i].second] = uint8_t(i * size_t(k) / cols);
  for (int pass = 0; pass < 8; ++pass) {
    std::vector<double> logp[2];
    for (int a = 0; a < 2; ++a) {
      const size_t alpha = size_t(2 * u[a].z + 1);
      std::vector<double> count(size_t(k) * alpha, 0.02), total(size_t(k), 0.02 * double(alpha));
      for (size_t c = 0; c < cols; ++c)
        for (auto [s, h] : u[a].hist[c]) count[cls[c] * alpha + s] += h, total[cls[c]] += h;
      logp[a].resize(count.size());
      for (size_t i = 0; i < count.size(); ++i) logp[a][i] = std::log2(count[i] / total[i / alpha]);
    }
    bool moved = false;
    for (size_t c = 0; c < cols; ++c) {
      auto bits = [&](int j) {
        double b = 0;
        for (int a = 0; a < 2; ++a) {
          const size_t alpha = size_t(2 * u[a].z + 1);
          for (auto [s, h] : u[a].hist[c]) b -= double(h) * logp[a][size_t(j) * alpha + s];
        }
        return b;
      };
      int best = cls[c];
      double best_bits = bits(best);
      for (int j = 0; j < k; ++j)
        if (const double b = bits(j); b < best_bits - 1e-9) best = j, best_bits = b;
      if (best != cls[c]) cls[c] = uint8_t(best), moved = true;
    }
    if (!moved) break;
  }
  return cls;
}

struct Row {
  std::string name;
  uint64_t rows = 0, cols = 0;
  int model = 0;
  uint64_t stored = 0;  // the union streams' bytes in the artifact (with states and n1/size0)
  double plain = 0;     // estimate, one table per union
  int best_k = 1;
  double classed = 0;   // estimate at best_k, everything the classes cost included
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: trellis_classes FILE.gpk [--tsv PATH]\n");
    return 2;
  }
  const std::string path = argv[1];
  std::string tsv;
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--tsv") tsv = argv[i + 1];
  auto bytes = gp::ReadFileBytes(path);
  if (!bytes.ok()) {
    std::fprintf(stderr, "trellis_classes: %s\n", bytes.status().ToString().c_str());
    return 1;
  }
  auto art = gp::gpk::Artifact::Parse(*bytes, path);
  if (!art.ok()) {
    std::fprintf(stderr, "trellis_classes: %s\n", art.status().ToString().c_str());
    return 1;
  }
  std::map<size_t, std::vector<uint8_t>> sections;
  std::vector<Row> rows_out;
  for (const auto& t : art->tensors()) {
    if (t.shape.size() != 2) continue;
    if (!sections.count(t.section)) {
      auto s = art->SectionBytes(t.section);
      if (!s.ok()) {
        std::fprintf(stderr, "trellis_classes: %s\n", s.status().ToString().c_str());
        return 1;
      }
      sections[t.section] = std::move(*s);
    }
    std::span<const uint8_t> payload = std::span<const uint8_t>(sections[t.section]).subspan(t.offset, t.length);
    uint32_t enc = t.encoding;
    std::span<const uint8_t> params = t.params;
    std::vector<uint8_t> inner_params;
    if (enc == gp::gpk::kLowRank || enc == gp::gpk::kPatch) {
      uint32_t inner = 0;
      uint64_t inner_len = 0;
      if (enc == gp::gpk::kLowRank) {
        auto p = gp::gpk::LowRankParams::Parse(params);
        if (!p.ok()) continue;
        inner = p->inner, inner_params = p->inner_params, inner_len = p->inner_payload;
      } else {
        auto p = gp::gpk::PatchParams::Parse(params);
        if (!p.ok()) continue;
        inner = p->inner, inner_params = p->inner_params, inner_len = p->inner_payload;
      }
      enc = inner, params = inner_params, payload = payload.first(inner_len);
    }
    if (enc != gp::gpk::kAnsGrid) continue;
    auto p = gp::gpk::AnsGridParams::Parse(params);
    if (!p.ok() || p->model < 2 || p->model > 8) continue;
    const uint64_t rows = t.shape[0], cols = t.shape[1];
    const gp::gpk::TensorView view{t.shape, rows * cols, params, payload, {}};
    std::vector<uint8_t> stored_scales;
    auto codes = gp::gpk::AnsGridCodesRef(view, &stored_scales);
    if (!codes.ok()) {
      std::fprintf(stderr, "trellis_classes: %s: %s\n", t.name.c_str(), codes.status().ToString().c_str());
      return 1;
    }
    // Replay the walk: element (r, c) belongs to union a = s & 1 and carries v = (code - a) / 2.
    const uint32_t h0 = kH[p->model - 2][0] >> 1, h1 = kH[p->model - 2][1] >> 1;
    std::vector<int32_t> v(rows * cols);
    std::vector<uint8_t> un(rows * cols);
    std::vector<double> mean_abs(cols, 0.0);
    Union u[2];
    for (uint64_t r = 0; r < rows; ++r) {
      uint32_t s = 0;
      for (uint64_t c = 0; c < cols; ++c) {
        const int32_t code = (*codes)[r * cols + c];
        const uint32_t a = s & 1u;
        const int32_t x = (code - int32_t(a)) / 2;
        v[r * cols + c] = x, un[r * cols + c] = uint8_t(a);
        u[a].z = std::max(u[a].z, std::abs(x));
        mean_abs[c] += std::abs(code) / double(rows);
        s = (s >> 1) ^ (a ? h0 : 0u) ^ ((x & 1) ? h1 : 0u);
      }
    }
    for (int a = 0; a < 2; ++a) {
      const size_t alpha = size_t(2 * u[a].z + 1);
      std::vector<uint32_t> h(cols * alpha, 0);
      for (uint64_t i = 0; i < rows * cols; ++i)
        if (un[i] == a) ++h[(i % cols) * alpha + size_t(v[i] + u[a].z)], ++u[a].n;
      u[a].hist.resize(cols);
      for (uint64_t c = 0; c < cols; ++c)
        for (size_t s = 0; s < alpha; ++s)
          if (h[c * alpha + s]) u[a].hist[c].push_back({uint16_t(s), h[c * alpha + s]});
    }
    auto counts_for = [&](const std::vector<uint8_t>& cls, int k, int a) {
      const size_t alpha = size_t(2 * u[a].z + 1);
      std::vector<std::vector<uint64_t>> kc(static_cast<size_t>(k));
      for (uint64_t c = 0; c < cols; ++c)
        for (auto [s, h] : u[a].hist[c]) {
          auto& t2 = kc[cls[c]];
          if (t2.empty()) t2.assign(alpha, 0);
          t2[s] += h;
        }
      return kc;
    };
    Row row;
    row.name = t.name, row.rows = rows, row.cols = cols, row.model = p->model;
    row.stored = payload.size() - stored_scales.size();
    const std::vector<uint8_t> one(cols, 0);
    for (int a = 0; a < 2; ++a)
      if (u[a].n) row.plain += Price(counts_for(one, 1, a), size_t(2 * u[a].z + 1), u[a].z, false);
    row.classed = row.plain;
    for (int k : {2, 4, 8, 16}) {
      if (uint64_t(k) > cols) break;
      const std::vector<uint8_t> cls = Classify(u, mean_abs, k);
      double est = 1.0 + double(gp::ColumnClassBytes(cols, k));  // u8 K, the classes
      for (int a = 0; a < 2; ++a) {
        if (!u[a].n) continue;
        const auto kc = counts_for(cls, k, a);
        est += Price(kc, size_t(2 * u[a].z + 1), u[a].z, true);
        for (int j = 0; j + 1 < k; ++j) {  // segment counts (the last one follows)
          uint64_t n = 0;
          for (uint64_t x : kc[size_t(j)]) n += x;
          est += double(gp::VarintSize(n));
        }
      }
      if (est < row.classed) row.classed = est, row.best_k = k;
    }
    rows_out.push_back(row);
  }
  if (rows_out.empty()) {
    std::printf("%s: no trellis grids\n", path.c_str());
    return 0;
  }
  std::printf("artifact %s (%zu bytes): %zu trellis grids\n\n", path.c_str(), bytes->size(), rows_out.size());
  std::printf("%-28s %11s %6s %10s %12s %3s %12s %8s\n", "tensor", "shape", "model", "stored", "est. plain", "K",
              "est. classes", "saving");
  double sp = 0, sc = 0;
  uint64_t ss = 0;
  std::FILE* f = tsv.empty() ? nullptr : std::fopen(tsv.c_str(), "w");
  if (f) std::fprintf(f, "tensor\trows\tcols\tmodel\tstored_union_bytes\test_plain\tbest_k\test_classes\tsaving_pct\n");
  for (const Row& r : rows_out) {
    const std::string shape = std::to_string(r.rows) + "x" + std::to_string(r.cols);
    const double pct = 100.0 * (r.plain - r.classed) / r.plain;
    std::printf("%-28s %11s %6d %10llu %12.0f %3d %12.0f %7.2f%%\n", r.name.c_str(), shape.c_str(), r.model,
                (unsigned long long)r.stored, r.plain, r.best_k, r.classed, pct);
    if (f)
      std::fprintf(f, "%s\t%llu\t%llu\t%d\t%llu\t%.0f\t%d\t%.0f\t%.3f\n", r.name.c_str(), (unsigned long long)r.rows,
                   (unsigned long long)r.cols, r.model, (unsigned long long)r.stored, r.plain, r.best_k, r.classed,
                   pct);
    sp += r.plain, sc += r.classed, ss += r.stored;
  }
  std::printf("%-28s %11s %6s %10llu %12.0f %3s %12.0f %7.2f%%\n", "all trellis grids", "", "",
              (unsigned long long)ss, sp, "", sc, 100.0 * (sp - sc) / sp);
  std::printf("\nsaving: %.0f bytes = %.3f%% of the artifact's %zu bytes\n", sp - sc,
              100.0 * (sp - sc) / double(bytes->size()), bytes->size());
  if (f) std::fclose(f);
  return 0;
}
