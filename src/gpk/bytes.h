// Bounds-checked little-endian reading (FORMAT.md "Conventions") and the checksums.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "gpk/status.h"

namespace golfpack {

using ByteSpan = std::span<const uint8_t>;

constexpr std::optional<uint64_t> CheckedAdd(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? std::nullopt : std::optional(a + b);
}
constexpr std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  return a && b > UINT64_MAX / a ? std::nullopt : std::optional(a * b);
}
// The n <= 8 bytes at p, little-endian.
inline uint64_t LoadLE(const uint8_t* p, int n) {
  uint64_t v = 0;
  while (n--) v = (v << 8) | p[n];
  return v;
}

// CRC-32C (Castagnoli) of `data`, continuing `crc`: Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(ByteSpan data, uint32_t crc = 0);
// XXH64 as in the reference xxhash.h.
uint64_t Xxh64(ByteSpan data, uint64_t seed = 0);
// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
bool ValidUtf8(std::string_view s);

class ByteReader {
 public:
  explicit ByteReader(ByteSpan data, uint64_t base_offset = 0) : data_(data), base_(base_offset) {}
  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }
  uint64_t offset() const { return base_ + pos_; }
  size_t start() const { return start_; }  // where the last read began

  // A failed read does not move and is kCorrupt: "reading what at offset N: need 4 bytes, 2 left".
  Result<uint8_t> U8(std::string_view what);
  Result<uint32_t> U32(std::string_view what);
  Result<uint64_t> Varint(std::string_view what);  // minimal LEB128
  Result<ByteSpan> Bytes(uint64_t n, std::string_view what);
  // "what at offset N: detail...", N the offset of `position`.
  Status CorruptAtPosition(size_t position, std::string_view what, const auto&... detail) const {
    return Corrupt(what, " at offset ", base_ + position, ": ", detail...);
  }

 private:
  Status Fail(std::string_view what, const auto&... d) const { return CorruptAtPosition(pos_, Str("reading ", what), d...); }
  ByteSpan data_;
  size_t pos_ = 0, start_ = 0;
  uint64_t base_ = 0;
};

}  // namespace golfpack
