// Checksums for golfpack containers, software only (no SSE4.2 / intrinsics,
// so the decoder builds anywhere).
//   CRC32C: Castagnoli polynomial (reflected 0x82F63B78), one table, a byte at a time.
//   XXH64:  xxHash64 as specified by Yann Collet (reference xxhash.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace golfpack {

// CRC32C of `data`. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(std::span<const uint8_t> data);
// Continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b); Crc32cExtend(0, x) == Crc32c(x).
uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data);
inline uint32_t Crc32c(std::string_view s) {
  return Crc32c(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

// One-shot XXH64. Xxh64("") == 0xEF46DB3751D8E999.
uint64_t Xxh64(std::span<const uint8_t> data, uint64_t seed = 0);
inline uint64_t Xxh64(std::string_view s, uint64_t seed = 0) {
  return Xxh64(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()), seed);
}

}  // namespace golfpack
