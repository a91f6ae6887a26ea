#include "codec/quantize.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "codec/bytes.h"
#include "codec/half.h"

namespace golfpack::encode {
namespace {

using detail::PutScale;
using detail::Quote;
using detail::ScaleDTypeName;
using detail::SmallestPositive;

using detail::PutF32;
using detail::PutU16;


gpk::EncodedTensor MakeTensor(const std::string& name, std::span<const uint64_t> shape, uint32_t encoding) {
  gpk::EncodedTensor t;
  t.name = name;
  t.shape.assign(shape.begin(), shape.end());
  t.dtype = gpk::TargetDType::kF32;
  t.encoding = encoding;
  return t;
}

Status CheckInput(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w) {
  GP_RETURN_IF_ERROR(CheckShape(name, shape, w.size()));
  return CheckFinite(name, w);
}

// Stored value of a scale in its dtype, rounded up so it is >= `s`.
// Returns 0 for s == 0 and +inf on overflow.
float StoreScaleCeil(double s, uint8_t scale_dtype) {
  if (s <= 0.0) return 0.0f;
  switch (scale_dtype) {
    case 1: {
      float f = static_cast<float>(s);
      if (static_cast<double>(f) < s) f = std::nextafter(f, std::numeric_limits<float>::infinity());
      return f;
    }
    case 2: {
      uint16_t b = F32ToBF16(static_cast<float>(s));
      if (static_cast<double>(BF16ToF32(b)) < s) ++b;
      return BF16ToF32(b);
    }
    default: {
      uint16_t h = F32ToF16(static_cast<float>(s));
      if (static_cast<double>(F16ToF32(h)) < s) ++h;  // positive: next bit pattern is the next value (or inf)
      return F16ToF32(h);
    }
  }
}


}  // namespace

// ------------------------------------------------------------------ checks
Status CheckFinite(const std::string& name, std::span<const float> w) {
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i])) {
      return InvalidArgument(Quote(name) + ": non-finite value " + (std::isnan(w[i]) ? std::string("nan") : (w[i] > 0 ? "inf" : "-inf")) +
                             " at index " + std::to_string(i));
    }
  }
  return Status::Ok();
}

Status CheckShape(const std::string& name, std::span<const uint64_t> shape, size_t n) {
  if (shape.size() > 8) return InvalidArgument(Quote(name) + ": " + std::to_string(shape.size()) + " dims (at most 8)");
  uint64_t numel = 1;
  for (uint64_t d : shape) {
    if (d != 0 && numel > (uint64_t{1} << 40) / d) {
      return InvalidArgument(Quote(name) + ": shape has more than 2^40 elements");
    }
    numel *= d;
  }
  if (numel != n) {
    return InvalidArgument(Quote(name) + ": shape has " + std::to_string(numel) + " elements but " +
                           std::to_string(n) + " values were given");
  }
  return Status::Ok();
}

uint64_t RowsOf(std::span<const uint64_t> shape) { return shape.empty() ? 1 : shape[0]; }
uint64_t ColsOf(std::span<const uint64_t> shape, uint64_t numel) {
  const uint64_t rows = RowsOf(shape);
  return rows == 0 ? 0 : numel / rows;
}

// ------------------------------------------------------------------ raw / const
Result<gpk::EncodedTensor> EncodeRaw(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, gpk::TargetDType storage) {
  GP_RETURN_IF_ERROR(CheckInput(name, shape, w));
  gpk::EncodedTensor t;
  switch (storage) {
    case gpk::TargetDType::kF32:
      t = MakeTensor(name, shape, gpk::kRawF32);
      t.payload.reserve(4 * w.size());
      for (float v : w) PutF32(t.payload, v);
      return t;
    case gpk::TargetDType::kF16:
      t = MakeTensor(name, shape, gpk::kRawF16);
      t.payload.reserve(2 * w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        const uint16_t h = F32ToF16(w[i]);
        if ((h & 0x7fffu) == 0x7c00u) {
          return InvalidArgument(Quote(name) + ": value " + std::to_string(w[i]) + " at index " + std::to_string(i) +
                                 " overflows f16");
        }
        PutU16(t.payload, h);
      }
      return t;
    case gpk::TargetDType::kBF16:
      t = MakeTensor(name, shape, gpk::kRawBF16);
      t.payload.reserve(2 * w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        const uint16_t b = F32ToBF16(w[i]);
        if ((b & 0x7fffu) == 0x7f80u) {
          return InvalidArgument(Quote(name) + ": value " + std::to_string(w[i]) + " at index " + std::to_string(i) +
                                 " overflows bf16");
        }
        PutU16(t.payload, b);
      }
      return t;
  }
  return InvalidArgument(Quote(name) + ": unknown raw storage dtype");
}

std::optional<float> ConstValue(std::span<const float> w) {
  if (w.empty()) return std::nullopt;
  const uint32_t first = std::bit_cast<uint32_t>(w[0]);
  for (float v : w) {
    if (std::bit_cast<uint32_t>(v) != first) return std::nullopt;
  }
  return w[0];
}

Result<gpk::EncodedTensor> EncodeConst(const std::string& name, std::span<const uint64_t> shape,
                                       std::span<const float> w) {
  GP_RETURN_IF_ERROR(CheckInput(name, shape, w));
  float value = 0.0f;
  if (!w.empty()) {
    const std::optional<float> v = ConstValue(w);
    if (!v) return InvalidArgument(Quote(name) + ": const encoding needs all elements equal");
    value = *v;
  }
  gpk::EncodedTensor t = MakeTensor(name, shape, gpk::kConst);
  PutF32(t.params, value);
  return t;
}

// ------------------------------------------------------------------ Parameter Golf baseline
bool IsPgControlTensor(std::string_view name) {
  // CONTROL_TENSOR_NAME_PATTERNS; the plural forms are covered by substring match.
  static constexpr std::string_view kPatterns[] = {"attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weight"};
  for (std::string_view p : kPatterns) {
    if (name.find(p) != std::string_view::npos) return true;
  }
  return false;
}

PgDecision PgPassthroughDType(std::string_view name, uint64_t numel) {
  if (numel > kPgKeepFloatMaxNumel) return PgDecision::kQuantize;
  return IsPgControlTensor(name) ? PgDecision::kKeepF32 : PgDecision::kKeepF16;
}

float TorchQuantileF32(std::vector<float> values, double q) {
  if (values.empty()) return 0.0f;
  std::sort(values.begin(), values.end());
  const float q32 = static_cast<float>(q);
  const float last = static_cast<float>(values.size() - 1);
  const float rank = q32 * last;  // one f32 rounding, as `q * last_index`
  const auto below = static_cast<size_t>(static_cast<int64_t>(rank));
  const auto above = static_cast<size_t>(static_cast<int64_t>(std::ceil(rank)));
  const float weight = rank - static_cast<float>(below);
  const float lo = values[below], hi = values[above];
  const float diff = hi - lo;
  // ATen lerp_vec: base + coeff * (end - start) fused, coeff = w or w - 1.
  return std::fabs(weight) < 0.5f ? std::fma(weight, diff, lo) : std::fma(weight - 1.0f, diff, hi);
}

Result<gpk::EncodedTensor> EncodePgInt8Row(const std::string& name, std::span<const uint64_t> shape,
                                           std::span<const float> w) {
  GP_RETURN_IF_ERROR(CheckInput(name, shape, w));
  if (shape.empty() || shape[0] == 0) {
    return InvalidArgument(Quote(name) + ": pg_int8_row needs ndim >= 1 and at least one row");
  }
  const uint64_t rows = shape[0], cols = w.size() / rows;
  const float q_clip = static_cast<float>(kPgClipPercentile / 100.0);
  const float min_scale = static_cast<float>(1.0 / 127.0);
  gpk::EncodedTensor t = MakeTensor(name, shape, gpk::kPgInt8Row);
  t.payload.resize(2 * rows + w.size());
  uint8_t* codes = t.payload.data() + 2 * rows;
  std::vector<float> absrow(cols);
  for (uint64_t r = 0; r < rows; ++r) {
    const float* row = w.data() + r * cols;
    for (uint64_t c = 0; c < cols; ++c) absrow[c] = std::fabs(row[c]);
    const float clip = cols ? TorchQuantileF32(absrow, q_clip) : 0.0f;
    float scale = clip / 127.0f;
    if (scale < min_scale) scale = min_scale;  // clamp_min(1/127)
    for (uint64_t c = 0; c < cols; ++c) {
      const float clipped = std::max(std::min(row[c], clip), -clip);
      float q = std::nearbyint(clipped / scale);
      q = std::min(127.0f, std::max(-127.0f, q));
      codes[r * cols + c] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
    const uint16_t h = F32ToF16(scale);
    t.payload[2 * r] = static_cast<uint8_t>(h);
    t.payload[2 * r + 1] = static_cast<uint8_t>(h >> 8);
  }
  return t;
}

Result<gpk::EncodedTensor> EncodePgInt8Tensor(const std::string& name, std::span<const uint64_t> shape,
                                              std::span<const float> w) {
  GP_RETURN_IF_ERROR(CheckInput(name, shape, w));
  std::vector<float> absw(w.size());
  for (size_t i = 0; i < w.size(); ++i) absw[i] = std::fabs(w[i]);
  const float clip = TorchQuantileF32(std::move(absw), kPgClipPercentile / 100.0);
  // Python: clip_abs / 127.0 in double, then torch.tensor(..., dtype=float32).
  const float scale = clip > 0.0f ? static_cast<float>(static_cast<double>(clip) / 127.0) : 1.0f;
  gpk::EncodedTensor t = MakeTensor(name, shape, gpk::kPgInt8Tensor);
  PutF32(t.payload, scale);
  t.payload.resize(4 + w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const float clipped = std::min(std::max(w[i], -clip), clip);  // torch.clamp(t, -clip, clip)
    float q = std::nearbyint(clipped / scale);
    q = std::min(127.0f, std::max(-127.0f, q));
    t.payload[4 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
  return t;
}

Result<gpk::EncodedTensor> EncodePgBaseline(const std::string& name, std::span<const uint64_t> shape,
                                            std::span<const float> w) {
  switch (PgPassthroughDType(name, w.size())) {
    case PgDecision::kKeepF32: return EncodeRaw(name, shape, w, gpk::TargetDType::kF32);
    case PgDecision::kKeepF16: return EncodeRaw(name, shape, w, gpk::TargetDType::kF16);
    case PgDecision::kQuantize: break;
  }
  if (shape.size() == 2) return EncodePgInt8Row(name, shape, w);
  return EncodePgInt8Tensor(name, shape, w);
}

// ------------------------------------------------------------------ uniform grids
Status UniformSpec::Validate() const {
  if (bits < 2 || bits > 8) return InvalidArgument("uniform grid: bits must be 2..8, got " + std::to_string(bits));
  if (packing > 1) return InvalidArgument("uniform grid: packing must be 0 or 1, got " + std::to_string(packing));
  if (scale_dtype > 2) {
    return InvalidArgument("uniform grid: scale_dtype must be 0 (f16), 1 (f32) or 2 (bf16), got " +
                           std::to_string(scale_dtype));
  }
  if (clip == kQuantile && !(clip_value > 0.0 && clip_value <= 1.0)) {
    return InvalidArgument("uniform grid: quantile clip must be in (0, 1], got " + detail::FormatDouble(clip_value));
  }
  if (clip == kStd && !(clip_value > 0.0 && std::isfinite(clip_value))) {
    return InvalidArgument("uniform grid: std clip factor must be > 0, got " + detail::FormatDouble(clip_value));
  }
  return Status::Ok();
}

std::string UniformSpec::ToString() const {
  // Built with += only: GCC 12 -O3 warns (-Wrestrict, a false positive) on long operator+ chains.
  std::string s = "u";
  s += std::to_string(bits);
  if (group_size) {
    s += ":g";
    s += std::to_string(group_size);
  } else {
    s += ":row";
  }
  switch (clip) {
    case kNone: s += ":none"; break;
    case kQuantile: s += ":q"; s += detail::FormatDouble(clip_value); break;
    case kStd: s += ":sd"; s += detail::FormatDouble(clip_value); break;
  }
  if (packing == 1) s += ":packed";
  if (scale_dtype == 1) s += ":sf32";
  if (scale_dtype == 2) s += ":sbf16";
  if (!cap_at_absmax && clip != kNone) s += ":nocap";
  return s;
}

Result<ScaleLayout> MakeScaleLayout(const std::string& name, std::span<const uint64_t> shape, uint64_t numel,
                                    uint32_t group_size, const char* encoding) {
  if (shape.empty()) return InvalidArgument(Quote(name) + ": " + encoding + " encoding needs ndim >= 1");
  ScaleLayout l;
  l.rows = RowsOf(shape);
  l.cols = ColsOf(shape, numel);
  l.group_size = group_size;
  if (group_size) {
    if (l.cols % group_size != 0) {
      return InvalidArgument(Quote(name) + ": group size " + std::to_string(group_size) + " does not divide its " +
                             std::to_string(l.cols) + " columns");
    }
    l.groups_per_row = l.cols / group_size;
  }
  return l;
}

Result<UniformQuant> UniformScales(const std::string& name, std::span<const uint64_t> shape,
                                   std::span<const float> w, const UniformSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckInput(name, shape, w));
  GP_ASSIGN_OR_RETURN(ScaleLayout layout, MakeScaleLayout(name, shape, w.size(), spec.group_size, "uniform"));
  UniformQuant q;
  q.rows = layout.rows;
  q.cols = layout.cols;
  q.group_size = layout.group_size;
  q.groups_per_row = layout.groups_per_row;
  const uint64_t glen = layout.group_len();
  q.scales.resize(q.rows * q.groups_per_row);
  const double max_code = spec.max_code();
  std::vector<float> sorted;
  for (uint64_t gi = 0; gi < q.scales.size(); ++gi) {
    const float* g = w.data() + gi * glen;
    double absmax = 0.0;
    for (uint64_t i = 0; i < glen; ++i) absmax = std::max(absmax, static_cast<double>(std::fabs(g[i])));
    double clip = absmax;
    if (spec.clip == UniformSpec::kQuantile && glen > 0) {
      sorted.resize(glen);
      for (uint64_t i = 0; i < glen; ++i) sorted[i] = std::fabs(g[i]);
      std::sort(sorted.begin(), sorted.end());
      const double pos = spec.clip_value * static_cast<double>(glen - 1);
      const auto lo = static_cast<uint64_t>(std::floor(pos));
      const uint64_t hi = std::min<uint64_t>(lo + 1, glen - 1);
      const double frac = pos - static_cast<double>(lo);
      clip = sorted[lo] + frac * (static_cast<double>(sorted[hi]) - sorted[lo]);
    } else if (spec.clip == UniformSpec::kStd) {
      double mean = 0.0;
      for (uint64_t i = 0; i < glen; ++i) mean += g[i];
      mean = glen ? mean / static_cast<double>(glen) : 0.0;
      double ss = 0.0;
      for (uint64_t i = 0; i < glen; ++i) ss += (g[i] - mean) * (g[i] - mean);
      const double sd = glen > 1 ? std::sqrt(ss / static_cast<double>(glen - 1)) : 0.0;
      clip = spec.clip_value * sd;
    }
    if (spec.cap_at_absmax) clip = std::min(clip, absmax);
    float stored = StoreScaleCeil(clip / max_code, spec.scale_dtype);
    if (std::isinf(stored)) {
      return InvalidArgument(Quote(name) + ": scale " + detail::FormatDouble(clip / max_code) + " of row " +
                             std::to_string(gi / q.groups_per_row) + " overflows " +
                             ScaleDTypeName(spec.scale_dtype) + " (use f32 scales)");
    }
    if (stored == 0.0f) stored = SmallestPositive(spec.scale_dtype);
    q.scales[gi] = stored;
  }
  return q;
}

Result<UniformQuant> QuantizeUniform(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const UniformSpec& spec) {
  GP_ASSIGN_OR_RETURN(UniformQuant q, UniformScales(name, shape, w, spec));
  const double max_code = spec.max_code();
  q.codes.resize(w.size());
  for (uint64_t r = 0; r < q.rows; ++r) {
    for (uint64_t c = 0; c < q.cols; ++c) {
      const uint64_t i = r * q.cols + c;
      const double x = std::nearbyint(static_cast<double>(w[i]) / q.scales[q.ScaleIndex(r, c)]);
      q.codes[i] = static_cast<int8_t>(std::clamp(x, -max_code, max_code));
    }
  }
  return q;
}

Result<gpk::EncodedTensor> PackUniform(const std::string& name, std::span<const uint64_t> shape,
                                       const UniformSpec& spec, const UniformQuant& q) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckShape(name, shape, q.codes.size()));
  if (shape.empty()) return InvalidArgument(Quote(name) + ": uniform encoding needs ndim >= 1");
  const uint64_t rows = RowsOf(shape), cols = ColsOf(shape, q.codes.size());
  const uint64_t gpr = spec.group_size ? (cols % spec.group_size == 0 ? cols / spec.group_size : 0) : 1;
  if (spec.group_size && cols % spec.group_size != 0) {
    return InvalidArgument(Quote(name) + ": group size " + std::to_string(spec.group_size) +
                           " does not divide its " + std::to_string(cols) + " columns");
  }
  if (q.scales.size() != rows * gpr) {
    return InvalidArgument(Quote(name) + ": " + std::to_string(q.scales.size()) + " scales given, " +
                           std::to_string(rows * gpr) + " expected");
  }
  const int max_code = spec.max_code();
  for (size_t i = 0; i < q.codes.size(); ++i) {
    if (q.codes[i] < -max_code || q.codes[i] > max_code) {
      return InvalidArgument(Quote(name) + ": code " + std::to_string(q.codes[i]) + " at index " +
                             std::to_string(i) + " is outside [-" + std::to_string(max_code) + ", " +
                             std::to_string(max_code) + "] for " + std::to_string(spec.bits) + " bits");
    }
  }
  for (size_t i = 0; i < q.scales.size(); ++i) {
    if (!std::isfinite(q.scales[i])) return InvalidArgument(Quote(name) + ": scale " + std::to_string(i) + " is not finite");
  }
  gpk::UniformParams params;
  params.bits = static_cast<uint8_t>(spec.bits);
  params.packing = spec.packing;
  params.scale_dtype = spec.scale_dtype;
  params.group_size = spec.group_size;
  gpk::EncodedTensor t = MakeTensor(name, shape, gpk::kUniform);
  t.params = params.Serialize();
  const size_t scale_bytes = spec.scale_dtype == 1 ? 4 : 2;
  const uint64_t code_bytes =
      spec.packing == 0 ? q.codes.size() : (q.codes.size() * static_cast<uint64_t>(spec.bits) + 7) / 8;
  t.payload.reserve(q.scales.size() * scale_bytes + code_bytes);
  for (float s : q.scales) PutScale(t.payload, s, spec.scale_dtype);
  if (spec.packing == 0) {
    for (int8_t c : q.codes) t.payload.push_back(static_cast<uint8_t>(c));
  } else {
    const size_t base = t.payload.size();
    t.payload.resize(base + code_bytes, 0);
    uint8_t* out = t.payload.data() + base;
    uint64_t bitpos = 0;
    for (int8_t c : q.codes) {
      const auto v = static_cast<uint32_t>(c + max_code);  // 0 .. 2^bits - 2
      for (int b = 0; b < spec.bits; ++b, ++bitpos) {
        if ((v >> b) & 1u) out[bitpos >> 3] |= static_cast<uint8_t>(1u << (bitpos & 7));
      }
    }
  }
  return t;
}

Result<gpk::EncodedTensor> EncodeUniform(const std::string& name, std::span<const uint64_t> shape,
                                         std::span<const float> w, const UniformSpec& spec,
                                         const std::vector<int8_t>* codes_override) {
  if (codes_override == nullptr) {
    GP_ASSIGN_OR_RETURN(UniformQuant q, QuantizeUniform(name, shape, w, spec));
    return PackUniform(name, shape, spec, q);
  }
  GP_ASSIGN_OR_RETURN(UniformQuant q, UniformScales(name, shape, w, spec));
  if (codes_override->size() != w.size()) {
    return InvalidArgument(Quote(name) + ": " + std::to_string(codes_override->size()) + " override codes for " +
                           std::to_string(w.size()) + " elements");
  }
  q.codes = *codes_override;
  return PackUniform(name, shape, spec, q);
}

std::vector<float> DequantizeUniform(const UniformQuant& q) {
  std::vector<float> out(q.codes.size());
  for (uint64_t r = 0; r < q.rows; ++r) {
    for (uint64_t c = 0; c < q.cols; ++c) {
      const uint64_t i = r * q.cols + c;
      out[i] = static_cast<float>(q.codes[i]) * q.scales[q.ScaleIndex(r, c)];
    }
  }
  return out;
}

}  // namespace golfpack::encode
