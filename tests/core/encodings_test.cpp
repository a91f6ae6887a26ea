// The encoding registry (FORMAT.md "Encodings") and the std-only half/bf16
// helpers: payload sizes, hand-computed decodes, and fast decode == reference
// decode (values bit for bit, and the same error) on random and adversarial data.
#include "core/encodings.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/byte_reader.h"
#include "core/half.h"

namespace golfpack::gpk {
namespace {

std::vector<uint8_t> F32Bytes(std::initializer_list<float> v) {
  ByteWriter w;
  for (float f : v) w.F32(f);
  return std::move(w).Take();
}

// Runs both decoders; expects the same status and, when ok, bit-identical output.
Result<std::vector<float>> DecodeBoth(uint32_t id, std::vector<uint64_t> shape, std::span<const uint8_t> params,
                                      std::span<const uint8_t> payload) {
  const EncodingTraits* e = FindEncoding(id);
  EXPECT_NE(e, nullptr);
  uint64_t numel = 1;
  for (uint64_t d : shape) numel *= d;
  TensorView v{shape, numel, params, payload};
  std::vector<float> fast(numel, 12345.0f), ref(numel, -999.0f);
  Status a = e->decode(v, fast);
  Status b = DecodeRef(id, v, ref);
  EXPECT_EQ(a.code(), b.code()) << a.ToString() << " vs " << b.ToString();
  EXPECT_EQ(a.message(), b.message());
  if (!a.ok()) return a;
  for (size_t i = 0; i < numel; ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(fast[i]), std::bit_cast<uint32_t>(ref[i]))
        << e->name << " element " << i << ": " << fast[i] << " vs " << ref[i];
  }
  return fast;
}

TEST(Registry, IdsAndNamesAreTheFormatTable) {
  const char* names[] = {"raw_f32", "raw_f16", "raw_bf16", "pg_int8_row", "pg_int8_tensor", "uniform", "const",
                         "ans_grid", "codebook"};
  ASSERT_EQ(AllEncodings().size(), 9u);
  for (uint32_t id = 0; id < 9; ++id) {
    const EncodingTraits* e = FindEncoding(id);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->id, id);
    EXPECT_STREQ(e->name, names[id]);
    EXPECT_EQ(e->fixed_rate, id != kAnsGrid);  // ans_grid is entropy-coded (variable-rate)
    EXPECT_EQ(&AllEncodings()[id], e);
    EXPECT_EQ(e->refs, id == kCodebook ? 1u : 0u);  // codebook reads its levels from a shared object
  }
  EXPECT_EQ(FindEncoding(9), nullptr);
  EXPECT_EQ(FindEncoding(UINT32_MAX), nullptr);
}

TEST(Registry, RowsAndCols) {
  std::vector<uint64_t> s0, s1{5}, s3{4, 3, 2}, z{0, 7};
  EXPECT_EQ(Rows(s0), 1u);
  EXPECT_EQ(Cols(s0, 1), 1u);
  EXPECT_EQ(Rows(s1), 5u);
  EXPECT_EQ(Cols(s1, 5), 1u);
  EXPECT_EQ(Rows(s3), 4u);
  EXPECT_EQ(Cols(s3, 24), 6u);
  EXPECT_EQ(Rows(z), 0u);
  EXPECT_EQ(Cols(z, 0), 0u);
}

TEST(UniformParams, SerializeIsSevenBytesLittleEndian) {
  UniformParams p;
  p.bits = 5;
  p.packing = 1;
  p.scale_dtype = 2;
  p.group_size = 0x01020304;
  EXPECT_EQ(p.Serialize(), (std::vector<uint8_t>{5, 1, 2, 0x04, 0x03, 0x02, 0x01}));
  auto back = UniformParams::Parse(p.Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->bits, 5);
  EXPECT_EQ(back->packing, 1);
  EXPECT_EQ(back->scale_dtype, 2);
  EXPECT_EQ(back->group_size, 0x01020304u);
  EXPECT_EQ(back->max_code(), 15);
}

TEST(UniformParams, RejectsOutOfRangeFields) {
  auto bad = [](std::vector<uint8_t> b, const char* word) {
    auto r = UniformParams::Parse(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(r.status().message().find(word), std::string::npos) << r.status().message();
  };
  bad({8, 0, 0, 0, 0, 0}, "params_size 6");
  bad({8, 0, 0, 0, 0, 0, 0, 0}, "params_size 8");
  bad({1, 0, 0, 0, 0, 0, 0}, "bits 1");
  bad({9, 0, 0, 0, 0, 0, 0}, "bits 9");
  bad({0, 0, 0, 0, 0, 0, 0}, "bits 0");
  bad({4, 2, 0, 0, 0, 0, 0}, "packing 2");
  bad({4, 0, 3, 0, 0, 0, 0}, "scale_dtype 3");
  for (int bits = 2; bits <= 8; ++bits) EXPECT_TRUE(UniformParams::Parse(std::vector<uint8_t>{uint8_t(bits), 1, 1, 0, 0, 0, 0}).ok());
}

TEST(PayloadSize, MatchesTheFormatTable) {
  std::vector<uint64_t> shape{3, 10};
  std::vector<uint8_t> none, four{0, 0, 0, 0};
  EXPECT_EQ(*FindEncoding(kRawF32)->payload_size(shape, 30, none), 120u);
  EXPECT_EQ(*FindEncoding(kRawF16)->payload_size(shape, 30, none), 60u);
  EXPECT_EQ(*FindEncoding(kRawBF16)->payload_size(shape, 30, none), 60u);
  EXPECT_EQ(*FindEncoding(kPgInt8Row)->payload_size(shape, 30, none), 36u);
  EXPECT_EQ(*FindEncoding(kPgInt8Tensor)->payload_size(shape, 30, none), 34u);
  EXPECT_EQ(*FindEncoding(kConst)->payload_size(shape, 30, four), 0u);
  auto uni = [&](uint8_t bits, uint8_t packing, uint8_t sd, uint32_t g) {
    UniformParams p{bits, packing, sd, g};
    return FindEncoding(kUniform)->payload_size(shape, 30, p.Serialize());
  };
  EXPECT_EQ(*uni(8, 0, 0, 0), 3 * 2 + 30u);
  EXPECT_EQ(*uni(8, 0, 1, 0), 3 * 4 + 30u);
  EXPECT_EQ(*uni(4, 0, 2, 5), 6 * 2 + 30u);
  EXPECT_EQ(*uni(3, 1, 0, 0), 3 * 2 + 12u);   // ceil(90 / 8) = 12
  EXPECT_EQ(*uni(5, 1, 1, 2), 15 * 4 + 19u);  // ceil(150 / 8) = 19
  EXPECT_EQ(*uni(2, 1, 0, 10), 3 * 2 + 8u);   // 60 bits -> 8 bytes
  EXPECT_FALSE(uni(4, 0, 0, 3).ok());         // 3 does not divide 10
  EXPECT_FALSE(uni(4, 0, 0, 20).ok());
  // Bad params or shapes.
  EXPECT_FALSE(FindEncoding(kRawF32)->payload_size(shape, 30, four).ok());
  EXPECT_FALSE(FindEncoding(kConst)->payload_size(shape, 30, none).ok());
  std::vector<uint64_t> scalar, zero_rows{0, 4};
  EXPECT_FALSE(FindEncoding(kPgInt8Row)->payload_size(scalar, 1, none).ok());
  EXPECT_FALSE(FindEncoding(kPgInt8Row)->payload_size(zero_rows, 0, none).ok());
  EXPECT_FALSE(FindEncoding(kUniform)->payload_size(scalar, 1, UniformParams{}.Serialize()).ok());
  EXPECT_EQ(*FindEncoding(kUniform)->payload_size(zero_rows, 0, UniformParams{4, 1, 0, 3}.Serialize()), 0u);
  EXPECT_EQ(*FindEncoding(kRawF32)->payload_size(scalar, 1, none), 4u);
}

TEST(Decode, RawHandComputed) {
  auto f32 = F32Bytes({1.5f, -0.0f, std::numeric_limits<float>::infinity()});
  auto out = DecodeBoth(kRawF32, {3}, {}, f32);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0], 1.5f);
  EXPECT_TRUE(std::signbit((*out)[1]));
  EXPECT_TRUE(std::isinf((*out)[2]));
  // f16: 1.0 = 0x3C00, -2.5 = 0xC100, smallest subnormal 0x0001 = 2^-24, 65504 = 0x7BFF.
  std::vector<uint8_t> f16{0x00, 0x3c, 0x00, 0xc1, 0x01, 0x00, 0xff, 0x7b};
  out = DecodeBoth(kRawF16, {2, 2}, {}, f16);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (std::vector<float>{1.0f, -2.5f, std::ldexp(1.0f, -24), 65504.0f}));
  // bf16: 1.0 = 0x3F80, -3.0 = 0xC040.
  std::vector<uint8_t> bf16{0x80, 0x3f, 0x40, 0xc0};
  out = DecodeBoth(kRawBF16, {2}, {}, bf16);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (std::vector<float>{1.0f, -3.0f}));
}

TEST(Decode, PgInt8HandComputed) {
  // 2 rows x 3: scales 0.5 (0x3800) and 2.0 (0x4000); q = [1,-1,127; -128,0,3].
  std::vector<uint8_t> row{0x00, 0x38, 0x00, 0x40, 1, 0xff, 127, 0x80, 0, 3};
  auto out = DecodeBoth(kPgInt8Row, {2, 3}, {}, row);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (std::vector<float>{0.5f, -0.5f, 63.5f, -256.0f, 0.0f, 6.0f}));
  auto tensor = F32Bytes({0.25f});
  tensor.insert(tensor.end(), {4, 0xfc, 0x80});
  out = DecodeBoth(kPgInt8Tensor, {3}, {}, tensor);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (std::vector<float>{1.0f, -1.0f, -32.0f}));
}

TEST(Decode, UniformHandComputed) {
  // bits 3 (codes -3..3, stored +3), packing 1, f32 scales, group 2, shape [1, 4]:
  // scales 1.0, 10.0; codes [-3, 3, 0, 1] -> stored [0, 6, 3, 4] -> bits
  // 000 110 011 100 LSB first = byte0 = 0b11110000 (0 | 6<<3 | (3&3)<<6) = 0xF0, byte1 = 3>>2 | 4<<1 = 0x08.
  UniformParams p{3, 1, 1, 2};
  auto payload = F32Bytes({1.0f, 10.0f});
  payload.insert(payload.end(), {0xf0, 0x08});
  auto out = DecodeBoth(kUniform, {1, 4}, p.Serialize(), payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, (std::vector<float>{-3.0f, 3.0f, 0.0f, 10.0f}));
  // Padding bit set (bit 12) -> rejected.
  payload.back() = 0x18;
  out = DecodeBoth(kUniform, {1, 4}, p.Serialize(), payload);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("padding"), std::string::npos);
  // Stored value 7 (reserved) for element 1.
  payload.back() = 0x08;
  payload[payload.size() - 2] = 0x38;  // 000 111 00..
  out = DecodeBoth(kUniform, {1, 4}, p.Serialize(), payload);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("packed value 7 of element 1"), std::string::npos) << out.status().message();

  // packing 0, bits 2 (codes -1..1), f16 scale per row, shape [2, 2].
  UniformParams q{2, 0, 0, 0};
  std::vector<uint8_t> pl{0x00, 0x3c, 0x00, 0xc0, 1, 0xff, 0, 1};  // scales 1, -2
  out = DecodeBoth(kUniform, {2, 2}, q.Serialize(), pl);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (std::vector<float>{1.0f, -1.0f, -0.0f, -2.0f}));
  pl[7] = 2;  // code 2 > max 1
  out = DecodeBoth(kUniform, {2, 2}, q.Serialize(), pl);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("code 2 of element 3 is outside [-1, 1]"), std::string::npos)
      << out.status().message();
}

TEST(Decode, ConstFillsEveryElement) {
  auto params = F32Bytes({-7.25f});
  auto out = DecodeBoth(kConst, {2, 3}, params, {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, std::vector<float>(6, -7.25f));
  out = DecodeBoth(kConst, {0, 3}, params, {});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->empty());
}

TEST(Decode, PayloadSizeMismatchIsAnErrorNotARead) {
  std::vector<uint8_t> short_payload(7);
  auto out = DecodeBoth(kRawF32, {2}, {}, short_payload);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCorrupt);
  std::vector<float> wrong_size(3);
  std::vector<uint64_t> shape{2};
  std::vector<uint8_t> payload(8);
  EXPECT_EQ(FindEncoding(kRawF32)->decode(TensorView{shape, 2, {}, payload}, wrong_size).code(),
            StatusCode::kInternal);
}

// Random valid-shaped inputs with arbitrary bytes: fast == reference, always.
std::vector<uint8_t> RandomParams(std::mt19937_64& rng, uint32_t id, uint64_t cols) {
  if (id == kConst) {
    std::vector<uint8_t> p(4);
    for (auto& b : p) b = static_cast<uint8_t>(rng());
    return p;
  }
  if (id != kUniform) return {};
  UniformParams p;
  p.bits = static_cast<uint8_t>(2 + rng() % 7);
  p.packing = static_cast<uint8_t>(rng() % 2);
  p.scale_dtype = static_cast<uint8_t>(rng() % 3);
  std::vector<uint32_t> divisors{0};
  for (uint32_t g = 1; g <= cols; ++g)
    if (cols % g == 0) divisors.push_back(g);
  p.group_size = divisors[rng() % divisors.size()];
  return p.Serialize();
}

uint8_t AdversarialByte(std::mt19937_64& rng, int mode) {
  static const uint8_t kSpecial[] = {0x00, 0x80, 0x7f, 0xff, 0x01, 0x7c, 0x7e, 0xfc, 0x3c, 0x04, 0x03};
  switch (mode) {
    case 0: return static_cast<uint8_t>(rng());                       // random
    case 1: return 0;                                                  // zeros
    case 2: return 0xff;                                               // all ones: reserved codes, NaN
    case 3: return kSpecial[rng() % sizeof(kSpecial)];                 // extremes, inf/subnormal pieces
    default: return static_cast<uint8_t>(rng() % 2 ? 0x80 : 0x7f);    // -128 / 127, inf/NaN exponents
  }
}

TEST(Decode, FastEqualsReferenceOnRandomAndAdversarialData) {
  std::mt19937_64 rng(20240601);
  int decoded_ok = 0, rejected = 0;
  for (int iter = 0; iter < 6000; ++iter) {
    const auto id = static_cast<uint32_t>(iter % 7);
    const int mode = (iter / 7) % 5;
    std::vector<uint64_t> shape;
    const size_t ndim = (id == kPgInt8Row || id == kUniform) ? 1 + rng() % 3 : rng() % 4;
    for (size_t d = 0; d < ndim; ++d) shape.push_back(rng() % 7 == 0 ? (d == 0 && id == kPgInt8Row ? 1 : 0) : 1 + rng() % 9);
    if (id == kPgInt8Row && shape[0] == 0) shape[0] = 1;
    uint64_t numel = 1;
    for (uint64_t d : shape) numel *= d;
    auto params = RandomParams(rng, id, Cols(shape, numel));
    auto size = FindEncoding(id)->payload_size(shape, numel, params);
    ASSERT_TRUE(size.ok()) << size.status().ToString();
    std::vector<uint8_t> payload(*size);
    for (auto& b : payload) b = AdversarialByte(rng, mode);
    if (id == kConst && mode > 0) {  // const: adversarial value (inf, NaN, subnormal)
      const uint32_t specials[] = {0x7f800000u, 0xff800000u, 0x7fc00001u, 0x00000001u, 0x80000000u};
      uint32_t v = specials[rng() % 5];
      std::memcpy(params.data(), &v, 4);
    }
    // Constant rows: same code everywhere after the scales.
    if (mode == 1 && id == kUniform && rng() % 2) std::fill(payload.begin(), payload.end(), 0x3c);
    auto r = DecodeBoth(id, shape, params, payload);
    if (r.ok()) {
      ++decoded_ok;
    } else {
      ++rejected;
      EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
      EXPECT_EQ(id, kUniform) << r.status().ToString();  // only uniform has invalid codes
    }
    if (HasFailure()) break;
  }
  EXPECT_GT(decoded_ok, 3000);
  EXPECT_GT(rejected, 50);
}

TEST(Decode, SpecialScalesPropagateIdentically) {
  // inf scale * 0 code = NaN; subnormal scales; negative zero.
  for (uint16_t scale_bits : {uint16_t{0x7c00}, uint16_t{0xfc00}, uint16_t{0x0001}, uint16_t{0x03ff},
                              uint16_t{0x8000}, uint16_t{0x7e00}, uint16_t{0x7bff}}) {
    std::vector<uint8_t> row{static_cast<uint8_t>(scale_bits), static_cast<uint8_t>(scale_bits >> 8), 0, 1, 0x81, 0x80};
    auto out = DecodeBoth(kPgInt8Row, {1, 4}, {}, row);
    ASSERT_TRUE(out.ok());
    const float s = HalfBitsToFloat(scale_bits);
    EXPECT_EQ(std::bit_cast<uint32_t>((*out)[1]), std::bit_cast<uint32_t>(1.0f * s));
    EXPECT_EQ(std::bit_cast<uint32_t>((*out)[3]), std::bit_cast<uint32_t>(-128.0f * s));
    for (uint8_t sd : {0, 2}) {
      UniformParams p{8, 0, sd, 0};
      std::vector<uint8_t> pl{row[0], row[1], 0, 1, 0x81, 0x7f};
      ASSERT_TRUE(DecodeBoth(kUniform, {1, 4}, p.Serialize(), pl).ok());
    }
  }
}

TEST(Decode, EveryUniformConfigurationOnLargerTensors) {
  std::mt19937_64 rng(7);
  for (uint8_t bits = 2; bits <= 8; ++bits)
    for (uint8_t packing = 0; packing <= 1; ++packing)
      for (uint8_t sd = 0; sd <= 2; ++sd)
        for (uint32_t g : {0u, 1u, 4u, 12u, 48u}) {
          UniformParams p{bits, packing, sd, g};
          std::vector<uint64_t> shape{5, 48};
          const int maxc = p.max_code();
          std::vector<int> codes(240);
          for (int& c : codes) c = static_cast<int>(rng() % (2 * maxc + 1)) - maxc;
          const uint64_t n_scales = 5 * (g ? 48 / g : 1);
          ByteWriter w;
          std::vector<float> scales(n_scales);
          for (auto& s : scales) {
            s = static_cast<float>(rng() % 1000) / 256.0f - 2.0f;
            if (sd == 0) w.U16(FloatToHalfBits(s)), s = HalfBitsToFloat(FloatToHalfBits(s));
            if (sd == 1) w.F32(s);
            if (sd == 2) w.U16(FloatToBF16Bits(s)), s = BF16BitsToFloat(FloatToBF16Bits(s));
          }
          if (packing == 0) {
            for (int c : codes) w.U8(static_cast<uint8_t>(static_cast<int8_t>(c)));
          } else {
            std::vector<uint8_t> packed((240 * bits + 7) / 8);
            for (size_t i = 0; i < 240; ++i)
              for (int b = 0; b < bits; ++b)
                if (((codes[i] + maxc) >> b) & 1) packed[(i * bits + b) / 8] |= uint8_t(1u << ((i * bits + b) % 8));
            w.Bytes(packed);
          }
          auto out = DecodeBoth(kUniform, shape, p.Serialize(), w.bytes());
          ASSERT_TRUE(out.ok()) << out.status().ToString();
          for (size_t i = 0; i < 240; ++i) {
            const size_t r = i / 48, c = i % 48;
            const size_t si = r * (g ? 48 / g : 1) + (g ? c / g : 0);
            ASSERT_EQ((*out)[i], static_cast<float>(codes[i]) * scales[si]) << int(bits) << " " << int(packing);
          }
        }
}

// ---------------------------------------------------------------- half.h

double HalfValue(uint16_t h) {  // independent: from the definition
  const int e = (h >> 10) & 31, m = h & 1023;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0) return sign * m * std::ldexp(1.0, -24);
  if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  return sign * (1024 + m) * std::ldexp(1.0, e - 25);
}

TEST(Half, WideningIsExactForAllValues) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfBitsToFloat(static_cast<uint16_t>(h));
    const double want = HalfValue(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f));
      ASSERT_EQ(FloatToHalfBits(f), h | 0x200u) << h;  // quiet, payload kept
    } else {
      ASSERT_EQ(static_cast<double>(f), want) << h;
      ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0);
      ASSERT_EQ(FloatToHalfBits(f), h) << h;  // round trip
    }
  }
}

TEST(Half, NarrowingRoundsToNearestEven) {
  EXPECT_EQ(FloatToHalfBits(65504.0f), 0x7bffu);
  EXPECT_EQ(FloatToHalfBits(65519.99f), 0x7bffu);
  EXPECT_EQ(FloatToHalfBits(65520.0f), 0x7c00u);  // halfway to the next (2^16) -> even -> inf
  EXPECT_EQ(FloatToHalfBits(1e10f), 0x7c00u);
  EXPECT_EQ(FloatToHalfBits(-INFINITY), 0xfc00u);
  EXPECT_EQ(FloatToHalfBits(1.0f + std::ldexp(1.0f, -11)), 0x3c00u);  // halfway, even stays
  EXPECT_EQ(FloatToHalfBits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02u);  // halfway, odd rounds up
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -25)), 0x0000u);  // halfway to min subnormal -> 0
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.5f, -25)), 0x0001u);
  EXPECT_EQ(FloatToHalfBits(std::ldexp(3.0f, -25)), 0x0002u);  // 1.5 ulp -> even 2
  EXPECT_EQ(FloatToHalfBits(-0.0f), 0x8000u);
  // Against double-precision nearest-even on many random floats.
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()) & 0xc7ffffffu);  // |f| < 2^16-ish
    if (std::isnan(f)) continue;
    const uint16_t h = FloatToHalfBits(f);
    const double v = HalfValue(h), d = f;
    if (std::isinf(v)) continue;
    // No other half is closer; on a tie, h is even.
    for (int delta : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>((h & 0x7fff) + delta) | (h & 0x8000);
      if ((h & 0x7fff) == 0 && delta < 0) continue;
      if ((n & 0x7c00) == 0x7c00) continue;
      const double dv = std::fabs(v - d), dn = std::fabs(HalfValue(n) - d);
      ASSERT_TRUE(dv < dn || (dv == dn && (h & 1) == 0)) << f;
    }
  }
}

TEST(BF16, ConversionsRoundToNearestEven) {
  EXPECT_EQ(FloatToBF16Bits(1.0f), 0x3f80u);
  EXPECT_EQ(FloatToBF16Bits(std::bit_cast<float>(0x3f808000u)), 0x3f80u);  // tie, even
  EXPECT_EQ(FloatToBF16Bits(std::bit_cast<float>(0x3f818000u)), 0x3f82u);  // tie, odd -> up
  EXPECT_EQ(FloatToBF16Bits(std::bit_cast<float>(0x3f808001u)), 0x3f81u);
  EXPECT_EQ(FloatToBF16Bits(std::bit_cast<float>(0x7f7fffffu)), 0x7f80u);  // max float -> inf
  EXPECT_EQ(FloatToBF16Bits(std::bit_cast<float>(0x7f800001u)), 0x7fc0u);  // sNaN -> quiet
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = BF16BitsToFloat(static_cast<uint16_t>(b));
    ASSERT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(FloatToBF16Bits(f), b);
    }
  }
}

}  // namespace
}  // namespace golfpack::gpk
