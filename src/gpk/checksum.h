// CRC-32C and XXH64 (FORMAT.md), in portable software.
#pragma once

#include <cstdint>
#include <span>

namespace golfpack {

// CRC-32C (Castagnoli) of `data`, continuing `crc`: Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(std::span<const uint8_t> data, uint32_t crc = 0);
// XXH64 as in the reference xxhash.h.
uint64_t Xxh64(std::span<const uint8_t> data, uint64_t seed = 0);

}  // namespace golfpack
