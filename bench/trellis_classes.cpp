// Column classes inside trellis grids (issue 9): what ans_grid models 10 to 16
// save on an artifact's trellis grids.
//
// Every ans_grid tensor of the artifact that is a trellis grid (models 2 to 8,
// or 10 to 16), plain or inside lowrank / patch, is decoded to its codes and
// repacked by PackTcqGrid, which writes column classes (models 10 to 16) where
// they make the tensor smaller and the plain trellis (2 to 8) otherwise. The
// table compares the bytes after the scales (the trellis header and the two
// union streams) as stored and as repacked, so an artifact packed before the
// column classes shows what they save, and one packed since shows no change.
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
#include "codec/tcq_grid.h"
#include "core/rans.h"

namespace gp = golfpack;

namespace {

struct Row {
  std::string name;
  uint64_t rows = 0, cols = 0;
  int model = 0, new_model = 0, k = 1;
  uint64_t stored = 0;    // the artifact's payload less its scales: the trellis header and union streams
  uint64_t repacked = 0;  // the same by PackTcqGrid today
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
    if (!p.ok() || p->model < 2 || p->model == 9) continue;
    const uint64_t rows = t.shape[0], cols = t.shape[1];
    const gp::gpk::TensorView view{t.shape, rows * cols, params, payload, {}};
    std::vector<uint8_t> stored_scales;
    auto codes = gp::gpk::AnsGridCodesRef(view, &stored_scales);
    if (!codes.ok()) {
      std::fprintf(stderr, "trellis_classes: %s: %s\n", t.name.c_str(), codes.status().ToString().c_str());
      return 1;
    }
    // Repack the same codes with PackTcqGrid, which adds column classes (models 10..16) when they
    // make the tensor smaller. The scales are stand-ins of the same dtype: only the streams are compared.
    const int v = p->model > 9 ? p->model - 8 : p->model;
    gp::encode::TcqGridSpec spec;
    spec.state_bits = v, spec.scale_dtype = p->scale_dtype;
    gp::encode::TcqGridQuant q;
    q.rows = rows, q.cols = cols, q.scales.assign(rows, 1.0f), q.codes.assign(codes->begin(), codes->end());
    auto re = gp::encode::PackTcqGrid(t.name, t.shape, spec, q);
    if (!re.ok()) {
      std::fprintf(stderr, "trellis_classes: %s: %s\n", t.name.c_str(), re.status().ToString().c_str());
      return 1;
    }
    Row row;
    row.name = t.name, row.rows = rows, row.cols = cols, row.model = p->model;
    row.stored = payload.size() - stored_scales.size();
    row.repacked = re->payload.size() - rows * gp::gpk::ScaleBytes(p->scale_dtype);
    row.new_model = re->params[5];
    row.k = row.new_model > 9 ? re->payload[rows * gp::gpk::ScaleBytes(p->scale_dtype)] : 1;
    rows_out.push_back(row);
  }
  if (rows_out.empty()) {
    std::printf("%s: no trellis grids\n", path.c_str());
    return 0;
  }
  std::printf("artifact %s (%zu bytes): %zu trellis grids\n\n", path.c_str(), bytes->size(), rows_out.size());
  std::printf("%-28s %11s %6s %10s %6s %3s %10s %8s\n", "tensor", "shape", "model", "stored", "model", "K", "repacked",
              "saving");
  uint64_t ss = 0, sr = 0;
  std::FILE* f = tsv.empty() ? nullptr : std::fopen(tsv.c_str(), "w");
  if (f) std::fprintf(f, "tensor\trows\tcols\tmodel\tstored_bytes\trepacked_model\tk\trepacked_bytes\tsaving_pct\n");
  for (const Row& r : rows_out) {
    const std::string shape = std::to_string(r.rows) + "x" + std::to_string(r.cols);
    const double pct = 100.0 * (double(r.stored) - double(r.repacked)) / double(r.stored);
    std::printf("%-28s %11s %6d %10llu %6d %3d %10llu %7.2f%%\n", r.name.c_str(), shape.c_str(), r.model,
                (unsigned long long)r.stored, r.new_model, r.k, (unsigned long long)r.repacked, pct);
    if (f)
      std::fprintf(f, "%s\t%llu\t%llu\t%d\t%llu\t%d\t%d\t%llu\t%.3f\n", r.name.c_str(), (unsigned long long)r.rows,
                   (unsigned long long)r.cols, r.model, (unsigned long long)r.stored, r.new_model, r.k,
                   (unsigned long long)r.repacked, pct);
    ss += r.stored, sr += r.repacked;
  }
  std::printf("%-28s %11s %6s %10llu %6s %3s %10llu %7.2f%%\n", "all trellis grids", "", "", (unsigned long long)ss, "",
              "", (unsigned long long)sr, 100.0 * (double(ss) - double(sr)) / double(ss));
  std::printf("\nsaving: %lld bytes = %.3f%% of the artifact's %zu bytes\n", (long long)ss - (long long)sr,
              100.0 * (double(ss) - double(sr)) / double(bytes->size()), bytes->size());
  if (f) std::fclose(f);
  return 0;
}
