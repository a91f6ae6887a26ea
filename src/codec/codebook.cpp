#include "codec/codebook.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "codec/bytes.h"
#include "codec/quantize.h"

namespace golfpack::encode {

using detail::FormatDouble;
using detail::PutScale;
using detail::Quote;
using detail::SmallestPositive;
using detail::StoreScaleNearest;

Status CodebookSpec::Validate() const {
  if (bits < 1 || bits > 8) return InvalidArgument("codebook: bits " + std::to_string(bits) + " must be 1..8");
  if (scale_dtype > 2) return InvalidArgument("codebook: unknown scale dtype " + std::to_string(scale_dtype));
  if (iters < 1) return InvalidArgument("codebook: iters " + std::to_string(iters) + " must be >= 1");
  return Status::Ok();
}

std::string CodebookSpec::ToString() const {
  std::string s = "cb" + std::to_string(bits) + ":" + (group_size ? "g" + std::to_string(group_size) : "row");
  if (shared) s += ":shared";
  if (scale_dtype == 1) s += ":sf32";
  if (scale_dtype == 2) s += ":sbf16";
  if (iters != CodebookSpec().iters) s += ":it" + std::to_string(iters);
  return s;
}

Result<std::vector<float>> CodebookScales(const std::string& name, std::span<const uint64_t> shape,
                                          std::span<const float> w, const CodebookSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckShape(name, shape, w.size()));
  GP_RETURN_IF_ERROR(CheckFinite(name, w));
  GP_ASSIGN_OR_RETURN(ScaleLayout l, MakeScaleLayout(name, shape, w.size(), spec.group_size, "codebook"));
  const uint64_t glen = l.group_len();
  std::vector<float> scales(l.rows * l.groups_per_row);
  for (uint64_t g = 0; g < scales.size(); ++g) {
    double ss = 0.0;
    for (uint64_t i = 0; i < glen; ++i) ss += double(w[g * glen + i]) * double(w[g * glen + i]);
    const double rms = glen ? std::sqrt(ss / double(glen)) : 0.0;
    float s = StoreScaleNearest(rms, spec.scale_dtype);
    if (std::isinf(s))
      return InvalidArgument(Quote(name) + ": scale " + FormatDouble(rms) + " overflows its dtype (use sf32)");
    scales[g] = s == 0.0f ? SmallestPositive(spec.scale_dtype) : s;
  }
  return scales;
}

Result<CodebookSamples> CodebookSamplesOf(const std::string& name, std::span<const uint64_t> shape,
                                          std::span<const float> w, const CodebookSpec& spec,
                                          const Eigen::MatrixXd* hessian) {
  GP_ASSIGN_OR_RETURN(std::vector<float> scales, CodebookScales(name, shape, w, spec));
  CodebookSamples s;
  s.cols = ColsOf(shape, w.size());
  const uint64_t glen = spec.group_size ? spec.group_size : s.cols;
  s.u.resize(w.size());
  for (uint64_t i = 0; i < w.size(); ++i) s.u[i] = float(double(w[i]) / double(scales[i / glen]));
  if (hessian) {
    if (uint64_t(hessian->rows()) != s.cols || uint64_t(hessian->cols()) != s.cols)
      return InvalidArgument(Quote(name) + ": Hessian is " + std::to_string(hessian->rows()) + "x" +
                             std::to_string(hessian->cols()) + ", expected " + std::to_string(s.cols) + "x" +
                             std::to_string(s.cols));
    s.weight.resize(s.cols);
    for (uint64_t c = 0; c < s.cols; ++c) s.weight[c] = std::max(0.0, (*hessian)(Eigen::Index(c), Eigen::Index(c)));
    // A weight of 0 everywhere (a dead input) would make every sample free: fall back to 1.
    if (std::all_of(s.weight.begin(), s.weight.end(), [](double v) { return v == 0.0; })) s.weight.clear();
  }
  return s;
}

Result<std::vector<float>> FitCodebook(std::span<const CodebookSamples> family, const CodebookSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  uint64_t total = 0;
  for (const auto& t : family) total += t.u.size();
  if (total == 0) return InvalidArgument("codebook: no samples to fit the levels on");
  constexpr uint64_t kMaxSamples = uint64_t{1} << 20;
  const uint64_t stride = (total + kMaxSamples - 1) / kMaxSamples;
  std::vector<std::pair<float, double>> xs;  // (value, weight)
  xs.reserve(total / stride + family.size());
  uint64_t at = 0;  // global index of the next sample taken
  uint64_t base = 0;
  for (const auto& t : family) {
    for (; at < base + t.u.size(); at += stride) {
      const uint64_t i = at - base;
      const double wt = t.weight.empty() ? 1.0 : t.weight[i % t.cols];
      if (wt > 0.0) xs.push_back({t.u[i], wt});
    }
    base += t.u.size();
  }
  if (xs.empty()) return InvalidArgument("codebook: every sample has weight 0");
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  std::vector<double> cw(n + 1, 0.0), cwx(n + 1, 0.0);  // prefix sums of w and w*x
  for (size_t i = 0; i < n; ++i) {
    cw[i + 1] = cw[i] + xs[i].second;
    cwx[i + 1] = cwx[i] + xs[i].second * double(xs[i].first);
  }
  const size_t k = size_t{1} << spec.bits;
  std::vector<double> level(k);
  for (size_t j = 0, i = 0; j < k; ++j) {  // weighted quantiles (j + 1/2) / k
    const double target = (double(j) + 0.5) / double(k) * cw[n];
    while (i + 1 < n && cw[i + 1] < target) ++i;
    level[j] = xs[i].first;
  }
  std::vector<size_t> edge(k + 1);  // cell j is xs[edge[j], edge[j+1])
  for (int it = 0; it < spec.iters; ++it) {
    edge[0] = 0;
    edge[k] = n;
    for (size_t j = 1; j < k; ++j) {
      const double mid = 0.5 * (level[j - 1] + level[j]);
      edge[j] = size_t(std::lower_bound(xs.begin(), xs.end(), mid,
                                        [](const std::pair<float, double>& a, double v) { return a.first < v; }) -
                       xs.begin());
      edge[j] = std::max(edge[j], edge[j - 1]);
    }
    bool moved = false;
    for (size_t j = 0; j < k; ++j) {
      const double wsum = cw[edge[j + 1]] - cw[edge[j]];
      if (wsum <= 0.0) continue;
      const double m = (cwx[edge[j + 1]] - cwx[edge[j]]) / wsum;
      if (float(m) != float(level[j])) moved = true;
      level[j] = m;
    }
    std::sort(level.begin(), level.end());
    if (!moved) break;
  }
  return std::vector<float>(level.begin(), level.end());
}

namespace {

// Index of the level nearest x (levels sorted; ties to the lower one).
inline uint32_t Nearest(std::span<const float> levels, double x) {
  const auto it = std::lower_bound(levels.begin(), levels.end(), x, [](float l, double v) { return double(l) < v; });
  if (it == levels.begin()) return 0;
  if (it == levels.end()) return uint32_t(levels.size() - 1);
  const size_t hi = size_t(it - levels.begin());
  return (x - double(levels[hi - 1]) <= double(levels[hi]) - x) ? uint32_t(hi - 1) : uint32_t(hi);
}

}  // namespace

Result<gpk::EncodedTensor> EncodeCodebook(const std::string& name, std::span<const uint64_t> shape,
                                          std::span<const float> w, const CodebookSpec& spec,
                                          std::span<const float> levels, const Eigen::MatrixXd* hessian,
                                          const GptqOptions& options) {
  GP_ASSIGN_OR_RETURN(std::vector<float> scales, CodebookScales(name, shape, w, spec));
  if (levels.size() != (size_t{1} << spec.bits))
    return InvalidArgument(Quote(name) + ": " + std::to_string(levels.size()) + " codebook levels for " +
                           std::to_string(spec.bits) + " bits");
  if (!std::is_sorted(levels.begin(), levels.end()) ||
      !std::all_of(levels.begin(), levels.end(), [](float v) { return std::isfinite(v); }))
    return InvalidArgument(Quote(name) + ": codebook levels must be finite and sorted");
  const uint64_t rows = RowsOf(shape), cols = ColsOf(shape, w.size());
  const uint64_t glen = spec.group_size ? spec.group_size : cols, gpr = cols / glen;
  std::vector<uint8_t> idx(w.size());
  if (hessian == nullptr) {
    for (uint64_t i = 0; i < w.size(); ++i) idx[i] = uint8_t(Nearest(levels, double(w[i]) / double(scales[i / glen])));
  } else {
    auto st = GptqRun(name, rows, cols, w, *hessian, options,
                      [&](uint64_t c, double, std::span<const double> v, std::span<double> out) {
                        for (uint64_t r = 0; r < rows; ++r) {
                          const double s = scales[r * gpr + c / glen];
                          const uint32_t q = Nearest(levels, v[r] / s);
                          idx[r * cols + c] = uint8_t(q);
                          out[r] = double(levels[q] * float(s));  // the decoder's f32 product
                        }
                      });
    if (!st.ok()) return st.status();
  }
  gpk::EncodedTensor e;
  e.name = name;
  e.shape.assign(shape.begin(), shape.end());
  e.encoding = gpk::kCodebook;
  e.params = gpk::CodebookParams{uint8_t(spec.bits), spec.scale_dtype, spec.group_size}.Serialize();
  for (float s : scales) PutScale(e.payload, s, spec.scale_dtype);
  uint64_t acc = 0;
  unsigned have = 0;
  for (uint8_t v : idx) {
    acc |= uint64_t(v) << have;
    for (have += unsigned(spec.bits); have >= 8; have -= 8, acc >>= 8) e.payload.push_back(uint8_t(acc));
  }
  if (have) e.payload.push_back(uint8_t(acc));
  e.refs = {0};
  return e;
}

gpk::EncodedObject CodebookObject(const std::string& name, std::span<const float> levels) {
  gpk::EncodedObject o;
  o.name = name;
  o.kind = gpk::kObjF32Values;
  for (float v : levels) detail::PutF32(o.payload, v);
  return o;
}

}  // namespace golfpack::encode
