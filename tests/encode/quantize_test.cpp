#include "codec/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "codec/half.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::BitEqual;
using testing::DecodeWithCore;
using testing::Gaussian;

// ------------------------------------------------------------ half / bf16
TEST(Half, MatchesCompilerFloat16Exhaustively) {
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 hf;
    const auto bits = static_cast<uint16_t>(h);
    std::memcpy(&hf, &bits, 2);
    const float ref = static_cast<float>(hf);
    const float got = F16ToF32(bits);
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got));
      continue;
    }
    ASSERT_TRUE(BitEqual(got, ref)) << std::hex << h;
    ASSERT_EQ(F32ToF16(got), bits) << std::hex << h;  // exact values round-trip
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 200000; ++i) {
    // Random bit patterns over the interesting exponent range, incl. subnormal halves and ties.
    uint32_t x = rng();
    x = (x & 0x807fffffu) | ((100u + rng() % 50u) << 23);
    if (i % 3 == 0) x &= 0xffffe000u | 0x1000u;  // exact ties for normal halves
    float f;
    std::memcpy(&f, &x, 4);
    const _Float16 hf = static_cast<_Float16>(f);
    uint16_t ref;
    std::memcpy(&ref, &hf, 2);
    ASSERT_EQ(F32ToF16(f), ref) << f;
  }
}

// ------------------------------------------------------------ PG reference (plain scalar code)
// torch.quantile(..., interpolation='linear') on float32 data, as ATen does it.
float RefTorchQuantile(std::vector<float> a, double q) {
  std::sort(a.begin(), a.end());
  const float qf = static_cast<float>(q);
  const float rank = qf * static_cast<float>(a.size() - 1);
  const long below = static_cast<long>(rank);
  const long above = static_cast<long>(std::ceil(rank));
  const float weight = rank - static_cast<float>(below);
  const float d = a[above] - a[below];
  if (weight < 0.5f) return std::fma(weight, d, a[below]);
  return std::fma(weight - 1.0f, d, a[above]);
}

float RoundHalfEven(float x) {
  const float f = std::floor(x);
  const float diff = x - f;
  if (diff > 0.5f) return f + 1.0f;
  if (diff < 0.5f) return f;
  return std::fmod(f, 2.0f) == 0.0f ? f : f + 1.0f;
}

struct PgRowRef {
  std::vector<int8_t> q;
  std::vector<float> scale32;
  std::vector<_Float16> scale16;
};

PgRowRef RefPgRow(const std::vector<float>& w, size_t rows, size_t cols) {
  PgRowRef r;
  for (size_t i = 0; i < rows; ++i) {
    std::vector<float> a(cols);
    for (size_t j = 0; j < cols; ++j) a[j] = std::fabs(w[i * cols + j]);
    const float clip = RefTorchQuantile(a, 99.99984 / 100.0);
    float scale = clip / 127.0f;
    if (scale < static_cast<float>(1.0 / 127.0)) scale = static_cast<float>(1.0 / 127.0);
    for (size_t j = 0; j < cols; ++j) {
      float v = w[i * cols + j];
      if (v > clip) v = clip;
      if (v < -clip) v = -clip;
      float qv = RoundHalfEven(v / scale);
      qv = std::max(-127.0f, std::min(127.0f, qv));
      r.q.push_back(static_cast<int8_t>(qv));
    }
    r.scale32.push_back(scale);
    r.scale16.push_back(static_cast<_Float16>(scale));
  }
  return r;
}

void ExpectPgRowMatches(const std::vector<float>& w, size_t rows, size_t cols) {
  const std::vector<uint64_t> shape = {rows, cols};
  auto t = EncodePgInt8Row("m", shape, w);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->encoding, gpk::kPgInt8Row);
  EXPECT_TRUE(t->params.empty());
  ASSERT_EQ(t->payload.size(), 2 * rows + rows * cols);
  const PgRowRef ref = RefPgRow(w, rows, cols);
  for (size_t i = 0; i < rows; ++i) {
    uint16_t want;
    std::memcpy(&want, &ref.scale16[i], 2);
    const uint16_t got = static_cast<uint16_t>(t->payload[2 * i] | (t->payload[2 * i + 1] << 8));
    ASSERT_EQ(got, want) << "row " << i;
  }
  for (size_t k = 0; k < rows * cols; ++k) {
    ASSERT_EQ(static_cast<int8_t>(t->payload[2 * rows + k]), ref.q[k]) << "element " << k;
  }
  // Decode formula: value = f32(q) * f32(fp16 scale), bit for bit, through core.
  const std::vector<float> dec = DecodeWithCore(*t);
  const std::vector<float> dec_ref = DecodeWithCore(*t, /*ref=*/true);
  ASSERT_EQ(dec.size(), rows * cols);
  for (size_t k = 0; k < rows * cols; ++k) {
    const float want = static_cast<float>(ref.q[k]) * static_cast<float>(ref.scale16[k / cols]);
    ASSERT_TRUE(BitEqual(dec[k], want)) << k << ": " << dec[k] << " vs " << want;
    ASSERT_TRUE(BitEqual(dec_ref[k], want)) << k;
  }
}

TEST(PgInt8, RowMatchesScalarReferenceSmallWeights) {
  // |w| < 1 everywhere: scale is clamped to 1/127 (PG's clamp_min).
  ExpectPgRowMatches(Gaussian(8 * 300, 0.05f, 1), 8, 300);
}

TEST(PgInt8, RowMatchesScalarReferenceLargeWeightsAndOutliers) {
  std::vector<float> w = Gaussian(16 * 512, 3.0f, 2);
  w[5] = 400.0f;          // outlier clipped by the quantile
  w[512 + 7] = -250.0f;
  for (size_t j = 0; j < 512; ++j) w[2 * 512 + j] = 0.0f;  // all-zero row
  for (size_t j = 0; j < 512; ++j) w[3 * 512 + j] = 7.25f;  // constant row
  ExpectPgRowMatches(w, 16, 512);
  ExpectPgRowMatches(Gaussian(3 * 1024, 2.0f, 3), 3, 1024);
  ExpectPgRowMatches(Gaussian(5 * 2, 2.0f, 4), 5, 2);
  ExpectPgRowMatches(Gaussian(4 * 1, 2.0f, 5), 4, 1);
}

TEST(PgInt8, RowHandComputedTiesRoundHalfToEven) {
  // Top two |w| equal 127 -> clip = 127 exactly, scale = 1: codes are round-half-even of w.
  // Sorted |w| ends 126.5, 127, 127, 127: rank 8.99998 lerps between two 127s.
  const std::vector<float> w = {127.0f, -127.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f, -0.5f, 126.5f, 127.0f};
  const std::vector<uint64_t> shape = {1, 10};
  auto t = EncodePgInt8Row("ties", shape, w);
  ASSERT_TRUE(t.ok());
  const int8_t want[] = {127, -127, 2, 4, -2, 0, 2, 0, 126, 127};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(static_cast<int8_t>(t->payload[2 + i]), want[i]) << i;
  EXPECT_EQ(t->payload[0] | (t->payload[1] << 8), 0x3c00);  // fp16(1.0)
}

TEST(PgInt8, TensorMatchesScalarReference) {
  const size_t n = 70000;
  std::vector<float> w = Gaussian(n, 1.5f, 6);
  w[123] = 1e4f;
  const std::vector<uint64_t> shape = {n};
  auto t = EncodePgInt8Tensor("v", shape, w);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->encoding, gpk::kPgInt8Tensor);
  std::vector<float> a(n);
  for (size_t i = 0; i < n; ++i) a[i] = std::fabs(w[i]);
  const float clip = RefTorchQuantile(a, 0.9999984);
  const float scale = static_cast<float>(static_cast<double>(clip) / 127.0);
  float stored;
  std::memcpy(&stored, t->payload.data(), 4);
  ASSERT_TRUE(BitEqual(stored, scale));
  const std::vector<float> dec = DecodeWithCore(*t);
  for (size_t i = 0; i < n; ++i) {
    const float v = std::min(std::max(w[i], -clip), clip);
    const float q = std::max(-127.0f, std::min(127.0f, RoundHalfEven(v / scale)));
    ASSERT_EQ(static_cast<int8_t>(t->payload[4 + i]), static_cast<int8_t>(q)) << i;
    ASSERT_TRUE(BitEqual(dec[i], q * scale)) << i;
  }
  // All zeros: scale 1, codes 0.
  std::vector<float> z(n, 0.0f);
  auto tz = EncodePgInt8Tensor("z", shape, z);
  ASSERT_TRUE(tz.ok());
  std::memcpy(&stored, tz->payload.data(), 4);
  EXPECT_EQ(stored, 1.0f);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(tz->payload[4 + i], 0);
}

TEST(PgInt8, PassthroughRule) {
  EXPECT_EQ(PgPassthroughDType("blocks.0.attn_scale", 512), PgDecision::kKeepF32);
  EXPECT_EQ(PgPassthroughDType("blocks.3.mlp_scale", 512), PgDecision::kKeepF32);
  EXPECT_EQ(PgPassthroughDType("blocks.3.resid_mix", 1024), PgDecision::kKeepF32);
  EXPECT_EQ(PgPassthroughDType("blocks.3.attn.q_gain", 8), PgDecision::kKeepF32);
  EXPECT_EQ(PgPassthroughDType("skip_weights", 2048), PgDecision::kKeepF32);
  EXPECT_EQ(PgPassthroughDType("blocks.0.attn.c_k.weight", 65536), PgDecision::kKeepF16);
  EXPECT_EQ(PgPassthroughDType("blocks.0.attn.c_q.weight", 65537), PgDecision::kQuantize);
  EXPECT_EQ(PgPassthroughDType("tok_emb.weight", 1024 * 512), PgDecision::kQuantize);
  // Size is checked first, as in quantize_state_dict_int8.
  EXPECT_EQ(PgPassthroughDType("huge.attn_scale", 70000), PgDecision::kQuantize);

  const std::vector<uint64_t> s1 = {512};
  auto a = EncodePgBaseline("blocks.0.attn_scale", s1, Gaussian(512, 1.0f, 1));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->encoding, gpk::kRawF32);
  const std::vector<uint64_t> s2 = {256, 256};
  auto b = EncodePgBaseline("blocks.0.attn.c_k.weight", s2, Gaussian(65536, 0.02f, 1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->encoding, gpk::kRawF16);
  const std::vector<uint64_t> s3 = {512, 256};
  auto c = EncodePgBaseline("blocks.0.attn.c_k.weight", s3, Gaussian(512 * 256, 0.02f, 1));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->encoding, gpk::kPgInt8Row);
  const std::vector<uint64_t> s4 = {2, 300, 200};
  auto d = EncodePgBaseline("x", s4, Gaussian(120000, 0.02f, 1));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->encoding, gpk::kPgInt8Tensor);
}

// ------------------------------------------------------------ uniform grids
// Independent unpacker for packing 1 (LSB-first, biased by max_code).
std::vector<int> Unpack(std::span<const uint8_t> bytes, size_t n, int bits) {
  std::vector<int> out(n);
  const int bias = (1 << (bits - 1)) - 1;
  for (size_t i = 0; i < n; ++i) {
    int v = 0;
    for (int b = 0; b < bits; ++b) {
      const size_t bit = i * static_cast<size_t>(bits) + static_cast<size_t>(b);
      v |= ((bytes[bit / 8] >> (bit % 8)) & 1) << b;
    }
    out[i] = v - bias;
  }
  return out;
}

TEST(Uniform, ErrorAtMostHalfScaleForAllBitsPackingsAndGroups) {
  const size_t rows = 6, cols = 192;
  const std::vector<uint64_t> shape = {rows, cols};
  std::vector<float> w = Gaussian(rows * cols, 0.03f, 9);
  for (int bits = 2; bits <= 8; ++bits) {
    for (uint8_t packing : {0, 1}) {
      for (uint32_t group : {0u, 16u, 64u, 192u}) {
        for (uint8_t sd : {0, 1, 2}) {
          UniformSpec spec;
          spec.bits = bits;
          spec.packing = packing;
          spec.group_size = group;
          spec.scale_dtype = sd;
          SCOPED_TRACE(spec.ToString());
          auto q = QuantizeUniform("w", shape, w, spec);
          ASSERT_TRUE(q.ok()) << q.status().ToString();
          const int mc = spec.max_code();
          for (size_t i = 0; i < w.size(); ++i) {
            const size_t r = i / cols, c = i % cols;
            const float s = q->scales[q->ScaleIndex(r, c)];
            ASSERT_GE(q->codes[i], -mc);
            ASSERT_LE(q->codes[i], mc);
            ASSERT_LE(std::fabs(static_cast<double>(w[i]) - q->codes[i] * static_cast<double>(s)),
                      0.5 * s * (1 + 1e-6))
                << i;
          }
          auto t = EncodeUniform("w", shape, w, spec);
          ASSERT_TRUE(t.ok()) << t.status().ToString();
          EXPECT_EQ(t->encoding, gpk::kUniform);
          ASSERT_EQ(t->params.size(), 7u);
          const size_t nscales = q->scales.size();
          const size_t sbytes = sd == 1 ? 4 : 2;
          const size_t code_bytes = packing ? (w.size() * bits + 7) / 8 : w.size();
          ASSERT_EQ(t->payload.size(), nscales * sbytes + code_bytes);
          if (packing) {
            const auto un = Unpack(std::span(t->payload).subspan(nscales * sbytes), w.size(), bits);
            for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(un[i], q->codes[i]);
          } else {
            for (size_t i = 0; i < w.size(); ++i) {
              ASSERT_EQ(static_cast<int8_t>(t->payload[nscales * sbytes + i]), q->codes[i]);
            }
          }
          // Core decodes exactly what DequantizeUniform says.
          const std::vector<float> mine = DequantizeUniform(*q);
          const std::vector<float> dec = DecodeWithCore(*t);
          const std::vector<float> dec_ref = DecodeWithCore(*t, true);
          ASSERT_EQ(dec.size(), mine.size());
          for (size_t i = 0; i < mine.size(); ++i) {
            ASSERT_TRUE(BitEqual(dec[i], mine[i])) << i;
            ASSERT_TRUE(BitEqual(dec_ref[i], mine[i])) << i;
          }
        }
      }
    }
  }
}

TEST(Uniform, QuantileClipCutsOutlierAndKeepsResolution) {
  const size_t cols = 1024;
  const std::vector<uint64_t> shape = {1, cols};
  std::vector<float> w = Gaussian(cols, 1.0f, 12);
  w[100] = 1000.0f;
  UniformSpec spec;
  spec.bits = 8;
  spec.clip = UniformSpec::kQuantile;
  spec.clip_value = 0.999;
  auto q = QuantizeUniform("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  const float s = q->scales[0];
  EXPECT_LT(s, 5.0f / 127.0f);  // clip near the bulk, not at 1000
  EXPECT_EQ(q->codes[100], 127);
  const std::vector<float> dec = DequantizeUniform(*q);
  double max_err = 0.0;
  for (size_t i = 0; i < cols; ++i) {
    if (i == 100 || std::fabs(w[i]) > 127 * s) continue;
    max_err = std::max(max_err, std::fabs(static_cast<double>(w[i]) - dec[i]));
  }
  EXPECT_LE(max_err, 0.5 * s * (1 + 1e-6));
  EXPECT_LT(max_err, 0.03);
  // Without clipping the outlier eats the range.
  UniformSpec none = spec;
  none.clip = UniformSpec::kNone;
  auto qn = QuantizeUniform("w", shape, w, none);
  ASSERT_TRUE(qn.ok());
  EXPECT_GT(qn->scales[0], 7.0f);
}

TEST(Uniform, StdClipCutsOutlierAndKeepsResolution) {
  const size_t cols = 4096;
  const std::vector<uint64_t> shape = {2, cols / 2};
  std::vector<float> w = Gaussian(cols, 1.0f, 13);
  w[7] = -50.0f;
  UniformSpec spec;
  spec.bits = 8;
  spec.clip = UniformSpec::kStd;
  spec.clip_value = 4.0;
  auto q = QuantizeUniform("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  EXPECT_LT(q->scales[0], 8.0f / 127.0f);
  EXPECT_EQ(q->codes[7], -127);
  const std::vector<float> dec = DequantizeUniform(*q);
  for (size_t i = 0; i < cols; ++i) {
    const float s = q->scales[i / (cols / 2)];
    if (std::fabs(w[i]) > 127 * s) continue;
    ASSERT_LE(std::fabs(static_cast<double>(w[i]) - dec[i]), 0.5 * s * (1 + 1e-6)) << i;
  }
  // Capped: a huge k clips at max|w|, the same scale as no clip.
  UniformSpec big = spec;
  big.clip_value = 1000.0;
  UniformSpec none = spec;
  none.clip = UniformSpec::kNone;
  auto qb = QuantizeUniform("w", shape, w, big);
  auto qn = QuantizeUniform("w", shape, w, none);
  ASSERT_TRUE(qb.ok() && qn.ok());
  EXPECT_EQ(qb->scales, qn->scales);
  // Uncapped (PG record SDClip): scale = k * std / max_code, codes stay small.
  UniformSpec rec;
  rec.bits = 6;
  rec.clip = UniformSpec::kStd;
  rec.clip_value = 12.85;
  rec.cap_at_absmax = false;
  const std::vector<uint64_t> s2 = {1, 4096};
  const std::vector<float> g = Gaussian(4096, 1.0f, 14);
  auto qr = QuantizeUniform("w", s2, g, rec);
  ASSERT_TRUE(qr.ok());
  EXPECT_NEAR(qr->scales[0], 12.85 / 31.0, 0.02);
  int maxabs = 0;
  for (int8_t c : qr->codes) maxabs = std::max(maxabs, std::abs(static_cast<int>(c)));
  EXPECT_LE(maxabs, 12);
}

TEST(Uniform, AdversarialRows) {
  const size_t cols = 64;
  const std::vector<uint64_t> shape = {4, cols};
  std::vector<float> w(4 * cols);
  for (size_t j = 0; j < cols; ++j) {
    w[j] = 0.0f;                                   // all zeros
    w[cols + j] = -0.3f;                           // constant
    w[2 * cols + j] = (j % 2 ? 1.0f : -1.0f) * 1e-40f;  // f32 denormals
    w[3 * cols + j] = j == 5 ? 3e4f : 0.001f;      // one huge outlier
  }
  for (uint8_t sd : {0, 1, 2}) {
    UniformSpec spec;
    spec.bits = 4;
    spec.scale_dtype = sd;
    SCOPED_TRACE(spec.ToString());
    auto q = QuantizeUniform("adv", shape, w, spec);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    auto t = EncodeUniform("adv", shape, w, spec);
    ASSERT_TRUE(t.ok());
    const std::vector<float> dec = DecodeWithCore(*t);
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_TRUE(std::isfinite(dec[i]));
      const float s = q->scales[i / cols];
      ASSERT_GT(s, 0.0f);
      ASSERT_LE(std::fabs(static_cast<double>(w[i]) - dec[i]), 0.5 * s * (1 + 1e-6)) << i;
    }
    for (size_t j = 0; j < cols; ++j) EXPECT_EQ(dec[j], 0.0f);  // zeros stay exact
    EXPECT_EQ(q->codes[cols], -7);                              // constant row uses the top code
  }
  // A value whose scale overflows f16 is an error pointing at f32 scales.
  std::vector<float> huge(cols, 1e30f);
  const std::vector<uint64_t> s1 = {1, cols};
  auto bad = QuantizeUniform("huge", s1, huge, UniformSpec{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("f32"), std::string::npos);
  UniformSpec f32s;
  f32s.scale_dtype = 1;
  EXPECT_TRUE(QuantizeUniform("huge", s1, huge, f32s).ok());
}

TEST(Uniform, SpecErrorsAndOverrides) {
  const std::vector<uint64_t> shape = {2, 10};
  const std::vector<float> w = Gaussian(20, 1.0f, 1);
  UniformSpec g3;
  g3.group_size = 3;
  auto r = EncodeUniform("w", shape, w, g3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not divide"), std::string::npos);
  UniformSpec b9;
  b9.bits = 9;
  EXPECT_EQ(EncodeUniform("w", shape, w, b9).status().code(), StatusCode::kInvalidArgument);
  UniformSpec s4;
  s4.bits = 4;
  std::vector<int8_t> codes(20, 3);
  auto ok = EncodeUniform("w", shape, w, s4, &codes);
  ASSERT_TRUE(ok.ok());
  const std::vector<float> dec = DecodeWithCore(*ok);
  auto sc = UniformScales("w", shape, w, s4);
  ASSERT_TRUE(sc.ok());
  for (size_t i = 0; i < 20; ++i) EXPECT_TRUE(BitEqual(dec[i], 3.0f * sc->scales[i / 10]));
  codes[4] = 8;  // out of range for 4 bits
  auto out_of_range = EncodeUniform("w", shape, w, s4, &codes);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("index 4"), std::string::npos);
  codes.resize(19);
  EXPECT_FALSE(EncodeUniform("w", shape, w, s4, &codes).ok());
  const std::vector<uint64_t> wrong = {3, 10};
  EXPECT_FALSE(EncodeUniform("w", wrong, w, s4).ok());
}

// ------------------------------------------------------------ raw / const / NaN
TEST(Raw, RoundTripsThroughCore) {
  const std::vector<uint64_t> shape = {3, 7};
  std::vector<float> w = Gaussian(21, 2.0f, 3);
  w[4] = 1e-6f;  // f16 subnormal
  for (auto d : {gpk::TargetDType::kF32, gpk::TargetDType::kF16, gpk::TargetDType::kBF16}) {
    auto t = EncodeRaw("r", shape, w, d);
    ASSERT_TRUE(t.ok());
    const std::vector<float> dec = DecodeWithCore(*t);
    for (size_t i = 0; i < w.size(); ++i) {
      const float want = d == gpk::TargetDType::kF32   ? w[i]
                         : d == gpk::TargetDType::kF16 ? static_cast<float>(static_cast<_Float16>(w[i]))
                                                       : BF16ToF32(F32ToBF16(w[i]));
      ASSERT_TRUE(BitEqual(dec[i], want)) << i;
    }
  }
  std::vector<float> big = {1.0f, 70000.0f};
  const std::vector<uint64_t> s2 = {2};
  auto o = EncodeRaw("big", s2, big, gpk::TargetDType::kF16);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("index 1"), std::string::npos);
}

TEST(Const, EncodesOnlyConstantTensors) {
  const std::vector<uint64_t> shape = {4, 4};
  std::vector<float> w(16, 0.75f);
  auto t = EncodeConst("c", shape, w);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->encoding, gpk::kConst);
  EXPECT_TRUE(t->payload.empty());
  for (float v : DecodeWithCore(*t)) EXPECT_EQ(v, 0.75f);
  w[3] = -0.75f;
  EXPECT_FALSE(EncodeConst("c", shape, w).ok());
  std::vector<float> z = {0.0f, -0.0f};
  const std::vector<uint64_t> s2 = {2};
  EXPECT_FALSE(ConstValue(z).has_value());  // -0 and +0 differ bitwise
}

TEST(NonFinite, EveryEncoderRejectsNaNAndInfWithNameAndIndex) {
  const std::vector<uint64_t> shape = {2, 4};
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> w(8, 0.5f);
    w[6] = bad;
    std::vector<Result<gpk::EncodedTensor>> results;
    results.push_back(EncodeRaw("layer.w", shape, w, gpk::TargetDType::kF32));
    results.push_back(EncodeRaw("layer.w", shape, w, gpk::TargetDType::kF16));
    results.push_back(EncodeConst("layer.w", shape, w));
    results.push_back(EncodePgInt8Row("layer.w", shape, w));
    results.push_back(EncodePgInt8Tensor("layer.w", shape, w));
    results.push_back(EncodePgBaseline("layer.w", shape, w));
    results.push_back(EncodeUniform("layer.w", shape, w, UniformSpec{}));
    for (const auto& r : results) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("layer.w"), std::string::npos) << r.status().message();
      EXPECT_NE(r.status().message().find("index 6"), std::string::npos) << r.status().message();
    }
  }
}

}  // namespace
}  // namespace golfpack::encode
