// Little-endian append helpers and scale-dtype helpers for building payloads
// (internal to golfpack_encode). Scale dtypes: 0 f16, 1 f32, 2 bf16.
#pragma once

#include <bit>
#include <limits>
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/half.h"

namespace golfpack::encode::detail {

inline void PutU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
inline void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void PutF32(std::vector<uint8_t>& out, float f) { PutU32(out, std::bit_cast<uint32_t>(f)); }

// Shortest text that parses back to the same double ("12.85", "0.9999").
inline std::string FormatDouble(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

inline std::string Quote(const std::string& name) { return "tensor '" + name + "'"; }

inline uint64_t ScaleBytesOf(uint8_t scale_dtype) { return scale_dtype == 1 ? 4 : 2; }
inline const char* ScaleDTypeName(uint8_t d) { return d == 1 ? "f32" : d == 2 ? "bf16" : "f16"; }

// Smallest positive value of the scale dtype (the scale of an all-zero row).
inline float SmallestPositive(uint8_t scale_dtype) {
  switch (scale_dtype) {
    case 1: return std::numeric_limits<float>::denorm_min();
    case 2: return BF16ToF32(1);
    default: return F16ToF32(1);
  }
}

// Nearest value representable in the scale dtype (0 or inf on under/overflow).
inline float StoreScaleNearest(double s, uint8_t scale_dtype) {
  switch (scale_dtype) {
    case 1: return static_cast<float>(s);
    case 2: return BF16ToF32(F32ToBF16(static_cast<float>(s)));
    default: return F16ToF32(F32ToF16(static_cast<float>(s)));
  }
}

inline void PutScale(std::vector<uint8_t>& out, float s, uint8_t scale_dtype) {
  switch (scale_dtype) {
    case 1: PutF32(out, s); break;
    case 2: PutU16(out, F32ToBF16(s)); break;
    default: PutU16(out, F32ToF16(s)); break;
  }
}

}  // namespace golfpack::encode::detail
