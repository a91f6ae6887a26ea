// Bounds-checked little-endian reading (FORMAT.md "Conventions") and the
// checksums. A failed read
// leaves the position unchanged and is kCorrupt naming what and where
// ("reading X at offset N: need 4 bytes, 2 left"); offsets are base_offset + position.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "gpk/status.h"

namespace golfpack {

constexpr std::optional<uint64_t> CheckedAdd(uint64_t a, uint64_t b) {
  if (a > UINT64_MAX - b) return std::nullopt;
  return a + b;
}
constexpr std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return std::nullopt;
  return a * b;
}
// The n <= 8 bytes at p, little-endian.
inline uint64_t LoadLE(const uint8_t* p, int n) {
  uint64_t v = 0;
  while (n--) v = (v << 8) | p[n];
  return v;
}

// CRC-32C (Castagnoli) of `data`, continuing `crc`: Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(std::span<const uint8_t> data, uint32_t crc = 0);
// XXH64 as in the reference xxhash.h.
uint64_t Xxh64(std::span<const uint8_t> data, uint64_t seed = 0);
// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
bool ValidUtf8(std::string_view s);

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data, uint64_t base_offset = 0) : data_(data), base_(base_offset) {}
  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }
  uint64_t offset() const { return base_ + pos_; }

  Result<uint8_t> U8(std::string_view what);
  Result<uint32_t> U32(std::string_view what);
  Result<uint64_t> Varint(std::string_view what);  // minimal LEB128 (FORMAT.md)
  Result<std::span<const uint8_t>> Bytes(uint64_t n, std::string_view what);
  // "what at offset N: detail", N the offset of `position`.
  Status CorruptAtPosition(size_t position, std::string_view what, std::string_view detail) const;

 private:
  Status Fail(std::string_view what, std::string_view detail) const;
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  uint64_t base_ = 0;
};

}  // namespace golfpack
