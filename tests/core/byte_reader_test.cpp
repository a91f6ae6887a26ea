#include "core/byte_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace golfpack {
namespace {

TEST(ByteReader, ReadsLittleEndianScalars) {
  ByteWriter w;
  w.U8(0xab);
  w.U16(0x1234);
  w.U32(0xdeadbeef);
  w.U64(0x0102030405060708ull);
  w.I32(-5);
  w.F32(1.5f);
  w.Varint(300);
  const std::vector<uint8_t>& b = w.bytes();
  ASSERT_EQ(b.size(), 1u + 2 + 4 + 8 + 4 + 4 + 2);
  EXPECT_EQ(b[1], 0x34);  // little-endian
  EXPECT_EQ(b[3], 0xef);

  ByteReader r(b);
  EXPECT_EQ(*r.U8("a"), 0xab);
  EXPECT_EQ(*r.U8("b0"), 0x34);
  EXPECT_EQ(*r.U8("b1"), 0x12);
  EXPECT_EQ(*r.U32("c"), 0xdeadbeefu);
  EXPECT_EQ(*r.U32("d lo"), 0x05060708u);
  EXPECT_EQ(*r.U32("d hi"), 0x01020304u);
  EXPECT_EQ(*r.U32("e"), 0xfffffffbu);
  EXPECT_EQ(*r.U32("f"), 0x3fc00000u);  // 1.5f
  EXPECT_EQ(*r.Varint("g"), 300u);
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.position(), b.size());
}

TEST(ByteReader, ErrorNamesFieldAndOffset) {
  std::vector<uint8_t> b(14, 0);
  ByteReader r(b);
  ASSERT_TRUE(r.Bytes(12, "header").ok());
  Result<uint32_t> v = r.U32("tensor count");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(v.status().message(), "reading tensor count at offset 12: need 4 bytes, 2 left");
  EXPECT_EQ(r.position(), 12u);  // a failed read does not move
  EXPECT_EQ(*r.U8("tail"), 0u);
  EXPECT_EQ(*r.U8("tail"), 0u);
  EXPECT_EQ(r.U8("x").status().message(), "reading x at offset 14: need 1 byte, 0 left");
}

TEST(ByteReader, BaseOffsetAppearsInErrors) {
  std::vector<uint8_t> b(3, 0);
  ByteReader r(b, 1000);
  ASSERT_TRUE(r.U8("a").ok());
  EXPECT_EQ(r.U32("section size").status().message(),
            "reading section size at offset 1001: need 4 bytes, 2 left");
  EXPECT_EQ(r.CorruptAtPosition(r.position(), "magic", "bad").message(), "magic at offset 1001: bad");
}

TEST(ByteReader, BytesReturnsSubspanWithoutCopy) {
  std::vector<uint8_t> b = {1, 2, 3, 4, 5};
  ByteReader r(b);
  ASSERT_TRUE(r.U8("a").ok());
  auto s = r.Bytes(3, "blob");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->data(), b.data() + 1);
  EXPECT_EQ(s->size(), 3u);
  auto bad = r.Bytes(uint64_t{1} << 62, "huge blob");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "reading huge blob at offset 4: need 4611686018427387904 bytes, 1 left");
  EXPECT_FALSE(r.Bytes(2, "end").ok());
  EXPECT_TRUE(r.Bytes(1, "end").ok());
  EXPECT_TRUE(r.at_end());
}

TEST(ByteReader, VarintRoundTripsBoundaries) {
  const uint64_t values[] = {0, 1, 127, 128, 255, 300, 16383, 16384, (1ull << 32) - 1, 1ull << 32,
                             (1ull << 63) - 1, 1ull << 63, std::numeric_limits<uint64_t>::max()};
  ByteWriter w;
  for (uint64_t v : values) w.Varint(v);
  size_t expected_size = 0;
  for (uint64_t v : values) expected_size += VarintSize(v);
  EXPECT_EQ(w.size(), expected_size);
  EXPECT_EQ(VarintSize(0), 1u);
  EXPECT_EQ(VarintSize(127), 1u);
  EXPECT_EQ(VarintSize(128), 2u);
  EXPECT_EQ(VarintSize(std::numeric_limits<uint64_t>::max()), 10u);
  ByteReader r(w.bytes());
  for (uint64_t v : values) EXPECT_EQ(*r.Varint("v"), v);
  EXPECT_TRUE(r.at_end());
}

TEST(ByteReader, VarintRejectsOverlongTruncatedAndOverflow) {
  {  // 0 encoded in two bytes
    std::vector<uint8_t> b = {7, 0x80, 0x00};
    ByteReader r(b);
    ASSERT_TRUE(r.U8("pad").ok());
    auto v = r.Varint("vocab size");
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kCorrupt);
    EXPECT_EQ(v.status().message(), "reading vocab size at offset 1: overlong varint (2 bytes for value 0)");
    EXPECT_EQ(r.position(), 1u);
  }
  {  // 1 encoded as 0x81 0x80 0x00
    std::vector<uint8_t> b = {0x81, 0x80, 0x00};
    ByteReader r(b);
    EXPECT_FALSE(r.Varint("v").ok());
  }
  {  // truncated
    std::vector<uint8_t> b = {0x80, 0x80};
    ByteReader r(b);
    auto v = r.Varint("len");
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().message(), "reading len at offset 0: truncated varint (2 bytes, no terminator)");
  }
  {  // 11 bytes
    std::vector<uint8_t> b(10, 0xff);
    b.push_back(0x01);
    ByteReader r(b);
    auto v = r.Varint("len");
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().message(), "reading len at offset 0: varint longer than 64 bits");
  }
  {  // 10th byte carries bits beyond 64
    std::vector<uint8_t> b(9, 0xff);
    b.push_back(0x02);
    ByteReader r(b);
    EXPECT_FALSE(r.Varint("len").ok());
    b.back() = 0x01;  // exactly UINT64_MAX
    ByteReader r2(b);
    EXPECT_EQ(*r2.Varint("len"), std::numeric_limits<uint64_t>::max());
  }
}

TEST(ByteWriter, AppendsAfterInitialBytes) {
  ByteWriter w(std::vector<uint8_t>{9, 9});
  w.U16(0x0102);
  std::vector<uint8_t> b = std::move(w).Take();
  EXPECT_EQ(b, (std::vector<uint8_t>{9, 9, 2, 1}));
}

TEST(CheckedArithmetic, DetectsOverflow) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(CheckedAdd(1, 2), 3u);
  EXPECT_EQ(CheckedAdd(max, 0), max);
  EXPECT_FALSE(CheckedAdd(max, 1).has_value());
  EXPECT_EQ(CheckedMul(0, max), 0u);
  EXPECT_EQ(CheckedMul(max, 1), max);
  EXPECT_EQ(CheckedMul(1ull << 32, (1ull << 32) - 1), (1ull << 32) * ((1ull << 32) - 1));
  EXPECT_FALSE(CheckedMul(1ull << 32, 1ull << 32).has_value());
  EXPECT_FALSE(CheckedMul(3, max / 2).has_value());
  static_assert(CheckedMul(6, 7) == 42u);
}

}  // namespace
}  // namespace golfpack
