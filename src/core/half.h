// float <-> IEEE binary16 / bfloat16 conversions for the core layer
// (standard library only; core may not depend on src/io). Same semantics as
// io's FloatToHalf/HalfToFloat/FloatToBF16/BF16ToFloat: narrowing rounds to
// nearest even, NaN stays a quiet NaN, widening is exact.
#pragma once

#include <bit>
#include <cstdint>

namespace golfpack {

// binary16 -> f32, exact (subnormals, infinities and NaN payloads preserved).
constexpr float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return std::bit_cast<float>(sign);
    // Subnormal half: normalize into an f32 normal (exact).
    uint32_t e = 113;  // exponent of 2^-14 in f32 bias
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    mant &= 0x3ffu;
    return std::bit_cast<float>(sign | (e << 23) | (mant << 13));
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

// f32 -> binary16, round to nearest even; overflow goes to infinity.
constexpr uint16_t FloatToHalfBits(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // quiet NaN
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65536 or inf
  const uint32_t exp = abs >> 23;
  const uint32_t mant = abs & 0x7fffffu;
  if (exp < 113) {               // below 2^-14: half subnormal or zero
    if (exp < 102) return sign;  // below 2^-25: rounds to zero
    const uint32_t m = mant | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;  // may carry into the min normal: correct
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t h = ((exp - 112) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may round up to inf: correct
  return static_cast<uint16_t>(sign | h);
}

// bfloat16 -> f32, exact.
constexpr float BF16BitsToFloat(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// f32 -> bfloat16, round to nearest even; NaN stays a quiet NaN.
constexpr uint16_t FloatToBF16Bits(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

}  // namespace golfpack
