// Format version 2: shared objects, per-tensor refs and the codebook encoding.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/encodings.h"

namespace golfpack::gpk {
namespace {

std::vector<uint8_t> F32s(const std::vector<float>& v) {
  ByteWriter w;
  for (float x : v) w.F32(x);
  return std::move(w).Take();
}

std::vector<uint8_t> Golden() {
  std::ifstream f(std::string(GOLFPACK_SOURCE_DIR) + "/tests/gpk/golden_v2.gpk", std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A codebook tensor of random indices, bits b, per-group f16 scales.
EncodedTensor RandomCodebook(const std::string& name, uint64_t rows, uint64_t cols, uint8_t bits, uint32_t group,
                             uint32_t object, std::mt19937& rng) {
  EncodedTensor t;
  t.name = name;
  t.shape = {rows, cols};
  t.encoding = kCodebook;
  t.params = CodebookParams{bits, 0, group}.Serialize();
  const uint64_t scales = rows * (group ? cols / group : 1);
  for (uint64_t s = 0; s < scales; ++s) {
    t.payload.push_back(uint8_t(rng()));
    t.payload.push_back(0x3c);  // f16 in [1, 2)
  }
  uint64_t acc = 0, have = 0;
  for (uint64_t i = 0; i < rows * cols; ++i) {
    acc |= uint64_t(rng() % (1u << bits)) << have;
    for (have += bits; have >= 8; have -= 8, acc >>= 8) t.payload.push_back(uint8_t(acc));
  }
  if (have) t.payload.push_back(uint8_t(acc));
  t.refs = {object};
  return t;
}

TEST(Objects, GoldenV2DecodesToKnownValues) {
  const auto bytes = Golden();
  ASSERT_FALSE(bytes.empty());
  auto a = Artifact::Parse(bytes, "golden_v2.gpk");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->version(), 2);
  ASSERT_EQ(a->objects().size(), 1u);
  EXPECT_EQ(a->objects()[0].name, "levels");
  auto all = a->DecodeAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ((*all)[1], (std::vector<float>{-1, -0.5f, 0.5f, 1, 2, 1, -1, -2}));
  EXPECT_EQ((*all)[2], (std::vector<float>{0.5f, 0.25f, -0.25f, -0.5f}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(*DecodeTensorRef(*a, i), (*all)[i]);
  uint64_t sum = 0;
  const ByteAccount acct = AccountBytes(*a);
  for (const auto& [part, n] : acct.parts) sum += n;
  EXPECT_EQ(sum, bytes.size());
  EXPECT_EQ(acct.parts[3].first, "manifest.objects");
  EXPECT_EQ(acct.parts[5].first, "object:levels");
  // The object's 16 bytes are counted once, not once per referencing tensor.
  EXPECT_EQ(acct.objects[0], a->objects()[0].manifest_bytes + 16);
}

TEST(Objects, EveryTruncationAndBitFlipIsRejected) {
  const auto bytes = Golden();
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(Artifact::Parse(std::span(bytes).first(n), "t").ok()) << n;
  Artifact::Options no_hash;
  no_hash.verify_file_hash = false;
  for (size_t i = 0; i < bytes.size() * 8; ++i) {
    auto b = bytes;
    b[i / 8] ^= uint8_t(1u << (i % 8));
    auto a = Artifact::Parse(b, "t");
    EXPECT_FALSE(a.ok()) << "bit " << i;
    auto weak = Artifact::Parse(b, "t", no_hash);  // CRCs and checks alone
    if (weak.ok() && weak->DecodeAll().ok()) {  // only the footer hash itself may flip unnoticed here
      EXPECT_GE(i / 8, bytes.size() - 12) << "bit " << i;
      EXPECT_LT(i / 8, bytes.size() - 4) << "bit " << i;
    }
  }
}

TEST(Objects, SharedCodebookRoundTripsAndMatchesTheOracle) {
  std::mt19937 rng(3);
  for (uint8_t bits : {1, 2, 3, 4, 5, 8}) {
    std::vector<float> levels(size_t{1} << bits);
    for (float& v : levels) v = float(int(rng() % 2001) - 1000) / 256.0f;
    WriteOptions o;
    o.objects = {{"cb", kObjF32Values, F32s(levels)}};
    std::vector<EncodedTensor> ts = {RandomCodebook("x", 5, 24, bits, 0, 0, rng),
                                     RandomCodebook("y", 3, 24, bits, 8, 0, rng)};
    for (int shared : {0, 1}) {
      if (shared) o.sections = {SectionPlan{Codec::kNone, -1, {0, 1}, {0}}};
      auto file = BuildArtifact(ts, o);
      ASSERT_TRUE(file.ok()) << file.status().ToString();
      auto a = Artifact::Parse(*file, "cb.gpk");
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      for (size_t i = 0; i < ts.size(); ++i) {
        auto fast = a->DecodeTensor(i);
        auto ref = DecodeTensorRef(*a, i);
        ASSERT_TRUE(fast.ok() && ref.ok()) << fast.status().ToString() << ref.status().ToString();
        EXPECT_EQ(*fast, *ref);
      }
    }
  }
}

TEST(Objects, WriterAndReaderRejectBadRefs) {
  std::mt19937 rng(5);
  WriteOptions o;
  o.objects = {{"cb", kObjF32Values, F32s({1, 2, 3, 4})}};
  EncodedTensor t = RandomCodebook("x", 2, 8, 2, 0, 0, rng);
  auto expect_invalid = [&](std::vector<EncodedTensor> ts, WriteOptions w, const std::string& part) {
    auto r = BuildArtifact(ts, w);
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  };
  EncodedTensor bad_ref = t;
  bad_ref.refs = {1};
  expect_invalid({bad_ref}, o, "ref 1 >= object count 1");
  EncodedTensor no_ref = t;
  no_ref.refs = {};
  expect_invalid({no_ref}, o, "0 object refs, codebook takes 1");
  WriteOptions unused = o;
  unused.objects.push_back({"extra", kObjF32Values, F32s({0})});
  expect_invalid({t}, unused, "no tensor references it");
  WriteOptions odd = o;
  odd.objects[0].payload.push_back(0);
  expect_invalid({t}, odd, "not a whole number of f32");
  // Decoding checks the level count against bits.
  WriteOptions few = o;
  few.objects[0].payload = F32s({1, 2});
  auto file = BuildArtifact({t}, few);
  ASSERT_TRUE(file.ok());
  auto a = Artifact::Parse(*file, "few.gpk");
  ASSERT_TRUE(a.ok());
  auto d = a->DecodeTensor(0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(d.status().message().find("2^2 levels"), std::string::npos) << d.status().message();
}

TEST(Objects, VersionOneFilesAreUnchanged) {
  // No objects: the writer keeps version 1, byte for byte what version 1 wrote.
  EncodedTensor t;
  t.name = "w";
  t.shape = {2};
  t.encoding = kRawF32;
  t.payload = F32s({1, 2});
  auto file = BuildArtifact({t}, {});
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)[8], 1);
  auto a = Artifact::Parse(*file, "v1.gpk");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->version(), 1);
  EXPECT_TRUE(a->objects().empty());
}

}  // namespace
}  // namespace golfpack::gpk
