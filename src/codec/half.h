// float <-> f16 / bf16 (round to nearest even) for the encoders: thin names
// over core's conversions (src/core/half.h) so encoder and decoder agree.
#pragma once

#include <cstdint>

#include "core/half.h"

namespace golfpack::encode {

inline uint16_t F32ToF16(float f) { return FloatToHalfBits(f); }
inline float F16ToF32(uint16_t h) { return HalfBitsToFloat(h); }
inline uint16_t F32ToBF16(float f) { return FloatToBF16Bits(f); }
inline float BF16ToF32(uint16_t b) { return BF16BitsToFloat(b); }

}  // namespace golfpack::encode
