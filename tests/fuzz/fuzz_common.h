// Shared by fuzz_artifact.cpp and fuzz_seeds.cpp: a deterministic fake codec
// ("XOR compression": marker byte 0xA5, then every byte ^ 0x5A) registered as
// zlib, so the fuzzer reaches compressed sections without linking zlib into core.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/artifact.h"

namespace golfpack::fuzz {

inline gpk::CodecImpl XorCodec() {
  gpk::CodecImpl c;
  c.compress = [](std::span<const uint8_t> raw, int) -> Result<std::vector<uint8_t>> {
    std::vector<uint8_t> out{0xA5};
    for (uint8_t b : raw) out.push_back(b ^ 0x5A);
    return out;
  };
  c.decompress = [](std::span<const uint8_t> stored, uint64_t raw_size) -> Result<std::vector<uint8_t>> {
    if (stored.empty() || stored[0] != 0xA5) return Corrupt("xor: bad marker");
    if (stored.size() - 1 != raw_size) return Corrupt("xor: stream does not hold raw_size bytes");
    std::vector<uint8_t> out(stored.begin() + 1, stored.end());
    for (uint8_t& b : out) b ^= 0x5A;
    return out;
  };
  return c;
}

inline void RegisterFuzzCodecs() { gpk::RegisterCodec(gpk::Codec::kZlib, XorCodec()); }

}  // namespace golfpack::fuzz
