// The context-mixing coder (codec/cm_coder.h): exact round trips on random
// and edge-case codes, rejection of truncated / extended / corrupted streams,
// coded size against the known entropy of i.i.d. codes, and a gain over the
// order-0 entropy when neighbours are correlated.
#include "codec/cm_coder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

namespace golfpack::encode {
namespace {

// Discretised Laplacian: P(v) proportional to exp(-|v| / b), |v| <= max_abs.
struct Laplace {
  std::vector<double> p;  // index v + max_abs
  int max_abs;
  Laplace(double b, int max_abs_) : max_abs(max_abs_) {
    double z = 0;
    for (int v = -max_abs; v <= max_abs; ++v) z += std::exp(-std::abs(v) / b);
    for (int v = -max_abs; v <= max_abs; ++v) p.push_back(std::exp(-std::abs(v) / b) / z);
  }
  double Entropy() const {
    double h = 0;
    for (double q : p)
      if (q > 0) h -= q * std::log2(q);
    return h;
  }
  std::vector<int16_t> Sample(size_t n, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::discrete_distribution<int> d(p.begin(), p.end());
    std::vector<int16_t> out(n);
    for (auto& x : out) x = int16_t(d(rng) - max_abs);
    return out;
  }
};

double EmpiricalEntropy(const std::vector<int16_t>& codes) {
  std::map<int, uint64_t> counts;
  for (int16_t c : codes) ++counts[c];
  double h = 0;
  for (const auto& [v, c] : counts) {
    const double q = double(c) / double(codes.size());
    h -= q * std::log2(q);
  }
  return h;
}

std::vector<uint8_t> EncodeOk(const std::vector<int16_t>& codes, uint64_t rows, uint64_t cols,
                              std::span<const uint8_t> row_context = {}) {
  auto enc = CmEncode(codes, rows, cols, row_context);
  EXPECT_TRUE(enc.ok()) << enc.status().ToString();
  return enc.ok() ? *enc : std::vector<uint8_t>{};
}

void ExpectRoundTrip(const std::vector<int16_t>& codes, uint64_t rows, uint64_t cols,
                     std::span<const uint8_t> row_context = {}) {
  const std::vector<uint8_t> bytes = EncodeOk(codes, rows, cols, row_context);
  std::vector<int16_t> back(codes.size(), 12345);
  const Status st = CmDecode(bytes, rows, cols, back, row_context);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back, codes);
  // Deterministic: the same codes give the same bytes.
  EXPECT_EQ(EncodeOk(codes, rows, cols, row_context), bytes);
}

TEST(CmCoder, RoundTripLaplacian) {
  const std::pair<uint64_t, uint64_t> shapes[] = {{64, 200}, {1, 777}, {333, 1}, {17, 64}};
  uint32_t seed = 1;
  for (double b : {0.3, 1.5, 8.0, 60.0}) {
    const Laplace lap(b, 2047);
    for (const auto& [rows, cols] : shapes) ExpectRoundTrip(lap.Sample(rows * cols, seed++), rows, cols);
  }
}

TEST(CmCoder, EdgeCases) {
  // Empty: zero bytes, for any empty shape.
  for (auto [rows, cols] : {std::pair<uint64_t, uint64_t>{0, 0}, {0, 5}, {5, 0}}) {
    const auto bytes = EncodeOk({}, rows, cols);
    EXPECT_TRUE(bytes.empty());
    std::vector<int16_t> out;
    EXPECT_TRUE(CmDecode(bytes, rows, cols, out).ok());
    EXPECT_EQ(CmDecode(std::vector<uint8_t>{0}, rows, cols, out).code(), StatusCode::kCorrupt);
  }
  // One symbol, including the extremes.
  for (int v : {0, 1, -1, 14, 15, -16, 2047, -2047, 32767, -32767}) ExpectRoundTrip({int16_t(v)}, 1, 1);
  // All zeros: a few bytes whatever the size.
  const std::vector<int16_t> zeros(300 * 300, 0);
  ExpectRoundTrip(zeros, 300, 300);
  EXPECT_LT(EncodeOk(zeros, 300, 300).size(), 64u);
  // Large magnitudes: uniform in [-2047, 2047], and runs of +-2047.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> u(-2047, 2047);
  std::vector<int16_t> big(50 * 80);
  for (auto& x : big) x = int16_t(u(rng));
  ExpectRoundTrip(big, 50, 80);
  std::vector<int16_t> extremes(40 * 40);
  for (size_t i = 0; i < extremes.size(); ++i) extremes[i] = int16_t((i / 7) % 2 ? 2047 : -2047);
  ExpectRoundTrip(extremes, 40, 40);
  for (size_t i = 0; i < extremes.size(); ++i) extremes[i] = int16_t(i % 3 ? 32767 : -32767);
  ExpectRoundTrip(extremes, 40, 40);
}

TEST(CmCoder, RowContextAndSeveralTensors) {
  const Laplace lap(2.0, 100);
  std::vector<int16_t> codes = lap.Sample(30 * 40 + 10 * 7 + 5 * 64, 11);
  std::vector<uint8_t> rc0(30), rc2(5);
  for (size_t r = 0; r < rc0.size(); ++r) rc0[r] = uint8_t(r * 3);  // values > 15 are clamped
  for (size_t r = 0; r < rc2.size(); ++r) rc2[r] = uint8_t(r);
  const CmTensorShape shapes[] = {{30, 40, rc0}, {10, 7, {}}, {0, 9, {}}, {5, 64, rc2}};
  auto enc = CmEncode(codes, shapes);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  std::vector<int16_t> back(codes.size());
  ASSERT_TRUE(CmDecode(*enc, shapes, back).ok());
  EXPECT_EQ(back, codes);
  ExpectRoundTrip(std::vector<int16_t>(codes.begin(), codes.begin() + 30 * 40), 30, 40, rc0);
}

TEST(CmCoder, InvalidArguments) {
  const std::vector<int16_t> codes = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(CmEncode(codes, 2, 2).status().code(), StatusCode::kInvalidArgument);  // size mismatch
  const std::vector<int16_t> bad = {1, -32768};
  EXPECT_EQ(CmEncode(bad, 1, 2).status().code(), StatusCode::kInvalidArgument);  // |code| > 32767
  const std::vector<uint8_t> rc = {1, 2, 3};
  EXPECT_EQ(CmEncode(codes, 2, 3, rc).status().code(), StatusCode::kInvalidArgument);  // 3 contexts, 2 rows
  const CmTensorShape huge[] = {{uint64_t{1} << 40, uint64_t{1} << 40, {}}};
  EXPECT_EQ(CmEncode(codes, huge).status().code(), StatusCode::kInvalidArgument);  // overflow
  const auto bytes = EncodeOk(codes, 2, 3);
  std::vector<int16_t> out(5);
  EXPECT_EQ(CmDecode(bytes, 2, 3, out).code(), StatusCode::kInvalidArgument);  // output too small
}

TEST(CmCoder, RejectsTruncatedExtendedAndCorruptedStreams) {
  const Laplace lap(1.5, 2047);
  const uint64_t rows = 40, cols = 50;
  const std::vector<int16_t> codes = lap.Sample(rows * cols, 3);
  const std::vector<uint8_t> bytes = EncodeOk(codes, rows, cols);
  ASSERT_GT(bytes.size(), 100u);
  std::vector<int16_t> out(codes.size());
  // Every truncation.
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(n));
    EXPECT_EQ(CmDecode(cut, rows, cols, out).code(), StatusCode::kCorrupt) << "truncated to " << n;
  }
  // Extensions.
  for (uint8_t b : {0x00, 0x5A, 0xFF}) {
    std::vector<uint8_t> longer = bytes;
    longer.push_back(b);
    EXPECT_EQ(CmDecode(longer, rows, cols, out).code(), StatusCode::kCorrupt);
  }
  // Byte corruptions everywhere: never a crash or an out-of-bounds read (the
  // decoder only ever indexes the span), and rejected.
  std::mt19937 rng(5);
  int rejected = 0, total = 0;
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    std::vector<uint8_t> bad = bytes;
    bad[pos] ^= uint8_t(1 + rng() % 255);
    const Status st = CmDecode(bad, rows, cols, out);
    ++total;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), StatusCode::kCorrupt);
      ++rejected;
    }
  }
  EXPECT_EQ(rejected, total);
  // Random garbage of many lengths, including decoding huge magnitudes.
  for (size_t n : {1, 2, 5, 64, 1000}) {
    std::vector<uint8_t> junk(n);
    for (auto& b : junk) b = uint8_t(rng());
    EXPECT_EQ(CmDecode(junk, rows, cols, out).code(), StatusCode::kCorrupt);
  }
  std::vector<uint8_t> ones(500, 0xFF);  // pushes every decision towards 1: long escapes
  EXPECT_EQ(CmDecode(ones, rows, cols, out).code(), StatusCode::kCorrupt);
}

// i.i.d. codes: the adaptive coder pays the entropy plus a small learning
// cost (the model has a few hundred adaptive probabilities).
TEST(CmCoder, IidCodesCostCloseToTheEntropy) {
  struct Case {
    double b;
    double max_overhead;  // bits/symbol above the true entropy
  };
  for (const Case& c : {Case{0.5, 0.02}, Case{2.0, 0.03}, Case{6.0, 0.05}}) {
    const Laplace lap(c.b, 2047);
    const uint64_t rows = 256, cols = 512;
    const std::vector<int16_t> codes = lap.Sample(rows * cols, 17);
    const double h = lap.Entropy();
    const double bits = 8.0 * double(EncodeOk(codes, rows, cols).size()) / double(codes.size());
    EXPECT_LT(bits, h + c.max_overhead) << "b " << c.b << ": " << bits << " bits/symbol vs entropy " << h;
    EXPECT_GT(bits, h - 0.01) << "b " << c.b;
  }
}

// Rows made of runs that are either all zero or loud (Laplacian, b = 4): the
// order-0 entropy mixes both; the neighbours tell which run a code is in.
TEST(CmCoder, NeighbourCorrelationBeatsOrder0) {
  const uint64_t rows = 128, cols = 1024;
  std::mt19937 rng(23);
  std::geometric_distribution<int> run(1.0 / 24);
  const Laplace loud(4.0, 2047);
  const std::vector<int16_t> pool = loud.Sample(rows * cols, 29);
  std::vector<int16_t> codes(rows * cols, 0);
  size_t k = 0;
  for (uint64_t r = 0; r < rows; ++r) {
    bool on = rng() % 2;
    for (uint64_t c = 0; c < cols;) {
      const uint64_t len = 1 + uint64_t(run(rng));
      for (uint64_t j = 0; j < len && c < cols; ++j, ++c) {
        int16_t v = 0;
        while (on && v == 0) v = pool[k++ % pool.size()];
        codes[r * cols + c] = v;
      }
      on = !on;
    }
  }
  const double h0 = EmpiricalEntropy(codes);
  const double bits = 8.0 * double(EncodeOk(codes, rows, cols).size()) / double(codes.size());
  EXPECT_LT(bits, 0.85 * h0) << bits << " bits/symbol vs order-0 " << h0;
  ExpectRoundTrip(codes, rows, cols);
}

}  // namespace
}  // namespace golfpack::encode
