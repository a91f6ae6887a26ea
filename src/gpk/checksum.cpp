#include "gpk/checksum.h"

#include <array>
#include <bit>

#include "gpk/bytes.h"

namespace golfpack {
namespace {

constexpr auto kCrcTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected polynomial
    t[b] = c;
  }
  return t;
}();

constexpr uint64_t kP1 = 11400714785074694791ULL, kP2 = 14029467366897019727ULL, kP3 = 1609587929392839161ULL,
                   kP4 = 9650029242287828579ULL, kP5 = 2870177450012600261ULL;
uint64_t Round(uint64_t acc, uint64_t input) { return std::rotl(acc + input * kP2, 31) * kP1; }

}  // namespace

uint32_t Crc32c(std::span<const uint8_t> data, uint32_t crc) {
  crc = ~crc;
  for (uint8_t b : data) crc = (crc >> 8) ^ kCrcTable[(crc ^ b) & 0xff];
  return ~crc;
}

// Four lanes over 32-byte stripes, merged; then the length and the tail in 8, 4, 1 bytes.
uint64_t Xxh64(std::span<const uint8_t> data, uint64_t seed) {
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
