// The .gpk container (docs/FORMAT.md): golden bytes, round trips for every
// encoding and section layout, byte accounting, every manifest rejection,
// truncation at every offset and every single-bit flip, codecs, and the
// version-3 byte shuffle (every codec byte in every version).
#include "core/artifact.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

#include "core/byte_reader.h"
#include "core/checksum.h"
#include "core/encodings.h"
#include "core/file_util.h"
#include "core/half.h"

namespace golfpack::gpk {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes F32s(std::initializer_list<float> v) {
  ByteWriter w;
  for (float f : v) w.F32(f);
  return std::move(w).Take();
}

EncodedTensor T(std::string name, std::vector<uint64_t> shape, uint32_t enc, Bytes payload, Bytes params = {},
                TargetDType dtype = TargetDType::kF32) {
  EncodedTensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.encoding = enc;
  t.payload = std::move(payload);
  t.params = std::move(params);
  t.dtype = dtype;
  return t;
}

Result<Artifact> ParseNoHash(std::span<const uint8_t> b, uint64_t max_elements = kDefaultMaxElements) {
  Artifact::Options o;
  o.verify_file_hash = false;
  o.max_elements = max_elements;
  return Artifact::Parse(b, "model.gpk", o);
}

uint64_t AccountingSum(const Artifact& a) {
  uint64_t s = 0;
  for (const auto& [name, n] : AccountBytes(a).parts) s += n;
  return s;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---------------------------------------------------------------- golden bytes

TEST(ArtifactGolden, TwoTensorFileMatchesHandComputedBytes) {
  std::vector<EncodedTensor> ts;
  ts.push_back(T("a", {2}, kRawF32, F32s({1.0f, -2.0f})));
  ts.push_back(T("b", {}, kConst, {}, F32s({0.5f})));
  WriteOptions opts;
  opts.metadata["k"] = "v";
  auto built = BuildArtifact(ts, opts);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  // Written out field by field from FORMAT.md; the CRC-32C and XXH64 values
  // come from independent bitwise/spec Python implementations.
  const Bytes want = {
      'G', 'O', 'L', 'F', 'P', 'A', 'C', 'K',  // magic
      0x01, 0x00,                              // version 1
      0x00, 0x00,                              // flags
      0x2c, 0x00, 0x00, 0x00,                  // manifest_size 44
      // manifest @16
      0x01,                    // metadata_count
      0x01, 'k', 0x01, 'v',    // "k" = "v"
      0x02,                    // section_count
      0x00, 0x08, 0x08, 0xc9, 0xf2, 0x36, 0xaa,  // none, stored 8, raw 8, crc32c 0xaa36f2c9
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // none, 0, 0, crc32c("") = 0
      0x02,                                      // tensor_count
      0x01, 'a', 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,  // a: ndim 1 [2] f32 raw_f32 sec 0 off 0 len 8 params 0
      0x01, 'b', 0x00, 0x00, 0x06, 0x01, 0x00, 0x00, 0x04,        // b: ndim 0, f32, const, sec 1, off 0, len 0, params 4
      0x00, 0x00, 0x00, 0x3f,                                     //    value 0.5f
      0x50, 0xe2, 0xa4, 0x33,                                     // manifest crc32c 0x33a4e250 @60
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,             // section 0 @64: 1.0f, -2.0f
      0x6d, 0x40, 0x02, 0xda, 0xdc, 0x14, 0x17, 0x20,             // xxh64 0x201714dcda02406d @72
      'G', 'P', 'K', 'E'};
  ASSERT_EQ(want.size(), 84u);
  EXPECT_EQ(*built, want);
  EXPECT_EQ(Crc32c(std::span<const uint8_t>(want).first(60)), 0x33a4e250u);
  EXPECT_EQ(Xxh64(std::span<const uint8_t>(want).first(72)), 0x201714dcda02406dull);

  auto a = Artifact::Parse(want, "golden.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->metadata().at("k"), "v");
  ASSERT_EQ(a->sections().size(), 2u);
  EXPECT_EQ(a->sections()[0].file_offset, 64u);
  EXPECT_EQ(a->sections()[0].crc32c, 0xaa36f2c9u);
  EXPECT_EQ(a->sections()[1].file_offset, 72u);
  ASSERT_EQ(a->tensors().size(), 2u);
  EXPECT_EQ(a->tensors()[0].manifest_offset, 37u);
  EXPECT_EQ(a->tensors()[0].manifest_bytes, 10u);
  EXPECT_EQ(a->tensors()[1].manifest_bytes, 13u);
  EXPECT_EQ(a->tensors()[1].numel, 1u);
  EXPECT_TRUE(a->tensors()[1].shape.empty());
  const std::vector<std::pair<std::string, uint64_t>> acct = {
      {"container", 32}, {"manifest.metadata", 5}, {"manifest.sections", 15},
      {"manifest.tensors", 1}, {"tensor:a", 18}, {"tensor:b", 13}};
  EXPECT_EQ(AccountBytes(*a).parts, acct);
  EXPECT_EQ(AccountingSum(*a), 84u);
  EXPECT_EQ(*a->DecodeTensor(0), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(*a->DecodeTensor(1), (std::vector<float>{0.5f}));
  EXPECT_EQ(FindTensor(*a, "b"), std::optional<size_t>(1));
  EXPECT_EQ(FindTensor(*a, "c"), std::nullopt);
}

// ---------------------------------------------------------------- round trips

struct Case {
  EncodedTensor t;
  std::vector<float> want;
};

std::vector<Case> EveryEncoding() {
  std::vector<Case> cs;
  std::mt19937_64 rng(99);
  auto rnd = [&] { return static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 64.0f; };
  {  // raw_f32, 3-d
    std::vector<float> v(24);
    ByteWriter w;
    for (auto& x : v) w.F32(x = rnd());
    cs.push_back({T("raw32", {2, 3, 4}, kRawF32, w.bytes()), v});
  }
  {  // raw_f16 / raw_bf16
    std::vector<float> h(10), b(10);
    ByteWriter wh, wb;
    for (size_t i = 0; i < 10; ++i) {
      const float x = rnd() * 1.37f;
      wh.U16(FloatToHalfBits(x));
      h[i] = HalfBitsToFloat(FloatToHalfBits(x));
      wb.U16(FloatToBF16Bits(x));
      b[i] = BF16BitsToFloat(FloatToBF16Bits(x));
    }
    cs.push_back({T("raw16", {10}, kRawF16, wh.bytes(), {}, TargetDType::kF16), h});
    cs.push_back({T("rawbf", {2, 5}, kRawBF16, wb.bytes(), {}, TargetDType::kBF16), b});
  }
  {  // pg_int8_row [3, 5]
    ByteWriter w;
    std::vector<float> scales;
    for (int r = 0; r < 3; ++r) {
      const uint16_t s = FloatToHalfBits(0.01f * (r + 1));
      w.U16(s);
      scales.push_back(HalfBitsToFloat(s));
    }
    std::vector<float> v;
    for (int i = 0; i < 15; ++i) {
      const auto q = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
      w.U8(static_cast<uint8_t>(q));
      v.push_back(static_cast<float>(q) * scales[i / 5]);
    }
    cs.push_back({T("pgrow", {3, 5}, kPgInt8Row, w.bytes()), v});
  }
  {  // pg_int8_tensor
    ByteWriter w;
    w.F32(0.125f);
    std::vector<float> v;
    for (int i = 0; i < 7; ++i) {
      const auto q = static_cast<int8_t>(i * 37 - 128);
      w.U8(static_cast<uint8_t>(q));
      v.push_back(static_cast<float>(q) * 0.125f);
    }
    cs.push_back({T("pgtensor", {7}, kPgInt8Tensor, w.bytes()), v});
  }
  // uniform: both packings, every scale dtype, row and group scales.
  int k = 0;
  for (uint8_t packing : {0, 1})
    for (uint8_t sd : {0, 1, 2})
      for (uint32_t g : {0u, 3u}) {
        UniformParams p{static_cast<uint8_t>(3 + k % 5), packing, sd, g};
        const uint64_t rows = 2, cols = 6, ng = g ? cols / g : 1;
        ByteWriter w;
        std::vector<float> sc;
        for (uint64_t s = 0; s < rows * ng; ++s) {
          const float x = 0.5f + static_cast<float>(s) * 0.25f;
          if (sd == 0) w.U16(FloatToHalfBits(x));
          if (sd == 1) w.F32(x);
          if (sd == 2) w.U16(FloatToBF16Bits(x));
          sc.push_back(x);  // exactly representable in all three
        }
        std::vector<float> v;
        std::vector<uint8_t> packed((rows * cols * p.bits + 7) / 8);
        for (uint64_t i = 0; i < rows * cols; ++i) {
          const int code = static_cast<int>(rng() % (2 * p.max_code() + 1)) - p.max_code();
          if (packing == 0) w.U8(static_cast<uint8_t>(static_cast<int8_t>(code)));
          const uint32_t stored = static_cast<uint32_t>(code + p.max_code());
          for (int b = 0; b < p.bits; ++b)
            if ((stored >> b) & 1) packed[(i * p.bits + b) / 8] |= static_cast<uint8_t>(1u << ((i * p.bits + b) % 8));
          v.push_back(static_cast<float>(code) * sc[(i / cols) * ng + (g ? (i % cols) / g : 0)]);
        }
        if (packing == 1) w.Bytes(packed);
        cs.push_back({T("uniform" + std::to_string(k++), {rows, cols}, kUniform, w.bytes(), p.Serialize()), v});
      }
  cs.push_back({T("const", {4, 2}, kConst, {}, F32s({-3.5f})), std::vector<float>(8, -3.5f)});
  cs.push_back({T("empty", {0, 9}, kRawF32, {}), {}});
  return cs;
}

void ExpectDecodesTo(const Artifact& a, const std::vector<Case>& cs) {
  ASSERT_EQ(a.tensors().size(), cs.size());
  auto all = a.DecodeAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  for (size_t i = 0; i < cs.size(); ++i) {
    const TensorInfo& ti = a.tensors()[i];
    EXPECT_EQ(ti.name, cs[i].t.name);
    EXPECT_EQ(ti.shape, cs[i].t.shape);
    EXPECT_EQ(ti.encoding, cs[i].t.encoding);
    EXPECT_EQ(ti.dtype, cs[i].t.dtype);
    EXPECT_EQ(ti.params, cs[i].t.params);
    auto fast = a.DecodeTensor(i);
    auto ref = gpk::DecodeTensorRef(a, i);
    ASSERT_TRUE(fast.ok()) << fast.status().ToString();
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    EXPECT_EQ(*fast, cs[i].want) << ti.name;
    EXPECT_EQ(*ref, cs[i].want) << ti.name;
    EXPECT_EQ((*all)[i], cs[i].want) << ti.name;
  }
}

TEST(ArtifactRoundTrip, EveryEncodingOwnSections) {
  auto cs = EveryEncoding();
  std::vector<EncodedTensor> ts;
  for (auto& c : cs) ts.push_back(c.t);
  WriteOptions o;
  o.metadata = {{"golfpack.version", "0.1.0"}, {"note", "h\xc3\xa9llo"}};
  auto bytes = BuildArtifact(ts, o);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto a = Artifact::Parse(*bytes, "rt.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->metadata(), o.metadata);
  EXPECT_EQ(a->sections().size(), cs.size());
  ExpectDecodesTo(*a, cs);
  // Own sections: each tensor is charged exactly its entry + payload.
  EXPECT_EQ(AccountingSum(*a), bytes->size());
  for (size_t i = 0; i < cs.size(); ++i) {
    EXPECT_EQ(AccountBytes(*a).tensors[i], a->tensors()[i].manifest_bytes + cs[i].t.payload.size());
    EXPECT_EQ(a->tensors()[i].section, i);
    EXPECT_EQ(a->sections()[i].stored_size, cs[i].t.payload.size());
  }
}

TEST(ArtifactRoundTrip, SharedUncompressedSectionsInAnyPlanOrder) {
  auto cs = EveryEncoding();
  std::vector<EncodedTensor> ts;
  for (auto& c : cs) ts.push_back(c.t);
  WriteOptions o;
  SectionPlan odd, even;
  for (size_t i = 0; i < ts.size(); ++i) (i % 2 ? odd : even).tensors.insert((i % 2 ? odd : even).tensors.begin(), i);
  o.sections = {odd, even};  // indices given in reverse: the writer uses manifest order
  auto bytes = BuildArtifact(ts, o);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto a = Artifact::Parse(*bytes, "shared.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->sections().size(), 2u);
  ExpectDecodesTo(*a, cs);
  uint64_t next[2] = {0, 0};
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& t = a->tensors()[i];
    EXPECT_EQ(t.section, i % 2 ? 0u : 1u);
    EXPECT_EQ(t.offset, next[t.section]);
    next[t.section] += t.length;
    // Codec none: the largest-remainder split gives each tensor exactly its length.
    EXPECT_EQ(AccountBytes(*a).tensors[i], t.manifest_bytes + t.length);
  }
  EXPECT_EQ(AccountingSum(*a), bytes->size());
  auto sec = a->SectionBytes(0);
  ASSERT_TRUE(sec.ok());
  EXPECT_EQ(sec->size(), a->sections()[0].raw_size);
}

// ---------------------------------------------------------------- codecs

// XOR "compression": a marker byte, then every byte ^ 0x5A.
CodecImpl XorCodec() {
  CodecImpl c;
  c.compress = [](std::span<const uint8_t> raw, int) -> Result<Bytes> {
    Bytes out{0xA5};
    for (uint8_t b : raw) out.push_back(b ^ 0x5A);
    return out;
  };
  c.decompress = [](std::span<const uint8_t> stored, uint64_t raw_size) -> Result<Bytes> {
    if (stored.empty() || stored[0] != 0xA5) return Corrupt("xor: bad marker");
    if (stored.size() - 1 != raw_size) return Corrupt("xor: size mismatch");
    Bytes out;
    for (size_t i = 1; i < stored.size(); ++i) out.push_back(stored[i] ^ 0x5A);
    return out;
  };
  return c;
}

struct CodecGuard {  // unregisters on exit so tests stay independent
  std::vector<Codec> cs;
  ~CodecGuard() {
    for (Codec c : cs) RegisterCodec(c, CodecImpl{});
  }
};

TEST(ArtifactCodec, CompressedSharedSectionRoundTripAndLargestRemainder) {
  CodecGuard guard{{Codec::kBrotli}};
  RegisterCodec(Codec::kBrotli, XorCodec());
  ASSERT_NE(FindCodec(Codec::kBrotli), nullptr);
  EXPECT_EQ(FindCodec(Codec::kNone), nullptr);
  std::vector<EncodedTensor> ts;
  ts.push_back(T("x", {2}, kRawF32, F32s({1, 2})));               // 8 bytes
  ts.push_back(T("y", {3}, kRawF16, {0, 0x3c, 0, 0x40, 0, 0x42}));  // 6 bytes: 1, 2, 3
  ts.push_back(T("z", {1}, kRawF32, F32s({4})));                  // 4 bytes
  ts.push_back(T("p", {1}, kRawF32, F32s({5})));
  ts.push_back(T("q", {1}, kRawF32, F32s({6})));
  ts.push_back(T("r", {1}, kRawF32, F32s({7})));
  ts.push_back(T("c0", {3}, kConst, {}, F32s({1})));
  ts.push_back(T("c1", {3}, kConst, {}, F32s({2})));
  ts.push_back(T("c2", {3}, kConst, {}, F32s({3})));
  WriteOptions o;
  o.sections = {{Codec::kBrotli, 9, {0, 1, 2}}, {Codec::kBrotli, -1, {3, 4, 5}}, {Codec::kBrotli, -1, {6, 7, 8}}};
  auto bytes = BuildArtifact(ts, o);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto a = Artifact::Parse(*bytes, "xor.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->sections()[0].codec, Codec::kBrotli);
  EXPECT_EQ(a->sections()[0].raw_size, 18u);
  EXPECT_EQ(a->sections()[0].stored_size, 19u);
  EXPECT_EQ(a->sections()[2].raw_size, 0u);
  EXPECT_EQ(a->sections()[2].stored_size, 1u);
  EXPECT_EQ(*a->DecodeTensor(1), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*gpk::DecodeTensorRef(*a, 2), (std::vector<float>{4}));
  EXPECT_EQ(*a->DecodeTensor(5), (std::vector<float>{7}));
  EXPECT_EQ(*a->DecodeTensor(8), (std::vector<float>(3, 3.0f)));
  auto sec = a->SectionBytes(0);
  ASSERT_TRUE(sec.ok());
  EXPECT_EQ(sec->size(), 18u);
  // 19 bytes over lengths 8, 6, 4: floors 8, 6, 4, remainders 8, 6, 4 -> the
  // spare byte goes to x. 13 over 4, 4, 4: a tie, the earliest gets it.
  // 1 byte over three empty tensors: counted as equal weights, first gets it.
  auto share = [&](size_t i) { return AccountBytes(*a).tensors[i] - a->tensors()[i].manifest_bytes; };
  EXPECT_EQ(share(0), 9u);
  EXPECT_EQ(share(1), 6u);
  EXPECT_EQ(share(2), 4u);
  EXPECT_EQ(share(3), 5u);
  EXPECT_EQ(share(4), 4u);
  EXPECT_EQ(share(5), 4u);
  EXPECT_EQ(share(6), 1u);
  EXPECT_EQ(share(7), 0u);
  EXPECT_EQ(share(8), 0u);
  EXPECT_EQ(AccountingSum(*a), bytes->size());
}

TEST(ArtifactCodec, MissingCodecIsUnsupportedAndWrongSizeIsCorrupt) {
  CodecGuard guard{{Codec::kZstd, Codec::kZlib}};
  std::vector<EncodedTensor> ts{T("w", {2}, kRawF32, F32s({1, 2}))};
  WriteOptions o;
  o.sections = {{Codec::kZstd, -1, {0}}};
  auto no_codec = BuildArtifact(ts, o);
  ASSERT_FALSE(no_codec.ok());
  EXPECT_EQ(no_codec.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(no_codec.status().message(), "codec zstd not available in this build"));

  RegisterCodec(Codec::kZstd, XorCodec());
  auto bytes = BuildArtifact(ts, o);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  RegisterCodec(Codec::kZstd, CodecImpl{});  // unregister
  EXPECT_EQ(FindCodec(Codec::kZstd), nullptr);
  auto a = Artifact::Parse(*bytes, "model.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();  // parsing needs no codec
  auto d = a->DecodeTensor(0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(d.status().message(), "model.gpk: section 0 (zstd"));
  EXPECT_TRUE(Contains(d.status().message(), "codec zstd not available in this build"));

  // A codec whose decompress hands back the wrong number of bytes.
  CodecImpl liar = XorCodec();
  liar.decompress = [](std::span<const uint8_t>, uint64_t raw_size) -> Result<Bytes> { return Bytes(raw_size + 1); };
  RegisterCodec(Codec::kZstd, liar);
  d = a->DecodeTensor(0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(d.status().message(), "decompressed to 9 bytes, expected raw_size 8")) << d.status().message();
  // ... and the writer refuses a codec that does not round-trip.
  auto w = BuildArtifact(ts, o);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInternal);
  // A decompress error keeps its code and gains the section context.
  CodecImpl failing = XorCodec();
  failing.decompress = [](std::span<const uint8_t>, uint64_t) -> Result<Bytes> { return Corrupt("zstd: bad frame"); };
  RegisterCodec(Codec::kZstd, failing);
  d = a->DecodeTensor(0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(d.status().message(), "section 0 (zstd, offset")) << d.status().message();
  EXPECT_TRUE(Contains(d.status().message(), "zstd: bad frame"));
}

// ---------------------------------------------------------------- truncation and bit flips

// shuffled: the same tensors with byte-shuffled sections (strides 2 and 3), version 3.
Bytes SmallArtifact(bool shuffled = false) {
  std::vector<EncodedTensor> ts;
  ByteWriter f16;
  for (int i = 0; i < 32; ++i) f16.U16(FloatToHalfBits(static_cast<float>(i - 16) / 8));
  ts.push_back(T("tok_emb", {4, 8}, kRawF16, f16.bytes(), {}, TargetDType::kBF16));
  ByteWriter row;
  for (int r = 0; r < 4; ++r) row.U16(FloatToHalfBits(0.02f * (r + 1)));
  for (int i = 0; i < 64; ++i) row.U8(static_cast<uint8_t>(static_cast<int8_t>(i * 4 - 127)));
  ts.push_back(T("blocks.0.attn.c_q.weight", {4, 16}, kPgInt8Row, row.bytes()));
  ByteWriter uni;
  for (int s = 0; s < 8; ++s) uni.U16(FloatToHalfBits(0.1f * (s + 1)));
  for (int i = 0; i < 32; ++i) uni.U8(static_cast<uint8_t>((i * 7) % 15 | ((i * 3) % 15) << 4));
  ts.push_back(T("blocks.0.mlp.fc.weight", {4, 16}, kUniform, uni.bytes(), UniformParams{4, 1, 0, 8}.Serialize()));
  WriteOptions o;
  o.metadata["arch"] = "gpt";
  o.sections = {{Codec::kNone, -1, {0}, {}, uint8_t(shuffled ? 2 : 0)},
                {Codec::kNone, -1, {1, 2}, {}, uint8_t(shuffled ? 3 : 0)}};
  auto b = BuildArtifact(ts, o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)[8], shuffled ? 3 : 1);  // version
  return *b;
}

// Parse + decode of every tensor; the first failure, or OK.
Status FullDecode(std::span<const uint8_t> b, bool verify_hash) {
  Artifact::Options o;
  o.verify_file_hash = verify_hash;
  auto a = Artifact::Parse(b, "model.gpk", o);
  if (!a.ok()) return a.status();
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    auto d = a->DecodeTensor(i);
    if (!d.ok()) return d.status();
  }
  return Status::Ok();
}

TEST(ArtifactDamage, SmallArtifactIsAsSpecified) {
  for (bool shuffled : {false, true}) {
    Bytes b = SmallArtifact(shuffled);
    EXPECT_GT(b.size(), 250u);
    EXPECT_LT(b.size(), 350u);
    EXPECT_TRUE(FullDecode(b, true).ok());
    EXPECT_TRUE(FullDecode(b, false).ok());
    auto a = Artifact::Parse(b, "model.gpk");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(AccountingSum(*a), b.size());
    EXPECT_EQ(a->sections()[1].shuffle, shuffled ? 3 : 0);
  }
  // The same values either way.
  Bytes plain = SmallArtifact(false), shuffled = SmallArtifact(true);
  auto p = Artifact::Parse(plain, "plain.gpk"), s = Artifact::Parse(shuffled, "shuffled.gpk");
  ASSERT_TRUE(p.ok() && s.ok());
  EXPECT_EQ(*p->DecodeAll(), *s->DecodeAll());
  EXPECT_EQ(*p->SectionBytes(1), *s->SectionBytes(1));
}

// Both damage tests run on the version-1 file and on its shuffled version-3 twin.
TEST(ArtifactDamage, TruncationAtEveryOffsetIsCorrupt) {
  for (bool shuffled : {false, true}) {
    SCOPED_TRACE(shuffled ? "shuffled (version 3)" : "version 1");
    Bytes b = SmallArtifact(shuffled);
    for (size_t n = 0; n < b.size(); ++n) {
      std::span<const uint8_t> prefix(b.data(), n);
      for (bool hash : {true, false}) {
        Status s = FullDecode(prefix, hash);
        ASSERT_EQ(s.code(), StatusCode::kCorrupt) << "length " << n << " hash " << hash << ": " << s.ToString();
        ASSERT_TRUE(Contains(s.message(), "model.gpk: ")) << s.message();
      }
    }
    // Appending a byte is caught too.
    Bytes longer = b;
    longer.insert(longer.end() - 12, 0);
    EXPECT_EQ(FullDecode(longer, false).code(), StatusCode::kCorrupt);
  }
}

TEST(ArtifactDamage, EverySingleBitFlipIsRejected) {
  for (bool shuffled : {false, true}) {
    SCOPED_TRACE(shuffled ? "shuffled (version 3)" : "version 1");
    const Bytes b = SmallArtifact(shuffled);
    const size_t hash_begin = b.size() - 12, hash_end = b.size() - 4;
    int parse_rejects = 0, decode_rejects = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes c = b;
        c[i] ^= static_cast<uint8_t>(1u << bit);
        // With the file hash: Parse itself rejects.
        auto a = Artifact::Parse(c, "model.gpk");
        ASSERT_FALSE(a.ok()) << "byte " << i << " bit " << bit;
        ASSERT_EQ(a.status().code(), StatusCode::kCorrupt) << a.status().ToString();
        // Without it, the per-part CRCs must still catch it (Parse or decode).
        if (i >= hash_begin && i < hash_end) {
          EXPECT_TRUE(FullDecode(c, false).ok());  // nothing else looks at these bytes
          continue;
        }
        auto p = ParseNoHash(c);
        Status s = FullDecode(c, false);
        ASSERT_EQ(s.code(), StatusCode::kCorrupt) << "byte " << i << " bit " << bit << ": " << s.ToString();
        (p.ok() ? decode_rejects : parse_rejects)++;
      }
    }
    EXPECT_GT(parse_rejects, 0);
    EXPECT_GT(decode_rejects, 8 * 150);  // section payload bits: caught by the section CRC
  }
}

// ---------------------------------------------------------------- hand-made manifests

struct Sec {
  uint8_t codec = 0;
  uint64_t stored = 0, raw = 0;
  std::optional<uint32_t> crc;  // default: CRC of its data
};
struct Ten {
  std::string name;
  std::vector<uint64_t> dims;
  uint8_t dtype = 0;
  uint64_t enc = kRawF32, section = 0, offset = 0, length = 0;
  Bytes params;
  std::optional<uint8_t> ndim;  // default dims.size()
};
struct Man {
  std::vector<std::pair<std::string, std::string>> meta{{"k", "v"}};
  std::vector<Sec> secs;
  std::vector<Ten> tens;
  std::optional<uint64_t> meta_count, sec_count, ten_count;
  Bytes data;
  Bytes trailing;
  uint16_t version = 1;  // >= 2: object_count 0 and a ref_count 0 per tensor

  // Default: two raw_f32 tensors sharing one 12-byte section.
  static Man Base() {
    Man m;
    m.data = F32s({1, 2, 3});
    m.secs = {{0, 12, 12, std::nullopt}};
    m.tens = {{"w", {2}, 0, kRawF32, 0, 0, 8, {}, std::nullopt}, {"b", {1}, 0, kRawF32, 0, 8, 4, {}, std::nullopt}};
    return m;
  }
  Bytes ManifestBytes() const {
    ByteWriter w;
    w.Varint(meta_count.value_or(meta.size()));
    for (auto& [k, v] : meta) {
      w.Varint(k.size());
      w.Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(k.data()), k.size()));
      w.Varint(v.size());
      w.Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size()));
    }
    w.Varint(sec_count.value_or(secs.size()));
    uint64_t pos = 0;
    for (const Sec& s : secs) {
      w.U8(s.codec);
      w.Varint(s.stored);
      w.Varint(s.raw);
      const uint64_t n = std::min<uint64_t>(s.stored, data.size() - std::min<uint64_t>(pos, data.size()));
      w.U32(s.crc.value_or(Crc32c(std::span<const uint8_t>(data).subspan(std::min<uint64_t>(pos, data.size()), n))));
      pos += s.stored;
    }
    if (version >= 2) w.Varint(0);  // object_count
    w.Varint(ten_count.value_or(tens.size()));
    for (const Ten& t : tens) {
      w.Varint(t.name.size());
      w.Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(t.name.data()), t.name.size()));
      w.U8(t.ndim.value_or(static_cast<uint8_t>(t.dims.size())));
      for (uint64_t d : t.dims) w.Varint(d);
      w.U8(t.dtype);
      w.Varint(t.enc);
      w.Varint(t.section);
      w.Varint(t.offset);
      w.Varint(t.length);
      w.Varint(t.params.size());
      w.Bytes(t.params);
      if (version >= 2) w.Varint(0);  // ref_count
    }
    w.Bytes(trailing);
    return std::move(w).Take();
  }
};

// Header + manifest + CRC + data + footer, with correct checksums.
Bytes Frame(const Bytes& manifest, const Bytes& data, uint16_t version = 1, uint16_t flags = 0) {
  ByteWriter w;
  w.Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("GOLFPACK"), 8));
  w.U16(version);
  w.U16(flags);
  w.U32(static_cast<uint32_t>(manifest.size()));
  w.Bytes(manifest);
  w.U32(Crc32c(w.bytes()));
  w.Bytes(data);
  w.U64(Xxh64(w.bytes()));
  w.Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("GPKE"), 4));
  return std::move(w).Take();
}
Bytes Frame(const Man& m) { return Frame(m.ManifestBytes(), m.data, m.version); }

// Expects a kCorrupt rejection whose one-line message contains every part.
void ExpectReject(const Bytes& file, std::initializer_list<const char*> parts) {
  auto a = Artifact::Parse(file, "model.gpk");
  ASSERT_FALSE(a.ok()) << "accepted; wanted: " << *parts.begin();
  EXPECT_EQ(a.status().code(), StatusCode::kCorrupt) << a.status().ToString();
  const std::string& m = a.status().message();
  EXPECT_EQ(m.rfind("model.gpk: ", 0), 0u) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  for (const char* p : parts) EXPECT_TRUE(Contains(m, p)) << "missing '" << p << "' in: " << m;
}
void ExpectReject(const Man& m, std::initializer_list<const char*> parts) { ExpectReject(Frame(m), parts); }

TEST(ArtifactManifest, BaseIsValid) {
  Bytes f = Frame(Man::Base());
  auto a = Artifact::Parse(f, "model.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a->DecodeTensor(1), (std::vector<float>{3}));
}

TEST(ArtifactManifest, ContainerRejections) {
  const Man base = Man::Base();
  const Bytes good = Frame(base);
  ExpectReject(Bytes(31, 0), {"file: 31 bytes", "32-byte minimum"});
  Bytes bad_magic = good;
  bad_magic[0] = 'g';
  ExpectReject(bad_magic, {"header: bad magic at offset 0"});
  ExpectReject(Frame(base.ManifestBytes(), base.data, 4), {"header: version 4 at offset 8", "is not in [1, 3]"});
  ExpectReject(Frame(base.ManifestBytes(), base.data, 0), {"header: version 0 at offset 8", "is not in [1, 3]"});
  ExpectReject(Frame(base.ManifestBytes(), base.data, 1, 4), {"header: flags 4 at offset 10"});
  Bytes bad_end = good;
  bad_end.back() = 'X';
  ExpectReject(bad_end, {"footer: bad end magic at offset"});
  Bytes bad_hash = good;
  bad_hash[good.size() - 12] ^= 1;
  ExpectReject(bad_hash, {"footer: file XXH64 at offset", "damaged"});
  EXPECT_TRUE(ParseNoHash(bad_hash).ok());  // skippable
  // manifest_size out of range (hash recomputed so the range check is what fires).
  Bytes big = good;
  big[12] = 0xff;
  big[13] = 0xff;
  const uint64_t h = Xxh64(std::span<const uint8_t>(big).first(big.size() - 12));
  for (int i = 0; i < 8; ++i) big[big.size() - 12 + i] = static_cast<uint8_t>(h >> (8 * i));
  ExpectReject(big, {"header: manifest_size 65535 at offset 12 exceeds file_size - 32"});
  // Manifest CRC.
  Bytes bad_crc = good;
  bad_crc[20] ^= 0x10;  // a manifest byte; hash fixed up
  const uint64_t h2 = Xxh64(std::span<const uint8_t>(bad_crc).first(bad_crc.size() - 12));
  for (int i = 0; i < 8; ++i) bad_crc[bad_crc.size() - 12 + i] = static_cast<uint8_t>(h2 >> (8 * i));
  ExpectReject(bad_crc, {"manifest: CRC-32C at offset"});
  // Size equation: one extra data byte.
  Man extra = base;
  extra.data.push_back(0);
  ExpectReject(extra, {"file: 32 + manifest_size", "section stored sizes 12 = ", "but the file is"});
}

TEST(ArtifactManifest, CountRejections) {
  Man m = Man::Base();
  m.meta_count = 1000;
  ExpectReject(m, {"manifest: ", "metadata_count at offset 16: 1000 exceeds the"});
  m = Man::Base();
  m.sec_count = 500;
  ExpectReject(m, {"section_count at offset", "500 exceeds"});
  m = Man::Base();
  m.ten_count = 300;
  ExpectReject(m, {"tensor_count at offset", "300 exceeds"});
  m = Man::Base();
  m.ten_count = 3;  // within the bytes left, but the entries run out
  ExpectReject(m, {"tensor 2: reading name length at offset"});
  m = Man::Base();
  m.ten_count = 1;  // too few: the second entry is trailing
  ExpectReject(m, {"trailing bytes"});
}

TEST(ArtifactManifest, StringAndNameRejections) {
  Man m = Man::Base();
  m.meta = {{"k", "v"}, {"k", "w"}};
  ExpectReject(m, {"manifest: metadata 1: key at offset", "duplicate key 'k'"});
  m = Man::Base();
  m.tens[1].name = "w";
  ExpectReject(m, {"manifest: tensor 1 'w': name at offset", "duplicate tensor name"});
  m = Man::Base();
  m.tens[0].name = std::string("a\0b", 3);
  ExpectReject(m, {"tensor 0: name at offset", "NUL"});
  m = Man::Base();
  m.tens[0].name = "\xc0\xaf";  // overlong '/'
  ExpectReject(m, {"tensor 0: name", "UTF-8"});
  m = Man::Base();
  m.meta = {{"k", "\xed\xa0\x80"}};  // surrogate
  ExpectReject(m, {"metadata 0: key 'k': value at offset", "UTF-8"});
  m = Man::Base();
  m.meta = {{std::string(65536, 'x'), "v"}};
  ExpectReject(m, {"metadata 0: key at offset", "length 65536 exceeds 65535"});
  // The longest allowed string is fine.
  m = Man::Base();
  m.meta = {{std::string(65535, 'x'), "\xf0\x9f\x98\x80"}};
  EXPECT_TRUE(Artifact::Parse(Frame(m), "model.gpk").ok());
}

TEST(ArtifactManifest, FieldRejections) {
  Man m = Man::Base();
  m.secs[0].codec = 9;
  ExpectReject(m, {"section 0: codec at offset", "unknown codec 9"});
  m = Man::Base();
  m.secs[0].raw = 13;
  ExpectReject(m, {"section 0: raw_size at offset", "13 != stored_size 12 for codec none"});
  m = Man::Base();
  m.tens[0].ndim = 9;
  ExpectReject(m, {"tensor 0 'w': ndim at offset", "9 exceeds 8"});
  m = Man::Base();
  m.tens[0].dims = {(uint64_t{1} << 40) + 1};
  ExpectReject(m, {"tensor 0 'w': dims[0] at offset", "exceeds 2^40"});
  m = Man::Base();
  m.tens[0].dims = {uint64_t{1} << 21, uint64_t{1} << 20};
  ExpectReject(m, {"tensor 0 'w': dims[1]", "numel overflows 2^40"});
  // 2^40 * (2^24 + 1) wraps to 2^40 in 64 bits: still rejected.
  m = Man::Base();
  m.tens[0].dims = {uint64_t{1} << 40, (uint64_t{1} << 24) + 1};
  ExpectReject(m, {"tensor 0 'w': dims[1]", "numel overflows 2^40"});
  m = Man::Base();
  m.tens[0].dtype = 3;
  ExpectReject(m, {"tensor 0 'w': dtype at offset", "unknown dtype 3"});
  m = Man::Base();
  m.tens[1].enc = 99;
  ExpectReject(m, {"tensor 1 'b': encoding at offset", "unknown encoding 99"});
  m = Man::Base();
  m.tens[1].enc = uint64_t{1} << 40;
  ExpectReject(m, {"unknown encoding 1099511627776"});
  m = Man::Base();
  m.tens[1].section = 1;
  ExpectReject(m, {"tensor 1 'b': section at offset", "index 1 >= section_count 1"});
  m = Man::Base();
  m.tens[1].params = {0};
  ExpectReject(m, {"tensor 1 'b': encoding at offset", "raw_f32: params_size 1, expected 0"});
  m = Man::Base();
  m.tens[1].enc = kUniform;
  m.tens[1].params = {4, 0, 0, 0, 0, 0};
  ExpectReject(m, {"uniform: params_size 6, expected 7"});
  m = Man::Base();
  m.tens[1].enc = kUniform;
  m.tens[1].params = UniformParams{4, 0, 0, 0}.Serialize();
  ExpectReject(m, {"tensor 1 'b': length at offset", "4 but uniform requires 3 bytes"});
}

TEST(ArtifactManifest, SectionCoverageRejections) {
  Man m = Man::Base();
  m.tens[1].offset = 6;  // overlaps w
  m.tens[1].length = 4;
  ExpectReject(m, {"tensor 1 'b': payload range at offset", "offset 6 but the previous payload in section 0 ends at 8 (overlap)"});
  m = Man::Base();
  m.tens[0].length = 8;
  m.tens[0].dims = {1};
  m.tens[0].length = 4;  // w covers [0,4), b starts at 8
  ExpectReject(m, {"offset 8 but the previous payload in section 0 ends at 4 (gap)"});
  m = Man::Base();
  m.tens[1].offset = 9;
  ExpectReject(m, {"tensor 1 'b': payload range at offset", "offset+length 13 > section raw_size 12"});
  m = Man::Base();
  m.tens[1].offset = UINT64_MAX;
  ExpectReject(m, {"offset+length overflows > section raw_size 12"});
  m = Man::Base();
  m.tens[0].length = 7;  // raw_f32 [2] needs 8
  m.tens[1].offset = 7;
  m.tens[1].length = 4;
  m.secs[0] = {0, 11, 11, std::nullopt};
  m.data.pop_back();
  ExpectReject(m, {"tensor 0 'w': length at offset", "7 but raw_f32 requires 8 bytes"});
  // The section is larger than what its tensors cover.
  m = Man::Base();
  m.tens.pop_back();
  ExpectReject(m, {"manifest: section 0: raw_size 12 but its tensors cover 8 bytes"});
  // A section no tensor points into.
  m = Man::Base();
  m.secs.push_back({0, 0, 0, std::nullopt});
  ExpectReject(m, {"manifest: section 1: no tensor points into it"});
}

TEST(ArtifactManifest, EncodingRejectsTrailingAndOverlongVarints) {
  Man m = Man::Base();
  m.trailing = {0};
  Bytes man = m.ManifestBytes();
  const std::string trailing = "manifest: 1 trailing bytes at offset " + std::to_string(16 + man.size() - 1);
  ExpectReject(Frame(man, m.data), {trailing.c_str(), "after the last tensor entry"});
  // Overlong varint: metadata_count 1 written as 0x81 0x00.
  man = Man::Base().ManifestBytes();
  ASSERT_EQ(man[0], 1);
  man[0] = 0x81;
  man.insert(man.begin() + 1, 0x00);
  ExpectReject(Frame(man, m.data), {"manifest: ", "metadata_count at offset 16", "overlong varint"});
}

TEST(ArtifactManifest, ExampleMessageShape) {
  Man m = Man::Base();
  m.tens.insert(m.tens.begin(), 3, Ten{"", {0}, 0, kRawF32, 0, 0, 0, {}, std::nullopt});
  m.tens[0].name = "e0";
  m.tens[1].name = "e1";
  m.tens[2].name = "e2";
  m.tens[3].name = "blocks.0.attn.c_q.weight";
  m.tens[3].offset = 4990;
  m.tens[3].length = 10;
  m.secs[0].raw = 4096;
  m.secs[0].codec = 1;
  auto a = Artifact::Parse(Frame(m), "model.gpk");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().ToString().substr(0, 9), "corrupt: ");
  const std::string& msg = a.status().message();
  const std::string head = "model.gpk: manifest: tensor 3 'blocks.0.attn.c_q.weight': payload range at offset ";
  EXPECT_EQ(msg.substr(0, head.size()), head) << msg;
  EXPECT_TRUE(msg.ends_with(": offset+length 5000 > section raw_size 4096")) << msg;
}

TEST(ArtifactManifest, MaxElementsLimit) {
  Man m = Man::Base();  // 3 elements
  Bytes f = Frame(m);
  EXPECT_TRUE(ParseNoHash(f, 3).ok());
  auto a = ParseNoHash(f, 2);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(a.status().message(), "tensor 1 'b'")) << a.status().message();
  EXPECT_TRUE(Contains(a.status().message(), "max_elements"));
  // A const tensor describes 2^40 elements in 0 payload bytes: over the default limit.
  m = Man::Base();
  m.tens.push_back({"huge", {uint64_t{1} << 20, uint64_t{1} << 20}, 0, kConst, 1, 0, 0, F32s({0}), std::nullopt});
  m.secs.push_back({0, 0, 0, std::nullopt});
  f = Frame(m);
  a = Artifact::Parse(f, "model.gpk");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(ParseNoHash(f, (uint64_t{1} << 40) + 3).ok());
}

TEST(ArtifactManifest, SectionCrcIsCheckedAtDecode) {
  Man m = Man::Base();
  m.secs[0].crc = 0x12345678;
  Bytes f = Frame(m);
  auto a = Artifact::Parse(f, "model.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  for (size_t i = 0; i < 2; ++i) {
    for (bool ref : {false, true}) {
      auto d = ref ? gpk::DecodeTensorRef(*a, i) : a->DecodeTensor(i);
      ASSERT_FALSE(d.ok());
      EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
      EXPECT_TRUE(Contains(d.status().message(), "model.gpk: section 0 (none, offset")) << d.status().message();
      EXPECT_TRUE(Contains(d.status().message(), "CRC-32C"));
    }
  }
  EXPECT_FALSE(a->DecodeAll().ok());
  EXPECT_FALSE(a->SectionBytes(0).ok());
  EXPECT_EQ(a->DecodeTensor(2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->SectionBytes(1).status().code(), StatusCode::kInvalidArgument);
}

TEST(ArtifactManifest, BadCodesAreRejectedAtDecodeByBothDecoders) {
  Man m = Man::Base();
  m.tens = {{"u", {1, 4}, 0, kUniform, 0, 0, 6, UniformParams{2, 0, 0, 0}.Serialize(), std::nullopt}};
  m.data = {0x00, 0x3c, 1, 0xff, 0, 0x80};  // scale 1.0, codes 1, -1, 0, -128 (out of [-1, 1])
  m.secs = {{0, 6, 6, std::nullopt}};
  const Bytes file = Frame(m);  // the Artifact views these bytes: keep them alive
  auto a = Artifact::Parse(file, "model.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto d = a->DecodeTensor(0);
  auto r = gpk::DecodeTensorRef(*a, 0);
  ASSERT_FALSE(d.ok());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(d.status().message(), r.status().message());
  EXPECT_EQ(d.status().message(), "model.gpk: tensor 0 'u': uniform: code -128 of element 3 is outside [-1, 1]");
}

// ---------------------------------------------------------------- writer validation

TEST(ArtifactWriter, RejectsWhatTheReaderWouldReject) {
  auto expect_invalid = [](std::vector<EncodedTensor> ts, WriteOptions o, const char* part) {
    auto r = BuildArtifact(ts, o);
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), part)) << r.status().message();
  };
  const EncodedTensor ok = T("w", {2}, kRawF32, F32s({1, 2}));
  expect_invalid({T("w", {3}, kRawF32, F32s({1, 2}))}, {}, "payload is 8 bytes, raw_f32 requires 12");
  expect_invalid({ok, ok}, {}, "duplicate tensor name");
  expect_invalid({T("w", {2}, 99, F32s({1, 2}))}, {}, "unknown encoding 99");
  expect_invalid({T("w", {2}, kRawF32, F32s({1, 2}), {1})}, {}, "params_size 1");
  expect_invalid({T("w", {1, 1, 1, 1, 1, 1, 1, 1, 1}, kRawF32, F32s({1}))}, {}, "ndim 9");
  expect_invalid({T("w", {uint64_t{1} << 41}, kConst, {}, F32s({1}))}, {}, "exceeds 2^40");
  expect_invalid({T("w\xff", {2}, kRawF32, F32s({1, 2}))}, {}, "UTF-8");
  expect_invalid({T(std::string("w\0", 2), {2}, kRawF32, F32s({1, 2}))}, {}, "NUL");
  auto bad_dtype = ok;
  bad_dtype.dtype = static_cast<TargetDType>(3);
  expect_invalid({bad_dtype}, {}, "unknown dtype 3");
  WriteOptions meta;
  meta.metadata[std::string(70000, 'k')] = "v";
  expect_invalid({ok}, meta, "exceeds 65535");
  WriteOptions two;
  two.sections = {{Codec::kNone, -1, {0}}, {Codec::kNone, -1, {0}}};
  expect_invalid({ok}, two, "is in sections 0 and 1");
  WriteOptions none;
  none.sections = {{Codec::kNone, -1, {0}}};
  expect_invalid({ok, T("b", {1}, kRawF32, F32s({1}))}, none, "tensor 'b' is in no section");
  WriteOptions empty;
  empty.sections = {{Codec::kNone, -1, {0}}, {Codec::kNone, -1, {}}};
  expect_invalid({ok}, empty, "section 1 has no payloads");
  WriteOptions range;
  range.sections = {{Codec::kNone, -1, {0, 5}}};
  expect_invalid({ok}, range, "tensor index 5 out of range");
  WriteOptions codec;
  codec.sections = {{static_cast<Codec>(7), -1, {0}}};
  expect_invalid({ok}, codec, "unknown codec 7");
}

TEST(ArtifactWriter, EmptyArtifactAndAtomicWrite) {
  auto e = BuildArtifact({}, {});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->size(), 35u);  // 32 + three zero counts
  auto a = Artifact::Parse(*e, "empty.gpk");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(AccountingSum(*a), 35u);

  const std::string dir = std::string(GOLFPACK_BINARY_DIR) + "/test_tmp_artifact";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/model.gpk";
  auto cs = EveryEncoding();
  std::vector<EncodedTensor> ts;
  for (auto& c : cs) ts.push_back(c.t);
  ASSERT_TRUE(WriteArtifact(path, ts, {}).ok());
  auto bytes = ReadFileBytes(path);
  ASSERT_TRUE(bytes.ok());
  auto b = Artifact::Parse(*bytes, path);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ExpectDecodesTo(*b, cs);
  EXPECT_FALSE(WriteArtifact(path, {ts[0], ts[0]}, {}).ok());
  std::filesystem::remove_all(dir);
}

TEST(ArtifactThreads, ConcurrentDecodesAgree) {
  CodecGuard guard{{Codec::kBrotli}};
  RegisterCodec(Codec::kBrotli, XorCodec());
  auto cs = EveryEncoding();
  std::vector<EncodedTensor> ts;
  SectionPlan all{Codec::kBrotli, -1, {}};
  for (size_t i = 0; i < cs.size(); ++i) {
    ts.push_back(cs[i].t);
    all.tensors.push_back(i);
  }
  WriteOptions o;
  o.sections = {all};
  auto bytes = BuildArtifact(ts, o);
  ASSERT_TRUE(bytes.ok());
  const auto a = Artifact::Parse(*bytes, "mt.gpk");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(AccountingSum(*a), bytes->size());
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep)
        for (size_t i = 0; i < cs.size(); ++i) {
          auto d = (rep + t) % 2 ? a->DecodeTensor(i) : gpk::DecodeTensorRef(*a, i);
          if (!d.ok() || *d != cs[i].want) ++failures[t];
        }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// ---------------------------------------------------------------- version 3: byte shuffle

TEST(ArtifactGolden, ShuffledV3FileMatchesHandComputedBytes) {
  WriteOptions opts;
  opts.metadata["k"] = "v";
  opts.sections = {{Codec::kNone, -1, {0}, {}, 3}};
  auto built = BuildArtifact({T("a", {2}, kRawF32, F32s({1.0f, -2.0f}))}, opts);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  // FORMAT.md version 3 by hand; CRC-32C and XXH64 from python/golfpack_decode.py.
  const Bytes want = {
      'G', 'O', 'L', 'F', 'P', 'A', 'C', 'K',
      0x03, 0x00,                                // version 3: a shuffled section
      0x00, 0x00,                                // flags
      0x1a, 0x00, 0x00, 0x00,                    // manifest_size 26
      0x01, 0x01, 'k', 0x01, 'v',                // metadata
      0x01,                                      // section_count
      0x30, 0x08, 0x08, 0x28, 0x8b, 0x61, 0xc9,  // codec byte 0x30: none, stride 3; 8, 8; crc32c 0xc9618b28
      0x00,                                      // object_count
      0x01,                                      // tensor_count
      0x01, 'a', 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,  // a: [2] f32 raw_f32 0 0 8, params 0, refs 0
      0x07, 0x32, 0x52, 0x68,                    // manifest crc32c 0x68523207
      // raw 00 00 80 3f 00 00 00 c0 (1.0f, -2.0f) shuffled: bytes 0,3,6 | 1,4,7 | 2,5
      0x00, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x80, 0x00,
      0xdd, 0x84, 0x3c, 0x5b, 0x40, 0xff, 0x1b, 0x90,  // xxh64 0x901bff405b3c84dd
      'G', 'P', 'K', 'E'};
  EXPECT_EQ(*built, want);
  auto a = Artifact::Parse(want, "golden_v3.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->version(), 3);
  EXPECT_EQ(a->sections()[0].codec, Codec::kNone);
  EXPECT_EQ(a->sections()[0].shuffle, 3);
  EXPECT_EQ(*a->SectionBytes(0), F32s({1.0f, -2.0f}));
  EXPECT_EQ(*a->DecodeTensor(0), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(*DecodeTensorRef(*a, 0), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(AccountingSum(*a), want.size());
}

// tests/gpk/golden_v3.gpk, written by the Python test writer (tests/python/decode_test.py build()):
// sections none with strides 2, 3, 0 and 4, one shared object. The C++ writer reproduces it byte for byte.
TEST(ArtifactGolden, GoldenV3DecodesToKnownValuesAndTheWriterReproducesIt) {
  auto golden = ReadFileBytes(std::string(GOLFPACK_SOURCE_DIR) + "/tests/gpk/golden_v3.gpk");
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  auto a = Artifact::Parse(*golden, "golden_v3.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->version(), 3);
  std::vector<uint8_t> strides;
  for (const SectionInfo& s : a->sections()) {
    EXPECT_EQ(s.codec, Codec::kNone);
    strides.push_back(s.shuffle);
  }
  EXPECT_EQ(strides, (std::vector<uint8_t>{2, 3, 0, 4}));
  auto all = a->DecodeAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  const std::vector<std::vector<float>> want = {
      {1, -2, 0.5f}, {1, -2, 63.5f}, {-1.5f, -0.5f, 0.5f, 1.5f, 3, 1, -1, -3}, {0.25f, 0.25f}, {1, -2}};
  EXPECT_EQ(*all, want);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(*DecodeTensorRef(*a, i), want[i]);
  // Rebuild from the parsed pieces with the same layout.
  WriteOptions o;
  o.metadata = a->metadata();
  for (const SectionInfo& s : a->sections()) o.sections.push_back({s.codec, -1, {}, {}, s.shuffle});
  for (size_t k = 0; k < a->objects().size(); ++k) {
    const ObjectInfo& ob = a->objects()[k];
    Bytes raw = *a->SectionBytes(ob.section);
    o.objects.push_back({ob.name, ob.kind, Bytes(raw.begin() + long(ob.offset), raw.begin() + long(ob.offset + ob.length))});
    o.sections[ob.section].objects.push_back(k);
  }
  std::vector<EncodedTensor> ts;
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const TensorInfo& t = a->tensors()[i];
    Bytes raw = *a->SectionBytes(t.section);
    ts.push_back(T(t.name, t.shape, t.encoding, Bytes(raw.begin() + long(t.offset), raw.begin() + long(t.offset + t.length)),
                   t.params, t.dtype));
    ts.back().refs = t.refs;
    o.sections[t.section].tensors.push_back(i);
  }
  auto rebuilt = BuildArtifact(ts, o);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ(*rebuilt, *golden);
}

TEST(ArtifactShuffle, ShuffleBytesIsTheSpecPermutation) {
  auto iota = [](size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i);
    return b;
  };
  EXPECT_EQ(ShuffleBytes(iota(10), 3), (Bytes{0, 3, 6, 9, 1, 4, 7, 2, 5, 8}));  // chunks of 4, 3, 3
  EXPECT_EQ(ShuffleBytes(iota(5), 2), (Bytes{0, 2, 4, 1, 3}));
  EXPECT_EQ(ShuffleBytes(iota(8), 4), (Bytes{0, 4, 1, 5, 2, 6, 3, 7}));
  EXPECT_EQ(ShuffleBytes(iota(3), 15), iota(3));  // chunks of 1, 1, 1, then 12 empty ones
  EXPECT_EQ(ShuffleBytes({}, 2), Bytes{});
  EXPECT_EQ(ShuffleBytes(Bytes{7}, 4), Bytes{7});
  EXPECT_EQ(ShuffleBytes(iota(4), 0), iota(4));
  EXPECT_EQ(UnshuffleBytes(Bytes{0, 3, 6, 9, 1, 4, 7, 2, 5, 8}, 3), iota(10));
  for (size_t n = 0; n < 40; ++n)
    for (size_t s = 2; s <= 15; ++s) {
      const Bytes sh = ShuffleBytes(iota(n), s);
      ASSERT_EQ(UnshuffleBytes(sh, s), iota(n)) << n << " " << s;
      // Chunk p starts at sum over q < p of ceil((n - q) / s).
      size_t off = 0;
      for (size_t p = 0; p < s && p < n; ++p) {
        ASSERT_EQ(sh[off], p) << n << " " << s;
        off += (n - p + s - 1) / s;
      }
    }
}

// Every stride 2..4, codecs none and a registered back-end, sections of 0 and 2 to 9 bytes
// (no encoding has a 1-byte payload) plus one of 21 bytes shared by three tensors.
TEST(ArtifactShuffle, RoundTripEveryStrideOddAndEvenSizes) {
  CodecGuard guard{{Codec::kZstd}};
  RegisterCodec(Codec::kZstd, XorCodec());
  std::vector<EncodedTensor> ts;
  std::vector<std::vector<float>> want;
  ts.push_back(T("const", {3}, kConst, {}, F32s({-0.5f})));
  want.push_back({-0.5f, -0.5f, -0.5f});
  for (uint64_t m = 0; m < 8; ++m) {  // uniform [1, m], one byte per code, scale 1: 2 + m bytes
    Bytes payload{0x00, 0x3c};
    std::vector<float> v;
    for (uint64_t j = 0; j < m; ++j) {
      const int q = int((37 * (m + j)) % 255) - 127;
      payload.push_back(uint8_t(int8_t(q)));
      v.push_back(float(q));
    }
    ts.push_back(T("u" + std::to_string(m), {1, m}, kUniform, payload, UniformParams{8, 0, 0, 0}.Serialize()));
    want.push_back(v);
  }
  ts.push_back(T("raw16", {3}, kRawF16, {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38}, {}, TargetDType::kF16));  // 1, -2, 0.5
  ts.push_back(T("raw32", {2}, kRawF32, F32s({3.0f, -0.25f})));
  ts.push_back(T("pgt", {3}, kPgInt8Tensor, {0x00, 0x00, 0x00, 0x3f, 0x02, 0xfc, 0x7f}));  // 0.5 * (2, -4, 127)
  want.insert(want.end(), {{1, -2, 0.5f}, {3.0f, -0.25f}, {1, -2, 63.5f}});
  for (Codec codec : {Codec::kNone, Codec::kZstd})
    for (uint8_t stride : {2, 3, 4}) {
      SCOPED_TRACE(std::string(CodecName(codec)) + " stride " + std::to_string(stride));
      WriteOptions o;
      for (size_t i = 0; i < 9; ++i) o.sections.push_back({codec, -1, {i}, {}, stride});
      o.sections.push_back({codec, -1, {9, 10, 11}, {}, stride});
      auto bytes = BuildArtifact(ts, o);
      ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
      EXPECT_EQ((*bytes)[8], 3);  // version
      EXPECT_EQ((*bytes)[18], uint8_t(codec) | stride << 4);  // section 0's codec byte (after two 1-byte counts)
      auto a = Artifact::Parse(*bytes, "shuffled.gpk");
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      ASSERT_EQ(a->sections().size(), 10u);
      for (size_t s = 0; s < 10; ++s) {
        const SectionInfo& sec = a->sections()[s];
        EXPECT_EQ(sec.codec, codec);
        EXPECT_EQ(sec.shuffle, stride);
        Bytes raw;
        for (size_t i : o.sections[s].tensors) raw.insert(raw.end(), ts[i].payload.begin(), ts[i].payload.end());
        EXPECT_EQ(sec.raw_size, raw.size());
        EXPECT_EQ(raw.size(), s == 0 ? 0u : s < 9 ? s + 1 : 21u);
        // The stored bytes are the shuffled raw bytes (behind the XOR codec's marker).
        Bytes stored(bytes->begin() + long(sec.file_offset), bytes->begin() + long(sec.file_offset + sec.stored_size));
        if (codec == Codec::kZstd) {
          ASSERT_FALSE(stored.empty());
          stored.erase(stored.begin());
          for (uint8_t& b : stored) b ^= 0x5A;
        }
        EXPECT_EQ(stored, ShuffleBytes(raw, stride)) << "section " << s;
        if (raw.size() > size_t(stride)) {
          EXPECT_NE(stored, raw) << "section " << s;
        }
        EXPECT_EQ(*a->SectionBytes(s), raw) << "section " << s;
      }
      auto all = a->DecodeAll();
      ASSERT_TRUE(all.ok()) << all.status().ToString();
      EXPECT_EQ(*all, want);
      for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(*DecodeTensorRef(*a, i), want[i]) << ts[i].name;
      EXPECT_EQ(AccountingSum(*a), bytes->size());
    }
}

TEST(ArtifactShuffle, WriterWritesTheLowestVersionAFileNeeds) {
  ByteWriter levels;
  for (float x : {-1.0f, 1.0f}) levels.F32(x);
  EncodedTensor book = T("cb", {1, 4}, kCodebook, {0x00, 0x3c, 0x05}, CodebookParams{1, 0, 0}.Serialize());
  book.refs = {0};
  const std::vector<EncodedTensor> ts = {T("w", {2}, kRawF32, F32s({1, 2})), book};
  auto version = [&](bool objects, uint8_t shuffle) -> int {
    WriteOptions o;
    if (objects) o.objects = {{"levels", kObjF32Values, levels.bytes()}};
    const std::vector<EncodedTensor> use = objects ? ts : std::vector<EncodedTensor>{ts[0]};
    o.sections = {{Codec::kNone, -1, {0}, {}, shuffle}};
    if (objects) o.sections.push_back({Codec::kNone, -1, {1}, {0}});
    auto b = BuildArtifact(use, o);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    auto a = Artifact::Parse(*b, "v.gpk");
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(*a->DecodeTensor(0), (std::vector<float>{1, 2}));
    if (objects) {
      EXPECT_EQ(*a->DecodeTensor(1), (std::vector<float>{1, -1, 1, -1}));  // indices 1, 0, 1, 0
    }
    return a->version();
  };
  EXPECT_EQ(version(false, 0), 1);
  EXPECT_EQ(version(true, 0), 2);
  EXPECT_EQ(version(false, 2), 3);
  EXPECT_EQ(version(true, 15), 3);
}

TEST(ArtifactShuffle, WriterRejectsStride1AndOver15) {
  const std::vector<EncodedTensor> ts = {T("w", {2}, kRawF32, F32s({1, 2}))};
  for (uint8_t stride : {1, 16, 255}) {
    WriteOptions o;
    o.sections = {{Codec::kNone, -1, {0}, {}, stride}};
    auto r = BuildArtifact(ts, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    const std::string want = "section 0: shuffle stride " + std::to_string(stride) + " is not 0 or 2..15";
    EXPECT_TRUE(Contains(r.status().message(), want)) << r.status().message();
  }
}

// All 256 codec bytes in versions 1, 2 and 3 of Man::Base (its 12 bytes stored shuffled when the
// byte names a stride): the reader rejects exactly what FORMAT.md rejects, with the reason.
TEST(ArtifactManifest, EveryCodecByteInEveryVersion) {
  for (Codec c : {Codec::kZlib, Codec::kZstd, Codec::kXz, Codec::kBrotli}) RegisterCodec(c, CodecImpl{});
  for (uint16_t version : {1, 2, 3}) {
    int accepted = 0;
    for (int byte = 0; byte < 256; ++byte) {
      const int backend = byte & 15, stride = byte >> 4;
      Man m = Man::Base();
      m.version = version;
      m.secs[0].codec = uint8_t(byte);
      m.data = ShuffleBytes(F32s({1, 2, 3}), size_t(stride));
      const Bytes f = Frame(m);
      SCOPED_TRACE("version " + std::to_string(version) + " codec byte " + std::to_string(byte));
      if (stride && version < 3) {
        const std::string why = "shuffle stride " + std::to_string(stride) + " needs version 3";
        ExpectReject(f, {"manifest: section 0: codec at offset 22", why.c_str()});
      } else if (backend >= 5) {
        const std::string why = "unknown codec " + std::to_string(backend);
        ExpectReject(f, {"manifest: section 0: codec at offset 22", why.c_str()});
      } else if (stride == 1) {
        ExpectReject(f, {"manifest: section 0: codec at offset 22", "shuffle stride 1 (0 or 2 to 15)"});
      } else {
        ++accepted;
        auto a = Artifact::Parse(f, "model.gpk");
        ASSERT_TRUE(a.ok()) << a.status().ToString();
        EXPECT_EQ(a->version(), version);
        EXPECT_EQ(a->sections()[0].codec, Codec(backend));
        EXPECT_EQ(a->sections()[0].shuffle, stride);
        auto d = a->DecodeAll();
        if (backend == 0) {
          ASSERT_TRUE(d.ok()) << d.status().ToString();
          EXPECT_EQ(*d, (std::vector<std::vector<float>>{{1, 2}, {3}}));
        } else {  // no back-end registered in this test
          ASSERT_FALSE(d.ok());
          EXPECT_EQ(d.status().code(), StatusCode::kUnsupported) << d.status().ToString();
        }
      }
    }
    EXPECT_EQ(accepted, version < 3 ? 5 : 5 * 15);  // back-ends 0..4, times strides 0 and 2..15 in version 3
  }
  // Codec none keeps raw_size == stored_size when shuffled.
  Man m = Man::Base();
  m.version = 3;
  m.secs[0] = {0x20, 12, 13, std::nullopt};
  ExpectReject(m, {"section 0: raw_size at offset", "13 != stored_size 12 for codec none"});
}

// A shuffled section's CRC covers the stored (shuffled) bytes: a stride changed in the manifest
// with the manifest CRC and the file hash recomputed parses, and the values come out permuted.
TEST(ArtifactShuffle, CrcIsOverTheStoredBytes) {
  Man m = Man::Base();
  m.version = 3;
  m.secs[0].codec = 0x20;
  m.data = ShuffleBytes(F32s({1, 2, 3}), 2);
  const Bytes good = Frame(m);
  auto a = Artifact::Parse(good, "model.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a->DecodeAll(), (std::vector<std::vector<float>>{{1, 2}, {3}}));
  m.secs[0].codec = 0x30;  // same stored bytes, so the section CRC still matches them
  const Bytes other = Frame(m);
  auto b = Artifact::Parse(other, "model.gpk");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b->SectionBytes(0), UnshuffleBytes(ShuffleBytes(F32s({1, 2, 3}), 2), 3));
  EXPECT_NE(*b->SectionBytes(0), F32s({1, 2, 3}));
  // ... which is why the manifest CRC and the file hash must catch the change: the same byte
  // flipped in the good file is rejected.
  Bytes flipped = good;
  const size_t at = 22;  // the codec byte
  ASSERT_EQ(flipped[at], 0x20);
  flipped[at] = 0x30;
  ExpectReject(flipped, {"footer: file XXH64"});
  auto no_hash = ParseNoHash(flipped);
  ASSERT_FALSE(no_hash.ok());
  EXPECT_TRUE(Contains(no_hash.status().message(), "manifest: CRC-32C")) << no_hash.status().message();
}

}  // namespace
}  // namespace golfpack::gpk
