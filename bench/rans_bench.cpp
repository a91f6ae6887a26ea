// rANS throughput on a realistic quantized-weight distribution: 16M symbols of
// a rounded Laplacian around zero point 128 (int8-style weights, ~3 bits of
// entropy). Standalone: no benchmark library. Prints one row per coder:
// entropy and coded bits/symbol, encode and decode speed in M symbols/s.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "core/rans.h"

namespace {

using golfpack::Status;
using Clock = std::chrono::steady_clock;

double BestSeconds(int reps, const std::function<void()>& fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void Die(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "rans_bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? static_cast<size_t>(std::atoll(argv[1])) : size_t{16} << 20;
  const int reps = 5;
  const double scale = 1.5;  // Laplacian scale in quantisation steps -> ~3.1 bits
  const uint16_t zero = 128;

  std::mt19937_64 rng(42);
  std::exponential_distribution<double> e(1.0 / scale);
  std::vector<uint16_t> sym(n);
  for (auto& s : sym) {
    double x = e(rng) * ((rng() & 1) ? 1 : -1);
    s = static_cast<uint16_t>(std::clamp<long>(std::lround(x) + zero, 0, 255));
  }
  std::vector<uint64_t> counts(256, 0);
  for (uint16_t s : sym) ++counts[s];
  double entropy = 0;
  for (uint64_t c : counts)
    if (c) entropy -= static_cast<double>(c) / n * std::log2(static_cast<double>(c) / n);

  auto table = golfpack::FrequencyTable::FromCounts(counts);
  Die(table.status());
  std::vector<uint8_t> enc;
  double t_enc = BestSeconds(reps, [&] { enc = std::move(golfpack::RansEncode(sym, *table)).value(); });
  std::vector<uint16_t> out(n);
  double t_dec = BestSeconds(reps, [&] { Die(golfpack::RansDecode(enc, *table, n, out)); });
  if (out != sym) return std::fprintf(stderr, "fast decode mismatch\n"), 1;
  std::fill(out.begin(), out.end(), 0);
  double t_ref = BestSeconds(1, [&] { Die(golfpack::RansDecodeRef(enc, *table, n, out)); });
  if (out != sym) return std::fprintf(stderr, "ref decode mismatch\n"), 1;
  const double bits0 = 8.0 * static_cast<double>(enc.size() + table->SerializedSize()) / n;

  auto model = golfpack::ContextRansModel::Build(sym, 256, zero, 4);
  Die(model.status());
  std::vector<uint8_t> cenc;
  double t_cenc = BestSeconds(reps, [&] { cenc = std::move(golfpack::ContextRansEncode(sym, *model)).value(); });
  double t_cdec = BestSeconds(reps, [&] { Die(golfpack::ContextRansDecode(cenc, *model, n, out)); });
  if (out != sym) return std::fprintf(stderr, "context decode mismatch\n"), 1;
  double t_cref = BestSeconds(1, [&] { Die(golfpack::ContextRansDecodeRef(cenc, *model, n, out)); });
  if (out != sym) return std::fprintf(stderr, "context ref decode mismatch\n"), 1;
  const double bitsc = 8.0 * static_cast<double>(cenc.size() + model->SerializedSize()) / n;

  const double m = static_cast<double>(n) / 1e6;
  std::printf("rANS bench: %zu symbols, rounded Laplacian (scale %.1f, alphabet 256), %d states, scale_bits %d\n",
              n, scale, golfpack::kRansInterleave, table->scale_bits());
  std::printf("%-16s %10s %10s %10s %12s %12s\n", "coder", "symbols", "H bits/sym", "coded b/s", "enc Msym/s",
              "dec Msym/s");
  std::printf("%-16s %10zu %10.4f %10.4f %12.1f %12.1f\n", "order0 fast", n, entropy, bits0, m / t_enc, m / t_dec);
  std::printf("%-16s %10zu %10.4f %10.4f %12s %12.1f\n", "order0 ref", n, entropy, bits0, "-", m / t_ref);
  std::printf("%-16s %10zu %10.4f %10.4f %12.1f %12.1f\n", "context4 fast", n, entropy, bitsc, m / t_cenc,
              m / t_cdec);
  std::printf("%-16s %10zu %10.4f %10.4f %12s %12.1f\n", "context4 ref", n, entropy, bitsc, "-", m / t_cref);
  std::printf("(MB/s of uint16 symbols = 2 x Msym/s; coded bits include the table/model header)\n");
  return 0;
}
