// Trellis-coded quantization (codec/tcq.h): the trellis invariant, exact
// round trips (decode == the encoder's reconstruction, bit for bit), exact
// sizes, MSE against ECSQ (ans_grid) at the same or a higher rate on a
// fixed-seed Gaussian sample, and corrupt or short streams rejected.
#include "codec/tcq.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <vector>

#include "codec/ans_grid.h"
#include "core/byte_reader.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::Gaussian;

constexpr size_t kN = 16384;
constexpr uint32_t kSeed = 9002;

double RateGap(double bits, double mse, double var) { return bits - 0.5 * std::log2(var / mse); }

double Variance(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * double(v);
  return s / double(x.size());
}

void ExpectBitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(a[i]), std::bit_cast<uint32_t>(b[i])) << "sample " << i;
}

double MseOf(const std::vector<float>& x, const std::vector<float>& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  return s / double(x.size());
}

struct Ecsq {
  double bits, mse;
};

// ECSQ on the ans grid (one row, f32 scale, order-0 rANS): the largest step
// (lowest rate) whose real coded rate is still >= min_bits, by bisection.
Ecsq EcsqAtLeast(const std::vector<float>& x, double min_bits) {
  const uint64_t shape[2] = {1, x.size()};
  AnsGridSpec spec;
  spec.scale_dtype = 1;
  double lo = 0.01, hi = 4.0;  // rate(lo) >= min_bits > rate(hi)
  Ecsq best{0, 0};
  for (int it = 0; it < 40; ++it) {
    spec.step = std::sqrt(lo * hi);
    auto r = EncodeAnsGrid("x", shape, x, spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    const double bits = 8.0 * double(r->payload_bytes) / double(x.size());
    if (bits >= min_bits) {
      lo = spec.step;
      best = {bits, r->mse};
    } else {
      hi = spec.step;
    }
  }
  EXPECT_GE(best.bits, min_bits);
  return best;
}

TEST(TcqTest, TrellisInvariant) {
  for (int nu = 2; nu <= 8; ++nu) {
    const TrellisCode c = UngerboeckCode(nu);
    const uint32_t S = 1u << nu;
    ASSERT_EQ(c.h0 & 1, 1u);
    ASSERT_EQ(c.h0 >> nu, 1u) << "h0 has degree nu";
    ASSERT_EQ(c.h1 & 1, 0u);
    ASSERT_EQ(c.h1 >> nu, 0u);
    std::vector<int> into(S, 0);
    std::vector<int> z0_into(S, -1);
    for (uint32_t s = 0; s < S; ++s) {
      for (uint32_t z1 = 0; z1 < 2; ++z1) {
        const uint32_t z0 = s & 1;
        const uint32_t ns = (s >> 1) ^ (z0 ? c.h0 >> 1 : 0) ^ (z1 ? c.h1 >> 1 : 0);
        ASSERT_LT(ns, S);
        ++into[ns];
        if (z0_into[ns] < 0) z0_into[ns] = int(z0);
        EXPECT_EQ(z0_into[ns], int(z0)) << "branches into " << ns << " mix union codebooks";
        EXPECT_EQ(ns >> (nu - 1), z0) << "top bit of the next state is z0";
      }
    }
    for (uint32_t s = 0; s < S; ++s) EXPECT_EQ(into[s], 2) << "state " << s;
  }
}

TEST(TcqTest, EctcqRoundTripAndSize) {
  const std::vector<float> x = Gaussian(kN, 1.0f, kSeed);
  EctcqSpec spec;
  spec.state_bits = 8;
  spec.step = 0.2643;
  auto enc = EncodeEctcq(x, spec);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto dec = TcqDecode(enc->bytes, kN);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  ExpectBitEqual(*dec, enc->recon);
  EXPECT_DOUBLE_EQ(enc->mse, MseOf(x, enc->recon));
  EXPECT_DOUBLE_EQ(enc->bits_per_sample(), 8.0 * double(enc->bytes.size()) / double(kN));
  // The coded size is the ideal code length plus tables and headers only.
  EXPECT_GT(enc->bits_per_sample(), enc->entropy_bits);
  EXPECT_LT(enc->bits_per_sample(), enc->entropy_bits + 0.08);
  // Every grid point is a multiple of the f32 step.
  const float step = float(spec.step);
  for (float y : enc->recon) EXPECT_EQ(y, std::nearbyint(y / step) * step);
}

TEST(TcqTest, EctcqBeatsEcsqAtTheSameRate) {
  const std::vector<float> x = Gaussian(kN, 1.0f, kSeed);
  const double var = Variance(x);
  for (double step : {0.52, 0.2643}) {  // about 2 and 3 bits/sample
    EctcqSpec spec;
    spec.state_bits = 8;
    spec.step = step;
    auto t = EncodeEctcq(x, spec);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    const double bits = t->bits_per_sample();
    const Ecsq e = EcsqAtLeast(x, bits);
    SCOPED_TRACE(::testing::Message() << "ectcq " << bits << " bits, mse " << t->mse << "; ecsq " << e.bits
                                      << " bits, mse " << e.mse);
    // ECSQ sits ~0.27 bit (real bytes, 16k samples) above D(R), 256-state
    // ECTCQ ~0.07: the MSE ratio is ~2^(-0.4) = 0.76 at no more rate.
    EXPECT_LT(t->mse, 0.85 * e.mse);
    EXPECT_LT(RateGap(bits, t->mse, var), 0.10);
    EXPECT_GT(RateGap(e.bits, e.mse, var), 0.20);
  }
}

TEST(TcqTest, MoreStatesLowerMse) {
  const std::vector<float> x = Gaussian(kN, 1.0f, kSeed);
  EctcqSpec spec;
  spec.step = 0.2643;
  spec.lambda = 0;  // plain TCQ: fixed codebook, the rate barely moves
  double prev = 1e9;
  for (int nu : {2, 4, 8}) {
    spec.state_bits = nu;
    auto t = EncodeEctcq(x, spec);
    ASSERT_TRUE(t.ok());
    EXPECT_LT(t->mse, prev) << nu << " state bits";
    prev = t->mse;
  }
}

TEST(TcqTest, BitshiftRoundTripExactRate) {
  const size_t n = 10000;  // three segments, the last one short
  const std::vector<float> x = Gaussian(n, 1.0f, kSeed + 1);
  BitshiftSpec spec;
  spec.state_bits = 12;
  spec.k = 2;
  spec.block = 4096;
  auto enc = EncodeBitshift(x, spec);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto dec = TcqDecode(enc->bytes, n);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  ExpectBitEqual(*dec, enc->recon);
  EXPECT_DOUBLE_EQ(enc->mse, MseOf(x, enc->recon));
  // kind, varint n (2 bytes), L, k, varint block (2 bytes), f32 scale; the
  // payload; CRC.
  const uint64_t payload_bits = 3 * 12 + (4095 + 4095 + (10000 - 8192 - 1)) * 2;
  EXPECT_EQ(enc->entropy_bits, double(payload_bits) / double(n));
  EXPECT_EQ(enc->bytes.size(), 1 + 2 + 1 + 1 + 2 + 4 + (payload_bits + 7) / 8 + 4);
}

TEST(TcqTest, BitshiftBeatsEcsqAtTheSameRate) {
  const std::vector<float> x = Gaussian(kN, 1.0f, kSeed);
  const double var = Variance(x);
  for (int k : {2, 3}) {
    BitshiftSpec spec;
    spec.state_bits = 12;
    spec.k = k;
    auto t = EncodeBitshift(x, spec);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    auto dec = TcqDecode(t->bytes, kN);
    ASSERT_TRUE(dec.ok());
    ExpectBitEqual(*dec, t->recon);
    const double bits = t->bits_per_sample();
    EXPECT_LT(bits, k + 0.015);  // (L - k) bits per 4096-sample segment, 16 header and CRC bytes
    const Ecsq e = EcsqAtLeast(x, bits);
    SCOPED_TRACE(::testing::Message() << "bitshift " << bits << " bits, mse " << t->mse << "; ecsq " << e.bits
                                      << " bits, mse " << e.mse);
    EXPECT_LT(t->mse, 0.92 * e.mse);
    EXPECT_LT(RateGap(bits, t->mse, var), 0.18);
  }
}

TEST(TcqTest, EmptyInput) {
  auto a = EncodeEctcq({}, EctcqSpec{});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = EncodeBitshift({}, BitshiftSpec{});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  for (const TcqEncoded* e : {&*a, &*b}) {
    auto d = TcqDecode(e->bytes, 0);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE(d->empty());
    EXPECT_FALSE(TcqDecode(e->bytes, 1).ok());
  }
}

TEST(TcqTest, InvalidSpecsAndInput) {
  const std::vector<float> x = Gaussian(64, 1.0f, 1);
  EctcqSpec e;
  e.state_bits = 9;
  EXPECT_EQ(EncodeEctcq(x, e).status().code(), StatusCode::kInvalidArgument);
  e = EctcqSpec{};
  e.step = 0;
  EXPECT_EQ(EncodeEctcq(x, e).status().code(), StatusCode::kInvalidArgument);
  e = EctcqSpec{};
  e.lambda = -1;
  EXPECT_EQ(EncodeEctcq(x, e).status().code(), StatusCode::kInvalidArgument);
  BitshiftSpec b;
  b.k = 0;
  EXPECT_EQ(EncodeBitshift(x, b).status().code(), StatusCode::kInvalidArgument);
  b = BitshiftSpec{};
  b.state_bits = 2;  // not above k
  EXPECT_EQ(EncodeBitshift(x, b).status().code(), StatusCode::kInvalidArgument);
  b = BitshiftSpec{};
  b.block = 0;
  EXPECT_EQ(EncodeBitshift(x, b).status().code(), StatusCode::kInvalidArgument);
  std::vector<float> bad = x;
  bad[7] = std::nanf("");
  EXPECT_EQ(EncodeEctcq(bad, EctcqSpec{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeBitshift(bad, BitshiftSpec{}).status().code(), StatusCode::kInvalidArgument);
}

// Every truncation, one extra byte, a wrong sample count and every single
// bit flip are errors (kCorrupt), never a crash.
void ExpectRejectsDamage(const std::vector<uint8_t>& good, size_t n) {
  ASSERT_TRUE(TcqDecode(good, n).ok());
  for (size_t len = 0; len < good.size(); ++len) {
    auto r = TcqDecode(std::span<const uint8_t>(good.data(), len), n);
    ASSERT_FALSE(r.ok()) << "truncated to " << len;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_FALSE(TcqDecode(longer, n).ok());
  EXPECT_FALSE(TcqDecode(good, n + 1).ok());
  EXPECT_FALSE(TcqDecode(good, n - 1).ok());
  std::vector<uint8_t> flipped = good;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit : {0, 3, 7}) {
      flipped[i] ^= uint8_t(1u << bit);
      auto r = TcqDecode(flipped, n);
      ASSERT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
      flipped[i] = good[i];
    }
  }
}

TEST(TcqTest, CorruptStreamsAreRejected) {
  const size_t n = 1500;
  const std::vector<float> x = Gaussian(n, 1.0f, kSeed + 2);
  EctcqSpec e;
  e.state_bits = 5;
  e.step = 0.3;
  auto a = EncodeEctcq(x, e);
  ASSERT_TRUE(a.ok());
  ExpectRejectsDamage(a->bytes, n);
  BitshiftSpec b;
  b.state_bits = 10;
  b.k = 3;
  b.block = 512;
  auto c = EncodeBitshift(x, b);
  ASSERT_TRUE(c.ok());
  ExpectRejectsDamage(c->bytes, n);
}

// With a valid CRC, damaged fields must still be caught by the parser.
TEST(TcqTest, DamagedFieldsBehindAValidCrc) {
  const size_t n = 300;
  const std::vector<float> x = Gaussian(n, 1.0f, kSeed + 3);
  auto a = EncodeEctcq(x, EctcqSpec{});
  ASSERT_TRUE(a.ok());
  auto resign = [](std::vector<uint8_t> body) {
    ByteWriter w(std::move(body));
    w.U32(Crc32c(std::span<const uint8_t>(w.bytes())));
    return std::move(w).Take();
  };
  std::vector<uint8_t> body(a->bytes.begin(), a->bytes.end() - 4);
  auto with = [&](size_t at, uint8_t v) {
    std::vector<uint8_t> b = body;
    b[at] = v;
    return resign(b);
  };
  // Layout: kind, varint n (2 bytes), state bits, f32 step, ...
  EXPECT_EQ(TcqDecode(with(0, 9), n).status().code(), StatusCode::kCorrupt);   // unknown kind
  EXPECT_EQ(TcqDecode(with(3, 1), n).status().code(), StatusCode::kCorrupt);   // state bits 1
  EXPECT_EQ(TcqDecode(with(3, 9), n).status().code(), StatusCode::kCorrupt);   // state bits 9
  EXPECT_EQ(TcqDecode(with(7, 0xFF), n).status().code(), StatusCode::kCorrupt);  // step NaN
  EXPECT_EQ(TcqDecode(with(7, 0x80), n).status().code(), StatusCode::kCorrupt);  // step negative
  std::vector<uint8_t> shorter(body.begin(), body.end() - 1);
  EXPECT_EQ(TcqDecode(resign(shorter), n).status().code(), StatusCode::kCorrupt);
  std::vector<uint8_t> longer = body;
  longer.push_back(0);
  EXPECT_EQ(TcqDecode(resign(longer), n).status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace golfpack::encode
