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
#include "core/rans.h"

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
                         "ans_grid", "codebook", "lowrank", "patch"};
  ASSERT_EQ(AllEncodings().size(), 11u);
  for (uint32_t id = 0; id < 11; ++id) {
    const EncodingTraits* e = FindEncoding(id);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->id, id);
    EXPECT_STREQ(e->name, names[id]);
    EXPECT_EQ(e->fixed_rate, id != kAnsGrid && id != kPatch);  // entropy-coded (variable-rate)
    EXPECT_EQ(&AllEncodings()[id], e);
    EXPECT_EQ(e->refs, id == kCodebook ? 1u : 0u);  // codebook reads its levels from a shared object
  }
  EXPECT_EQ(FindEncoding(11), nullptr);
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

// ---------------------------------------------------------------- 9: lowrank

std::vector<uint8_t> LowRankParamBytes(uint32_t inner, std::vector<uint8_t> inner_params, uint64_t inner_payload,
                                       uint8_t rank, uint8_t bits, uint64_t group) {
  LowRankParams p;
  p.inner = inner;
  p.inner_params = std::move(inner_params);
  p.inner_payload = inner_payload;
  p.rank = rank;
  p.bits = bits;
  p.group = group;
  return p.Serialize();
}

TEST(LowRankParams, SerializeLayoutAndRoundTrip) {
  // inner 5 (uniform), 7 params bytes, inner payload 300 (varint ac 02), rank 3, bits 16, group 0.
  const std::vector<uint8_t> up = UniformParams{4, 1, 0, 0}.Serialize();
  auto bytes = LowRankParamBytes(kUniform, up, 300, 3, 16, 0);
  std::vector<uint8_t> want{5, 7};
  want.insert(want.end(), up.begin(), up.end());
  want.insert(want.end(), {0xac, 0x02, 3, 16, 0});
  EXPECT_EQ(bytes, want);
  auto back = LowRankParams::Parse(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->inner, 5u);
  EXPECT_EQ(back->inner_params, up);
  EXPECT_EQ(back->inner_payload, 300u);
  EXPECT_EQ(back->rank, 3);
  EXPECT_EQ(back->bits, 16);
  EXPECT_EQ(back->group, 0u);
  EXPECT_EQ(LowRankParamBytes(kRawF32, {}, 24, 255, 8, 200), (std::vector<uint8_t>{0, 0, 24, 255, 8, 0xc8, 0x01}));
}

TEST(LowRankParams, RejectsBadFields) {
  auto bad = [](std::vector<uint8_t> b, const std::string& words) {
    auto r = LowRankParams::Parse(b);
    ASSERT_FALSE(r.ok()) << words;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  bad({0, 0, 24, 0, 4, 0}, "lowrank: rank 0");
  bad({0, 0, 24, 1, 9, 0}, "lowrank: bits 9 not 2..8 or 16");
  bad({0, 0, 24, 1, 1, 0}, "lowrank: bits 1");
  bad({0, 0, 24, 1, 15, 0}, "lowrank: bits 15");
  bad({0, 0, 24, 1, 16, 4}, "lowrank: group 4 with bits 16");
  bad({9, 0, 24, 1, 4, 0}, "lowrank: inner_encoding 9");               // nested lowrank
  bad({8, 0, 24, 1, 4, 0}, "lowrank: inner_encoding 8");               // codebook takes a shared object
  bad({0x7f, 0, 24, 1, 4, 0}, "lowrank: inner_encoding 127");          // unknown
  bad({0x80, 0x80, 0x80, 0x80, 0x10, 0, 24, 1, 4, 0}, "inner_encoding 4294967296");  // 2^32 must not wrap to 0
  bad({0, 0, 24, 1, 4, 0, 0}, "lowrank: 1 trailing params bytes");
  bad({0, 0, 24, 1, 4}, "lowrank group");                              // truncated
  bad({0, 3, 1, 2}, "lowrank inner params");                          // inner params run past the end
  bad({0, 0, 0x80, 0x00, 1, 4, 0}, "overlong varint");
  for (uint8_t bits : {2, 3, 4, 5, 6, 7, 8, 16})
    EXPECT_TRUE(LowRankParams::Parse(std::vector<uint8_t>{0, 0, 24, 1, bits, 0}).ok()) << int(bits);
}

// FORMAT.md's worked example: shape [2, 3], inner raw_f32 [1 2 3; 4 5 6],
// rank 1, bits 3 (u = q + 3), group 2.
// A (2 x 1): one scale per row, 0.5 (0x3800) and 0.25 (0x3400); q = [2, -3]
//   -> u = [5, 0] -> bits 101 000 -> byte 0x05.  A = [1.0, -0.75].
// B (1 x 3): two scales, 1.0 (0x3C00) and 2.0 (0x4000); q = [1, -1, 3]
//   -> u = [4, 2, 6] -> bits 001 010 011 (LSB first) -> 0x94 0x01.  B = [1, -1, 6].
// out = inner + A B = [2 1 9; 3.25 5.75 1.5].
struct Golden {
  std::vector<uint8_t> params = {0, 0, 24, 1, 3, 2};
  std::vector<uint8_t> payload;
  Golden() {
    payload = F32Bytes({1, 2, 3, 4, 5, 6});
    payload.insert(payload.end(), {0x00, 0x38, 0x15, 0x00, 0x3c, 0x00, 0x40, 0x94, 0x01});
  }
};

TEST(LowRank, GoldenPayloadDecodesToHandComputedFloats) {
  Golden g;
  EXPECT_EQ(*FindEncoding(kLowRank)->payload_size(std::vector<uint64_t>{2, 3}, 6, g.params), 33u);
  auto out = DecodeBoth(kLowRank, {2, 3}, g.params, g.payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, (std::vector<float>{2.0f, 1.0f, 9.0f, 3.5f, 5.5f, 3.0f}));
}

TEST(LowRank, SumsInDoubleInAscendingK) {
  // Shape [1, 1], inner 2^24, rank 2, bits 16: A = [0.75, 1] (0x3A00, 0x3C00),
  // B = [1; 0.75] (0x3C00, 0x3A00). In f32, 2^24 + 0.75 + 0.75 stays 2^24; in
  // double it is 2^24 + 1.5, which rounds to 2^24 + 2.
  auto payload = F32Bytes({16777216.0f});
  payload.insert(payload.end(), {0x00, 0x3a, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3a});
  auto out = DecodeBoth(kLowRank, {1, 1}, LowRankParamBytes(kRawF32, {}, 4, 2, 16, 0), payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0], 16777218.0f);
}

TEST(LowRank, RejectsCorruptPayloadsAndShapes) {
  auto rejected = [](std::vector<uint64_t> shape, std::vector<uint8_t> params, std::vector<uint8_t> payload,
                     const std::string& words) {
    auto out = DecodeBoth(kLowRank, shape, params, payload);
    ASSERT_FALSE(out.ok()) << words;
    EXPECT_EQ(out.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(out.status().message().find(words), std::string::npos) << out.status().message();
  };
  Golden g;
  auto longer = g.payload, shorter = g.payload;
  longer.push_back(0);
  shorter.pop_back();
  rejected({2, 3}, g.params, longer, "lowrank: payload is 34 bytes, encoding requires 33");
  rejected({2, 3}, g.params, shorter, "lowrank: payload is 32 bytes, encoding requires 33");
  auto p = g.payload;
  p[26] = 0x17;  // A element 0 stored as 7 = 2^3 - 1
  rejected({2, 3}, g.params, p, "lowrank: A: packed value 7 of element 0 is the reserved value 2^bits - 1");
  p = g.payload;
  p[31] = 0x94 | 0x40;  // B element 2 (bits 6..8) stored as 7
  rejected({2, 3}, g.params, p, "lowrank: B: packed value 7 of element 2 is the reserved value 2^bits - 1");
  p = g.payload;
  p[26] = 0x55;  // bit 6: padding after A's 6 code bits
  rejected({2, 3}, g.params, p, "lowrank: A: nonzero padding bits after the last packed code");
  p = g.payload;
  p[32] = 0x03;  // bit 9: padding after B's 9 code bits
  rejected({2, 3}, g.params, p, "lowrank: B: nonzero padding bits after the last packed code");
  // Params.
  rejected({2, 3}, {0, 0, 24, 0, 3, 2}, g.payload, "lowrank: rank 0");
  rejected({2, 3}, {0, 0, 24, 1, 9, 2}, g.payload, "lowrank: bits 9");
  rejected({2, 3}, {0, 0, 24, 1, 16, 2}, g.payload, "lowrank: group 2 with bits 16");
  rejected({2, 3}, {9, 0, 24, 1, 3, 2}, g.payload, "lowrank: inner_encoding 9");
  rejected({2, 3}, {8, 6, 2, 0, 0, 0, 0, 0, 24, 1, 3, 2}, g.payload, "lowrank: inner_encoding 8");
  rejected({2, 3}, {0, 0, 24, 1, 3, 2, 0}, g.payload, "trailing params bytes");
  rejected({2, 3}, {0, 0, 23, 1, 3, 2}, g.payload, "lowrank: inner_payload_size 23, raw_f32 needs 24");
  rejected({2, 3}, {0, 1, 0, 24, 1, 3, 2}, g.payload, "lowrank: inner raw_f32: params_size 1, expected 0");
  // Shapes: ndim must be 2.
  rejected({6}, g.params, g.payload, "lowrank: needs ndim 2, got 1");
  rejected({1, 2, 3}, g.params, g.payload, "lowrank: needs ndim 2, got 3");
  rejected({}, g.params, g.payload, "lowrank: needs ndim 2, got 0");
  // Errors of the inner decoder come through, prefixed.
  UniformParams up{3, 1, 1, 0};
  auto upayload = F32Bytes({1.0f, 1.0f});
  upayload.insert(upayload.end(), {0x07, 0x00, 0x00});  // element 0 stored as 7: reserved
  upayload.insert(upayload.end(), {0x00, 0x38, 0x15, 0x00, 0x3c, 0x00, 0x40, 0x94, 0x01});
  rejected({2, 3}, LowRankParamBytes(kUniform, up.Serialize(), 11, 1, 3, 2), upayload,
           "lowrank: inner uniform: packed value 7 of element 0");
}

TEST(LowRank, VariableRateInnerIsAMinimumAndZeroSizedShapesDecode) {
  // ans_grid inner: inner_payload_size below its minimum is rejected, at or above it parses.
  const std::vector<uint8_t> ap = AnsGridParams{0, 0, 0}.Serialize();
  std::vector<uint64_t> shape{2, 3};
  const uint64_t min = *FindEncoding(kAnsGrid)->payload_size(shape, 6, ap);
  auto sized = [&](uint64_t inner) {
    return FindEncoding(kLowRank)->payload_size(shape, 6, LowRankParamBytes(kAnsGrid, ap, inner, 1, 4, 0));
  };
  ASSERT_FALSE(sized(min - 1).ok());
  EXPECT_NE(sized(min - 1).status().message().find("ans_grid needs " + std::to_string(min)), std::string::npos);
  // A (stored 1 x 2): 1 scale + 1 byte of codes; B (1 x 3): 1 scale + 2 bytes.
  EXPECT_EQ(*sized(min), min + 3 + 4);
  EXPECT_EQ(*sized(min + 100), min + 100 + 7);
  // Zero rows / zero cols: empty blocks on that side.
  auto zero_rows = DecodeBoth(kLowRank, {0, 3}, LowRankParamBytes(kRawF32, {}, 0, 2, 4, 0),
                              std::vector<uint8_t>{0x00, 0x3c, 0x00, 0x3c, 0x77, 0x77, 0x07});
  ASSERT_TRUE(zero_rows.ok()) << zero_rows.status().ToString();
  EXPECT_TRUE(zero_rows->empty());
  auto zero_cols = DecodeBoth(kLowRank, {2, 0}, LowRankParamBytes(kRawF32, {}, 0, 1, 16, 0),
                              std::vector<uint8_t>{0x00, 0x3c, 0x00, 0x3c});
  ASSERT_TRUE(zero_cols.ok()) << zero_cols.status().ToString();
}

// A random lowrank tensor over a random inner encoding (raw f32, uniform or
// ans_grid), factor codes mostly valid, with occasional reserved codes and
// padding bits.
struct LowRankCase {
  std::vector<uint64_t> shape;
  std::vector<uint8_t> params, payload;
};

LowRankCase RandomLowRank(std::mt19937_64& rng, uint8_t bits, int inner_kind) {
  LowRankCase c;
  const uint64_t rows = rng() % 6, cols = rng() % 10;
  c.shape = {rows, cols};
  const uint64_t numel = rows * cols;
  uint32_t inner = kRawF32;
  std::vector<uint8_t> iparams, ipayload;
  auto finite_half = [&] {  // any finite f16 (no inf / NaN: their payload bits are not compared here)
    uint16_t h = static_cast<uint16_t>(rng());
    if ((h & 0x7c00) == 0x7c00) h &= 0xbfff;
    return h;
  };
  ByteWriter w;
  if (inner_kind == 0) {
    for (uint64_t i = 0; i < numel; ++i) w.F32(static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 64.0f);
  } else if (inner_kind == 1) {
    inner = kUniform;
    UniformParams up{static_cast<uint8_t>(2 + rng() % 7), static_cast<uint8_t>(rng() % 2), 0, 0};
    iparams = up.Serialize();
    const uint64_t size = *FindEncoding(kUniform)->payload_size(c.shape, numel, iparams);
    for (uint64_t i = 0; i < rows; ++i) w.U16(finite_half());
    while (w.size() < size) w.U8(static_cast<uint8_t>(rng() % 16 == 0 ? rng() : rng() % 3));  // mostly valid codes
  } else {
    inner = kAnsGrid;
    iparams = AnsGridParams{0, 0, 0}.Serialize();
    for (uint64_t i = 0; i < rows; ++i) w.U16(finite_half());
    std::vector<uint16_t> sym(numel);
    for (auto& s : sym) s = static_cast<uint16_t>(rng() % 9);
    auto stream = RansCompress(sym, 9);
    EXPECT_TRUE(stream.ok());
    w.Bytes(*stream);
  }
  ipayload = std::move(w).Take();
  const uint8_t rank = static_cast<uint8_t>(1 + rng() % 4);
  const uint64_t groups[] = {0, 1, 2, 3, 5, 1000};
  const uint64_t group = bits == 16 ? 0 : groups[rng() % 6];
  c.params = LowRankParamBytes(inner, iparams, ipayload.size(), rank, bits, group);
  c.payload = ipayload;
  for (int block = 0; block < 2; ++block) {
    const uint64_t n = rank, m = block == 0 ? rows : cols;  // A is stored transposed
    ByteWriter f;
    if (bits == 16) {
      for (uint64_t i = 0; i < n * m; ++i) f.U16(finite_half());
    } else {
      const uint64_t g = group ? group : m, spr = g ? (m + g - 1) / g : 0;
      for (uint64_t i = 0; i < n * spr; ++i) f.U16(finite_half());
      std::vector<uint8_t> packed((n * m * bits + 7) / 8);
      for (uint64_t e = 0; e < n * m; ++e) {
        uint32_t u = static_cast<uint32_t>(rng() % ((1u << bits) - 1));
        if (rng() % 400 == 0) u = (1u << bits) - 1;  // reserved
        for (unsigned b = 0; b < bits; ++b)
          if ((u >> b) & 1) packed[(e * bits + b) / 8] |= static_cast<uint8_t>(1u << ((e * bits + b) % 8));
      }
      if (!packed.empty() && (n * m * bits) % 8 != 0 && rng() % 50 == 0) packed.back() |= 0x80;  // padding bit
      f.Bytes(packed);
    }
    c.payload.insert(c.payload.end(), f.bytes().begin(), f.bytes().end());
  }
  return c;
}

TEST(LowRank, FastEqualsReferenceForEveryBitsAndInner) {
  std::mt19937_64 rng(909);
  int ok = 0, rejected = 0;
  for (uint8_t bits : {2, 3, 4, 5, 6, 7, 8, 16})
    for (int inner = 0; inner < 3; ++inner)
      for (int iter = 0; iter < 120; ++iter) {
        LowRankCase c = RandomLowRank(rng, bits, inner);
        auto r = DecodeBoth(kLowRank, c.shape, c.params, c.payload);
        if (r.ok()) {
          ++ok;
        } else {
          ++rejected;
          EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
        }
        if (HasFailure()) return;
      }
  EXPECT_GT(ok, 2000);
  EXPECT_GT(rejected, 20);
}

TEST(LowRank, FastEqualsReferenceOnLargerTensors) {
  // Wider factors (several scales per row, long bit streams) than the random cases.
  std::mt19937_64 rng(31);
  for (uint8_t bits : {2, 5, 8, 16}) {
    const uint64_t rows = 37, cols = 130, rank = 7, group = bits == 16 ? 0 : 16;
    ByteWriter w;
    for (uint64_t i = 0; i < rows * cols; ++i) w.F32(static_cast<float>(static_cast<int>(rng() % 1000)) / 100.0f);
    auto params = LowRankParamBytes(kRawF32, {}, rows * cols * 4, rank, bits, group);
    for (int block = 0; block < 2; ++block) {
      const uint64_t n = rank, m = block == 0 ? rows : cols;  // A is stored transposed
      if (bits == 16) {
        for (uint64_t i = 0; i < n * m; ++i) w.U16(FloatToHalfBits(static_cast<float>(static_cast<int>(rng() % 200) - 100) / 64.0f));
        continue;
      }
      const uint64_t spr = (m + group - 1) / group;
      for (uint64_t i = 0; i < n * spr; ++i) w.U16(FloatToHalfBits(static_cast<float>(rng() % 100) / 128.0f));
      std::vector<uint8_t> packed((n * m * bits + 7) / 8);
      for (uint64_t e = 0; e < n * m; ++e) {
        const uint32_t u = static_cast<uint32_t>(rng() % ((1u << bits) - 1));
        for (unsigned b = 0; b < bits; ++b)
          if ((u >> b) & 1) packed[(e * bits + b) / 8] |= static_cast<uint8_t>(1u << ((e * bits + b) % 8));
      }
      w.Bytes(packed);
    }
    auto out = DecodeBoth(kLowRank, {rows, cols}, params, w.bytes());
    ASSERT_TRUE(out.ok()) << out.status().ToString();
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

// ---------------------------------------------------------------- 10: patch

std::vector<uint8_t> PatchParamBytes(uint32_t inner, std::vector<uint8_t> inner_params, uint64_t inner_payload,
                                     uint8_t unit, uint64_t block, uint8_t bits, uint8_t rice_k, uint64_t count) {
  PatchParams p;
  p.inner = inner;
  p.inner_params = std::move(inner_params);
  p.inner_payload = inner_payload;
  p.unit = unit;
  p.block = block;
  p.bits = bits;
  p.rice_k = rice_k;
  p.count = count;
  return p.Serialize();
}

// FORMAT.md's worked example: shape [2, 3], inner raw_f32 [1 2 3; 4 5 6],
// unit column, bits 4, rice_k 1, count 2. Values: scales 0.5 and 1.0, codes
// u = 9, 5 | 7, 8 (q = 2, -2 | 0, 1) -> 0x59 0x87. Positions: columns 0 and 2,
// gaps 0 and 1 -> bits 0 0 | 0 1 -> 0x08. out = [2 2 3; 3 5 7].
struct PatchGolden {
  std::vector<uint8_t> params = {0, 0, 24, 2, 0, 4, 1, 2};
  std::vector<uint8_t> payload;
  PatchGolden() {
    payload = F32Bytes({1, 2, 3, 4, 5, 6});
    payload.insert(payload.end(), {0x00, 0x38, 0x00, 0x3c, 0x59, 0x87, 0x08});
  }
};

TEST(PatchParams, SerializeLayoutAndRejectsBadFields) {
  EXPECT_EQ(PatchParamBytes(kRawF32, {}, 24, 2, 0, 4, 1, 2), PatchGolden().params);
  EXPECT_EQ(PatchParamBytes(kRawF32, {}, 24, 1, 300, 16, 40, 1), (std::vector<uint8_t>{0, 0, 24, 1, 0xac, 0x02, 16, 40, 1}));
  auto back = PatchParams::Parse(PatchParamBytes(kLowRank, {0, 0, 24, 1, 4, 0}, 33, 3, 0, 8, 5, 7));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->inner, kLowRank);  // lowrank may be patched
  EXPECT_EQ(back->inner_params, (std::vector<uint8_t>{0, 0, 24, 1, 4, 0}));
  EXPECT_EQ(back->inner_payload, 33u);
  EXPECT_EQ(back->unit, 3);
  EXPECT_EQ(back->bits, 8);
  EXPECT_EQ(back->rice_k, 5);
  EXPECT_EQ(back->count, 7u);
  auto bad = [](std::vector<uint8_t> b, const std::string& words) {
    auto r = PatchParams::Parse(b);
    ASSERT_FALSE(r.ok()) << words;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  bad({0, 0, 24, 4, 0, 4, 1, 2}, "patch: unknown unit 4");
  bad({0, 0, 24, 1, 0, 4, 1, 2}, "patch: block 0 with unit 1");
  bad({0, 0, 24, 2, 3, 4, 1, 2}, "patch: block 3 with unit 2");
  bad({0, 0, 24, 2, 0, 9, 1, 2}, "patch: bits 9 not 2..8 or 16");
  bad({0, 0, 24, 2, 0, 1, 1, 2}, "patch: bits 1");
  bad({0, 0, 24, 2, 0, 4, 41, 2}, "patch: rice_k 41 > 40");
  bad({0, 0, 24, 2, 0, 4, 1, 0}, "patch: count 0");
  bad({0, 0, 24, 2, 0, 4, 1, 2, 0}, "patch: 1 trailing params bytes");
  bad({0, 0, 24, 2, 0, 4, 1}, "patch count");
  bad({10, 0, 24, 2, 0, 4, 1, 2}, "patch: inner_encoding 10");  // nested patch
  bad({8, 0, 24, 2, 0, 4, 1, 2}, "patch: inner_encoding 8");    // codebook takes a shared object
  bad({0x7f, 0, 24, 2, 0, 4, 1, 2}, "patch: inner_encoding 127");
  // And lowrank now rejects a patch inside it.
  auto lr = LowRankParams::Parse(std::vector<uint8_t>{10, 0, 24, 1, 4, 0});
  ASSERT_FALSE(lr.ok());
  EXPECT_NE(lr.status().message().find("lowrank: inner_encoding 10"), std::string::npos);
}

TEST(Patch, GoldenPayloadDecodesToHandComputedFloats) {
  PatchGolden g;
  EXPECT_EQ(*FindEncoding(kPatch)->payload_size(std::vector<uint64_t>{2, 3}, 6, g.params), 31u);  // 24 + 6 + 1
  auto out = DecodeBoth(kPatch, {2, 3}, g.params, g.payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, (std::vector<float>{2.0f, 2.0f, 3.0f, 3.0f, 5.0f, 7.0f}));
}

TEST(Patch, EveryUnitKindAddsAtItsPositions) {
  // Shape [2, 4], inner raw_f32 zeros; f16 values (bits 16) so every value is exact.
  const std::vector<uint8_t> zeros = F32Bytes({0, 0, 0, 0, 0, 0, 0, 0});
  auto run = [&](uint8_t unit, uint64_t block, uint64_t count, std::vector<uint16_t> halfs, uint8_t positions) {
    std::vector<uint8_t> payload = zeros;
    for (uint16_t h : halfs) payload.insert(payload.end(), {uint8_t(h & 0xff), uint8_t(h >> 8)});
    payload.push_back(positions);
    return DecodeBoth(kPatch, {2, 4}, PatchParamBytes(kRawF32, {}, 32, unit, block, 16, 0, count), payload);
  };
  // rice_k 0: gap g is g one-bits then a zero.
  // Elements 1 and 6: gaps 1, 4 -> bits 10 11110 -> 0b0011110 1 -> LSB-first byte 0x3d.
  auto e = run(0, 0, 2, {0x3c00, 0x4000}, 0x3d);  // +1 at 1, +2 at 6
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(*e, (std::vector<float>{0, 1, 0, 0, 0, 0, 2, 0}));
  // Blocks of 2: block 3 (= row 1, columns 2..3): gap 3 -> bits 1110 -> 0x07.
  auto b = run(1, 2, 1, {0x3c00, 0x4000}, 0x07);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 2}));
  // Column 3: gap 3 -> 0x07; values go down the column.
  auto c = run(2, 0, 1, {0x3c00, 0x4000}, 0x07);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, (std::vector<float>{0, 0, 0, 1, 0, 0, 0, 2}));
  // Row 1: gap 1 -> bits 10 -> 0x01.
  auto r = run(3, 0, 1, {0x3c00, 0x4000, 0x4200, 0x4400}, 0x01);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<float>{0, 0, 0, 0, 1, 2, 3, 4}));
}

TEST(Patch, RejectsCorruptPayloadsAndShapes) {
  auto rejected = [](std::vector<uint64_t> shape, std::vector<uint8_t> params, std::vector<uint8_t> payload,
                     const std::string& words) {
    auto out = DecodeBoth(kPatch, shape, params, payload);
    ASSERT_FALSE(out.ok()) << words;
    EXPECT_EQ(out.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(out.status().message().find(words), std::string::npos) << out.status().message();
  };
  PatchGolden g;
  auto p = g.payload;
  p.pop_back();
  rejected({2, 3}, g.params, p, "patch: payload is 30 bytes, encoding requires at least 31");
  p = g.payload;
  p.push_back(0);
  rejected({2, 3}, g.params, p, "patch: 1 bytes after the positions");
  p = g.payload;
  p.back() = 0x18;  // bit 4 set: padding after the 4 position bits
  rejected({2, 3}, g.params, p, "patch: nonzero padding bits after the positions");
  p = g.payload;
  p.back() = 0xfc;  // gap 0 = 0 0, then six one-bits: the stream ends inside gap 1's unary part
  rejected({2, 3}, g.params, p, "patch: positions end inside gap 1");
  p = g.payload;
  p.back() = 0x0c;  // gap 0 = 0 0, gap 1 = 1 1 0 0: quotient 2 > 3 >> 1, past the units before any sum
  rejected({2, 3}, g.params, p, "patch: unit of gap 1 is past the 3 units");
  p = g.payload;
  p.back() = 0x04;  // gap 0 = 0 0, gap 1 = 1 0 0 -> (1 << 1) | 0 = 2 -> unit 3: past the end
  rejected({2, 3}, g.params, p, "patch: unit of gap 1 is past the 3 units");
  p = g.payload;
  p[28] = 0xf9;  // a value code 15 = 2^4 - 1
  rejected({2, 3}, g.params, p, "patch: values: packed value 15 of element 1 is the reserved value 2^bits - 1");
  // Params against the shape.
  rejected({2, 3}, {0, 0, 24, 2, 0, 4, 1, 4}, g.payload, "patch: count 4 exceeds the 3 units");
  rejected({2, 3}, {0, 0, 24, 1, 2, 4, 1, 2}, g.payload, "patch: block 2 does not divide cols 3");
  rejected({2, 3}, {0, 0, 23, 2, 0, 4, 1, 2}, g.payload, "patch: inner_payload_size 23, raw_f32 needs 24");
  rejected({6}, g.params, g.payload, "patch: needs ndim 2, got 1");
  // Errors of the inner decoder come through, prefixed.
  UniformParams up{3, 1, 1, 0};
  auto upayload = F32Bytes({1.0f, 1.0f});
  upayload.insert(upayload.end(), {0x07, 0x00, 0x00});
  upayload.insert(upayload.end(), {0x00, 0x38, 0x00, 0x3c, 0x59, 0x87, 0x08});
  rejected({2, 3}, PatchParamBytes(kUniform, up.Serialize(), 11, 2, 0, 4, 1, 2), upayload,
           "patch: inner uniform: packed value 7 of element 0");
}

TEST(Patch, LargeRiceGapsDoNotOverflow) {
  // rice_k 40 with a long unary prefix: the gap would pass 2^64; it must be
  // rejected as past the units, not wrap.
  std::vector<uint8_t> payload = F32Bytes({0.0f});
  payload.insert(payload.end(), {0x00, 0x3c});  // one f16 value
  std::vector<uint8_t> pos(8, 0xff);
  pos.push_back(0x00);
  pos.insert(pos.end(), 5, 0x00);
  payload.insert(payload.end(), pos.begin(), pos.end());
  auto out = DecodeBoth(kPatch, {1, 1}, PatchParamBytes(kRawF32, {}, 4, 0, 0, 16, 40, 1), payload);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("past the 1 units"), std::string::npos) << out.status().message();
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
