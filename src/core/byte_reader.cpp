#include "core/byte_reader.h"

#include <bit>

namespace golfpack {

Status ByteReader::NeedError(size_t need, std::string_view what) const {
  std::string m = "reading ";
  m += what;
  m += " at offset " + std::to_string(offset()) + ": need " + std::to_string(need) +
       (need == 1 ? " byte, " : " bytes, ") + std::to_string(remaining()) + " left";
  return Corrupt(std::move(m));
}

Status ByteReader::CorruptAt(std::string_view what, std::string_view detail) const {
  return CorruptAtPosition(pos_, what, detail);
}

Status ByteReader::CorruptAtPosition(size_t position, std::string_view what,
                                     std::string_view detail) const {
  std::string m(what);
  m += " at offset " + std::to_string(base_ + position) + ": ";
  m += detail;
  return Corrupt(std::move(m));
}

uint64_t ByteReader::LoadLE(size_t n) const {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{data_[pos_ + i]} << (8 * i);
  return v;
}

Result<uint8_t> ByteReader::U8(std::string_view what) {
  if (remaining() < 1) return NeedError(1, what);
  return data_[pos_++];
}

Result<uint16_t> ByteReader::U16(std::string_view what) {
  if (remaining() < 2) return NeedError(2, what);
  auto v = static_cast<uint16_t>(LoadLE(2));
  pos_ += 2;
  return v;
}

Result<uint32_t> ByteReader::U32(std::string_view what) {
  if (remaining() < 4) return NeedError(4, what);
  auto v = static_cast<uint32_t>(LoadLE(4));
  pos_ += 4;
  return v;
}

Result<uint64_t> ByteReader::U64(std::string_view what) {
  if (remaining() < 8) return NeedError(8, what);
  uint64_t v = LoadLE(8);
  pos_ += 8;
  return v;
}

Result<int32_t> ByteReader::I32(std::string_view what) {
  GP_ASSIGN_OR_RETURN(uint32_t u, U32(what));
  return static_cast<int32_t>(u);  // two's complement (guaranteed in C++20)
}

Result<float> ByteReader::F32(std::string_view what) {
  GP_ASSIGN_OR_RETURN(uint32_t u, U32(what));
  return std::bit_cast<float>(u);
}

Result<uint64_t> ByteReader::Varint(std::string_view what) {
  uint64_t v = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (pos_ + i >= data_.size()) {
      std::string m = "reading ";
      m += what;
      m += " at offset " + std::to_string(offset()) + ": truncated varint (" +
           std::to_string(i) + " bytes, no terminator)";
      return Corrupt(std::move(m));
    }
    uint8_t b = data_[pos_ + i];
    // The 10th byte holds bit 63 only; anything more (including a
    // continuation bit) overflows 64 bits or makes the varint longer than 10.
    if (i == kMaxVarintBytes - 1 && b > 1) {
      return CorruptAt(std::string("reading ").append(what), "varint longer than 64 bits");
    }
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) {
        return CorruptAt(std::string("reading ").append(what),
                         "overlong varint (" + std::to_string(i + 1) + " bytes for value " +
                             std::to_string(v) + ")");
      }
      pos_ += i + 1;
      return v;
    }
  }
  return Internal("unreachable varint state");  // the i == 9 check returns first
}

Result<std::span<const uint8_t>> ByteReader::Bytes(uint64_t n, std::string_view what) {
  if (n > remaining()) {
    std::string m = "reading ";
    m += what;
    m += " at offset " + std::to_string(offset()) + ": need " + std::to_string(n) + " bytes, " +
         std::to_string(remaining()) + " left";
    return Corrupt(std::move(m));
  }
  auto s = data_.subspan(pos_, static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return s;
}

Status ByteReader::Skip(uint64_t n, std::string_view what) {
  GP_ASSIGN_OR_RETURN(auto s, Bytes(n, what));
  (void)s;
  return Status::Ok();
}

Status ByteReader::Seek(uint64_t position, std::string_view what) {
  if (position > data_.size()) {
    std::string m = "seeking to ";
    m += what;
    m += " at offset " + std::to_string(position) + " (base " + std::to_string(base_) +
         "): past the end of " + std::to_string(data_.size()) + " bytes";
    return Corrupt(std::move(m));
  }
  pos_ = static_cast<size_t>(position);
  return Status::Ok();
}

void ByteWriter::F32(float v) { U32(std::bit_cast<uint32_t>(v)); }

void ByteWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<uint8_t>(v));
}

}  // namespace golfpack
