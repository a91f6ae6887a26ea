#include "gpk/checksum.h"

#include <algorithm>
#include <array>
#include <bit>

namespace golfpack {
namespace {

// ---- CRC32C -----------------------------------------------------------------

constexpr uint32_t kCrc32cPoly = 0x82F63B78u;  // Castagnoli, bit-reflected

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPoly : c >> 1;
    t[b] = c;
  }
  return t;
}
constexpr auto kCrcTable = MakeCrcTable();

inline uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
inline uint64_t Load64(const uint8_t* p) { return uint64_t{Load32(p)} | uint64_t{Load32(p + 4)} << 32; }

// ---- XXH64 ------------------------------------------------------------------

constexpr uint64_t kP1 = 11400714785074694791ULL;
constexpr uint64_t kP2 = 14029467366897019727ULL;
constexpr uint64_t kP3 = 1609587929392839161ULL;
constexpr uint64_t kP4 = 9650029242287828579ULL;
constexpr uint64_t kP5 = 2870177450012600261ULL;

inline uint64_t Round(uint64_t acc, uint64_t input) {
  acc += input * kP2;
  acc = std::rotl(acc, 31);
  return acc * kP1;
}
inline uint64_t MergeRound(uint64_t acc, uint64_t val) {
  acc ^= Round(0, val);
  return acc * kP1 + kP4;
}

// Consumes whole 32-byte stripes from p; returns the bytes consumed.
inline size_t Stripes(uint64_t v[4], const uint8_t* p, size_t len) {
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    v[0] = Round(v[0], Load64(p + i));
    v[1] = Round(v[1], Load64(p + i + 8));
    v[2] = Round(v[2], Load64(p + i + 16));
    v[3] = Round(v[3], Load64(p + i + 24));
  }
  return i;
}

// Folds the lanes (if total >= 32), the length and the < 32 byte tail.
uint64_t Finish(const uint64_t v[4], uint64_t seed, uint64_t total, const uint8_t* p, size_t len) {
  uint64_t h;
  if (total >= 32) {
    h = std::rotl(v[0], 1) + std::rotl(v[1], 7) + std::rotl(v[2], 12) + std::rotl(v[3], 18);
    for (int k = 0; k < 4; ++k) h = MergeRound(h, v[k]);
  } else {
    h = seed + kP5;
  }
  h += total;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    h ^= Round(0, Load64(p + i));
    h = std::rotl(h, 27) * kP1 + kP4;
  }
  if (i + 4 <= len) {
    h ^= uint64_t{Load32(p + i)} * kP1;
    h = std::rotl(h, 23) * kP2 + kP3;
    i += 4;
  }
  for (; i < len; ++i) {
    h ^= p[i] * kP5;
    h = std::rotl(h, 11) * kP1;
  }
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

void InitLanes(uint64_t v[4], uint64_t seed) {
  v[0] = seed + kP1 + kP2;
  v[1] = seed + kP2;
  v[2] = seed;
  v[3] = seed - kP1;
}

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data) {
  uint32_t c = ~crc;
  for (uint8_t b : data) c = (c >> 8) ^ kCrcTable[(c ^ b) & 0xff];
  return ~c;
}

uint32_t Crc32c(std::span<const uint8_t> data) { return Crc32cExtend(0, data); }

uint64_t Xxh64(std::span<const uint8_t> data, uint64_t seed) {
  uint64_t v[4];
  InitLanes(v, seed);
  size_t done = Stripes(v, data.data(), data.size());
  return Finish(v, seed, data.size(), data.data() + done, data.size() - done);
}

}  // namespace golfpack
