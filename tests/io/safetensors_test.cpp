#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "common/scratch.h"

namespace golfpack::io {
namespace {

namespace fs = std::filesystem;

fs::path TempDir() {
  fs::path d = golfpack::testing::ScratchDir("gp_io_st_");
  fs::create_directories(d);
  return d;
}

// A safetensors file from a raw header text and data buffer (no padding added).
std::vector<uint8_t> Build(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Expects kCorrupt whose message contains every needle.
void ExpectCorrupt(const std::vector<uint8_t>& bytes, std::vector<std::string> needles) {
  auto r = ParseSafetensors(bytes, "model.safetensors");
  ASSERT_FALSE(r.ok()) << "expected rejection";
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
  const std::string& m = r.status().message();
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_NE(m.find("model.safetensors"), std::string::npos) << m;
  for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "missing '" << n << "' in: " << m;
}

std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b,
                  uint64_t e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

// ------------------------------------------------------------------ dtypes

TEST(DType, NamesSizesAndParse) {
  struct Case {
    DType d;
    const char* name;
    size_t size;
  } cases[] = {{DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
               {DType::kF64, "F64", 8}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
               {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
               {DType::kBool, "BOOL", 1}};
  for (const auto& c : cases) {
    EXPECT_STREQ(DTypeName(c.d), c.name);
    EXPECT_EQ(DTypeSize(c.d), c.size) << c.name;
    auto p = ParseDType(c.name);
    ASSERT_TRUE(p.ok()) << c.name;
    EXPECT_EQ(*p, c.d);
  }
  auto bad = ParseDType("F8_E4M3");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(bad.status().message().find("F8_E4M3"), std::string::npos);
  EXPECT_FALSE(ParseDType("f32").ok());
}

// ------------------------------------------------------------------ half / bf16

TEST(Half, KnownValues) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.5f), 0xc100);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(6e-8f), 0x0001);           // nearest subnormal is 2^-24
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // min normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.0f, -24)), 0x03ff);  // max subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie to even -> 0
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -26)), 0x0001);  // 1.5 * 2^-25 rounds up
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp tie -> even (2)
  EXPECT_EQ(FloatToHalf(1e-10f), 0x0000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // halfway, ties to even = inf
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);
  EXPECT_EQ(FloatToHalf(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  const uint16_t qnan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(qnan & 0x7c00, 0x7c00);
  EXPECT_NE(qnan & 0x03ff, 0);
  // A signalling NaN whose payload lives only in the low bits must stay NaN.
  const uint16_t snan = FloatToHalf(std::bit_cast<float>(0x7f800001u));
  EXPECT_EQ(snan & 0x7c00, 0x7c00);
  EXPECT_NE(snan & 0x03ff, 0);

  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc100), -2.5f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x83ff), -std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x8000), 0.0f);
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));
}

TEST(Half, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f)))) << std::hex << h;
      continue;
    }
    ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
  }
}

TEST(BF16, KnownValues) {
  EXPECT_EQ(FloatToBF16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBF16(-2.5f), 0xc020);
  EXPECT_EQ(FloatToBF16(65504.0f), 0x4780);  // rounds up to 65536
  EXPECT_EQ(FloatToBF16(1.0f / 3.0f), 0x3eab);  // 0x3eaaaaab: low half 0xaaab > 0x8000 rounds up
  EXPECT_EQ(FloatToBF16(2.0f / 3.0f), 0x3f2b);  // 0x3f2aaaab rounds up
  EXPECT_EQ(FloatToBF16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie -> even (down)
  EXPECT_EQ(FloatToBF16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(FloatToBF16(6e-8f), 0x3381);  // 6e-8 = 0x3380d959 -> 0x3381
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(FloatToBF16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::max()), 0x7f80);  // overflows to inf
  EXPECT_EQ(FloatToBF16(std::bit_cast<float>(0x00010000u)), 0x0001);  // subnormal kept
  const uint16_t nan = FloatToBF16(std::bit_cast<float>(0x7f800001u));  // payload only in low bits
  EXPECT_TRUE(std::isnan(BF16ToFloat(nan)));
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(std::numeric_limits<float>::quiet_NaN()))));

  EXPECT_EQ(BF16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BF16ToFloat(0xc020), -2.5f);
  EXPECT_EQ(BF16ToFloat(0x4780), 65536.0f);
  EXPECT_EQ(BF16ToFloat(0x3eaa), 0.33203125f);
  EXPECT_EQ(BF16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
}

// ------------------------------------------------------------------ Tensor

TEST(Tensor, NumelAndConversions) {
  std::vector<float> v = {1.0f, -2.5f, 65504.0f, 6e-8f, 1.0f / 3.0f, 0.0f};
  Tensor f32 = Tensor::FromFloat32("x", {2, 3}, v);
  EXPECT_EQ(f32.dtype, DType::kF32);
  EXPECT_EQ(f32.numel(), 6);
  ASSERT_EQ(f32.data.size(), 24u);
  EXPECT_EQ(f32.data[0], 0x00);  // 1.0f little-endian 00 00 80 3f
  EXPECT_EQ(f32.data[2], 0x80);
  EXPECT_EQ(f32.data[3], 0x3f);
  EXPECT_EQ(*f32.ToFloat32(), v);

  Tensor f16 = Tensor::FromFloat32("x", {6}, v, DType::kF16);
  ASSERT_EQ(f16.data.size(), 12u);
  EXPECT_EQ(f16.data[2], 0x00);  // -2.5 = 0xc100 little-endian
  EXPECT_EQ(f16.data[3], 0xc1);
  auto back16 = f16.ToFloat32();
  ASSERT_TRUE(back16.ok());
  EXPECT_EQ((*back16)[1], -2.5f);
  EXPECT_EQ((*back16)[2], 65504.0f);
  EXPECT_EQ((*back16)[3], std::ldexp(1.0f, -24));
  EXPECT_EQ((*back16)[4], 0.333251953125f);

  Tensor bf = Tensor::FromFloat32("x", {6}, v, DType::kBF16);
  auto backbf = bf.ToFloat32();
  ASSERT_TRUE(backbf.ok());
  EXPECT_EQ((*backbf)[2], 65536.0f);
  EXPECT_EQ((*backbf)[4], 0.333984375f);

  Tensor f64 = Tensor::FromFloat32("x", {6}, v, DType::kF64);
  ASSERT_EQ(f64.data.size(), 48u);
  EXPECT_EQ(*f64.ToFloat32(), v);

  // F64 values beyond float range become +-inf / FLT_MAX without UB.
  Tensor big;
  big.name = "big";
  big.dtype = DType::kF64;
  big.shape = {3};
  for (double d : {1e300, -1e300, 3.4028235e38}) {
    uint64_t b = std::bit_cast<uint64_t>(d);
    for (int i = 0; i < 8; ++i) big.data.push_back(static_cast<uint8_t>(b >> (8 * i)));
  }
  auto bigf = big.ToFloat32();
  ASSERT_TRUE(bigf.ok());
  EXPECT_EQ((*bigf)[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ((*bigf)[1], -std::numeric_limits<float>::infinity());
  EXPECT_EQ((*bigf)[2], std::numeric_limits<float>::max());

  Tensor scalar = Tensor::FromFloat32("s", {}, std::vector<float>{4.0f});
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(*scalar.ToFloat32(), std::vector<float>{4.0f});
  Tensor empty = Tensor::FromFloat32("e", {0, 5}, std::vector<float>{});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_TRUE(empty.ToFloat32()->empty());
}

TEST(Tensor, ToFloat32RejectsNonFloatAndBadSize) {
  Tensor t;
  t.name = "ids";
  t.dtype = DType::kI32;
  t.shape = {1};
  t.data = {1, 0, 0, 0};
  auto r = t.ToFloat32();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'ids'"), std::string::npos);

  Tensor bad = Tensor::FromFloat32("w", {2, 2}, std::vector<float>{1, 2, 3});
  auto rb = bad.ToFloat32();
  ASSERT_FALSE(rb.ok());
  EXPECT_EQ(rb.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rb.status().message().find("'w'"), std::string::npos);
}

// ------------------------------------------------------------------ round trip + golden

Tensor RawTensor(std::string name, DType d, std::vector<int64_t> shape, uint8_t seed) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = d;
  t.shape = std::move(shape);
  t.data.resize(static_cast<size_t>(t.numel()) * DTypeSize(d));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(seed + 37 * i);
  if (d == DType::kBool)
    for (auto& b : t.data) b &= 1;
  return t;
}

TEST(Safetensors, RoundTripEveryDTypeWithMetadata) {
  TensorFile f;
  f.metadata = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n unicode \xc3\xa9"}};
  const DType all[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64,
                       DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};
  uint8_t seed = 1;
  for (DType d : all) f.tensors.push_back(RawTensor(std::string("t_") + DTypeName(d), d, {3, 5}, seed++));
  // Given order is kept (not alphabetical), and odd shapes survive.
  f.tensors.push_back(RawTensor("a.scalar", DType::kF32, {}, 9));
  f.tensors.push_back(RawTensor("a.empty", DType::kF16, {0, 4}, 9));
  f.tensors.push_back(RawTensor("blocks.0.attn.c_q.weight", DType::kBF16, {2, 3, 4}, 11));

  const fs::path p = TempDir() / "rt.safetensors";
  ASSERT_TRUE(WriteSafetensors(p.string(), f).ok());
  auto bytes = ReadFileBytes(p.string());
  ASSERT_TRUE(bytes.ok());
  auto ser = SerializeSafetensors(f);
  ASSERT_TRUE(ser.ok());
  EXPECT_EQ(*bytes, *ser) << "WriteSafetensors and SerializeSafetensors disagree";
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>((*bytes)[i]) << (8 * i);
  EXPECT_EQ(hlen % 8, 0u);

  auto back = ReadSafetensors(p.string());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->metadata, f.metadata);
  ASSERT_EQ(back->tensors.size(), f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const Tensor& a = f.tensors[i];
    const Tensor& b = back->tensors[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.dtype, a.dtype) << a.name;
    EXPECT_EQ(b.shape, a.shape) << a.name;
    EXPECT_EQ(b.data, a.data) << a.name;
  }
  ASSERT_NE(back->Find("t_BF16"), nullptr);
  EXPECT_EQ(back->Find("t_BF16")->dtype, DType::kBF16);
  EXPECT_EQ(back->Find("missing"), nullptr);
}

TEST(Safetensors, GoldenBytes) {
  TensorFile f;
  f.metadata = {{"format", "pt"}};
  f.tensors.push_back(Tensor::FromFloat32("w", {2}, std::vector<float>{1.0f, -2.0f}));
  Tensor b;
  b.name = "b";
  b.dtype = DType::kU8;
  b.shape = {3};
  b.data = {7, 8, 9};
  f.tensors.push_back(b);
  auto ser = SerializeSafetensors(f);
  ASSERT_TRUE(ser.ok());

  // 138 bytes of JSON + 6 spaces = 144 = 0x90; tensors in the given order.
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}"
      "      ";
  ASSERT_EQ(header.size(), 144u);
  std::vector<uint8_t> golden = {0x90, 0, 0, 0, 0, 0, 0, 0};
  golden.insert(golden.end(), header.begin(), header.end());
  const uint8_t data[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 7, 8, 9};
  golden.insert(golden.end(), std::begin(data), std::end(data));
  ASSERT_EQ(golden.size(), 163u);
  EXPECT_EQ(*ser, golden) << std::string(ser->begin() + 8, ser->end());

  // And the golden bytes parse back into the same file; file order = offset order.
  auto parsed = ParseSafetensors(golden, "golden");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].name, "w");
  EXPECT_EQ(parsed->tensors[1].name, "b");
  EXPECT_EQ(*parsed->tensors[0].ToFloat32(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(parsed->metadata.at("format"), "pt");
}

TEST(Safetensors, EmptyFileHasNoMetadataKey) {
  auto ser = SerializeSafetensors(TensorFile{});
  ASSERT_TRUE(ser.ok());
  const std::string expect = "{}      ";
  std::vector<uint8_t> golden = {8, 0, 0, 0, 0, 0, 0, 0};
  golden.insert(golden.end(), expect.begin(), expect.end());
  EXPECT_EQ(*ser, golden);
  auto back = ParseSafetensors(golden, "empty");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->tensors.empty());
  EXPECT_TRUE(back->metadata.empty());
}

TEST(Safetensors, ReaderSortsByOffsetAndAcceptsForeignLayout) {
  // Header lists tensors out of offset order, with whitespace and null metadata.
  const std::string h = "{ \"second\": {\"dtype\": \"I8\", \"shape\": [2], \"data_offsets\": [2, 4]},\n"
                        "  \"first\": {\"dtype\": \"I16\", \"shape\": [], \"data_offsets\": [0, 2]},"
                        "  \"__metadata__\": null }";
  auto r = ParseSafetensors(Build(h, {1, 2, 3, 4}), "foreign");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "first");
  EXPECT_EQ(r->tensors[0].data, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(r->tensors[1].name, "second");
  EXPECT_EQ(r->tensors[1].data, (std::vector<uint8_t>{3, 4}));
}

TEST(Safetensors, WriterRejectsInvalidInput) {
  TensorFile f;
  f.tensors.push_back(Tensor::FromFloat32("w", {2, 2}, std::vector<float>{1, 2, 3}));
  auto r = SerializeSafetensors(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'w'"), std::string::npos);

  TensorFile dup;
  dup.tensors.push_back(Tensor::FromFloat32("x", {1}, std::vector<float>{1}));
  dup.tensors.push_back(Tensor::FromFloat32("x", {1}, std::vector<float>{2}));
  auto rd = SerializeSafetensors(dup);
  ASSERT_FALSE(rd.ok());
  EXPECT_NE(rd.status().message().find("duplicate"), std::string::npos);

  TensorFile reserved;
  reserved.tensors.push_back(Tensor::FromFloat32("__metadata__", {1}, std::vector<float>{1}));
  EXPECT_FALSE(SerializeSafetensors(reserved).ok());

  const fs::path p = TempDir() / "never_written.safetensors";
  Status s = WriteSafetensors(p.string(), f);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("never_written.safetensors"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(p));
}

// ------------------------------------------------------------------ rejections

TEST(SafetensorsReject, OffsetsBeyondBuffer) {
  ExpectCorrupt(Build("{" + Entry("tok_emb.weight", "F32", "[2]", 0, 8) + "}", {1, 2, 3, 4}),
                {"'tok_emb.weight'", "data_offsets [0, 8]", "4-byte data buffer"});
}

TEST(SafetensorsReject, BeginAfterEnd) {
  ExpectCorrupt(Build("{" + Entry("w", "U8", "[0]", 4, 2) + "}", {1, 2, 3, 4}), {"'w'", "data_offsets [4, 2]"});
}

TEST(SafetensorsReject, OverlappingRanges) {
  ExpectCorrupt(
      Build("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[1]", 4, 8) + "}", std::vector<uint8_t>(8)),
      {"'a'", "'b'", "overlap"});
  // Same range twice.
  ExpectCorrupt(
      Build("{" + Entry("a", "U8", "[4]", 0, 4) + "," + Entry("b", "U8", "[4]", 0, 4) + "}", std::vector<uint8_t>(4)),
      {"overlap"});
}

TEST(SafetensorsReject, UnknownDType) {
  ExpectCorrupt(Build("{" + Entry("w", "F8_E5M2", "[4]", 0, 4) + "}", std::vector<uint8_t>(4)),
                {"'w'", "dtype", "F8_E5M2"});
  ExpectCorrupt(Build("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", {0}), {"'w'", "dtype"});
}

TEST(SafetensorsReject, ShapeSizeMismatch) {
  ExpectCorrupt(Build("{" + Entry("tok_emb.weight", "F32", "[4,8]", 0, 100) + "}", std::vector<uint8_t>(128)),
                {"'tok_emb.weight'", "data_offsets [0, 100]", "[4, 8] x F32 = 128 bytes"});
}

TEST(SafetensorsReject, BadShapeValues) {
  ExpectCorrupt(Build("{" + Entry("w", "F32", "[-1,4]", 0, 0) + "}", {}), {"'w'", "shape"});
  ExpectCorrupt(Build("{" + Entry("w", "F32", "[1.5]", 0, 0) + "}", {}), {"'w'", "shape"});
  ExpectCorrupt(Build("{" + Entry("w", "F32", "\"[4]\"", 0, 16) + "}", std::vector<uint8_t>(16)), {"'w'", "shape"});
  // Product overflows int64.
  ExpectCorrupt(Build("{" + Entry("w", "F32", "[4294967296,4294967296]", 0, 0) + "}", {}),
                {"'w'", "shape", "overflow"});
  // Dimension alone overflows int64 but fits uint64.
  ExpectCorrupt(Build("{" + Entry("w", "U8", "[18446744073709551615]", 0, 0) + "}", {}), {"'w'", "shape"});
  // Dimension that fits int64 but numel * 4 does not.
  ExpectCorrupt(Build("{" + Entry("w", "F32", "[4611686018427387904]", 0, 0) + "}", {}), {"'w'", "overflow"});
}

TEST(SafetensorsReject, MissingOrMalformedFields) {
  ExpectCorrupt(Build("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", {0}), {"'w'", "data_offsets"});
  ExpectCorrupt(Build("{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", {0}), {"'w'", "shape"});
  ExpectCorrupt(Build("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", {0}), {"'w'", "dtype"});
  ExpectCorrupt(Build("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", {0}), {"'w'", "data_offsets"});
  ExpectCorrupt(Build("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", {0}),
                {"'w'", "data_offsets"});
  ExpectCorrupt(Build("{\"w\":[1,2,3]}", {0}), {"'w'", "not a JSON object"});
}

TEST(SafetensorsReject, HeaderLongerThanFile) {
  std::vector<uint8_t> bytes = Build("{}", {});
  bytes[0] = 200;  // claims 200 header bytes, file has 2
  ExpectCorrupt(bytes, {"header length 200"});
  // Absurd length (2^63) must not allocate anything.
  std::vector<uint8_t> huge = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
  ExpectCorrupt(huge, {"header length"});
}

TEST(SafetensorsReject, TruncatedFile) {
  TensorFile f;
  f.tensors.push_back(Tensor::FromFloat32("blocks.0.mlp.fc.weight", {4, 4}, std::vector<float>(16, 1.0f)));
  auto ser = SerializeSafetensors(f);
  ASSERT_TRUE(ser.ok());
  std::vector<uint8_t> cut(ser->begin(), ser->end() - 1);
  ExpectCorrupt(cut, {"'blocks.0.mlp.fc.weight'", "data_offsets [0, 64]"});
  // Cut inside the header.
  std::vector<uint8_t> cut_header(ser->begin(), ser->begin() + 20);
  ExpectCorrupt(cut_header, {"header length"});
  // Cut inside the length field.
  ExpectCorrupt(std::vector<uint8_t>(ser->begin(), ser->begin() + 5), {"too short"});
  ExpectCorrupt(std::vector<uint8_t>{}, {"too short"});

  // Same through the file reader: the message names the path.
  const fs::path p = TempDir() / "truncated.safetensors";
  ASSERT_TRUE(WriteFileAtomic(p.string(), cut).ok());
  auto r = ReadSafetensors(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("truncated.safetensors"), std::string::npos);
  auto missing = ReadSafetensors((TempDir() / "no_such.safetensors").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(SafetensorsReject, NotJsonOrNotObject) {
  ExpectCorrupt(Build("{\"w\": ", {}), {"not valid JSON"});
  ExpectCorrupt(Build("[1,2,3]", {}), {"not a JSON object"});
  ExpectCorrupt(Build("\"str\"", {}), {"not a JSON object"});
  ExpectCorrupt(Build("{\"a\":1}", {}), {"'a'", "not a JSON object"});
  ExpectCorrupt(Build("{} trailing", {}), {"not valid JSON"});
  ExpectCorrupt(Build(std::string(200, '['), {}), {"header"});
  ExpectCorrupt(Build("{\"\xff\xfe\":1}", {}), {"not valid JSON"});  // invalid UTF-8
}

TEST(SafetensorsReject, DuplicateNames) {
  ExpectCorrupt(
      Build("{" + Entry("w", "U8", "[1]", 0, 1) + "," + Entry("w", "U8", "[1]", 1, 2) + "}", std::vector<uint8_t>(2)),
      {"duplicate", "'w'"});
  ExpectCorrupt(Build("{\"w\":{\"dtype\":\"U8\",\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}", {0}),
                {"duplicate", "'w'", "'dtype'"});
}

TEST(SafetensorsReject, BadMetadata) {
  ExpectCorrupt(Build("{\"__metadata__\":{\"format\":1}}", {}), {"__metadata__", "'format'", "not a string"});
  ExpectCorrupt(Build("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", {}), {"__metadata__", "'k'"});
  ExpectCorrupt(Build("{\"__metadata__\":[\"a\"]}", {}), {"__metadata__"});
}

}  // namespace
}  // namespace golfpack::io
