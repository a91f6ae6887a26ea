// Encoding 10 `patch` from the writer's side (codec/patch.h) and its
// candidate source (plan/patch_source.h): encode -> decode (fast and _ref)
// round trips for every unit kind, exact byte prices, the Rice parameter
// against brute force, the proxy after a correction against the definition,
// and the selection's choices.
#include "codec/patch.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <string>
#include <vector>

#include "core/encodings.h"
#include "plan/distortion.h"
#include "plan/patch_source.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::Gaussian;

gpk::EncodedTensor RawTensor(uint64_t rows, uint64_t cols, const std::vector<float>& v) {
  gpk::EncodedTensor t;
  t.name = "w";
  t.shape = {rows, cols};
  t.encoding = gpk::kRawF32;
  for (float x : v) {
    const uint32_t b = std::bit_cast<uint32_t>(x);
    for (int i = 0; i < 4; ++i) t.payload.push_back(uint8_t(b >> (8 * i)));
  }
  return t;
}

// Decodes with the fast decoder and the _ref oracle; they must agree bit for bit.
std::vector<float> DecodeBoth(const gpk::EncodedTensor& t) {
  const gpk::EncodingTraits* e = gpk::FindEncoding(t.encoding);
  uint64_t numel = t.shape[0] * t.shape[1];
  auto min = e->payload_size(t.shape, numel, t.params);
  EXPECT_TRUE(min.ok()) << min.status().ToString();
  std::vector<float> fast(numel), ref(numel);
  gpk::TensorView view{t.shape, numel, t.params, t.payload};
  Status a = e->decode(view, fast), b = gpk::DecodeRef(t.encoding, view, ref);
  EXPECT_TRUE(a.ok()) << a.ToString();
  EXPECT_TRUE(b.ok()) << b.ToString();
  for (size_t i = 0; i < numel; ++i) EXPECT_EQ(std::bit_cast<uint32_t>(fast[i]), std::bit_cast<uint32_t>(ref[i])) << i;
  return fast;
}

std::vector<PatchSpec> AllKinds(int bits) {
  std::vector<PatchSpec> out;
  for (gpk::PatchUnit u : {gpk::kPatchElement, gpk::kPatchBlock, gpk::kPatchColumn, gpk::kPatchRow}) {
    PatchSpec s;
    s.unit = u;
    s.block = 8;
    s.bits = bits;
    out.push_back(s);
  }
  return out;
}

TEST(PatchSpec, ParseAndToStringRoundTrip) {
  for (const char* text : {"e:b8", "k16:b4", "c:b8", "r:b16", "k8:b2"}) {
    auto s = PatchSpec::Parse(text);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->ToString(), text);
  }
  auto plain = PatchSpec::Parse("c");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->bits, 8);
  for (const char* bad : {"x:b8", "k:b4", "k0:b4", "c:b9", "c:b1", "c:8", "k16x:b4", "c:b8x"}) {
    auto s = PatchSpec::Parse(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find(std::string("patch spec '") + bad + "'"), std::string::npos)
        << s.status().message();
  }
}

TEST(BestRice, MatchesBruteForceOverEveryK) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    const uint64_t n = 1 + rng() % 200, span = 1 + rng() % 100000;
    std::vector<uint64_t> units;
    std::uniform_int_distribution<uint64_t> d(0, span);
    for (uint64_t i = 0; i < n; ++i) units.push_back(d(rng));
    std::sort(units.begin(), units.end());
    units.erase(std::unique(units.begin(), units.end()), units.end());
    uint64_t best = UINT64_MAX;
    int best_k = -1;
    for (int k = 0; k <= 40; ++k) {
      uint64_t bits = 0;
      for (size_t i = 0; i < units.size(); ++i) {
        const uint64_t gap = i ? units[i] - units[i - 1] - 1 : units[0];
        bits += (gap >> k) + 1 + uint64_t(k);
      }
      if (bits < best) best = bits, best_k = k;
    }
    const RiceChoice got = BestRice(units);
    EXPECT_EQ(got.bits, best);
    EXPECT_EQ(got.k, best_k);
  }
}

TEST(EncodePatch, EveryUnitKindRoundTripsAtItsPricedSize) {
  const uint64_t rows = 12, cols = 16;
  const std::vector<float> base = Gaussian(rows * cols, 1.0f, 7);
  const gpk::EncodedTensor inner = RawTensor(rows, cols, base);
  for (int bits : {3, 8, 16})
    for (const PatchSpec& s : AllKinds(bits)) {
      const uint64_t nu = PatchUnitCount(s, rows, cols), len = PatchUnitLen(s, rows, cols);
      PatchValues v;
      for (uint64_t u = 1; u < nu; u += 3) v.units.push_back(u);
      v.values = Gaussian(v.units.size() * len, 0.1f, 11 + bits);
      auto enc = EncodePatch(inner, v, s);
      ASSERT_TRUE(enc.ok()) << enc.status().ToString();
      EXPECT_EQ(enc->encoding, gpk::kPatch);
      const PatchBytes pb = PatchBytesOf(inner.encoding, inner.params, inner.payload.size(), v, s, len);
      EXPECT_EQ(enc->payload.size(), pb.payload) << s.ToString();
      EXPECT_EQ(enc->params.size(), pb.params) << s.ToString();
      const std::vector<float> out = DecodeBoth(*enc);
      const std::vector<float> applied = QuantizePatchValues(v, s, len);
      std::vector<float> want = base;
      for (size_t i = 0; i < v.units.size(); ++i)
        for (uint64_t t = 0; t < len; ++t) {
          const uint64_t pos = PatchPosition(s, cols, len, v.units[i], t);
          want[pos] = want[pos] + applied[i * len + t];
        }
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(want[i])) << s.ToString() << " " << i;
      // The quantized values are close to the asked ones.
      for (size_t i = 0; i < applied.size(); ++i)
        EXPECT_NEAR(applied[i], v.values[i], bits == 16 ? 1e-3 : bits == 8 ? 0.01 : 0.1) << s.ToString();
    }
}

TEST(EncodePatch, RejectsBadInputWithTheTensorName) {
  const gpk::EncodedTensor inner = RawTensor(4, 6, std::vector<float>(24, 0.0f));
  PatchSpec s;
  s.unit = gpk::kPatchColumn;
  auto msg = [&](const PatchValues& v, const PatchSpec& spec) {
    auto r = EncodePatch(inner, v, spec);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(msg({{2, 1}, std::vector<float>(8, 0.0f)}, s).find("tensor 'w': patch: units must increase"), std::string::npos);
  EXPECT_NE(msg({{6}, std::vector<float>(4, 0.0f)}, s).find("units must increase and be < 6"), std::string::npos);
  EXPECT_NE(msg({{1}, std::vector<float>(3, 0.0f)}, s).find("3 values for 1 units of 4"), std::string::npos);
  EXPECT_NE(msg({{}, {}}, s).find("no units"), std::string::npos);
  PatchSpec k = s;
  k.unit = gpk::kPatchBlock;
  k.block = 4;
  EXPECT_NE(msg({{0}, std::vector<float>(4, 0.0f)}, k).find("block 4 does not divide cols 6"), std::string::npos);
}

// A random SPD Hessian with correlated inputs.
Eigen::MatrixXd RandomHessian(Eigen::Index n, uint32_t seed) {
  const std::vector<float> x = Gaussian(size_t(n * 3 * n), 1.0f, seed);
  Eigen::MatrixXd m = Eigen::Map<const Eigen::MatrixXf>(x.data(), 3 * n, n).cast<double>();
  for (Eigen::Index j = 1; j < n; ++j) m.col(j) += 0.5 * m.col(j - 1);  // correlate neighbours
  for (Eigen::Index j = 0; j < n; ++j) m.col(j) *= 1.0 + double(j % 5);  // uneven column scales
  return m.transpose() * m;
}

// Random weights W, a nearby Q and the error E = W - Q, rows x cols.
struct ErrorCase {
  std::vector<float> w, q;
  Eigen::MatrixXf e;
  ErrorCase(uint64_t rows, uint64_t cols, uint32_t seed) : q(rows * cols), e(rows, cols) {
    w = Gaussian(rows * cols, 1.0f, seed);
    const std::vector<float> q0 = Gaussian(rows * cols, 1.0f, seed + 1);
    for (size_t i = 0; i < q.size(); ++i) q[i] = w[i] - 0.05f * q0[i];
    for (uint64_t i = 0; i < rows * cols; ++i) e(Eigen::Index(i / cols), Eigen::Index(i % cols)) = w[i] - q[i];
  }
};

TEST(PatchSource, TraceIsTheProxyOfTheCorrectedError) {
  const uint64_t rows = 10, cols = 16;
  const Eigen::MatrixXd h = RandomHessian(Eigen::Index(cols), 5);
  const ErrorCase ec(rows, cols, 8);
  const std::vector<float>&w = ec.w, &q = ec.q;
  const Eigen::MatrixXf& e = ec.e;
  const double base = HessianProxy(w, q, rows, cols, h, 1);
  const PatchSource src(e, h, base);
  for (const PatchSpec& s : AllKinds(4)) {
    const uint64_t len = PatchUnitLen(s, rows, cols);
    const PatchValues chosen = src.Select(s, 3);
    ASSERT_EQ(chosen.units.size(), 3u);
    const PatchValues applied{chosen.units, QuantizePatchValues(chosen, s, len)};
    std::vector<float> qp = q;
    for (size_t i = 0; i < applied.units.size(); ++i)
      for (uint64_t t = 0; t < len; ++t) qp[PatchPosition(s, cols, len, applied.units[i], t)] += applied.values[i * len + t];
    const double want = HessianProxy(w, qp, rows, cols, h, 1);
    EXPECT_NEAR(src.Trace(s, applied), want, 1e-6 * base) << s.ToString();
    EXPECT_LT(want, base) << s.ToString();  // a correction that helps
    // The chosen units beat any other single choice of as many units (spot check: the first three).
    PatchValues other;
    for (uint64_t u = 0; u < 3; ++u) other.units.push_back(u);
    if (other.units == chosen.units) continue;
    other.values.assign(3 * len, 0.0f);
    for (size_t i = 0; i < 3; ++i)
      for (uint64_t t = 0; t < len; ++t) {
        const uint64_t pos = PatchPosition(s, cols, len, other.units[i], t);
        other.values[i * len + t] = e(Eigen::Index(pos / cols), Eigen::Index(pos % cols));  // fix them exactly
      }
    EXPECT_LT(src.Trace(s, chosen), src.Trace(s, other) + 1e-12) << s.ToString();
  }
}

TEST(PatchSource, RowWeightedTraceIsTheWeightedProxyAndPrefersHeavyRows) {
  const uint64_t rows = 8, cols = 16;
  const Eigen::MatrixXd h = RandomHessian(Eigen::Index(cols), 6);
  const ErrorCase ec(rows, cols, 10);
  const std::vector<float>&w = ec.w, &q = ec.q;
  const Eigen::MatrixXf& e = ec.e;
  std::vector<double> rw(rows, 0.01);
  rw[5] = 50.0;  // one row that matters far more than the rest
  const double base = HessianProxy(w, q, rows, cols, h, 1, rw);
  for (bool exact : {false, true}) {
    PatchSource src(e, h, base);
    src.set_exact(exact);
    src.set_row_weights(rw);
    for (const PatchSpec& s : AllKinds(4)) {
      const uint64_t len = PatchUnitLen(s, rows, cols);
      const PatchValues chosen = src.Select(s, 2);
      const PatchValues applied{chosen.units, QuantizePatchValues(chosen, s, len)};
      std::vector<float> qp = q;
      for (size_t i = 0; i < applied.units.size(); ++i)
        for (uint64_t t = 0; t < len; ++t) qp[PatchPosition(s, cols, len, applied.units[i], t)] += applied.values[i * len + t];
      EXPECT_NEAR(src.Trace(s, applied), HessianProxy(w, qp, rows, cols, h, 1, rw), 1e-6 * base) << s.ToString();
      // Units inside one row: the heavy row's.
      if (s.unit == gpk::kPatchRow) {
        EXPECT_EQ(chosen.units[0] == 5 || chosen.units[1] == 5, true);
      }
      if (s.unit == gpk::kPatchElement) {
        for (uint64_t u : chosen.units) EXPECT_EQ(u / cols, 5u) << s.ToString();
      }
    }
  }
}

TEST(PatchSource, RowsAreFixedExactlyAndCountsClip) {
  const uint64_t rows = 6, cols = 8;
  const Eigen::MatrixXd h = RandomHessian(Eigen::Index(cols), 2);
  Eigen::MatrixXf e = Eigen::MatrixXf::Zero(Eigen::Index(rows), Eigen::Index(cols));
  e.row(4).setConstant(0.3f);  // only row 4 has an error
  const double base = double(e.row(4).cast<double>() * h * e.row(4).cast<double>().transpose());
  const PatchSource src(e, h, base);
  PatchSpec s;
  s.unit = gpk::kPatchRow;
  const PatchValues one = src.Select(s, 1);
  ASSERT_EQ(one.units, std::vector<uint64_t>{4});
  for (float x : one.values) EXPECT_EQ(x, 0.3f);
  EXPECT_NEAR(src.Trace(s, one), 0.0, 1e-9 * base);
  EXPECT_EQ(src.Select(s, 100).units.size(), rows);  // clipped to the units there are
}

// Select ranks only the units it needs (a selection, then a sort of those):
// its choices are the full ranking's first units, for counts below, at and
// above what one ranking pass keeps (1/64 of the units here).
TEST(PatchSource, SelectTakesTheFullRankingsFirstUnits) {
  const uint64_t rows = 64, cols = 128;
  const Eigen::MatrixXd h = RandomHessian(Eigen::Index(cols), 9);
  const ErrorCase ec(rows, cols, 12);
  const Eigen::MatrixXf& e = ec.e;
  const double base = HessianProxy(ec.w, ec.q, rows, cols, h, 1);
  PatchSource src(e, h, base);
  src.set_exact(true);
  const Eigen::MatrixXd g = e.cast<double>() * h;
  // Exact single weights save 2 e g - H_jj e^2; every ordering is by that, ties by index.
  std::vector<uint64_t> want(rows * cols);
  std::vector<double> gain(rows * cols);
  for (uint64_t u = 0; u < rows * cols; ++u) {
    const auto i = Eigen::Index(u / cols), j = Eigen::Index(u % cols);
    const double x = e(i, j);
    gain[u] = 2.0 * x * g(i, j) - h(j, j) * x * x;
    want[u] = u;
  }
  std::sort(want.begin(), want.end(), [&](uint64_t a, uint64_t b) { return gain[a] > gain[b] || (gain[a] == gain[b] && a < b); });
  PatchSpec s;
  s.unit = gpk::kPatchElement;
  for (uint64_t count : {5u, 128u, 129u, 1000u, 8192u}) {
    std::vector<uint64_t> top(want.begin(), want.begin() + std::ptrdiff_t(count));
    std::sort(top.begin(), top.end());
    EXPECT_EQ(src.Select(s, count).units, top) << count;
  }
}

}  // namespace
}  // namespace golfpack::encode
