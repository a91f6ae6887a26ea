// Encoding 7 (`ans_grid`, FORMAT.md "7: ans_grid"): params, the minimum
// payload rule, hand-built streams decoded by the fast and the reference
// decoder (bit-identical values, identical errors) on random and adversarial
// inputs, the container round trip with variable-rate lengths, and rejection
// of corrupt, truncated and extended payloads.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/half.h"
#include "core/rans.h"

namespace golfpack::gpk {
namespace {

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

uint64_t Numel(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

// A tensor built by hand from codes and (already representable) scales.
struct Ans {
  std::vector<uint64_t> shape;
  std::vector<uint8_t> params, payload;
  std::vector<float> expect;  // code * scale, computed here independently
};

struct Build {
  uint8_t scale_dtype = 0;
  uint32_t group_size = 0;
  uint8_t model = 0;
  int contexts = 4;
  int scale_bits = kRansDefaultScaleBits;
  int extra_alphabet = 0;  // widen the alphabet beyond 2 * max|code| + 1 (by an even amount keeps it odd)
};

// Stores scale s in the dtype and returns the value the decoder will see.
float PutScale(ByteWriter& w, float s, uint8_t dtype) {
  if (dtype == 1) {
    w.F32(s);
    return s;
  }
  const uint16_t b = dtype == 0 ? FloatToHalfBits(s) : FloatToBF16Bits(s);
  w.U16(b);
  return dtype == 0 ? HalfBitsToFloat(b) : BF16BitsToFloat(b);
}

Ans Make(std::vector<uint64_t> shape, const std::vector<int>& codes, const std::vector<float>& scales, const Build& b) {
  Ans a;
  a.shape = shape;
  AnsGridParams p;
  p.scale_dtype = b.scale_dtype;
  p.group_size = b.group_size;
  p.model = b.model;
  a.params = p.Serialize();
  const uint64_t rows = shape[0], cols = rows ? Numel(shape) / rows : 0;
  const uint64_t gpr = b.group_size ? cols / b.group_size : 1;
  EXPECT_EQ(scales.size(), rows * gpr);
  ByteWriter w;
  std::vector<float> stored;
  for (float s : scales) stored.push_back(PutScale(w, s, b.scale_dtype));
  int z = 0;
  for (int c : codes) z = std::max(z, std::abs(c));
  z += b.extra_alphabet / 2;
  std::vector<uint16_t> sym(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) sym[i] = static_cast<uint16_t>(codes[i] + z);
  auto stream = b.model == 0 ? RansCompress(sym, 2 * z + 1 + (b.extra_alphabet & 1), b.scale_bits)
                             : ContextRansCompress(sym, 2 * z + 1 + (b.extra_alphabet & 1), static_cast<uint16_t>(z),
                                                   b.contexts, b.scale_bits);
  EXPECT_TRUE(stream.ok()) << stream.status().ToString();
  a.payload = std::move(w).Take();
  a.payload.insert(a.payload.end(), stream->begin(), stream->end());
  a.expect.resize(codes.size());
  for (uint64_t i = 0; i < codes.size(); ++i) {
    const uint64_t r = i / cols, c = i % cols;
    const float s = stored[r * gpr + (b.group_size ? c / b.group_size : 0)];
    a.expect[i] = static_cast<float>(codes[i]) * s;
  }
  return a;
}

// Both decoders: same status and message; when ok, bit-identical output.
Result<std::vector<float>> DecodeBoth(const std::vector<uint64_t>& shape, std::span<const uint8_t> params,
                                      std::span<const uint8_t> payload) {
  const EncodingTraits* e = FindEncoding(kAnsGrid);
  EXPECT_NE(e, nullptr);
  const uint64_t numel = Numel(shape);
  TensorView v{shape, numel, params, payload};
  std::vector<float> fast(numel, 12345.0f), ref(numel, -999.0f);
  Status a = e->decode(v, fast);
  Status b = DecodeRef(e->id, v, ref);
  EXPECT_EQ(a.code(), b.code()) << a.ToString() << " vs " << b.ToString();
  EXPECT_EQ(a.message(), b.message());
  if (!a.ok()) return a;
  for (size_t i = 0; i < numel; ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(fast[i]), std::bit_cast<uint32_t>(ref[i])) << "element " << i;
  return fast;
}

void ExpectDecodes(const Ans& a, const std::string& what) {
  auto r = DecodeBoth(a.shape, a.params, a.payload);
  ASSERT_TRUE(r.ok()) << what << ": " << r.status().ToString();
  ASSERT_EQ(r->size(), a.expect.size());
  for (size_t i = 0; i < a.expect.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>((*r)[i]), std::bit_cast<uint32_t>(a.expect[i])) << what << " element " << i;
}

std::vector<int> Laplace(size_t n, double b, int clip, std::mt19937_64& rng) {
  std::exponential_distribution<double> ex(1.0 / b);
  std::bernoulli_distribution sign(0.5);
  std::vector<int> v(n);
  for (auto& c : v) {
    const double x = ex(rng) * (sign(rng) ? 1 : -1);
    c = static_cast<int>(std::clamp(std::nearbyint(x), -double(clip), double(clip)));
  }
  return v;
}

// ---------------------------------------------------------------- params and sizes

TEST(AnsGridParams, SerializeIsSixBytesLittleEndian) {
  AnsGridParams p;
  p.scale_dtype = 2;
  p.group_size = 0x01020304;
  p.model = 1;
  EXPECT_EQ(p.Serialize(), (std::vector<uint8_t>{2, 4, 3, 2, 1, 1}));
  auto q = AnsGridParams::Parse(p.Serialize());
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->scale_dtype, 2);
  EXPECT_EQ(q->group_size, 0x01020304u);
  EXPECT_EQ(q->model, 1);
}

TEST(AnsGridParams, RejectsBadFields) {
  auto expect_bad = [](std::vector<uint8_t> b, const char* part) {
    auto r = AnsGridParams::Parse(b);
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_TRUE(Contains(r.status().message(), part)) << r.status().message();
  };
  expect_bad({0, 0, 0, 0, 0}, "params_size 5, expected 6");
  expect_bad({0, 0, 0, 0, 0, 0, 0}, "params_size 7, expected 6");
  expect_bad({3, 0, 0, 0, 0, 0}, "unknown scale_dtype 3");
  expect_bad({0, 0, 0, 0, 0, 17}, "unknown model 17");
}

TEST(AnsGridSize, IsAMinimumAndRejectsBadShapes) {
  const EncodingTraits* e = FindEncoding(kAnsGrid);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(e->name, "ans_grid");
  EXPECT_FALSE(e->fixed_rate);
  AnsGridParams p;
  std::vector<uint64_t> shape{3, 8};
  // 3 f16 scales + 4-byte order-0 header + 4 states.
  EXPECT_EQ(*e->payload_size(shape, 24, p.Serialize()), 6u + 4u + 16u);
  p.model = 1;
  EXPECT_EQ(*e->payload_size(shape, 24, p.Serialize()), 6u + 5u + 16u);
  p.scale_dtype = 1;
  p.group_size = 4;
  EXPECT_EQ(*e->payload_size(shape, 24, p.Serialize()), 24u + 5u + 16u);
  std::vector<uint64_t> two{1, 2};
  p = AnsGridParams{};
  EXPECT_EQ(*e->payload_size(two, 2, p.Serialize()), 2u + 4u + 8u);  // states = min(numel, 4)
  std::vector<uint64_t> empty{0, 5};
  EXPECT_EQ(*e->payload_size(empty, 0, p.Serialize()), 4u);
  std::vector<uint64_t> scalar;
  auto r = e->payload_size(scalar, 1, p.Serialize());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "ndim >= 1"));
  p.group_size = 3;
  r = e->payload_size(shape, 24, p.Serialize());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "group_size 3 does not divide cols 8"));
}

// Every hand-built stream is at least the minimum, whatever the model.
TEST(AnsGridSize, MinimumNeverExceedsARealPayload) {
  const EncodingTraits* e = FindEncoding(kAnsGrid);
  for (uint8_t model : {0, 1}) {
    for (int sb = kRansMinScaleBits; sb <= kRansMaxScaleBits; ++sb) {
      for (std::vector<uint64_t> shape : {std::vector<uint64_t>{0, 3}, {1, 1}, {1, 3}, {2, 4}}) {
        Build b;
        b.model = model;
        b.scale_bits = sb;
        const uint64_t n = Numel(shape);
        Ans a = Make(shape, std::vector<int>(n, 0), std::vector<float>(shape[0], 1.0f), b);
        EXPECT_LE(*e->payload_size(a.shape, n, a.params), a.payload.size());
        ExpectDecodes(a, "minimal");
      }
    }
  }
}

// ---------------------------------------------------------------- decoding

TEST(AnsGridDecode, HandComputed) {
  // 2 x 3, f32 scales 0.5 and -2 (a negative scale is legal: value = code * scale).
  Build b;
  b.scale_dtype = 1;
  Ans a = Make({2, 3}, {-1, 0, 2, 3, -3, 0}, {0.5f, -2.0f}, b);
  auto r = DecodeBoth(a.shape, a.params, a.payload);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<float>{-0.5f, 0.0f, 1.0f, -6.0f, 6.0f, -0.0f}));
  // The stream is the RansCompress layout: u8 scale_bits, varint alphabet 7 right after the scales.
  EXPECT_EQ(a.payload[8], kRansDefaultScaleBits);
  EXPECT_EQ(a.payload[9], 7);
}

TEST(AnsGridDecode, FastEqualsReferenceOnRandomAndAdversarialInputs) {
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<float> scale_dist(1e-4f, 3.0f);
  int cases = 0;
  for (uint8_t dtype : {0, 1, 2}) {
    for (uint8_t model : {0, 1}) {
      for (uint32_t group : {0u, 4u, 16u}) {
        for (int kind = 0; kind < 6; ++kind) {
          const uint64_t rows = kind == 5 ? 1 : 1 + rng() % 7, cols = 16 * (1 + rng() % 4);
          const uint64_t n = rows * cols;
          std::vector<int> codes;
          switch (kind) {
            case 0: codes.assign(n, 0); break;                       // alphabet 1: every symbol costs 0 bits
            case 1: codes = Laplace(n, 2.0, 2047, rng); break;       // typical
            case 2: codes = Laplace(n, 0.2, 2047, rng); break;       // nearly all zero
            case 3:                                                  // outliers at the alphabet limit
              codes = Laplace(n, 3.0, 2047, rng);
              codes[0] = 2047;
              codes[n - 1] = -2047;
              break;
            case 4:                                                  // uniform over a wide range
              codes.resize(n);
              for (auto& c : codes) c = static_cast<int>(rng() % 801) - 400;
              break;
            default: codes = Laplace(n, 1.0, 2047, rng); codes[0] = 0; break;  // single row
          }
          const uint64_t gpr = group ? cols / group : 1;
          std::vector<float> scales(rows * gpr);
          for (auto& s : scales) s = scale_dist(rng);
          if (kind == 0 && !scales.empty()) scales[0] = 0.0f;  // a zero scale decodes to zeros
          Build b;
          b.scale_dtype = dtype;
          b.group_size = group;
          b.model = model;
          b.contexts = 1 + static_cast<int>(rng() % 8);
          b.scale_bits = kind == 3 ? 12 + static_cast<int>(rng() % 4) : 10 + static_cast<int>(rng() % 6);
          Ans a = Make({rows, cols}, codes, scales, b);
          ExpectDecodes(a, "dtype " + std::to_string(dtype) + " model " + std::to_string(model) + " group " +
                               std::to_string(group) + " kind " + std::to_string(kind));
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 108);
}

TEST(AnsGridDecode, HigherRankTensorsAndEmptyTensors) {
  Build b;
  std::mt19937_64 rng(5);
  Ans a = Make({2, 3, 4}, Laplace(24, 1.5, 2047, rng), {0.25f, 0.125f}, b);  // cols = 12
  ExpectDecodes(a, "3-d");
  b.model = 1;
  Ans e = Make({0, 7}, {}, {}, b);
  ExpectDecodes(e, "0 rows");
  b.group_size = 4;
  Ans f = Make({3, 0}, {}, {}, b);  // cols 0: 0 groups per row, no scales
  ExpectDecodes(f, "0 cols");
}

TEST(AnsGridDecode, RejectsEvenAlphabetsAndAWrongZeroPoint) {
  Build b;
  b.extra_alphabet = 1;  // alphabet 2 * 2 + 1 + 1 = 6
  Ans a = Make({1, 4}, {-2, 0, 1, 2}, {1.0f}, b);
  auto r = DecodeBoth(a.shape, a.params, a.payload);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_TRUE(Contains(r.status().message(), "alphabet size 6 is even")) << r.status().message();

  // Context model whose zero point is not (A - 1) / 2.
  std::vector<uint16_t> sym{0, 1, 2, 1};
  auto stream = ContextRansCompress(sym, 3, 0, 2);
  ASSERT_TRUE(stream.ok());
  AnsGridParams p;
  p.model = 1;
  ByteWriter w;
  w.U16(FloatToHalfBits(1.0f));
  w.Bytes(*stream);
  std::vector<uint8_t> payload = std::move(w).Take();
  std::vector<uint64_t> shape{1, 4};
  r = DecodeBoth(shape, p.Serialize(), payload);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "zero_point 0, expected (alphabet - 1) / 2 = 1")) << r.status().message();

  // The same stream read as model 0 is not an order-0 table.
  p.model = 0;
  r = DecodeBoth(shape, p.Serialize(), payload);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
}

TEST(AnsGridDecode, TruncatedExtendedAndShortPayloadsAreCorrupt) {
  std::mt19937_64 rng(11);
  for (uint8_t model : {0, 1}) {
    Build b;
    b.model = model;
    Ans a = Make({4, 32}, Laplace(128, 2.0, 2047, rng), {0.1f, 0.2f, 0.3f, 0.4f}, b);
    ExpectDecodes(a, "base");
    for (size_t len = 0; len < a.payload.size(); ++len) {
      auto r = DecodeBoth(a.shape, a.params, std::span<const uint8_t>(a.payload).first(len));
      ASSERT_FALSE(r.ok()) << "truncated to " << len;
      EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
    }
    for (uint8_t extra : {0, 1, 255}) {
      std::vector<uint8_t> longer = a.payload;
      longer.push_back(extra);
      auto r = DecodeBoth(a.shape, a.params, longer);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
      EXPECT_TRUE(Contains(r.status().message(), "trailing")) << r.status().message();
    }
  }
  // Below the minimum, the contract check names it.
  Ans a = Make({1, 8}, std::vector<int>(8, 1), {1.0f}, Build{});
  auto r = DecodeBoth(a.shape, a.params, std::span<const uint8_t>(a.payload).first(5));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "encoding requires at least 22")) << r.status().message();
}

// Every single-byte change in the stream: no crash, same status from both
// decoders, and (nearly always) Corrupt. Changes in the scales decode fine.
TEST(AnsGridDecode, MutatedStreamsNeverCrashAndAreMostlyDetected) {
  std::mt19937_64 rng(99);
  for (uint8_t model : {0, 1}) {
    Build b;
    b.model = model;
    Ans a = Make({8, 64}, Laplace(512, 1.5, 2047, rng), std::vector<float>(8, 0.05f), b);
    const size_t stream_start = 8 * 2;
    size_t detected = 0, trials = 0;
    for (size_t pos = stream_start; pos < a.payload.size(); ++pos) {
      for (uint8_t x : {uint8_t{1}, uint8_t{0x80}, static_cast<uint8_t>(1 + rng() % 255)}) {
        std::vector<uint8_t> m = a.payload;
        m[pos] ^= x;
        auto r = DecodeBoth(a.shape, a.params, m);
        ++trials;
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
          ++detected;
        }
      }
    }
    EXPECT_GE(detected * 100, trials * 95) << detected << "/" << trials;
  }
}

// ---------------------------------------------------------------- container

TEST(AnsGridContainer, RoundTripWithExactVariableRateLengths) {
  std::mt19937_64 rng(3);
  Build b0;
  Build b1;
  b1.model = 1;
  b1.scale_dtype = 2;
  b1.group_size = 16;
  Ans a = Make({16, 64}, Laplace(1024, 2.5, 2047, rng), std::vector<float>(16, 0.01f), b0);
  Ans c = Make({8, 32}, Laplace(256, 0.7, 2047, rng), std::vector<float>(16, 0.5f), b1);
  std::vector<EncodedTensor> ts(3);
  ts[0] = EncodedTensor{"a", a.shape, TargetDType::kF32, kAnsGrid, a.params, a.payload};
  ts[1] = EncodedTensor{"zero", {4, 4}, TargetDType::kBF16, kAnsGrid, {}, {}};
  Ans z = Make({4, 4}, std::vector<int>(16, 0), std::vector<float>(4, 0.0f), b0);
  ts[1].params = z.params;
  ts[1].payload = z.payload;
  ts[2] = EncodedTensor{"c", c.shape, TargetDType::kF16, kAnsGrid, c.params, c.payload};

  for (bool shared : {false, true}) {
    WriteOptions o;
    if (shared) o.sections = {SectionPlan{Codec::kNone, -1, {0, 1, 2}}};
    auto file = BuildArtifact(ts, o);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    auto art = Artifact::Parse(*file, "mem");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    uint64_t sum = 0;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(art->tensors()[i].length, ts[i].payload.size());
      sum += ts[i].payload.size();
    }
    uint64_t stored = 0;
    for (const auto& s : art->sections()) stored += s.stored_size;
    EXPECT_EQ(stored, sum);
    EXPECT_EQ(art->file_size(), kContainerOverhead + art->manifest_size() + sum);
    const std::vector<float>* expect[3] = {&a.expect, &z.expect, &c.expect};
    for (size_t i = 0; i < 3; ++i) {
      auto d = art->DecodeTensor(i);
      auto dr = gpk::DecodeTensorRef(*art, i);
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      ASSERT_TRUE(dr.ok()) << dr.status().ToString();
      ASSERT_EQ(d->size(), expect[i]->size());
      for (size_t k = 0; k < d->size(); ++k) {
        ASSERT_EQ(std::bit_cast<uint32_t>((*d)[k]), std::bit_cast<uint32_t>((*expect[i])[k]));
        ASSERT_EQ(std::bit_cast<uint32_t>((*dr)[k]), std::bit_cast<uint32_t>((*expect[i])[k]));
      }
    }
  }
}

TEST(AnsGridContainer, WriterRejectsAPayloadBelowTheMinimum) {
  Ans a = Make({2, 8}, std::vector<int>(16, 1), {1.0f, 1.0f}, Build{});
  EncodedTensor t{"a", a.shape, TargetDType::kF32, kAnsGrid, a.params, {1, 2, 3}};
  auto r = BuildArtifact({t}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "ans_grid requires at least 24")) << r.status().message();
  t.params = {9, 9};
  r = BuildArtifact({t}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "params_size 2, expected 6")) << r.status().message();
}

TEST(AnsGridContainer, CorruptSectionsAreCaughtByTheSectionCrcWithoutTheFileHash) {
  std::mt19937_64 rng(8);
  Ans a = Make({8, 64}, Laplace(512, 2.0, 2047, rng), std::vector<float>(8, 0.03f), Build{});
  EncodedTensor t{"w", a.shape, TargetDType::kF32, kAnsGrid, a.params, a.payload};
  auto file = BuildArtifact({t}, {});
  ASSERT_TRUE(file.ok());
  auto art = Artifact::Parse(*file, "mem");
  ASSERT_TRUE(art.ok());
  const uint64_t start = art->sections()[0].file_offset;
  Artifact::Options no_hash;
  no_hash.verify_file_hash = false;
  for (uint64_t off = start; off < start + a.payload.size(); off += 7) {
    std::vector<uint8_t> bad = *file;
    bad[off] ^= 0x10;
    EXPECT_FALSE(Artifact::Parse(bad, "mem").ok());  // the file hash
    auto p = Artifact::Parse(bad, "mem", no_hash);
    ASSERT_TRUE(p.ok()) << p.status().ToString();  // the manifest is intact
    auto d = p->DecodeTensor(0);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
    EXPECT_TRUE(Contains(d.status().message(), "CRC-32C")) << d.status().message();
  }
}

// A few bytes can describe 2^30 elements (alphabet 1): the decoded-element
// limit is what bounds the allocation.
TEST(AnsGridContainer, DecodedElementLimitBoundsVariableRateTensors) {
  const uint64_t cols = uint64_t{1} << 30;
  ByteWriter w;
  w.U16(FloatToHalfBits(1.0f));  // one row, one scale
  w.U8(10);                      // table: scale_bits 10
  w.Varint(1);                   // alphabet 1
  w.Varint(1024);                // freq of symbol 0 = 2^10
  for (int k = 0; k < 4; ++k) w.U32(kRansL);  // states never move
  EncodedTensor t{"huge", {1, cols}, TargetDType::kF32, kAnsGrid, AnsGridParams{}.Serialize(), std::move(w).Take()};
  EXPECT_EQ(t.payload.size(), 22u);
  auto file = BuildArtifact({t}, {});
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Artifact::Options small;
  small.max_elements = uint64_t{1} << 20;
  auto p = Artifact::Parse(*file, "mem", small);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(p.status().message(), "decoded-size limit")) << p.status().message();
  // A small version of the same stream decodes to all zeros.
  std::vector<uint64_t> shape{1, 1000};
  auto r = DecodeBoth(shape, t.params, t.payload);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (float v : *r) ASSERT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace golfpack::gpk
