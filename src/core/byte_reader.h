// Bounds-checked little-endian reading and writing of binary formats.
//
// ByteReader walks a std::span<const uint8_t>; every read returns a Result and
// a failed read leaves the position unchanged. Errors are kCorrupt and name
// what was being read and where:
//   "reading tensor count at offset 12: need 4 bytes, 2 left"
// Offsets are base_offset + position, so a reader over a slice of a file can
// report absolute file offsets.
//
// ByteWriter is the matching appender over an owned std::vector<uint8_t>.
// CheckedAdd / CheckedMul are overflow-safe uint64 helpers for sizes read from
// untrusted input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace golfpack {

// a + b, or nullopt on uint64 overflow.
constexpr std::optional<uint64_t> CheckedAdd(uint64_t a, uint64_t b) {
  if (a > UINT64_MAX - b) return std::nullopt;
  return a + b;
}

// a * b, or nullopt on uint64 overflow.
constexpr std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return std::nullopt;
  return a * b;
}

// Longest LEB128 encoding of a uint64.
inline constexpr size_t kMaxVarintBytes = 10;

// Bytes LEB128 needs for `v` (1..10).
constexpr size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data, uint64_t base_offset = 0)
      : data_(data), base_(base_offset) {}

  size_t size() const { return data_.size(); }
  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }
  // base_offset + position(): the offset error messages report.
  uint64_t offset() const { return base_ + pos_; }

  // `what` names the field for the error message ("tensor count").
  Result<uint8_t> U8(std::string_view what);
  Result<uint16_t> U16(std::string_view what);
  Result<uint32_t> U32(std::string_view what);
  Result<uint64_t> U64(std::string_view what);
  Result<int32_t> I32(std::string_view what);
  Result<float> F32(std::string_view what);
  // Unsigned LEB128: at most 10 bytes, value must fit in 64 bits, and the
  // encoding must be minimal (no redundant trailing 0x80.. 0x00 groups), so
  // every value has exactly one accepted encoding.
  Result<uint64_t> Varint(std::string_view what);
  // The next n bytes as a subspan of the input (no copy).
  Result<std::span<const uint8_t>> Bytes(uint64_t n, std::string_view what);
  Status Skip(uint64_t n, std::string_view what);
  // Moves to an absolute position in [0, size()].
  Status Seek(uint64_t position, std::string_view what);

  // kCorrupt "<what> at offset <offset()>: <detail>", for semantic checks on
  // values just read (a bad magic, a count that is too large).
  Status CorruptAt(std::string_view what, std::string_view detail) const;
  // Same, at an explicit position inside this reader.
  Status CorruptAtPosition(size_t position, std::string_view what, std::string_view detail) const;

 private:
  Status NeedError(size_t need, std::string_view what) const;
  // Little-endian unsigned of `n` bytes (n <= 8); caller checked bounds.
  uint64_t LoadLE(size_t n) const;

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  uint64_t base_ = 0;
};

class ByteWriter {
 public:
  ByteWriter() = default;
  // Continues appending after the bytes already in `initial`.
  explicit ByteWriter(std::vector<uint8_t> initial) : buf_(std::move(initial)) {}

  void U8(uint8_t v) { buf_.push_back(v); }
  void U16(uint16_t v) { PutLE(v, 2); }
  void U32(uint32_t v) { PutLE(v, 4); }
  void U64(uint64_t v) { PutLE(v, 8); }
  void I32(int32_t v) { PutLE(static_cast<uint32_t>(v), 4); }
  void F32(float v);
  void Varint(uint64_t v);
  void Bytes(std::span<const uint8_t> bytes) { buf_.insert(buf_.end(), bytes.begin(), bytes.end()); }
  void Reserve(size_t n) { buf_.reserve(n); }

  size_t size() const { return buf_.size(); }
  const std::vector<uint8_t>& bytes() const { return buf_; }
  std::vector<uint8_t>& mutable_bytes() { return buf_; }
  std::vector<uint8_t> Take() && { return std::move(buf_); }

 private:
  void PutLE(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
};

}  // namespace golfpack
