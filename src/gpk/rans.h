// rANS decoding, FORMAT.md "rANS streams" (after ryg_rans).
#pragma once

#include <vector>

#include "gpk/bytes.h"

namespace golfpack::gpk {

inline constexpr uint32_t kRansL = 1u << 23;
inline constexpr int kRansLanes = 4;

// The symbol that owns one of the 2^M slots; bias = slot - cum[sym].
struct RansSlot {
  uint32_t freq;
  uint16_t bias, sym;
};

// K tables over one alphabet (K = 1: order 0). A context with no table has
// empty freq and slots. The previous symbol picks the context (ContextOf),
// or, with cls (ans_grid model 9), symbol i takes context cls[i % cls.size()].
struct RansModel {
  int scale_bits = 0;
  size_t alphabet = 0;
  uint16_t zero_point = 0;
  std::vector<std::vector<uint32_t>> freq;
  std::vector<std::vector<RansSlot>> slots;
  std::vector<uint16_t> cls;
  int ContextOf(uint16_t prev) const {
    const uint32_t d = prev > zero_point ? prev - zero_point : zero_point - prev, last = uint32_t(freq.size()) - 1;
    return int(d < last ? d : last);
  }
};

// A "Frequency table" body.
Result<std::vector<uint32_t>> ParseRansFreqs(ByteReader& r, size_t alphabet, int scale_bits);
// Slots from frequencies that sum to 2^scale_bits.
std::vector<RansSlot> RansSlots(std::span<const uint32_t> freq, int scale_bits);
// A "Frequency table" (one context), or with ctx a "Context model".
Result<RansModel> ParseRansModel(ByteReader& r, bool ctx);
// Decodes exactly n symbols of a "Payload".
Status RansDecodeStream(ByteSpan stream, const RansModel& m, size_t n, std::span<uint16_t> out);

}  // namespace golfpack::gpk
