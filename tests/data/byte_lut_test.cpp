#include "data/byte_lut.h"

#include <gtest/gtest.h>

#include <vector>

namespace golfpack::data {
namespace {

// ids:   0 <pad>, 1 <s>, 2 </s>, 3 <unk>, 4 <0xE2>, 5 abc, 6 ▁the, 7 ▁, 8 é, 9 ▁€,
//        10 unused, 11 ▁user (user-defined), 12 "▁▁x" (only one ▁ is removed)
std::vector<PieceInfo> HandMadePieces() {
  return {
      {"<pad>", PieceKind::kControl},
      {"<s>", PieceKind::kControl},
      {"</s>", PieceKind::kControl},
      {"<unk>", PieceKind::kUnknown},
      {"<0xE2>", PieceKind::kByte},
      {"abc", PieceKind::kNormal},
      {"\xE2\x96\x81the", PieceKind::kNormal},
      {"\xE2\x96\x81", PieceKind::kNormal},
      {"\xC3\xA9", PieceKind::kNormal},
      {"\xE2\x96\x81\xE2\x82\xAC", PieceKind::kNormal},
      {"<unused>", PieceKind::kUnused},
      {"\xE2\x96\x81user", PieceKind::kUserDefined},
      {"\xE2\x96\x81\xE2\x96\x81x", PieceKind::kNormal},
  };
}

TEST(ByteLut, PieceByteCounts) {
  const auto pieces = HandMadePieces();
  const ByteLut lut = BuildByteLut(pieces, 16);
  ASSERT_EQ(lut.size(), 16u);
  ASSERT_EQ(lut.has_leading_space.size(), 16u);
  ASSERT_EQ(lut.is_boundary.size(), 16u);

  // control / unknown / unused: boundary, 0 bytes, no leading space
  for (int id : {0, 1, 2, 3, 10}) {
    EXPECT_EQ(lut.base_bytes[id], 0) << "id " << id;
    EXPECT_EQ(lut.is_boundary[id], 1) << "id " << id;
    EXPECT_EQ(lut.has_leading_space[id], 0) << "id " << id;
  }
  // byte fallback piece: exactly one byte, even though "<0xE2>" is 6 characters
  EXPECT_EQ(lut.base_bytes[4], 1);
  EXPECT_EQ(lut.is_boundary[4], 0);
  EXPECT_EQ(lut.has_leading_space[4], 0);
  // normal pieces
  EXPECT_EQ(lut.base_bytes[5], 3);  // abc
  EXPECT_EQ(lut.has_leading_space[5], 0);
  EXPECT_EQ(lut.base_bytes[6], 3);  // ▁the
  EXPECT_EQ(lut.has_leading_space[6], 1);
  EXPECT_EQ(lut.base_bytes[7], 0);  // ▁ alone
  EXPECT_EQ(lut.has_leading_space[7], 1);
  EXPECT_EQ(lut.base_bytes[8], 2);  // é
  EXPECT_EQ(lut.has_leading_space[8], 0);
  EXPECT_EQ(lut.base_bytes[9], 3);  // ▁€
  EXPECT_EQ(lut.has_leading_space[9], 1);
  EXPECT_EQ(lut.base_bytes[11], 4);  // user-defined ▁user counts like a normal piece
  EXPECT_EQ(lut.has_leading_space[11], 1);
  EXPECT_EQ(lut.is_boundary[11], 0);
  EXPECT_EQ(lut.base_bytes[12], 4);  // ▁▁x: only the first ▁ is removed (3 + 1)
  EXPECT_EQ(lut.has_leading_space[12], 1);
  for (int id : {5, 6, 7, 8, 9, 12}) EXPECT_EQ(lut.is_boundary[id], 0) << "id " << id;
  // table padding beyond the pieces: boundary tokens with 0 bytes
  for (int id = 13; id < 16; ++id) {
    EXPECT_EQ(lut.base_bytes[id], 0) << "id " << id;
    EXPECT_EQ(lut.is_boundary[id], 1) << "id " << id;
    EXPECT_EQ(lut.has_leading_space[id], 0) << "id " << id;
  }
}

TEST(ByteLut, TableIsAtLeastThePieceCount) {
  const auto pieces = HandMadePieces();
  EXPECT_EQ(BuildByteLut(pieces, 4).size(), pieces.size());
  EXPECT_EQ(BuildByteLut(pieces, 0).size(), pieces.size());
  EXPECT_EQ(BuildByteLut({}, 8).size(), 8u);
}

TEST(ByteLut, CountTargetBytesLeadingSpaceDependsOnPrevious) {
  const auto pieces = HandMadePieces();
  const ByteLut lut = BuildByteLut(pieces, 16);
  auto count = [&](std::vector<uint16_t> prev, std::vector<uint16_t> tgt) {
    return CountTargetBytes(lut, prev, tgt);
  };
  // "▁the" after <s> (boundary): the space is not counted
  EXPECT_EQ(count({1}, {6}), 3u);
  // after a normal piece: +1 for the space
  EXPECT_EQ(count({5}, {6}), 4u);
  // after unknown / unused / padding ids: boundary, no space
  EXPECT_EQ(count({3}, {6}), 3u);
  EXPECT_EQ(count({10}, {6}), 3u);
  EXPECT_EQ(count({14}, {6}), 3u);
  // after a byte piece: not a boundary
  EXPECT_EQ(count({4}, {9}), 4u);
  // "▁" alone after a normal piece is exactly the one space byte
  EXPECT_EQ(count({5}, {7}), 1u);
  // targets that are control tokens count nothing
  EXPECT_EQ(count({5}, {1}), 0u);
  // a whole sequence: <s> abc ▁the é ▁€ <0xE2> ▁ </s>
  const std::vector<uint16_t> stream = {1, 5, 6, 8, 9, 4, 7, 2};
  // abc 3 + ▁the 4 + é 2 + ▁€ 4 + byte 1 + ▁ 1 + </s> 0 = 15
  EXPECT_EQ(CountTargetBytes(lut, std::span(stream).first(stream.size() - 1), std::span(stream).subspan(1)),
            15u);
  EXPECT_EQ(CountStreamBytes(lut, stream), 15u);
  EXPECT_EQ(CountStreamBytes(lut, std::vector<uint16_t>{5}), 0u);
  // ids outside the table count nothing and act as boundaries
  EXPECT_EQ(count({5}, {999}), 0u);
  EXPECT_EQ(count({999}, {6}), 3u);
}

TEST(ByteLut, PieceKindNames) {
  EXPECT_STREQ(PieceKindName(PieceKind::kByte), "byte");
  EXPECT_STREQ(PieceKindName(PieceKind::kControl), "control");
  EXPECT_STREQ(PieceKindName(PieceKind::kUserDefined), "user_defined");
}

}  // namespace
}  // namespace golfpack::data
