// CRC-32C and XXH64 live in the counted decoder (gpk/bytes.h); these are
// conveniences for the writer side and tests.
#pragma once

#include <string_view>

#include "gpk/bytes.h"

namespace golfpack {

// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b); Crc32c("123456789") == 0xE3069283.
inline uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data) { return Crc32c(data, crc); }
inline uint32_t Crc32c(std::string_view s) {
  return Crc32c(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
// Xxh64("") == 0xEF46DB3751D8E999.
inline uint64_t Xxh64(std::string_view s, uint64_t seed = 0) {
  return Xxh64(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()), seed);
}

}  // namespace golfpack
