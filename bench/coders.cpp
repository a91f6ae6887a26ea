// Coder comparison on the quantized symbols of a packed artifact (issue 9,
// item 5): every tensor stored as plain encoding 7 (`ans_grid`) is decoded
// back to its integer codes; on the concatenation of those code streams the
// table gives bits/symbol and bytes for golfpack's order-0 rANS (the stream
// bytes in the artifact, without the scales), context rANS (model 1), column-class
// rANS (model 9, with the decode speed of the format's ans_grid decoder),
// brotli -q 11, xz -9e, zstd -19, lrzip (ZPAQ and LZMA, through the `lrzip`
// binary) and the context-mixing coder (codec/cm_coder.h), with the order-0
// entropy as reference lines, and the CM coder's speed.
//   coders FILE.gpk [--name NAME] [--tsv PATH] [--repeats N] [--dump PREFIX]
// --dump writes PREFIX.codes (int16 LE, all codes) and PREFIX.shapes (one
// "name rows cols" line per tensor) for offline analysis; --quick 1 runs only
// the reference lines, rANS and the CM coder (no general-purpose compressors).
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "codec/ans_grid.h"
#include "codec/cm_coder.h"
#include "codec/codecs.h"
#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/file_util.h"
#include "core/rans.h"
#include "gpk/encodings.h"
#include "gpk/half.h"

namespace gp = golfpack;
using Clock = std::chrono::steady_clock;

namespace {

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct Row {
  std::string coder, input, note;
  double bytes = 0;
};

double Entropy(const std::map<int, uint64_t>& counts, uint64_t n) {
  double h = 0;
  for (const auto& [v, c] : counts) {
    const double q = double(c) / double(n);
    h -= double(c) * std::log2(q);
  }
  return h;  // bits in total
}

// Runs lrzip on `raw` through a temp file; the compressed size, or -1.
long long Lrzip(const std::vector<uint8_t>& raw, const std::string& flags, std::string* cmd_out) {
  char dir[] = "/tmp/coders_lrzip_XXXXXX";
  if (!mkdtemp(dir)) return -1;
  const std::string in = std::string(dir) + "/codes.bin", out = in + ".lrz";
  FILE* f = std::fopen(in.c_str(), "wb");
  if (!f) return -1;
  std::fwrite(raw.data(), 1, raw.size(), f);
  std::fclose(f);
  const std::string opts = "lrzip -q -f " + (flags.empty() ? "" : flags + " ");
  const std::string cmd = opts + "-o " + out + " " + in + " >/dev/null 2>&1";
  *cmd_out = opts + "-o OUT IN";
  long long size = -1;
  if (std::system(cmd.c_str()) == 0) {
    struct stat st;
    if (stat(out.c_str(), &st) == 0) size = st.st_size;
  }
  unlink(in.c_str());
  unlink(out.c_str());
  rmdir(dir);
  return size;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: coders FILE.gpk [--name NAME] [--tsv PATH] [--repeats N] [--dump PREFIX] [--quick 1]\n");
    return 2;
  }
  std::string path = argv[1], name, tsv, dump;
  int repeats = 3;
  bool quick = false;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--name") name = argv[i + 1];
    else if (k == "--tsv") tsv = argv[i + 1];
    else if (k == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--dump") dump = argv[i + 1];
    else if (k == "--quick") quick = std::atoi(argv[i + 1]) != 0;
  }
  if (name.empty()) {
    name = path.substr(path.find_last_of('/') + 1);
    name = name.substr(0, name.find('.'));
  }
  gp::encode::RegisterAllCodecs();
  auto bytes = gp::ReadFileBytes(path);
  if (!bytes.ok()) {
    std::fprintf(stderr, "coders: %s\n", bytes.status().ToString().c_str());
    return 1;
  }
  auto art = gp::gpk::Artifact::Parse(*bytes, path);
  if (!art.ok()) {
    std::fprintf(stderr, "coders: %s\n", art.status().ToString().c_str());
    return 1;
  }

  // ---- recover the codes of every plain ans_grid tensor
  std::map<size_t, std::vector<uint8_t>> sections;
  std::vector<int16_t> codes;
  std::vector<std::vector<uint8_t>> row_ctx_store;
  std::vector<gp::encode::CmTensorShape> shapes;
  std::string shape_lines;
  uint64_t numel_all = 0, numel_2d = 0, n_ans = 0, n_wrapped = 0;
  uint64_t rans_stream_bytes = 0, rans_table_bytes = 0, scale_bytes_total = 0, ctx_rans_bytes = 0;
  uint64_t cc_bytes = 0, cc_tensors = 0;
  std::vector<gp::gpk::EncodedTensor> packed[2];  // each tensor repacked as model 0 and with the cc spec
  double tensor_entropy_bits = 0;
  int models_seen[10] = {};
  int max_abs = 0;
  for (size_t ti = 0; ti < art->tensors().size(); ++ti) {
    const auto& t = art->tensors()[ti];
    numel_all += t.numel;
    if (t.shape.size() >= 2) numel_2d += t.numel;
    if (t.encoding == gp::gpk::kLowRank || t.encoding == gp::gpk::kPatch) ++n_wrapped;
    if (t.encoding != gp::gpk::kAnsGrid) continue;
    if (!sections.count(t.section)) {
      auto s = art->SectionBytes(t.section);
      if (!s.ok()) {
        std::fprintf(stderr, "coders: %s\n", s.status().ToString().c_str());
        return 1;
      }
      sections[t.section] = std::move(*s);
    }
    const std::span<const uint8_t> payload =
        std::span<const uint8_t>(sections[t.section]).subspan(t.offset, t.length);
    auto fail = [&](const gp::Status& st) {
      std::fprintf(stderr, "coders: %s: %s\n", t.name.c_str(), st.ToString().c_str());
      return 1;
    };
    auto p = gp::gpk::AnsGridParams::Parse(t.params);
    if (!p.ok()) return fail(p.status());
    const uint64_t rows = t.shape[0], cols = t.numel / rows;
    const uint64_t groups = p->group_size ? cols / p->group_size : 1;
    const uint64_t sb = p->scale_dtype == 1 ? 4 : 2;
    const uint64_t scale_bytes = rows * groups * sb;
    const auto stream = payload.subspan(scale_bytes);
    gp::ByteReader r(stream);
    size_t alphabet = 0;
    if (p->model > 1 && p->model != 9) continue;  // a trellis grid: not one stream of codes
    if (p->model == 0) {
      auto table = gp::FrequencyTable::Parse(r);
      if (!table.ok()) return fail(table.status());
      alphabet = table->alphabet_size();
    } else {
      auto model = gp::ContextRansModel::Parse(r);
      if (!model.ok()) return fail(model.status());
      alphabet = model->alphabet_size();
    }
    ++models_seen[p->model];
    rans_table_bytes += r.position();
    rans_stream_bytes += stream.size();
    scale_bytes_total += scale_bytes;
    std::vector<uint16_t> sym(t.numel);
    const gp::Status st = p->model == 0   ? gp::RansDecompress(stream, sym.size(), sym)
                          : p->model == 9 ? gp::ColumnRansDecompress(stream, cols, sym.size(), sym)
                                          : gp::ContextRansDecompress(stream, sym.size(), sym);
    if (!st.ok()) return fail(st);
    const int z = int((alphabet - 1) / 2);
    std::map<int, uint64_t> counts;
    for (uint16_t s : sym) {
      const int c = int(s) - z;
      codes.push_back(int16_t(c));
      max_abs = std::max(max_abs, std::abs(c));
      ++counts[c];
    }
    tensor_entropy_bits += Entropy(counts, sym.size());
    // Context rANS, model 1 with 4 contexts, the best table precision.
    size_t best = SIZE_MAX;
    for (int m = gp::kRansMinScaleBits; m <= gp::kRansMaxScaleBits; ++m) {
      auto size = gp::ContextRansCompressedSize(sym, alphabet, uint16_t(z), 4, m);
      if (size.ok()) best = std::min(best, *size);
    }
    ctx_rans_bytes += best;
    // Column classes (model 9, spec "cc"): the stream ans_grid writes, and both repacks for the speed test.
    {
      gp::encode::AnsGridQuant q;
      q.rows = rows, q.cols = cols, q.group_size = p->group_size, q.groups_per_row = groups;
      q.scales.assign(rows * groups, 1.0f);
      q.codes.reserve(sym.size());
      for (uint16_t v : sym) q.codes.push_back(int16_t(int(v) - z));
      for (int k = 0; k < 2; ++k) {
        gp::encode::AnsGridSpec spec;
        spec.model = k ? 9 : 0;
        spec.scale_dtype = p->scale_dtype;
        spec.group_size = p->group_size;
        auto e = gp::encode::PackAnsGrid(t.name, t.shape, spec, q);
        if (!e.ok()) return fail(e.status());
        if (k) {
          cc_bytes += e->payload.size() - scale_bytes;
          cc_tensors += gp::gpk::AnsGridParams::Parse(e->params)->model == 9;
        }
        packed[k].push_back(std::move(*e));
      }
    }
    // Row context for the CM variant with side input: the row's stored scale
    // (first group), log2 relative to the tensor's median, half-octave buckets.
    std::vector<double> lg(rows);
    for (uint64_t rr = 0; rr < rows; ++rr) {
      const uint8_t* q = payload.data() + rr * groups * sb;
      float s;
      if (p->scale_dtype == 0) s = gp::HalfBitsToFloat(uint16_t(q[0] | q[1] << 8));
      else if (p->scale_dtype == 2) s = gp::BF16BitsToFloat(uint16_t(q[0] | q[1] << 8));
      else s = std::bit_cast<float>(uint32_t(q[0]) | uint32_t(q[1]) << 8 | uint32_t(q[2]) << 16 | uint32_t(q[3]) << 24);
      lg[rr] = std::log2(std::max(double(std::abs(s)), 1e-30));
    }
    std::vector<double> sorted = lg;
    std::nth_element(sorted.begin(), sorted.begin() + long(rows / 2), sorted.end());
    const double med = sorted[rows / 2];
    std::vector<uint8_t> rc(rows);
    for (uint64_t rr = 0; rr < rows; ++rr)
      rc[rr] = uint8_t(std::clamp(int(std::lround(2 * (lg[rr] - med))) + 8, 0, 15));
    row_ctx_store.push_back(std::move(rc));
    shapes.push_back({rows, cols, {}});
    shape_lines += t.name + " " + std::to_string(rows) + " " + std::to_string(cols) + "\n";
    ++n_ans;
  }
  const uint64_t n = codes.size();
  if (n == 0) {
    std::fprintf(stderr, "coders: no plain ans_grid tensors in %s\n", path.c_str());
    return 1;
  }

  if (!dump.empty()) {
    FILE* f = std::fopen((dump + ".codes").c_str(), "wb");
    FILE* g = std::fopen((dump + ".shapes").c_str(), "w");
    if (!f || !g) return 1;
    std::fwrite(codes.data(), sizeof(int16_t), codes.size(), f);
    std::fputs(shape_lines.c_str(), g);
    std::fclose(f);
    std::fclose(g);
  }

  std::vector<Row> rows;
  std::map<int, uint64_t> all_counts;
  for (int16_t c : codes) ++all_counts[c];
  rows.push_back({"order-0 entropy, per tensor (reference)", "codes", "sum over tensors of n_t * H_t", tensor_entropy_bits / 8});
  rows.push_back({"order-0 entropy, whole stream (reference)", "codes", "one histogram", Entropy(all_counts, n) / 8});
  rows.push_back({models_seen[1] ? "golfpack rANS (artifact streams, mixed models)" : "golfpack order-0 rANS (artifact)",
                  "codes", "stored streams incl. " + std::to_string(rans_table_bytes) + " B tables, excl. scales",
                  double(rans_stream_bytes)});
  rows.push_back({"golfpack context rANS (model 1, 4 ctx)", "codes", "per tensor, best M, incl. tables",
                  double(ctx_rans_bytes)});
  rows.push_back({"golfpack column-class rANS (model 9, cc)", "codes",
                  "per tensor, incl. tables and classes; " + std::to_string(cc_tensors) + " of " +
                      std::to_string(n_ans) + " tensors take classes, the rest order-0",
                  double(cc_bytes)});
  // The format's ans_grid decoder (the counted one) on both repacks: MB/s of symbols, best of repeats.
  double ans_dec_s[2] = {1e300, 1e300};
  for (int k = 0; k < 2; ++k) {
    const gp::gpk::EncodingTraits* e = gp::gpk::FindEncoding(gp::gpk::kAnsGrid);
    for (int rep = 0; rep < repeats; ++rep) {
      const auto t0 = Clock::now();
      for (const auto& t : packed[k]) {
        uint64_t numel = 1;
        for (uint64_t d : t.shape) numel *= d;
        std::vector<float> out(numel);
        const gp::Status st = e->decode(gp::gpk::TensorView{t.shape, numel, t.params, t.payload}, out);
        if (!st.ok()) {
          std::fprintf(stderr, "coders: ans_grid decode FAILED: %s\n", st.ToString().c_str());
          return 1;
        }
      }
      ans_dec_s[k] = std::min(ans_dec_s[k], std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }

  // General-purpose compressors: one byte per symbol when every code fits.
  const bool as_int8 = max_abs <= 127;
  std::vector<uint8_t> raw;
  for (int16_t c : codes) {
    if (as_int8) {
      raw.push_back(uint8_t(int8_t(c)));
    } else {
      raw.push_back(uint8_t(uint16_t(c) & 0xFF));
      raw.push_back(uint8_t(uint16_t(c) >> 8));
    }
  }
  const std::string input = as_int8 ? "int8" : "int16le";
  struct Gp { const char* label; gp::gpk::Codec codec; int level; };
  const Gp gps[] = {{"brotli -q 11 (lgwin 24)", gp::gpk::Codec::kBrotli, 11},
                    {"xz -9e (liblzma 9|extreme)", gp::gpk::Codec::kXz, 19},
                    {"zstd -19", gp::gpk::Codec::kZstd, 19}};
  for (const Gp& g : gps) {
    if (quick) break;
    auto c = gp::encode::Compress(g.codec, raw, g.level);
    if (!c.ok()) {
      std::fprintf(stderr, "coders: %s: %s\n", g.label, c.status().ToString().c_str());
      return 1;
    }
    rows.push_back({g.label, input, "", double(c->size())});
  }
  std::vector<std::string> notes;
  struct Lz { const char* label; const char* flags; };
  const Lz lzs[] = {{"lrzip -z (ZPAQ, level 7)", "-z"}, {"lrzip -z -L 9 (ZPAQ, level 9)", "-z -L 9"},
                    {"lrzip (default: LZMA)", ""}};
  const bool have_lrzip = !quick && std::system("command -v lrzip >/dev/null 2>&1") == 0;
  for (const Lz& l : lzs) {
    if (quick) break;
    if (!have_lrzip) {
      notes.push_back(std::string(l.label) + ": skipped, no lrzip binary on PATH");
      continue;
    }
    std::string cmd;
    const long long size = Lrzip(raw, l.flags, &cmd);
    if (size < 0) {
      notes.push_back(std::string(l.label) + ": lrzip failed");
      continue;
    }
    rows.push_back({l.label, input, cmd + " (file includes lrzip's header)", double(size)});
  }

  // The CM coder: one stream for all tensors (shared model), then variants.
  auto cm = gp::encode::CmEncode(codes, shapes);
  if (!cm.ok()) {
    std::fprintf(stderr, "coders: %s\n", cm.status().ToString().c_str());
    return 1;
  }
  // Wall time and this thread's CPU time (the CPU time excludes time the
  // scheduler gave to other processes on a shared machine); best of repeats.
  double enc_s = 1e300, dec_s = 1e300, enc_cpu = 1e300, dec_cpu = 1e300;
  std::vector<int16_t> back(n);
  for (int rep = 0; rep < repeats; ++rep) {
    const double c0 = ThreadCpuSeconds();
    auto t0 = Clock::now();
    auto again = gp::encode::CmEncode(codes, shapes);
    auto t1 = Clock::now();
    const double c1 = ThreadCpuSeconds();
    const gp::Status st = gp::encode::CmDecode(*cm, shapes, back);
    auto t2 = Clock::now();
    const double c2 = ThreadCpuSeconds();
    if (!again.ok() || *again != *cm || !st.ok() || back != codes) {
      std::fprintf(stderr, "coders: CM round trip FAILED: %s\n", st.ToString().c_str());
      return 1;
    }
    enc_s = std::min(enc_s, std::chrono::duration<double>(t1 - t0).count());
    dec_s = std::min(dec_s, std::chrono::duration<double>(t2 - t1).count());
    enc_cpu = std::min(enc_cpu, c1 - c0);
    dec_cpu = std::min(dec_cpu, c2 - c1);
  }
  rows.push_back({"CM coder (codec/cm_coder, one stream)", "codes", "no stored parameters; round trip verified",
                  double(cm->size())});
  // Two independent streams, each a contiguous half of the tensors (by
  // symbol count), decoded on two threads at once: the model restarts once,
  // which costs about what the per-tensor row below shows, and a decoder with
  // two cores decodes both halves side by side.
  double dec2_s = 0;
  size_t split = 0;
  std::vector<uint8_t> half_stream[2];
  if (shapes.size() >= 2) {
    uint64_t acc = 0;
    while (split + 1 < shapes.size() && 2 * (acc + shapes[split].rows * shapes[split].cols) <= n)
      acc += shapes[split].rows * shapes[split].cols, ++split;
    if (split == 0) split = 1, acc = shapes[0].rows * shapes[0].cols;
    const std::span<const gp::encode::CmTensorShape> part[2] = {
        std::span<const gp::encode::CmTensorShape>(shapes).first(split),
        std::span<const gp::encode::CmTensorShape>(shapes).subspan(split)};
    const size_t at[2] = {0, size_t(acc)}, len[2] = {size_t(acc), size_t(n - acc)};
    for (int h = 0; h < 2; ++h) {
      auto e = gp::encode::CmEncode(std::span<const int16_t>(codes).subspan(at[h], len[h]), part[h]);
      if (!e.ok()) return 1;
      half_stream[h] = std::move(*e);
    }
    dec2_s = 1e300;
    for (int rep = 0; rep < repeats; ++rep) {
      std::fill(back.begin(), back.end(), int16_t(0));
      gp::Status st[2];
      auto t0 = Clock::now();
      std::thread other([&] { st[1] = gp::encode::CmDecode(half_stream[1], part[1], std::span<int16_t>(back).subspan(at[1], len[1])); });
      st[0] = gp::encode::CmDecode(half_stream[0], part[0], std::span<int16_t>(back).subspan(at[0], len[0]));
      other.join();
      auto t1 = Clock::now();
      if (!st[0].ok() || !st[1].ok() || back != codes) {
        std::fprintf(stderr, "coders: CM two-stream round trip FAILED\n");
        return 1;
      }
      dec2_s = std::min(dec2_s, std::chrono::duration<double>(t1 - t0).count());
    }
    rows.push_back({"CM coder, two streams (two threads)", "codes",
                    "tensors split in two halves by symbol count, one model each; round trip verified",
                    double(half_stream[0].size() + half_stream[1].size())});
  }
  if (!quick) {
    double sum = 0;
    size_t off = 0;
    for (const auto& s : shapes) {
      const size_t k = size_t(s.rows * s.cols);
      auto one = gp::encode::CmEncode(std::span<const int16_t>(codes).subspan(off, k), s.rows, s.cols);
      if (!one.ok()) return 1;
      sum += double(one->size());
      off += k;
    }
    rows.push_back({"CM coder, fresh model per tensor", "codes", "sum of per-tensor streams", sum});
  }
  if (!quick) {
    std::vector<gp::encode::CmTensorShape> with = shapes;
    for (size_t k = 0; k < with.size(); ++k) with[k].row_context = row_ctx_store[k];
    auto cmr = gp::encode::CmEncode(codes, with);
    std::vector<int16_t> b2(n);
    if (!cmr.ok() || !gp::encode::CmDecode(*cmr, with, b2).ok() || b2 != codes) {
      std::fprintf(stderr, "coders: CM with row scales FAILED\n");
      return 1;
    }
    rows.push_back({"CM coder + row-scale side input", "codes+scales", "row_context = half-octave bucket of the row's scale",
                    double(cmr->size())});
  }

  // ---- print and write
  std::printf("artifact  %s (%llu bytes)\n", path.c_str(), (unsigned long long)bytes->size());
  std::printf("streams   %llu plain ans_grid tensors, %llu symbols = %.2f%% of all %llu elements (%.2f%% of the "
              "%llu in >=2-D tensors); %llu lowrank/patch-wrapped tensors not covered\n",
              (unsigned long long)n_ans, (unsigned long long)n, 100.0 * double(n) / double(numel_all),
              (unsigned long long)numel_all, 100.0 * double(n) / double(std::max<uint64_t>(numel_2d, 1)),
              (unsigned long long)numel_2d, (unsigned long long)n_wrapped);
  std::printf("codes     max |code| %d; general-purpose input: %s (%zu bytes); scales (not in any row) %llu bytes\n",
              max_abs, input.c_str(), raw.size(), (unsigned long long)scale_bytes_total);
  std::printf("\n%-46s %-12s %12s %10s\n", "coder", "input", "bytes", "bits/sym");
  for (const Row& r : rows)
    std::printf("%-46s %-12s %12.0f %10.4f\n", r.coder.c_str(), r.input.c_str(), r.bytes, 8 * r.bytes / double(n));
  for (const auto& s : notes) std::printf("note: %s\n", s.c_str());
  const double mb = double(n) / 1e6;
  std::printf("\nCM speed (one thread, best of %d, MB/s of symbols): wall clock: encode %.1f, decode %.1f; "
              "thread CPU time: encode %.1f, decode %.1f\n",
              repeats, mb / enc_s, mb / dec_s, mb / enc_cpu, mb / dec_cpu);
  if (dec2_s > 0)
    std::printf("CM two streams decoded on two threads at once (wall clock, best of %d): %.1f MB/s of symbols "
                "(%u hardware threads here)\n",
                repeats, mb / dec2_s, std::thread::hardware_concurrency());
  std::printf("ans_grid decode (counted decoder, scales and dequantisation included, MB/s of symbols, wall clock): "
              "order-0 %.1f, column classes %.1f\n",
              mb / ans_dec_s[0], mb / ans_dec_s[1]);
  double best_gp = 1e300;
  std::string best_gp_name;
  for (const Row& r : rows)
    if (r.input == input && r.bytes < best_gp) best_gp = r.bytes, best_gp_name = r.coder;
  if (!best_gp_name.empty())
    std::printf("CM vs best general-purpose (%s): %.0f vs %.0f bytes (%+.2f%%)\n", best_gp_name.c_str(),
                double(cm->size()), best_gp, 100.0 * (double(cm->size()) / best_gp - 1));

  if (tsv.empty()) tsv = "docs/results/coders_" + name + ".tsv";
  FILE* f = std::fopen(tsv.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "coders: cannot write %s\n", tsv.c_str());
    return 1;
  }
  std::fprintf(f, "coder\tinput\tbytes\tbits_per_symbol\tnote\n");
  for (const Row& r : rows)
    std::fprintf(f, "%s\t%s\t%.0f\t%.4f\t%s\n", r.coder.c_str(), r.input.c_str(), r.bytes, 8 * r.bytes / double(n),
                 r.note.c_str());
  std::fprintf(f, "# symbols\t%llu\n# general_purpose_input\t%s\n", (unsigned long long)n, input.c_str());
  std::fprintf(f, "# cm_encode_MB_per_s_wall\t%.2f\n# cm_decode_MB_per_s_wall\t%.2f\n", mb / enc_s, mb / dec_s);
  std::fprintf(f, "# cm_encode_MB_per_s_cpu\t%.2f\n# cm_decode_MB_per_s_cpu\t%.2f\n", mb / enc_cpu, mb / dec_cpu);
  if (dec2_s > 0) std::fprintf(f, "# cm_decode_two_streams_two_threads_MB_per_s_wall\t%.2f\n", mb / dec2_s);
  std::fprintf(f, "# ans_grid_order0_decode_MB_per_s_wall\t%.2f\n# ans_grid_cc_decode_MB_per_s_wall\t%.2f\n",
               mb / ans_dec_s[0], mb / ans_dec_s[1]);
  std::fclose(f);
  std::printf("wrote %s\n", tsv.c_str());
  return 0;
}
