// rANS decoding, FORMAT.md "rANS streams" (after ryg_rans).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gpk/bytes.h"

namespace golfpack::gpk {

inline constexpr uint32_t kRansL = 1u << 23;
inline constexpr int kRansLanes = 4;  // interleaved states; symbol i uses lane i % 4

struct RansSlot {  // the symbol that owns one of the 2^M slots
  uint32_t freq;
  uint16_t bias;  // slot - cum[sym]
  uint16_t sym;
};

// K tables over one alphabet (K = 1: order 0). A context with no table has
// empty freq and slots.
struct RansModel {
  int scale_bits = 0;
  size_t alphabet = 0;
  uint16_t zero_point = 0;
  std::vector<std::vector<uint32_t>> freq;
  std::vector<std::vector<RansSlot>> slots;
  int ContextOf(uint16_t prev) const {
    const uint32_t d = prev > zero_point ? prev - zero_point : zero_point - prev, last = uint32_t(freq.size()) - 1;
    return int(d < last ? d : last);
  }
};

// A table body (FORMAT.md "Frequency table").
Result<std::vector<uint32_t>> ParseRansFreqs(ByteReader& r, size_t alphabet, int scale_bits);
// Slots from frequencies that sum to 2^scale_bits.
std::vector<RansSlot> RansSlots(std::span<const uint32_t> freq, int scale_bits);
Result<RansModel> ParseRansOrder0(ByteReader& r);   // a frequency table
Result<RansModel> ParseRansContext(ByteReader& r);  // a context model
// Decodes exactly n symbols of a payload (FORMAT.md "Payload").
Status RansDecodeStream(std::span<const uint8_t> stream, const RansModel& m, size_t n, std::span<uint16_t> out);

}  // namespace golfpack::gpk
