// Encoding 9 `lowrank` (LQER): fitting, quantizing and writing the factors.
// The decoder is the counted one (gpk/encodings.cpp), its `_ref` oracle is
// core/encodings.cpp; docs/FORMAT.md "9: lowrank" is the format.
//
// Fitting. With D = diag(sqrt(w / mean(w))) and M = E D, the best rank-r fit
// of E in the column-weighted norm is the projection of E onto the top-r left
// singular vectors U_r of M: A B = U_r U_r^T E, with A = U_r S_r and
// B = S_r^-1 U_r^T E (= V_r^T D^-1 wherever D is invertible). Written this way
// a column of weight 0 (which does not enter M at all) gets the plain
// least-squares coefficients of that column on U_r instead of a division by
// 0. A component with S_k <= 1e-6 S_0 is numerical noise (E has rank < r
// there) and is left at 0 in both factors.
// U_r comes from BDCSVD when min(rows, cols) <= 64, otherwise from subspace
// iteration: r + 8 vectors from a fixed pseudo-random start (a hash of the
// index, so the result depends only on the input), 6 power iterations with a
// QR after every product, then an exact SVD of the small (r + 8) x cols
// projection. The singular triplets come out sorted by decreasing S, so the
// first r' columns of A (rows of B) of a rank-r fit are its top-r' factors.
//
// Quantizing (bits 2..8). Per group of G consecutive values of a factor row
// (G = group, or the whole row for group 0): scale = f16(max|x| / maxc) with
// maxc = 2^(bits-1) - 1 (rounded to nearest even; an overflow to inf is
// clamped to 65504, an underflow of a nonzero group to 0 is raised to the
// smallest subnormal), then q = round(x / scale) with halves rounded away
// from zero, clamped to [-maxc, maxc] (the f16 rounding of the scale can push
// |x| / scale just past maxc). An all-zero group has scale 0 and codes 0.
// bits 16 stores f16(x) (nearest even, clamped to +-65504).
#include "codec/lowrank.h"

#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/half.h"

namespace golfpack::encode {
namespace {

constexpr int kOversample = 8;
constexpr int kPowerIterations = 6;
constexpr Eigen::Index kExactSvdMaxDim = 64;
constexpr double kNegligibleSingularValue = 1e-6;  // relative to the largest

Status ValidateSpec(const LowRankSpec& s) {
  if (s.rank < 1 || s.rank > 255) return InvalidArgument("low-rank rank " + std::to_string(s.rank) + " must be 1..255");
  if (s.bits != 16 && (s.bits < 2 || s.bits > 8))
    return InvalidArgument("low-rank bits " + std::to_string(s.bits) + " must be 2..8 or 16");
  if (s.group < 0) return InvalidArgument("low-rank group " + std::to_string(s.group) + " must be >= 0");
  return Status::Ok();
}

// The group written to the params: bits 16 has none.
uint64_t StoredGroup(const LowRankSpec& s) { return s.bits == 16 ? 0 : static_cast<uint64_t>(s.group); }

}  // namespace

uint64_t BlockBytes(uint64_t n, uint64_t m, const LowRankSpec& s) {
  if (s.bits == 16) return 2 * n * m;
  const uint64_t g = s.group ? static_cast<uint64_t>(s.group) : m;
  const uint64_t scales_per_row = g == 0 ? 0 : m / g + (m % g != 0);
  return 2 * n * scales_per_row + (n * m * static_cast<uint64_t>(s.bits) + 7) / 8;
}

// f keeps its first `rank` components; missing ones are zero.
static LowRankFactors ToRank(const LowRankFactors& f, int rank) {
  LowRankFactors out;
  out.a = Eigen::MatrixXf::Zero(f.a.rows(), rank);
  out.b = Eigen::MatrixXf::Zero(rank, f.b.cols());
  const Eigen::Index k = std::min<Eigen::Index>(rank, f.a.cols());
  out.a.leftCols(k) = f.a.leftCols(k);
  out.b.topRows(k) = f.b.topRows(k);
  return out;
}

QuantizedBlock QuantizeBlock(const Eigen::MatrixXf& x, const LowRankSpec& spec) {
  const Eigen::Index n = x.rows(), m = x.cols();
  QuantizedBlock out;
  out.values.resize(n, m);
  ByteWriter w;
  if (spec.bits == 16) {
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < m; ++j) {
        const uint16_t h = FloatToHalfBits(std::clamp(x(i, j), -65504.0f, 65504.0f));
        w.U16(h);
        out.values(i, j) = HalfBitsToFloat(h);
      }
    out.bytes = std::move(w).Take();
    return out;
  }
  const int maxc = (1 << (spec.bits - 1)) - 1;
  const Eigen::Index g = spec.group ? std::min<Eigen::Index>(spec.group, std::max<Eigen::Index>(m, 1)) : m;
  std::vector<int> q(static_cast<size_t>(n * m));
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j0 = 0; j0 < m; j0 += g) {
      const Eigen::Index j1 = std::min(m, j0 + g);
      float amax = 0.0f;
      for (Eigen::Index j = j0; j < j1; ++j) amax = std::max(amax, std::fabs(x(i, j)));
      uint16_t h = FloatToHalfBits(amax / static_cast<float>(maxc));
      if (h == 0x7c00) h = 0x7bff;         // overflow: largest finite f16
      if (h == 0 && amax > 0.0f) h = 1;    // underflow: smallest subnormal
      w.U16(h);
      const float scale = HalfBitsToFloat(h);
      for (Eigen::Index j = j0; j < j1; ++j) {
        int code = 0;
        if (scale > 0.0f) code = static_cast<int>(std::clamp(std::round(x(i, j) / scale), float(-maxc), float(maxc)));
        q[static_cast<size_t>(i * m + j)] = code;
        out.values(i, j) = scale * static_cast<float>(code);
      }
    }
  }
  // Codes, row-major, u = q + maxc, LSB-first in one bit stream, zero padded.
  std::vector<uint8_t> packed((q.size() * static_cast<size_t>(spec.bits) + 7) / 8, 0);
  for (size_t e = 0; e < q.size(); ++e) {
    const uint32_t u = static_cast<uint32_t>(q[e] + maxc);
    for (int b = 0; b < spec.bits; ++b) {
      const size_t bit = e * static_cast<size_t>(spec.bits) + static_cast<size_t>(b);
      if ((u >> b) & 1u) packed[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  w.Bytes(packed);
  out.bytes = std::move(w).Take();
  return out;
}

namespace {

// A deterministic pseudo-random value in [-1, 1) for index (i, j) (splitmix64).
float HashUniform(uint64_t i, uint64_t j) {
  uint64_t z = i * 0x9e3779b97f4a7c15ull + j * 0xbf58476d1ce4e5b9ull + 0x94d049bb133111ebull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * 0x1p-23f - 1.0f;
}

Eigen::MatrixXf Orthonormalize(const Eigen::MatrixXf& y) {
  Eigen::HouseholderQR<Eigen::MatrixXf> qr(y);
  return qr.householderQ() * Eigen::MatrixXf::Identity(y.rows(), y.cols());
}

// Top-r left singular vectors and values of m (r <= min(rows, cols)).
void TopLeftSingular(const Eigen::MatrixXf& m, Eigen::Index r, Eigen::MatrixXf* u, Eigen::VectorXd* s) {
  const Eigen::Index k = std::min(m.rows(), m.cols());
  if (k <= kExactSvdMaxDim) {
    Eigen::BDCSVD<Eigen::MatrixXd> svd(m.cast<double>(), Eigen::ComputeThinU);
    *u = svd.matrixU().leftCols(r).cast<float>();
    *s = svd.singularValues().head(r);
    return;
  }
  const Eigen::Index p = std::min<Eigen::Index>(r + kOversample, k);
  Eigen::MatrixXf omega(m.cols(), p);
  for (Eigen::Index j = 0; j < p; ++j)
    for (Eigen::Index i = 0; i < m.cols(); ++i) omega(i, j) = HashUniform(static_cast<uint64_t>(i), static_cast<uint64_t>(j));
  Eigen::MatrixXf q = Orthonormalize(m * omega);
  for (int it = 0; it < kPowerIterations; ++it) {
    const Eigen::MatrixXf z = Orthonormalize(m.transpose() * q);
    q = Orthonormalize(m * z);
  }
  const Eigen::MatrixXd small = (q.transpose() * m).cast<double>();  // p x cols
  Eigen::BDCSVD<Eigen::MatrixXd> svd(small, Eigen::ComputeThinU);
  *u = q * svd.matrixU().leftCols(r).cast<float>();
  *s = svd.singularValues().head(r);
}

// Shared by LowRankSpec::Parse ("r4:b4:g64") and the encoder suffix
// ("lr4:b4:g64"); the error text has no prefix.
Result<LowRankSpec> ParseTokens(std::string_view text, std::string_view rank_tag) {
  LowRankSpec s;
  bool have_rank = false, have_bits = false, have_group = false;
  auto number = [](std::string_view t, uint64_t* v) {
    auto r = std::from_chars(t.data(), t.data() + t.size(), *v);
    return !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size();
  };
  const std::string tag(rank_tag);
  size_t start = 0;
  while (true) {
    const size_t colon = text.find(':', start);
    const std::string_view tok = text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    const std::string ts(tok);
    uint64_t v = 0;
    if (tok.substr(0, rank_tag.size()) == rank_tag) {
      if (have_rank) return InvalidArgument("duplicate rank '" + ts + "'");
      if (!number(tok.substr(rank_tag.size()), &v) || v < 1 || v > 255)
        return InvalidArgument("rank '" + ts + "' must be " + tag + "1.." + tag + "255");
      s.rank = static_cast<int>(v);
      have_rank = true;
    } else if (tok.substr(0, 1) == "b") {
      if (have_bits) return InvalidArgument("duplicate bits '" + ts + "'");
      if (!number(tok.substr(1), &v) || (v != 16 && (v < 2 || v > 8)))
        return InvalidArgument("low-rank bits '" + ts + "' must be b2..b8 or b16");
      s.bits = static_cast<int>(v);
      have_bits = true;
    } else if (tok.substr(0, 1) == "g") {
      if (have_group) return InvalidArgument("duplicate group '" + ts + "'");
      if (!number(tok.substr(1), &v) || v > 0x7fffffff)
        return InvalidArgument("low-rank group '" + ts + "' must be g0 (one scale per factor row) or g<N>, N > 0");
      s.group = static_cast<int>(v);
      have_group = true;
    } else {
      return InvalidArgument("unknown low-rank option '" + ts + "' (expected " + tag + "<rank>, b<bits> or g<group>)");
    }
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (!have_rank) return InvalidArgument("missing low-rank rank (expected " + tag + "<rank>, like " + tag + "4)");
  if (s.bits == 16) {
    if (have_group && s.group != 0)
      return InvalidArgument("low-rank group 'g" + std::to_string(s.group) + "' needs b2..b8 (b16 stores f16 factors)");
    s.group = 0;
  }
  return s;
}

}  // namespace

std::string LowRankSpec::ToString() const {
  std::string s = "r";  // appended piecewise: "r" + std::to_string() trips GCC 12's -Wrestrict
  s += std::to_string(rank);
  s += ":b" + std::to_string(bits);
  s += ":g" + std::to_string(bits == 16 ? 0 : group);
  return s;
}

Result<LowRankSpec> LowRankSpec::Parse(std::string_view text) {
  auto s = ParseTokens(text, "r");
  if (!s.ok()) return InvalidArgument("bad low-rank spec '" + std::string(text) + "': " + s.status().message());
  return s;
}

Result<LowRankSpec> ParseLowRankSuffix(std::string_view text) { return ParseTokens(text, "lr"); }

std::string LowRankSuffix(const LowRankSpec& s) {
  std::string out = "+lr" + std::to_string(s.rank);
  if (s.bits != 4) out += ":b" + std::to_string(s.bits);
  if (s.bits != 16 && s.group != 64) out += ":g" + std::to_string(s.group);
  return out;
}

Result<LowRankFactors> FitLowRank(const Eigen::MatrixXf& e, std::span<const double> col_weight, int rank) {
  const Eigen::Index rows = e.rows(), cols = e.cols();
  if (rank < 1) return InvalidArgument("FitLowRank: rank " + std::to_string(rank) + " must be >= 1");
  if (!col_weight.empty() && col_weight.size() != static_cast<size_t>(cols))
    return InvalidArgument("FitLowRank: " + std::to_string(col_weight.size()) + " column weights for " +
                           std::to_string(cols) + " columns");
  if (!e.allFinite()) return InvalidArgument("FitLowRank: the matrix has non-finite values");
  Eigen::VectorXf d = Eigen::VectorXf::Ones(cols);
  if (!col_weight.empty()) {
    double sum = 0.0;
    for (double w : col_weight) {
      if (!std::isfinite(w) || w < 0.0)
        return InvalidArgument("FitLowRank: column weight " + std::to_string(w) + " must be finite and >= 0");
      sum += w;
    }
    // Normalised to mean 1 (only the ratios matter; this keeps A and B in
    // the units of E). All-zero weights: unweighted.
    if (sum > 0.0)
      for (Eigen::Index j = 0; j < cols; ++j)
        d(j) = static_cast<float>(std::sqrt(col_weight[static_cast<size_t>(j)] * static_cast<double>(cols) / sum));
  }
  const Eigen::Index r = std::min<Eigen::Index>(rank, std::min(rows, cols));
  LowRankFactors f;
  f.a = Eigen::MatrixXf::Zero(rows, r);
  f.b = Eigen::MatrixXf::Zero(r, cols);
  if (r == 0) return f;
  Eigen::MatrixXf u;
  Eigen::VectorXd s;
  TopLeftSingular(e * d.asDiagonal(), r, &u, &s);
  if (!(s(0) > 0.0)) return f;  // E D == 0
  const Eigen::MatrixXf ute = u.transpose() * e;  // r x cols
  for (Eigen::Index k = 0; k < r; ++k) {
    if (!(s(k) > kNegligibleSingularValue * s(0))) break;
    f.a.col(k) = u.col(k) * static_cast<float>(s(k));
    f.b.row(k) = ute.row(k) / static_cast<float>(s(k));
  }
  return f;
}

LowRankFactors QuantizeFactors(const LowRankFactors& f, const LowRankSpec& spec) {
  const LowRankFactors t = ToRank(f, spec.rank);
  return {QuantizeBlock(t.a.transpose(), spec).values.transpose(), QuantizeBlock(t.b, spec).values};  // A stored as A^T
}

uint64_t LowRankFactorBytes(uint64_t rows, uint64_t cols, const LowRankSpec& spec) {
  const uint64_t r = static_cast<uint64_t>(spec.rank);
  return BlockBytes(r, rows, spec) + BlockBytes(r, cols, spec);
}

std::vector<uint8_t> LowRankParams(uint32_t inner_encoding, std::span<const uint8_t> inner_params,
                                   uint64_t inner_payload, const LowRankSpec& spec) {
  gpk::LowRankParams p;
  p.inner = inner_encoding;
  p.inner_params.assign(inner_params.begin(), inner_params.end());
  p.inner_payload = inner_payload;
  p.rank = static_cast<uint8_t>(spec.rank);
  p.bits = static_cast<uint8_t>(spec.bits);
  p.group = StoredGroup(spec);
  return p.Serialize();
}

uint64_t LowRankEncodedBytes(uint64_t inner_payload, uint64_t inner_params, uint32_t inner_encoding, uint64_t rows,
                             uint64_t cols, const LowRankSpec& spec) {
  const uint64_t params = VarintSize(inner_encoding) + VarintSize(inner_params) + inner_params +
                          VarintSize(inner_payload) + 2 + VarintSize(StoredGroup(spec));
  return inner_payload + LowRankFactorBytes(rows, cols, spec) + params;
}

Result<gpk::EncodedTensor> EncodeLowRank(const gpk::EncodedTensor& inner, const LowRankFactors& f,
                                         const LowRankSpec& spec) {
  const std::string where = "tensor '" + inner.name + "': lowrank: ";
  Status st = ValidateSpec(spec);
  if (!st.ok()) return InvalidArgument(where + st.message());
  if (inner.shape.size() != 2) return InvalidArgument(where + "needs a 2-D tensor, got ndim " + std::to_string(inner.shape.size()));
  const gpk::EncodingTraits* enc = gpk::FindEncoding(inner.encoding);
  if (enc == nullptr || inner.encoding == gpk::kLowRank || enc->refs != 0 || !inner.refs.empty())
    return InvalidArgument(where + "inner encoding " + std::to_string(inner.encoding) +
                           " must be a known encoding other than lowrank that takes no shared objects");
  const uint64_t rows = inner.shape[0], cols = inner.shape[1];
  auto want = enc->payload_size(inner.shape, rows * cols, inner.params);
  if (!want.ok()) return InvalidArgument(where + "inner " + want.status().message());
  if (enc->fixed_rate ? *want != inner.payload.size() : *want > inner.payload.size())
    return InvalidArgument(where + "inner payload is " + std::to_string(inner.payload.size()) + " bytes, " + enc->name +
                           " needs " + std::to_string(*want));
  if (static_cast<uint64_t>(f.a.rows()) != rows || static_cast<uint64_t>(f.b.cols()) != cols || f.a.cols() != f.b.rows())
    return InvalidArgument(where + "factors are " + std::to_string(f.a.rows()) + "x" + std::to_string(f.a.cols()) +
                           " and " + std::to_string(f.b.rows()) + "x" + std::to_string(f.b.cols()) + " for a " +
                           std::to_string(rows) + "x" + std::to_string(cols) + " tensor");
  if (!f.a.allFinite() || !f.b.allFinite()) return InvalidArgument(where + "factors have non-finite values");
  const LowRankFactors t = ToRank(f, spec.rank);
  gpk::EncodedTensor out;
  out.name = inner.name;
  out.shape = inner.shape;
  out.dtype = inner.dtype;
  out.encoding = gpk::kLowRank;
  out.params = LowRankParams(inner.encoding, inner.params, inner.payload.size(), spec);
  out.payload = inner.payload;
  const Eigen::MatrixXf at = t.a.transpose();  // A is stored as A^T: both blocks have r factor rows
  for (const Eigen::MatrixXf* m : {&at, &t.b}) {
    const QuantizedBlock q = QuantizeBlock(*m, spec);
    out.payload.insert(out.payload.end(), q.bytes.begin(), q.bytes.end());
  }
  return out;
}

}  // namespace golfpack::encode
