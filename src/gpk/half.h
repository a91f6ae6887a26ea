// binary16 / bfloat16 -> f32, exact (subnormals, infinities, NaN payloads kept).
#pragma once

#include <bit>
#include <cstdint>

namespace golfpack {

constexpr float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(mant * 0x1p-24f));  // subnormal or 0
  return std::bit_cast<float>(sign | (exp == 31 ? 0x7f800000u : (exp + 112) << 23) | (mant << 13));
}

constexpr float BF16BitsToFloat(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

}  // namespace golfpack
