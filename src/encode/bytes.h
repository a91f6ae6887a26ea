// Little-endian append helpers for building payloads (internal to golfpack_encode).
#pragma once

#include <bit>
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace golfpack::encode::detail
