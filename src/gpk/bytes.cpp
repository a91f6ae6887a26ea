#include "gpk/bytes.h"

namespace golfpack {

bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = uint8_t(s[i]);
    const size_t n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
    if (n == 4 || s.size() - i <= n) return false;
    uint32_t cp = n ? c & (0x3f >> n) : c;
    for (size_t k = 1; k <= n; ++k) {
      if ((uint8_t(s[i + k]) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3f);
    }
    constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Status ByteReader::Need(uint64_t n, std::string_view what) const {
  return Corrupt("reading " + std::string(what) + " at offset " + std::to_string(offset()) + ": need " +
                 std::to_string(n) + (n == 1 ? " byte, " : " bytes, ") + std::to_string(remaining()) + " left");
}

Status ByteReader::CorruptAtPosition(size_t position, std::string_view what, std::string_view detail) const {
  return Corrupt(std::string(what) + " at offset " + std::to_string(base_ + position) + ": " + std::string(detail));
}

Result<uint8_t> ByteReader::U8(std::string_view what) {
  if (remaining() < 1) return Need(1, what);
  return data_[pos_++];
}

Result<uint32_t> ByteReader::U32(std::string_view what) {
  if (remaining() < 4) return Need(4, what);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | data_[pos_ + size_t(i)];
  pos_ += 4;
  return v;
}

Result<uint64_t> ByteReader::Varint(std::string_view what) {
  const std::string r = "reading " + std::string(what);
  uint64_t v = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (pos_ + i >= data_.size())
      return Corrupt(r + " at offset " + std::to_string(offset()) + ": truncated varint (" + std::to_string(i) +
                     " bytes, no terminator)");
    const uint8_t b = data_[pos_ + i];
    // The 10th byte holds bit 63 only: more would overflow or continue.
    if (i == kMaxVarintBytes - 1 && b > 1) return CorruptAtPosition(pos_, r, "varint longer than 64 bits");
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if (b & 0x80) continue;
    if (b == 0 && i > 0)
      return CorruptAtPosition(pos_, r, "overlong varint (" + std::to_string(i + 1) + " bytes for value " + std::to_string(v) + ")");
    pos_ += i + 1;
    return v;
  }
  return Internal("unreachable varint state");
}

Result<std::span<const uint8_t>> ByteReader::Bytes(uint64_t n, std::string_view what) {
  if (n > remaining()) return Need(n, what);
  auto s = data_.subspan(pos_, size_t(n));
  pos_ += size_t(n);
  return s;
}

}  // namespace golfpack
