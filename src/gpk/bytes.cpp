#include "gpk/bytes.h"

#include <array>
#include <bit>

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
  start_ = pos_;
  for (size_t i = 0;; ++i) {
    if (pos_ + i >= data_.size()) return Fail(what, "truncated varint (", i, " bytes, no terminator)");
    const uint8_t b = data_[pos_ + i];
    // The 10th byte holds bit 63 only: more would overflow or continue.
    if (i == 9 && b > 1) return Fail(what, "varint longer than 64 bits");
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if (b & 0x80) continue;
    if (b == 0 && i > 0) return Fail(what, "overlong varint (", i + 1, " bytes for value ", v, ")");
    pos_ += i + 1;
    return v;
  }
}

Result<ByteSpan> ByteReader::Bytes(uint64_t n, std::string_view what) {
  start_ = pos_;
  if (n > remaining()) return Fail(what, "need ", n, n == 1 ? " byte, " : " bytes, ", remaining(), " left");
  pos_ += n;
  return data_.subspan(start_, n);
}

namespace {

constexpr auto kCrcTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[b] = c;
  }
  return t;
}();

constexpr uint64_t kP1 = 11400714785074694791ULL, kP2 = 14029467366897019727ULL, kP3 = 1609587929392839161ULL,
                   kP4 = 9650029242287828579ULL, kP5 = 2870177450012600261ULL;
uint64_t Round(uint64_t acc, uint64_t input) { return std::rotl(acc + input * kP2, 31) * kP1; }

}  // namespace

uint32_t Crc32c(ByteSpan data, uint32_t crc) {
  crc = ~crc;
  for (uint8_t b : data) crc = (crc >> 8) ^ kCrcTable[(crc ^ b) & 0xff];
  return ~crc;
}

// Four lanes over 32-byte stripes, merged; then the length and the tail in 8, 4, 1 bytes.
uint64_t Xxh64(ByteSpan data, uint64_t seed) {
  const uint8_t* p = data.data();
  const size_t n = data.size();
  size_t i = 0;
  uint64_t h = seed + kP5;
  if (n >= 32) {
    uint64_t v[4] = {seed + kP1 + kP2, seed + kP2, seed, seed - kP1};
    for (; i + 32 <= n; i += 32)
      for (int k = 0; k < 4; ++k) v[k] = Round(v[k], LoadLE(p + i + 8 * k, 8));
    h = std::rotl(v[0], 1) + std::rotl(v[1], 7) + std::rotl(v[2], 12) + std::rotl(v[3], 18);
    for (int k = 0; k < 4; ++k) h = (h ^ Round(0, v[k])) * kP1 + kP4;
  }
  h += n;
  for (; i + 8 <= n; i += 8) h = std::rotl(h ^ Round(0, LoadLE(p + i, 8)), 27) * kP1 + kP4;
  if (i + 4 <= n) h = std::rotl(h ^ (LoadLE(p + i, 4) * kP1), 23) * kP2 + kP3, i += 4;
  for (; i < n; ++i) h = std::rotl(h ^ (p[i] * kP5), 11) * kP1;
  h = (h ^ (h >> 33)) * kP2;
  h = (h ^ (h >> 29)) * kP3;
  return h ^ (h >> 32);
}

}  // namespace golfpack
