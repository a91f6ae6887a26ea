#include "codec/ans_grid.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/encodings.h"
#include "core/rans.h"
#include "codec/bytes.h"
#include "codec/half.h"
#include "codec/quantize.h"

namespace golfpack::encode {
namespace {

using detail::PutScale;
using detail::Quote;
using detail::ScaleBytesOf;
using detail::ScaleDTypeName;
using detail::SmallestPositive;
using detail::StoreScaleNearest;




// Plain rounding with the dead zone, clipped; *clipped set when it clipped.
inline int RoundCode(double x, double dead_zone, int max_code, bool* clipped) {
  if (std::fabs(x) < 0.5 + dead_zone) return 0;
  const double r = std::nearbyint(x);
  if (r > max_code) {
    *clipped = true;
    return max_code;
  }
  if (r < -max_code) {
    *clipped = true;
    return -max_code;
  }
  return static_cast<int>(r);
}

// Per-symbol rate in bits from a histogram of codes (index code + max_code).
std::vector<double> BitsFromCounts(const std::vector<uint64_t>& counts, uint64_t n) {
  std::vector<double> bits(counts.size());
  const double log2n = std::log2(static_cast<double>(std::max<uint64_t>(n, 1)));
  for (size_t k = 0; k < counts.size(); ++k)
    bits[k] = counts[k] ? log2n - std::log2(static_cast<double>(counts[k])) : log2n + 1.0;
  return bits;
}

std::vector<uint64_t> Histogram(std::span<const int16_t> codes, int max_code) {
  std::vector<uint64_t> counts(static_cast<size_t>(2 * max_code + 1), 0);
  for (int16_t c : codes) ++counts[static_cast<size_t>(c + max_code)];
  return counts;
}

// argmin over q in {floor(x), ceil(x), 0} (clipped) of weight * (x - q)^2 + lambda * bits(q).
inline int RdoChoose(double x, double weight, double lambda, const std::vector<double>& bits, int max_code) {
  const double fl = std::clamp(std::floor(x), -static_cast<double>(max_code), static_cast<double>(max_code));
  const double cl = std::clamp(std::ceil(x), -static_cast<double>(max_code), static_cast<double>(max_code));
  int best = 0;
  double best_cost = weight * x * x + lambda * bits[static_cast<size_t>(max_code)];
  for (double q : {fl, cl}) {
    const int qi = static_cast<int>(q);
    const double cost = weight * (x - q) * (x - q) + lambda * bits[static_cast<size_t>(qi + max_code)];
    if (cost < best_cost) {
      best_cost = cost;
      best = qi;
    }
  }
  return best;
}

// Symbols (code + Z) of the stream and Z = max|code|.
std::vector<uint16_t> Symbols(std::span<const int16_t> codes, int* z) {
  int m = 0;
  for (int16_t c : codes) m = std::max(m, std::abs(static_cast<int>(c)));
  *z = m;
  std::vector<uint16_t> sym(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) sym[i] = static_cast<uint16_t>(codes[i] + m);
  return sym;
}

struct StreamChoice {
  int scale_bits = kRansDefaultScaleBits;
  uint64_t bytes = 0;
  int model = 0;                   // what the params say: spec.model, or 0 when model 9's classes do not pay
  int classes = 0;                 // model 9: K
  std::vector<uint8_t> col_class;  // model 9: each column's class
};

// Model 9's column classes for K classes: starting from K quantiles of the
// columns' mean |code|, every column moves to the class whose table (the
// class's pooled counts, smoothed) codes its codes in the fewest bits, and
// the tables are recounted, until no column moves (at most 8 passes).
// hist: per column, its (symbol, count) pairs.
std::vector<uint8_t> ClassifyColumns(const std::vector<std::vector<std::pair<uint16_t, uint32_t>>>& hist, int z,
                                     size_t alphabet, int k) {
  const size_t cols = hist.size();
  std::vector<std::pair<double, size_t>> mean(cols);
  for (size_t c = 0; c < cols; ++c) {
    double m = 0, n = 0;
    for (auto [s, h] : hist[c]) m += double(h) * std::abs(int(s) - z), n += h;
    mean[c] = {n ? m / n : 0.0, c};
  }
  std::sort(mean.begin(), mean.end());
  std::vector<uint8_t> cls(cols);
  for (size_t i = 0; i < cols; ++i) cls[mean[i].second] = static_cast<uint8_t>(i * size_t(k) / cols);
  std::vector<double> logp(size_t(k) * alphabet);
  for (int pass = 0; pass < 8; ++pass) {
    std::vector<double> count(size_t(k) * alphabet, 0.02), total(size_t(k), 0.02 * double(alphabet));
    for (size_t c = 0; c < cols; ++c)
      for (auto [s, h] : hist[c]) count[cls[c] * alphabet + s] += h, total[cls[c]] += h;
    for (size_t i = 0; i < logp.size(); ++i) logp[i] = std::log2(count[i] / total[i / alphabet]);
    bool moved = false;
    for (size_t c = 0; c < cols; ++c) {
      auto bits = [&](int j) {
        double b = 0;
        for (auto [s, h] : hist[c]) b -= double(h) * logp[size_t(j) * alphabet + s];
        return b;
      };
      int best = cls[c];
      double best_bits = bits(best);
      for (int j = 0; j < k; ++j)
        if (const double b = bits(j); b < best_bits - 1e-9) best = j, best_bits = b;
      if (best != cls[c]) cls[c] = static_cast<uint8_t>(best), moved = true;
    }
    if (!moved) break;
  }
  return cls;
}

// Estimated bytes of a table set (model header + bodies + ideal code length).
double EstimateTables(const std::vector<std::vector<uint64_t>>& counts, size_t alphabet, int z, int m, bool header5,
                      Status* last) {
  double est = header5 ? 2.0 + VarintSize(alphabet) + VarintSize(uint64_t(z)) + VarintSize(1ull << counts.size())
                       : 0.0;
  for (const auto& c : counts) {
    if (c.empty()) continue;
    auto table = FrequencyTable::FromCounts(c, m);
    if (!table.ok()) {  // too many distinct symbols for 2^m slots
      *last = table.status();
      return std::numeric_limits<double>::infinity();
    }
    est += double(header5 ? table->BodySize() : table->SerializedSize()) + table->CostBits(c) / 8.0;
  }
  return est;
}

// The table precision (and, for model 9, the classes) giving the smallest
// self-contained stream. Order-0 and model 9: each choice is priced by its
// model (table bytes + ideal code length under the quantised frequencies, no
// coder run); only the winner is coded exactly. Model 9 also prices plain
// order-0 and takes it (model 0) when the classes do not pay, and is not
// tried for alphabets over 255 symbols. The context model codes every
// precision (it is rarely used).
Result<StreamChoice> ChooseStream(std::span<const uint16_t> sym, int z, uint64_t cols, const AnsGridSpec& spec) {
  const size_t alphabet = static_cast<size_t>(2 * z + 1);
  std::optional<StreamChoice> best;
  Status last = Status::Ok();
  if (spec.model == 0 || spec.model == 9) {
    std::vector<std::vector<uint64_t>> counts(1, std::vector<uint64_t>(alphabet, 0));
    for (uint16_t v : sym) ++counts[0][v];
    StreamChoice choice;
    double best_est = std::numeric_limits<double>::infinity();
    for (int m = kRansMinScaleBits; m <= kRansMaxScaleBits; ++m) {
      const double est = EstimateTables(counts, alphabet, z, m, false, &last);
      if (est < best_est) best_est = est, choice.scale_bits = m;
    }
    if (!std::isfinite(best_est))
      return Internal("ans_grid: no rANS table precision codes this tensor: " + last.message());
    const uint64_t rows = cols ? sym.size() / cols : 0;
    if (spec.model == 9 && alphabet <= 255 && rows >= 2 && cols >= 2) {
      std::vector<std::vector<std::pair<uint16_t, uint32_t>>> hist(cols);
      {
        std::vector<uint32_t> h(cols * alphabet, 0);  // one row-major pass
        for (size_t i = 0, c = 0; i < sym.size(); ++i, c = c + 1 == cols ? 0 : c + 1) ++h[c * alphabet + sym[i]];
        for (uint64_t c = 0; c < cols; ++c)
          for (size_t s = 0; s < alphabet; ++s)
            if (h[c * alphabet + s]) hist[c].push_back({uint16_t(s), h[c * alphabet + s]});
      }
      // K is chosen at order-0's precision, then the precision for that K (never above order-0's:
      // each class's table counts fewer symbols).
      const int m0 = choice.scale_bits;
      std::vector<std::vector<uint64_t>> best_kc;
      for (int k : {2, 4, 8, 16}) {
        if (uint64_t(k) > cols) break;
        std::vector<uint8_t> cls = ClassifyColumns(hist, z, alphabet, k);
        std::vector<std::vector<uint64_t>> kc(static_cast<size_t>(k));
        for (uint64_t c = 0; c < cols; ++c) {
          auto& t = kc[cls[c]];
          if (t.empty()) t.assign(alphabet, 0);
          for (auto [s, h] : hist[c]) t[s] += h;
        }
        const double est = EstimateTables(kc, alphabet, z, m0, true, &last) + double(ColumnClassBytes(cols, k));
        if (est < best_est) {
          best_est = est;
          choice.model = 9, choice.classes = k, choice.col_class = std::move(cls), best_kc = std::move(kc);
        }
      }
      for (int m = kRansMinScaleBits; choice.model == 9 && m < m0; ++m) {
        const double est =
            EstimateTables(best_kc, alphabet, z, m, true, &last) + double(ColumnClassBytes(cols, choice.classes));
        if (est < best_est) best_est = est, choice.scale_bits = m;
      }
    }
    if (choice.model == 9) {
      GP_ASSIGN_OR_RETURN(choice.bytes, ColumnRansCompressedSize(sym, alphabet, uint16_t(z), choice.classes,
                                                                 choice.col_class, choice.scale_bits));
    } else {
      GP_ASSIGN_OR_RETURN(choice.bytes, RansCompressedSize(sym, alphabet, choice.scale_bits));
    }
    return choice;
  }
  for (int m = kRansMinScaleBits; m <= kRansMaxScaleBits; ++m) {
    Result<size_t> size = ContextRansCompressedSize(sym, alphabet, static_cast<uint16_t>(z), spec.contexts, m);
    if (!size.ok()) {  // too many distinct symbols for 2^m slots
      last = size.status();
      continue;
    }
    if (!best || *size < best->bytes) best = StreamChoice{m, *size, 1, 0, {}};
  }
  if (!best) return Internal("ans_grid: no rANS table precision codes this tensor: " + last.message());
  return *best;
}

Status CheckQuant(const std::string& name, std::span<const uint64_t> shape, const AnsGridSpec& spec,
                  const AnsGridQuant& q) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckShape(name, shape, q.codes.size()));
  GP_ASSIGN_OR_RETURN(ScaleLayout layout, MakeScaleLayout(name, shape, q.codes.size(), spec.group_size, "ans_grid"));
  const uint64_t rows = layout.rows, gpr = layout.groups_per_row;
  if (q.scales.size() != rows * gpr) {
    return InvalidArgument(Quote(name) + ": " + std::to_string(q.scales.size()) + " scales given, " +
                           std::to_string(rows * gpr) + " expected");
  }
  for (size_t i = 0; i < q.scales.size(); ++i) {
    if (!std::isfinite(q.scales[i])) return InvalidArgument(Quote(name) + ": scale " + std::to_string(i) + " is not finite");
  }
  const int mc = spec.max_code();
  for (size_t i = 0; i < q.codes.size(); ++i) {
    if (q.codes[i] < -mc || q.codes[i] > mc) {
      return InvalidArgument(Quote(name) + ": code " + std::to_string(q.codes[i]) + " at index " + std::to_string(i) +
                             " is outside [-" + std::to_string(mc) + ", " + std::to_string(mc) +
                             "] (max_alphabet " + std::to_string(spec.max_alphabet) + ")");
    }
  }
  return Status::Ok();
}

Result<std::vector<double>> DiagWeights(const std::string& name, const Eigen::MatrixXd& h, uint64_t cols) {
  if (h.rows() != static_cast<Eigen::Index>(cols) || h.cols() != static_cast<Eigen::Index>(cols)) {
    return InvalidArgument(Quote(name) + ": Hessian is " + std::to_string(h.rows()) + " x " + std::to_string(h.cols()) +
                           ", expected " + std::to_string(cols) + " x " + std::to_string(cols));
  }
  std::vector<double> d(cols);
  for (uint64_t j = 0; j < cols; ++j) {
    d[j] = h(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j));
    if (!std::isfinite(d[j]) || d[j] < 0) {
      return InvalidArgument(Quote(name) + ": Hessian diagonal entry " + std::to_string(j) +
                             " is negative or not finite");
    }
  }
  return d;
}

double Mse(std::span<const float> w, std::span<const float> v) {
  if (w.empty()) return 0.0;
  double s = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double e = static_cast<double>(w[i]) - static_cast<double>(v[i]);
    s += e * e;
  }
  return s / static_cast<double>(w.size());
}

Result<AnsGridResult> Finish(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                             const AnsGridSpec& spec, AnsGridQuant q, const Eigen::MatrixXd* hessian) {
  AnsGridResult res;
  GP_ASSIGN_OR_RETURN(res.encoded, PackAnsGrid(name, shape, spec, q));
  res.step = spec.step;
  res.payload_bytes = res.encoded.payload.size();
  res.scale_bytes = q.scales.size() * ScaleBytesOf(spec.scale_dtype);
  res.entropy_bits = CodeEntropyBits(q.codes);
  const std::vector<float> v = DequantizeAnsGrid(q);
  res.mse = Mse(w, v);
  if (hessian) res.err_hessian = HessianWeightedError(w, v, q.rows, q.cols, *hessian);
  res.quant = std::move(q);
  return res;
}

}  // namespace

// ------------------------------------------------------------------ spec

Status AnsGridSpec::Validate() const {
  if (!(std::isfinite(step) && step > 0)) return InvalidArgument("ans_grid: step must be finite and > 0");
  if (scale_dtype > 2) return InvalidArgument("ans_grid: scale_dtype must be 0 (f16), 1 (f32) or 2 (bf16)");
  if (model > 1 && model != 9)
    return InvalidArgument("ans_grid: model must be 0 (order-0), 1 (context) or 9 (column classes)");
  if (contexts < 1 || contexts > ContextRansModel::kMaxContexts)
    return InvalidArgument("ans_grid: contexts must be 1..64");
  if (!(std::isfinite(dead_zone) && dead_zone >= 0)) return InvalidArgument("ans_grid: dead_zone must be >= 0");
  if (!(std::isfinite(rdo_lambda) && rdo_lambda >= 0)) return InvalidArgument("ans_grid: rdo_lambda must be >= 0");
  if (max_alphabet < 1 || max_alphabet > 4095 || max_alphabet % 2 == 0)
    return InvalidArgument("ans_grid: max_alphabet must be odd and in [1, 4095]");
  for (double m : row_step)
    if (!(std::isfinite(m) && m > 0)) return InvalidArgument("ans_grid: row_step multipliers must be finite and > 0");
  return Status::Ok();
}

std::string AnsGridSpec::ToString() const {
  std::string s = "ans:s";
  s += detail::FormatDouble(step);
  if (group_size) {
    s += ":g";
    s += std::to_string(group_size);
  } else {
    s += ":row";
  }
  if (model == 1) {
    s += ":ctx";
    s += std::to_string(contexts);
  }
  if (model == 9) s += ":cc";
  if (dead_zone > 0) {
    s += ":dz";
    s += detail::FormatDouble(dead_zone);
  }
  if (rdo_lambda > 0) {
    s += ":rdo";
    s += detail::FormatDouble(rdo_lambda);
  }
  if (scale_dtype == 1) s += ":sf32";
  if (scale_dtype == 2) s += ":sbf16";
  if (max_alphabet != 4095) {
    s += ":amax";
    s += std::to_string(max_alphabet);
  }
  return s;
}

// ------------------------------------------------------------------ quantization

Result<AnsGridQuant> AnsGridScales(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                   const AnsGridSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckShape(name, shape, w.size()));
  GP_RETURN_IF_ERROR(CheckFinite(name, w));
  GP_ASSIGN_OR_RETURN(ScaleLayout layout, MakeScaleLayout(name, shape, w.size(), spec.group_size, "ans_grid"));
  AnsGridQuant q;
  q.rows = layout.rows;
  q.cols = layout.cols;
  q.group_size = layout.group_size;
  q.groups_per_row = layout.groups_per_row;
  const uint64_t glen = layout.group_len();
  if (!spec.row_step.empty() && spec.row_step.size() != q.rows)
    return InvalidArgument(Quote(name) + ": " + std::to_string(spec.row_step.size()) + " row steps given for " +
                           std::to_string(q.rows) + " rows");
  q.scales.resize(q.rows * q.groups_per_row);
  for (uint64_t gi = 0; gi < q.scales.size(); ++gi) {
    const float* g = w.data() + gi * glen;
    double mean = 0.0, absmax = 0.0;
    for (uint64_t i = 0; i < glen; ++i) {
      mean += g[i];
      absmax = std::max(absmax, static_cast<double>(std::fabs(g[i])));
    }
    mean = glen ? mean / static_cast<double>(glen) : 0.0;
    double ss = 0.0;
    for (uint64_t i = 0; i < glen; ++i) ss += (g[i] - mean) * (g[i] - mean);
    double sigma = glen > 1 ? std::sqrt(ss / static_cast<double>(glen - 1)) : 0.0;
    if (sigma == 0.0) sigma = absmax;  // constant row: code +-1/step
    const double want = spec.step * sigma * (spec.row_step.empty() ? 1.0 : spec.row_step[gi / q.groups_per_row]);
    float stored = StoreScaleNearest(want, spec.scale_dtype);
    if (std::isinf(stored)) {
      return InvalidArgument(Quote(name) + ": scale " + detail::FormatDouble(want) + " of row " +
                             std::to_string(gi / q.groups_per_row) + " overflows " + ScaleDTypeName(spec.scale_dtype) +
                             " (use f32 scales)");
    }
    if (stored == 0.0f) stored = SmallestPositive(spec.scale_dtype);
    q.scales[gi] = stored;
  }
  return q;
}

Result<AnsGridQuant> QuantizeAnsGrid(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const AnsGridSpec& spec,
                                     std::span<const double> col_weights) {
  GP_ASSIGN_OR_RETURN(AnsGridQuant q, AnsGridScales(name, shape, w, spec));
  if (!col_weights.empty() && col_weights.size() != q.cols) {
    return InvalidArgument(Quote(name) + ": " + std::to_string(col_weights.size()) + " column weights for " +
                           std::to_string(q.cols) + " columns");
  }
  const int mc = spec.max_code();
  q.codes.resize(w.size());
  for (uint64_t r = 0; r < q.rows; ++r) {
    for (uint64_t c = 0; c < q.cols; ++c) {
      const uint64_t i = r * q.cols + c;
      bool clipped = false;
      q.codes[i] = static_cast<int16_t>(
          RoundCode(static_cast<double>(w[i]) / q.scales[q.ScaleIndex(r, c)], spec.dead_zone, mc, &clipped));
      q.clipped += clipped;
    }
  }
  if (spec.rdo_lambda > 0 && !w.empty()) {
    // Normalised column weights (mean 1); all-zero weights fall back to 1.
    std::vector<double> h(q.cols, 1.0);
    if (!col_weights.empty()) {
      double mean = 0;
      for (double v : col_weights) mean += v;
      mean /= static_cast<double>(col_weights.size());
      if (mean > 0)
        for (uint64_t c = 0; c < q.cols; ++c) h[c] = col_weights[c] / mean;
    }
    for (int pass = 0; pass < 3; ++pass) {
      const std::vector<double> bits = BitsFromCounts(Histogram(q.codes, mc), w.size());
      uint64_t changed = 0;
      for (uint64_t r = 0; r < q.rows; ++r) {
        for (uint64_t c = 0; c < q.cols; ++c) {
          const uint64_t i = r * q.cols + c;
          const double x = static_cast<double>(w[i]) / q.scales[q.ScaleIndex(r, c)];
          const auto code = static_cast<int16_t>(RdoChoose(x, h[c], spec.rdo_lambda, bits, mc));
          changed += code != q.codes[i];
          q.codes[i] = code;
        }
      }
      if (changed == 0) break;
    }
  }
  return q;
}

double CodeEntropyBits(std::span<const int16_t> codes) {
  if (codes.empty()) return 0.0;
  std::vector<uint64_t> counts(65536, 0);
  for (int16_t c : codes) ++counts[static_cast<uint16_t>(c)];
  const double n = static_cast<double>(codes.size());
  double h = 0;
  for (uint64_t k : counts) {
    if (!k) continue;
    const double p = static_cast<double>(k) / n;
    h -= p * std::log2(p);
  }
  return h;
}

gpk::EncodedTensor AnsGridTensor(const std::string& name, std::span<const uint64_t> shape, uint8_t scale_dtype,
                                 uint32_t group_size, uint8_t model) {
  gpk::EncodedTensor t;
  t.name = name;
  t.shape.assign(shape.begin(), shape.end());
  t.dtype = gpk::TargetDType::kF32;
  t.encoding = gpk::kAnsGrid;
  gpk::AnsGridParams params;
  params.scale_dtype = scale_dtype;
  params.group_size = group_size;
  params.model = model;
  t.params = params.Serialize();
  return t;
}

std::vector<float> DequantizeAnsGrid(const AnsGridQuant& q) {
  std::vector<float> out(q.codes.size());
  for (uint64_t r = 0; r < q.rows; ++r) {
    for (uint64_t c = 0; c < q.cols; ++c) {
      const uint64_t i = r * q.cols + c;
      out[i] = static_cast<float>(q.codes[i]) * q.scales[q.ScaleIndex(r, c)];
    }
  }
  return out;
}

// ------------------------------------------------------------------ packing

Result<uint64_t> AnsGridPayloadBytes(const AnsGridSpec& spec, const AnsGridQuant& q) {
  GP_RETURN_IF_ERROR(spec.Validate());
  const int mc = spec.max_code();
  for (int16_t c : q.codes)
    if (c < -mc || c > mc) return InvalidArgument("ans_grid: code " + std::to_string(c) + " outside +-max_code");
  int z = 0;
  const std::vector<uint16_t> sym = Symbols(q.codes, &z);
  GP_ASSIGN_OR_RETURN(StreamChoice sc, ChooseStream(sym, z, q.cols, spec));
  return q.scales.size() * ScaleBytesOf(spec.scale_dtype) + sc.bytes;
}

Result<gpk::EncodedTensor> PackAnsGrid(const std::string& name, std::span<const uint64_t> shape,
                                       const AnsGridSpec& spec, const AnsGridQuant& q) {
  GP_RETURN_IF_ERROR(CheckQuant(name, shape, spec, q));
  int z = 0;
  const std::vector<uint16_t> sym = Symbols(q.codes, &z);
  GP_ASSIGN_OR_RETURN(StreamChoice sc, ChooseStream(sym, z, q.cols, spec));
  const size_t alphabet = static_cast<size_t>(2 * z + 1);

  gpk::EncodedTensor t = AnsGridTensor(name, shape, spec.scale_dtype, spec.group_size, uint8_t(sc.model));

  const uint64_t scale_bytes = q.scales.size() * ScaleBytesOf(spec.scale_dtype);
  t.payload.reserve(scale_bytes + sc.bytes);
  for (float s : q.scales) PutScale(t.payload, s, spec.scale_dtype);
  Result<std::vector<uint8_t>> stream =
      sc.model == 0   ? RansCompress(sym, alphabet, sc.scale_bits)
      : sc.model == 9 ? ColumnRansCompress(sym, alphabet, static_cast<uint16_t>(z), sc.classes, sc.col_class,
                                           sc.scale_bits)
                      : ContextRansCompress(sym, alphabet, static_cast<uint16_t>(z), spec.contexts, sc.scale_bits);
  if (!stream.ok()) return Internal(Quote(name) + ": ans_grid stream: " + stream.status().message());
  t.payload.insert(t.payload.end(), stream->begin(), stream->end());
  if (t.payload.size() != scale_bytes + sc.bytes) {
    return Internal(Quote(name) + ": ans_grid payload is " + std::to_string(t.payload.size()) +
                    " bytes, the exact size said " + std::to_string(scale_bytes + sc.bytes));
  }
  return t;
}

// ------------------------------------------------------------------ encoders

Result<AnsGridResult> EncodeAnsGrid(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const AnsGridSpec& spec,
                                    const Eigen::MatrixXd* hessian) {
  std::vector<double> weights;
  if (hessian && spec.rdo_lambda > 0) {
    GP_RETURN_IF_ERROR(CheckShape(name, shape, w.size()));
    GP_ASSIGN_OR_RETURN(weights, DiagWeights(name, *hessian, ColsOf(shape, w.size())));
  }
  GP_ASSIGN_OR_RETURN(AnsGridQuant q, QuantizeAnsGrid(name, shape, w, spec, weights));
  if (hessian && (hessian->rows() != static_cast<Eigen::Index>(q.cols) ||
                  hessian->cols() != static_cast<Eigen::Index>(q.cols))) {
    return InvalidArgument(Quote(name) + ": Hessian is " + std::to_string(hessian->rows()) + " x " +
                           std::to_string(hessian->cols()) + ", expected " + std::to_string(q.cols) + " x " +
                           std::to_string(q.cols));
  }
  return Finish(name, shape, w, spec, std::move(q), hessian);
}

namespace {

// GPTQ onto the ans grid; `run` is GptqRun with a Hessian or a factorisation.
template <typename Run>
Result<std::pair<AnsGridQuant, GptqRunStats>> GptqAnsGridCodes(const std::string& name, std::span<const uint64_t> shape,
                                                               std::span<const float> w, const AnsGridSpec& spec,
                                                               const Run& run, std::span<const uint8_t> keep = {},
                                                               std::vector<float>* kept = nullptr) {
  GP_ASSIGN_OR_RETURN(AnsGridQuant quant, AnsGridScales(name, shape, w, spec));
  const int mc = spec.max_code();
  quant.codes.assign(w.size(), 0);
  // RDO rates come from the plain-rounding histogram of the same grid.
  std::vector<double> bits;
  if (spec.rdo_lambda > 0 && !w.empty()) {
    AnsGridSpec plain = spec;
    plain.rdo_lambda = 0;
    GP_ASSIGN_OR_RETURN(AnsGridQuant rtn, QuantizeAnsGrid(name, shape, w, plain));
    bits = BitsFromCounts(Histogram(rtn.codes, mc), w.size());
  }
  uint64_t clipped = 0;
  if (kept) kept->assign(w.size(), 0.0f);
  auto round_to_grid = [&](uint64_t col, double weight, std::span<const double> values, std::span<double> out) {
    const bool whole = keep.size() == quant.cols && keep[col];
    for (size_t r = 0; r < values.size(); ++r) {
      if (whole || (keep.size() > quant.cols && keep[r * quant.cols + col])) {  // kept exactly: code 0, no error to spread
        out[r] = values[r];
        if (kept) (*kept)[r * quant.cols + col] = static_cast<float>(values[r]);
        continue;
      }
      const float s = quant.scales[quant.ScaleIndex(r, col)];
      const double x = values[r] / static_cast<double>(s);
      bool clip = false;
      int code = RoundCode(x, spec.dead_zone, mc, &clip);
      if (!bits.empty()) code = RdoChoose(x, weight, spec.rdo_lambda, bits, mc);
      clipped += clip;
      quant.codes[r * quant.cols + col] = static_cast<int16_t>(code);
      out[r] = static_cast<double>(static_cast<float>(code) * s);
    }
  };
  GP_ASSIGN_OR_RETURN(GptqRunStats stats, run(quant.rows, quant.cols, round_to_grid));
  quant.clipped = clipped;
  return std::make_pair(std::move(quant), stats);
}

}  // namespace

Result<AnsGridQuant> GptqAnsGridQuant(const std::string& name, std::span<const uint64_t> shape,
                                      std::span<const float> w, const GptqFactor& factor, const AnsGridSpec& spec,
                                      const GptqOptions& options, GptqRunStats* stats, std::span<const uint8_t> keep,
                                      std::vector<float>* kept) {
  auto run = [&](uint64_t rows, uint64_t cols, const GptqColumnQuantizer& q) {
    return GptqRun(name, rows, cols, w, factor, options, q);
  };
  const uint64_t cols = w.size() / std::max<uint64_t>(shape.empty() ? 1 : shape[0], 1);
  if (!keep.empty() && keep.size() != cols && keep.size() != w.size())
    return InvalidArgument(Quote(name) + ": keep mask has " + std::to_string(keep.size()) + " flags for " +
                           std::to_string(cols) + " columns of " + std::to_string(w.size()) + " weights");
  GP_ASSIGN_OR_RETURN(auto qs, GptqAnsGridCodes(name, shape, w, spec, run, keep, kept));
  if (stats) *stats = qs.second;
  return std::move(qs.first);
}

Result<AnsGridResult> GptqAnsGrid(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                  const Eigen::MatrixXd& hessian, const AnsGridSpec& spec,
                                  const GptqOptions& options) {
  auto run = [&](uint64_t rows, uint64_t cols, const GptqColumnQuantizer& q) {
    return GptqRun(name, rows, cols, w, hessian, options, q);
  };
  GP_ASSIGN_OR_RETURN(auto qs, GptqAnsGridCodes(name, shape, w, spec, run));
  GP_ASSIGN_OR_RETURN(AnsGridResult res, Finish(name, shape, w, spec, std::move(qs.first), &hessian));
  res.damp_used = qs.second.damp_used;
  // Plain rounding at the same spec, for comparison.
  GP_ASSIGN_OR_RETURN(std::vector<double> weights, DiagWeights(name, hessian, res.quant.cols));
  GP_ASSIGN_OR_RETURN(AnsGridQuant rtn, QuantizeAnsGrid(name, shape, w, spec, weights));
  res.err_rtn = HessianWeightedError(w, DequantizeAnsGrid(rtn), rtn.rows, rtn.cols, hessian);
  return res;
}

Result<AnsGridResult> EncodeAnsGridToBytes(const std::string& name, std::span<const uint64_t> shape,
                                           std::span<const float> w, const AnsGridSpec& spec,
                                           uint64_t max_payload_bytes, const Eigen::MatrixXd* hessian,
                                           int iterations) {
  AnsGridSpec s = spec;
  s.step = 1.0;
  GP_RETURN_IF_ERROR(s.Validate());
  GP_RETURN_IF_ERROR(CheckShape(name, shape, w.size()));
  GP_RETURN_IF_ERROR(CheckFinite(name, w));
  // A step at which every |w / scale| < 0.5: 3 * max |w| / scale(step 1).
  GP_ASSIGN_OR_RETURN(AnsGridQuant unit, AnsGridScales(name, shape, w, s));
  double ratio = 0;
  for (uint64_t r = 0; r < unit.rows; ++r)
    for (uint64_t c = 0; c < unit.cols; ++c)
      ratio = std::max(ratio, std::fabs(static_cast<double>(w[r * unit.cols + c])) / unit.scales[unit.ScaleIndex(r, c)]);
  double hi = ratio > 0 ? 3.0 * ratio : 1.0;
  // Below ratio / max_code codes start to clip, and the bytes FALL again as
  // everything piles up at +-max_code: never search there.
  double lo = spec.max_code() > 0 && ratio > 0 ? ratio / spec.max_code() : hi;
  std::optional<AnsGridResult> best;
  auto try_step = [&](double step) -> Result<bool> {
    s.step = step;
    GP_ASSIGN_OR_RETURN(AnsGridResult r, EncodeAnsGrid(name, shape, w, s, hessian));
    const bool fits = r.payload_bytes <= max_payload_bytes;
    if (fits && (!best || r.mse < best->mse || (r.mse == best->mse && r.payload_bytes < best->payload_bytes)))
      best = std::move(r);
    return fits;
  };
  GP_ASSIGN_OR_RETURN(bool hi_fits, try_step(hi));
  if (!hi_fits) {
    return InvalidArgument(Quote(name) + ": even with every code 0 the ans_grid payload exceeds " +
                           std::to_string(max_payload_bytes) + " bytes");
  }
  GP_ASSIGN_OR_RETURN(bool lo_fits, try_step(lo));
  for (int it = 0; it < iterations && !lo_fits; ++it) {
    const double mid = std::sqrt(lo * hi);
    if (mid <= lo || mid >= hi) break;
    GP_ASSIGN_OR_RETURN(bool fits, try_step(mid));
    (fits ? hi : lo) = mid;
  }
  return std::move(*best);
}

}  // namespace golfpack::encode
