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

Status ByteReader::CorruptAtPosition(size_t position, std::string_view what, std::string_view detail) const {
  return Corrupt(Str(what, " at offset ", base_ + position, ": ", detail));
}

Status ByteReader::Fail(std::string_view what, std::string_view detail) const {
  return CorruptAtPosition(pos_, Str("reading ", what), detail);
}

Result<uint8_t> ByteReader::U8(std::string_view what) {
  GP_ASSIGN_OR_RETURN(auto b, Bytes(1, what));
  return b[0];
}

Result<uint32_t> ByteReader::U32(std::string_view what) {
  GP_ASSIGN_OR_RETURN(auto b, Bytes(4, what));
  return uint32_t(LoadLE(b.data(), 4));
}

Result<uint64_t> ByteReader::Varint(std::string_view what) {
  uint64_t v = 0;
  for (size_t i = 0;; ++i) {
    if (pos_ + i >= data_.size()) return Fail(what, Str("truncated varint (", i, " bytes, no terminator)"));
    const uint8_t b = data_[pos_ + i];
    // The 10th byte holds bit 63 only: more would overflow or continue.
    if (i == 9 && b > 1) return Fail(what, "varint longer than 64 bits");
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if (b & 0x80) continue;
    if (b == 0 && i > 0) return Fail(what, Str("overlong varint (", i + 1, " bytes for value ", v, ")"));
    pos_ += i + 1;
    return v;
  }
}

Result<std::span<const uint8_t>> ByteReader::Bytes(uint64_t n, std::string_view what) {
  if (n > remaining()) return Fail(what, Str("need ", n, n == 1 ? " byte, " : " bytes, ", remaining(), " left"));
  pos_ += size_t(n);
  return data_.subspan(pos_ - size_t(n), size_t(n));
}

}  // namespace golfpack
