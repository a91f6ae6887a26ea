// The writer's side of ans_grid's row-order carry (docs/FORMAT.md, "ans_grid
// row-order carry (bits back)"): when the rows of a matrix may be stored in
// any order (the hidden units of an MLP), the order chosen carries
// floor(log2(rows!) / 8) bytes of the tensor's own scales, which the file then
// does not store.
//
//   rank[r]   position of stored row r among the rows sorted by their codes
//   X         the rank of the stored order: X = sum_r d_r (rows-1-r)!, with
//             d_r = #{s > r : rank[s] < rank[r]}
//   carried   the first B bytes of the scales in sorted order, read as X
//             (least significant byte first)
//
// A writer quantizes the rows (their codes and scales do not depend on the
// order), sorts them, reads X from the sorted scales, stores the rows in the
// order OrderOfRank(X) gives, and lets WithRowCarry drop the B bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"

namespace golfpack::encode {

inline constexpr uint64_t kRowCarryMaxRows = 8192;

// floor(log2(rows!) / 8), the bytes any order of `rows` rows can carry,
// capped at scale_bytes and 65535; 0 for rows < 2 or rows > kRowCarryMaxRows.
uint64_t RowCarryBytes(uint64_t rows, uint64_t scale_bytes);

// rank[r]: the position of row r in the rows sorted lexicographically by
// their codes (row-major, rows x cols), equal rows in their given order.
// *distinct says whether no two rows are equal (the carry needs that).
std::vector<uint64_t> SortedRank(std::span<const int32_t> codes, uint64_t rows, uint64_t cols, bool* distinct);

// X, the rank of the order `rank` describes, as `bytes` bytes (least
// significant first); nullopt when X >= 256^bytes.
std::optional<std::vector<uint8_t>> OrderRank(std::span<const uint64_t> rank, uint64_t bytes);

// The order whose rank is X (x: little-endian bytes, X < rows! needed):
// position[r] in sorted order of the row to store r-th. InvalidArgument when
// X >= rows!.
Result<std::vector<uint64_t>> OrderOfRank(std::span<const uint8_t> x, uint64_t rows);

// An ans_grid tensor (or a lowrank or patch tensor over one, nested: its
// inner ans_grid carries) with 6-byte params and one scale per row whose stored
// row order has the rank that the first B = RowCarryBytes bytes of its scales
// in sorted order spell: the same tensor with the carry (8-byte params, B
// payload bytes fewer, the scales in sorted order). nullopt, with *why set,
// when it cannot carry (two equal rows, another order, a shape or params the
// carry does not take); errors only for a tensor that does not decode.
Result<std::optional<gpk::EncodedTensor>> WithRowCarry(const gpk::EncodedTensor& t, std::string* why);

// The sorted-order scale bytes of an ans_grid tensor without the carry, and
// its rank vector: what a writer reads X from. nullopt (with *why) as above.
struct SortedScales {
  std::vector<uint64_t> rank;      // per stored row
  std::vector<uint8_t> scales;     // all scale bytes, in sorted row order
  uint64_t carry = 0;              // RowCarryBytes for the tensor
};
Result<std::optional<SortedScales>> SortRowsForCarry(const gpk::EncodedTensor& t, std::string* why);

}  // namespace golfpack::encode
