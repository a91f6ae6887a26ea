// rANS decoding (docs/FORMAT.md, "rANS streams"), after ryg_rans.
// State invariant: every lane's x stays in [kRansL, kRansL << 8) between
// symbols; a step maps x to freq * (x >> M) + (x & mask) - cum, which is
// >= 2^8, and at most two input bytes bring it back above kRansL.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gpk/bytes.h"
#include "gpk/status.h"

namespace golfpack::gpk {

inline constexpr uint32_t kRansL = 1u << 23;
inline constexpr int kRansLanes = 4;  // interleaved states; symbol i uses lane i % 4
inline constexpr size_t kRansMaxAlphabet = 4096;
inline constexpr int kRansMinScaleBits = 10, kRansMaxScaleBits = 15;
inline constexpr int kRansMaxContexts = 64;

struct RansSlot {  // the symbol that owns one of the 2^M slots
  uint32_t freq;
  uint16_t bias;  // slot - cum[sym]
  uint16_t sym;
};

// K tables over one alphabet. K = 1 is order 0; otherwise symbol i is coded
// with table ContextOf(symbol[i-1]), symbol[-1] := zero_point. A context with
// no table has empty freq/slots.
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

// Table body: per symbol varint freq; a 0 is followed by a varint count of
// further zeros (runs maximal). Frequencies must sum to exactly 2^scale_bits.
Result<std::vector<uint32_t>> ParseRansFreqs(ByteReader& r, size_t alphabet, int scale_bits);
// Builds slots from frequencies that sum to 2^scale_bits.
std::vector<RansSlot> RansSlots(std::span<const uint32_t> freq, int scale_bits);
// Order 0: u8 scale_bits, varint alphabet, body.
Result<RansModel> ParseRansOrder0(ByteReader& r);
// Context: u8 K, u8 scale_bits, varint alphabet, varint zero_point, varint
// presence mask (bit c: context c has a table), the present bodies in order.
Result<RansModel> ParseRansContext(ByteReader& r);
// Decodes exactly n symbols; the stream must be consumed exactly and every
// state must end at kRansL, else Corrupt.
Status RansDecodeStream(std::span<const uint8_t> stream, const RansModel& m, size_t n, std::span<uint16_t> out);

}  // namespace golfpack::gpk
