// f32 -> IEEE binary16 / bfloat16 (the widening direction is gpk/half.h)
// (standard library only; core may not depend on src/io). Same semantics as
// io's FloatToHalf/HalfToFloat/FloatToBF16/BF16ToFloat: narrowing rounds to
// nearest even, NaN stays a quiet NaN, widening is exact.
#pragma once

#include <bit>
#include <cstdint>

#include "gpk/half.h"

namespace golfpack {

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

// f32 -> bfloat16, round to nearest even; NaN stays a quiet NaN.
constexpr uint16_t FloatToBF16Bits(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

}  // namespace golfpack
