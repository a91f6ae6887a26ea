// Rate-distortion on i.i.d. Gaussian data (issue 9, item 2): bits/sample
// against MSE, next to the bound D(R) = 2^(-2R) (unit variance), for
//   ecsq       uniform grid, plain rounding, order-0 rANS (codec/ans_grid:
//              real payload bytes, f32 scale included)
//   ecsq-H0    the same codes priced at their empirical order-0 entropy
//   ectcq-sN   entropy-coded TCQ, 2^N states (codec/tcq.h): real bytes
//   trellis-sN the same in the format: ans_grid model N (codec/tcq_grid.h,
//              the rd path tcq), one row, f32 scale: real payload bytes,
//              decoded by the counted decoder
//   bitshift   QTIP-style bitshift trellis, L-bit state, fixed k bits/sample:
//              real bytes (header + L + (T-1) k bits per segment + CRC)
// Entropy-coded methods search their step for each target rate R (rate ~
// c - log2(step), iterated) and report the operating point nearest to R; the
// bitshift trellis runs only at integer R = k. The sample is drawn with a
// fixed seed and standardised to mean 0, variance 1 exactly.
//
//   gaussian_rd [N = 65536] [out.tsv]
//
// Prints one table (also written as TSV when a path is given). Benchmarks are
// never part of ctest.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "codec/ans_grid.h"
#include "codec/tcq.h"
#include "codec/tcq_grid.h"
#include "gpk/encodings.h"

namespace {

using namespace golfpack;
using namespace golfpack::encode;

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "gaussian_rd: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

// The decoder must return exactly what the encoder measured.
void CheckRoundTrip(const TcqEncoded& r, size_t n, const char* what) {
  std::vector<float> y = Must(TcqDecode(r.bytes, n), what);
  if (y != r.recon) {
    std::fprintf(stderr, "gaussian_rd: %s: decode differs from the encoder's reconstruction\n", what);
    std::exit(1);
  }
}

struct Point {
  double rate = 0, mse = 0, param = 0;
};

struct Row {
  std::string method;
  double target = 0;
  Point p;
  std::string setting;
};

// Searches the step of an entropy-coded method for the target rate: rate is
// about c - log2(step), so step *= 2^(rate - target), 10 rounds; returns the
// point nearest to the target.
Point SearchRate(double target, double step0, const std::function<Point(double)>& run) {
  double step = step0;
  Point best;
  bool have = false;
  for (int it = 0; it < 10; ++it) {
    Point p = run(step);
    p.param = step;
    if (!have || std::fabs(p.rate - target) < std::fabs(best.rate - target)) best = p, have = true;
    if (std::fabs(p.rate - target) < 0.002) break;
    step *= std::exp2(p.rate - target);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? static_cast<size_t>(std::atoll(argv[1])) : size_t{1} << 16;
  const char* tsv_path = argc > 2 ? argv[2] : nullptr;
  const uint64_t seed = 20250901;
  const auto t0 = std::chrono::steady_clock::now();

  std::vector<float> x(n);
  {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<double> v(n);
    double mean = 0, ss = 0;
    for (auto& e : v) mean += (e = nd(rng));
    mean /= double(n);
    for (double e : v) ss += (e - mean) * (e - mean);
    const double sd = std::sqrt(ss / double(n));
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>((v[i] - mean) / sd);
  }
  double var = 0;
  for (float e : x) var += double(e) * double(e);
  var /= double(n);

  const std::vector<double> targets = {2.0, 2.5, 3.0, 3.5, 4.0};
  std::vector<Row> rows;
  const uint64_t shape[2] = {1, n};

  for (double R : targets) {
    // ECSQ on golfpack's ans_grid (one row, f32 scale = step * std).
    AnsGridSpec as;
    as.scale_dtype = 1;
    Point e = SearchRate(R, std::exp2(2.047 - R), [&](double step) {
      as.step = step;
      AnsGridResult r = Must(EncodeAnsGrid("x", shape, x, as), "ecsq");
      return Point{8.0 * double(r.payload_bytes) / double(n), r.mse, 0};
    });
    as.step = e.param;
    AnsGridResult er = Must(EncodeAnsGrid("x", shape, x, as), "ecsq");
    char buf[96];
    std::snprintf(buf, sizeof buf, "step %.4f (x std)", e.param);
    rows.push_back({"ecsq", R, e, buf});
    rows.push_back({"ecsq-H0", R, Point{er.entropy_bits, er.mse, e.param}, "entropy of the same codes"});

    for (int nu : {3, 8}) {
      EctcqSpec ts;
      ts.state_bits = nu;
      ts.lambda = 0.3;
      Point p = SearchRate(R, std::exp2(2.047 - R - 1.0), [&](double step) {
        ts.step = step;
        TcqEncoded r = Must(EncodeEctcq(x, ts), "ectcq");
        return Point{r.bits_per_sample(), r.mse, 0};
      });
      ts.step = p.param;
      TcqEncoded r = Must(EncodeEctcq(x, ts), "ectcq");
      CheckRoundTrip(r, n, "ectcq");
      char note[96];
      std::snprintf(note, sizeof note, "%d states, step %.4f, lambda 0.3, H0 %.4f", 1 << nu, p.param, r.entropy_bits);
      rows.push_back({"ectcq-s" + std::to_string(nu), R, p, note});
    }

    for (int nu : {3, 8}) {
      TcqGridSpec gs;
      gs.state_bits = nu;
      gs.scale_dtype = 1;
      auto run = [&](double step, std::vector<float>* decoded) {
        gs.step = step;
        const TcqGridQuant q = Must(QuantizeTcqGrid("x", shape, x, gs), "trellis");
        const gpk::EncodedTensor t = Must(PackTcqGrid("x", shape, gs, q), "trellis");
        const std::vector<float> y = DequantizeTcqGrid(q);
        if (decoded) {
          decoded->assign(n, 0.0f);
          const Status st = gpk::FindEncoding(t.encoding)->decode({t.shape, n, t.params, t.payload}, *decoded);
          if (!st.ok() || *decoded != y) {
            std::fprintf(stderr, "gaussian_rd: trellis: the counted decoder differs: %s\n", st.ToString().c_str());
            std::exit(1);
          }
        }
        double mse = 0;
        for (size_t i = 0; i < n; ++i) mse += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        return Point{8.0 * double(t.payload.size()) / double(n), mse / double(n), 0};
      };
      Point p = SearchRate(R, std::exp2(2.047 - R - 1.0), [&](double step) { return run(step, nullptr); });
      std::vector<float> decoded;
      run(p.param, &decoded);
      char note[96];
      std::snprintf(note, sizeof note, "ans_grid model %d, %d states, step %.4f, lambda 0.3", nu, 1 << nu, p.param);
      rows.push_back({"trellis-s" + std::to_string(nu), R, p, note});
    }

    if (R == std::floor(R)) {
      for (int L : {12, 16}) {
        BitshiftSpec bs;
        bs.state_bits = L;
        bs.k = int(R);
        bs.block = 4096;
        TcqEncoded r = Must(EncodeBitshift(x, bs), "bitshift");
        CheckRoundTrip(r, n, "bitshift");
        rows.push_back({"bitshift-L" + std::to_string(L), R, Point{r.bits_per_sample(), r.mse, 0},
                        "k " + std::to_string(bs.k) + ", block 4096, gain 1.05"});
      }
    }
  }

  FILE* tsv = tsv_path ? std::fopen(tsv_path, "w") : nullptr;
  if (tsv_path && !tsv) {
    std::fprintf(stderr, "gaussian_rd: cannot write %s\n", tsv_path);
    return 1;
  }
  std::printf("# i.i.d. N(0,1), N = %zu, seed %llu, sample variance %.6f\n", n, (unsigned long long)seed, var);
  std::printf("%-12s %4s %9s %10s %10s %8s %9s %4s  %s\n", "method", "R", "bits", "mse", "D(bits)", "gap_dB",
              "gap_bits", "<0.1", "setting");
  if (tsv) std::fprintf(tsv, "method\tR\tbits_per_sample\tmse\tD_at_bits\tsnr_gap_db\trate_gap_bits\tsetting\n");
  for (const Row& r : rows) {
    const double d = std::exp2(-2.0 * r.p.rate);
    const double gap_db = 10.0 * std::log10(r.p.mse / d);
    const double gap_bits = r.p.rate - 0.5 * std::log2(1.0 / r.p.mse);
    std::printf("%-12s %4.1f %9.4f %10.6f %10.6f %8.3f %9.4f %4s  %s\n", r.method.c_str(), r.target, r.p.rate, r.p.mse,
                d, gap_db, gap_bits, gap_bits <= 0.1 ? "yes" : "no", r.setting.c_str());
    if (tsv)
      std::fprintf(tsv, "%s\t%.1f\t%.4f\t%.6f\t%.6f\t%.3f\t%.4f\t%s\n", r.method.c_str(), r.target, r.p.rate, r.p.mse, d,
                   gap_db, gap_bits, r.setting.c_str());
  }
  if (tsv) std::fclose(tsv);
  std::printf("# %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
