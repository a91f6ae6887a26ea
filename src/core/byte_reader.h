// ByteReader lives in the counted decoder (gpk/bytes.h); ByteWriter, the
// matching appender over an owned std::vector<uint8_t>, is writer-side.
#pragma once

#include <span>
#include <vector>

#include "gpk/bytes.h"

namespace golfpack {

constexpr size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

class ByteWriter {
 public:
  ByteWriter() = default;
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
