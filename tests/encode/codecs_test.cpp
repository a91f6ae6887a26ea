#include "codec/codecs.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "codec/quantize.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

constexpr gpk::Codec kCodecs[] = {gpk::Codec::kZlib, gpk::Codec::kZstd, gpk::Codec::kXz, gpk::Codec::kBrotli};

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> Repetitive(size_t n) {
  std::vector<uint8_t> v(n);
  const char* text = "the quick brown fox jumps over the lazy dog; ";
  const size_t len = std::strlen(text);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(text[i % len]);
  return v;
}

class CodecTest : public ::testing::TestWithParam<gpk::Codec> {};

TEST_P(CodecTest, RoundTripsRandomRepetitiveAndEmpty) {
  const gpk::Codec c = GetParam();
  for (const auto& raw : {RandomBytes(100000, 1), Repetitive(200000), std::vector<uint8_t>{},
                          std::vector<uint8_t>{42}}) {
    auto packed = Compress(c, raw);
    ASSERT_TRUE(packed.ok()) << gpk::CodecName(c) << ": " << packed.status().ToString();
    auto back = Decompress(c, *packed, raw.size());
    ASSERT_TRUE(back.ok()) << gpk::CodecName(c) << ": " << back.status().ToString();
    EXPECT_EQ(*back, raw);
  }
  auto rep = Compress(c, Repetitive(200000));
  ASSERT_TRUE(rep.ok());
  EXPECT_LT(rep->size(), 2000u) << gpk::CodecName(c) << " should crush repetitive text";
}

TEST_P(CodecTest, RejectsWrongRawSizeWithCorrupt) {
  const gpk::Codec c = GetParam();
  const auto raw = Repetitive(5000);
  auto packed = Compress(c, raw);
  ASSERT_TRUE(packed.ok());
  for (uint64_t wrong : {uint64_t{4999}, uint64_t{5001}, uint64_t{0}, uint64_t{100000}}) {
    auto r = Decompress(c, *packed, wrong);
    ASSERT_FALSE(r.ok()) << gpk::CodecName(c) << " accepted raw_size " << wrong;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
  }
}

TEST_P(CodecTest, RejectsGarbageTruncationAndTrailingBytes) {
  const gpk::Codec c = GetParam();
  const auto raw = RandomBytes(3000, 7);
  auto packed = Compress(c, raw);
  ASSERT_TRUE(packed.ok());
  // Trailing byte.
  std::vector<uint8_t> trailing = *packed;
  trailing.push_back(0);
  auto r1 = Decompress(c, trailing, raw.size());
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.status().code(), StatusCode::kCorrupt);
  // Truncated.
  std::vector<uint8_t> truncated(packed->begin(), packed->end() - 3);
  auto r2 = Decompress(c, truncated, raw.size());
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kCorrupt);
  // Garbage of various sizes.
  for (size_t n : {0, 1, 16, 1000}) {
    auto g = Decompress(c, RandomBytes(n, static_cast<uint32_t>(n + 3)), raw.size());
    ASSERT_FALSE(g.ok()) << gpk::CodecName(c) << " accepted " << n << " garbage bytes";
    EXPECT_EQ(g.status().code(), StatusCode::kCorrupt) << g.status().ToString();
  }
  // A flipped byte in the middle must not decode to the same bytes silently.
  std::vector<uint8_t> flipped = *packed;
  flipped[flipped.size() / 2] ^= 0x5a;
  auto f = Decompress(c, flipped, raw.size());
  if (f.ok()) {
    EXPECT_NE(*f, raw);
  }
}

TEST_P(CodecTest, BadLevelIsInvalidArgument) {
  auto r = Compress(GetParam(), Repetitive(10), 99);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(CodecTest, RegisteredInCoreRegistry) {
  RegisterAllCodecs();
  RegisterAllCodecs();  // idempotent
  const gpk::CodecImpl* impl = gpk::FindCodec(GetParam());
  ASSERT_NE(impl, nullptr);
  const auto raw = Repetitive(777);
  auto packed = impl->compress(raw, -1);
  ASSERT_TRUE(packed.ok());
  auto back = impl->decompress(*packed, raw.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, raw);
  EXPECT_FALSE(impl->decompress(*packed, raw.size() + 1).ok());
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest, ::testing::ValuesIn(kCodecs),
                         [](const auto& info) { return std::string(gpk::CodecName(info.param)); });

TEST(Codecs, NoneChecksSize) {
  const auto raw = Repetitive(10);
  EXPECT_TRUE(Decompress(gpk::Codec::kNone, raw, 10).ok());
  EXPECT_EQ(Decompress(gpk::Codec::kNone, raw, 11).status().code(), StatusCode::kCorrupt);
}

// Compression ratios on a realistic payload: int6 codes (one byte each) of a
// Gaussian [512 x 512] matrix. Prints the sizes for the report.
TEST(Codecs, RatiosOnQuantizedCodes) {
  const std::vector<uint64_t> shape = {512, 512};
  const auto w = testing::Gaussian(512 * 512, 0.02f, 11);
  UniformSpec spec;
  spec.bits = 6;
  auto q = QuantizeUniform("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  std::vector<uint8_t> raw(q->codes.size());
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(q->codes[i]);
  for (gpk::Codec c : kCodecs) {
    auto packed = Compress(c, raw);
    ASSERT_TRUE(packed.ok());
    const double bits_per_code = 8.0 * static_cast<double>(packed->size()) / static_cast<double>(raw.size());
    std::printf("[ratio] int6 codes %zu bytes -> %s %zu bytes (%.3f bits/code)\n", raw.size(), gpk::CodecName(c),
                packed->size(), bits_per_code);
    EXPECT_LT(bits_per_code, 6.0);
  }
}

}  // namespace
}  // namespace golfpack::encode
