// Trellis-coded quantization of a float sequence (issue 9, item 2): two
// alternatives to the entropy-coded uniform grid (ECSQ, ans_grid.h), which on
// i.i.d. Gaussian data sits ~0.25 bit/sample above D(R) = sigma^2 2^(-2R).
//
// 1. ECTCQ, entropy-coded TCQ (Marcellin-Fischer union codebooks). The
//    reconstruction grid is j * step (j integer), split into four subsets
//    D_r = { j : j mod 4 == r }. A 2^state_bits-state rate-1/2 Ungerboeck
//    trellis (systematic feedback encoder, 1-D codes) walks the sequence; the
//    state fixes the union codebook A_a = D_a u D_{a+2} (a = state & 1: even or
//    odd j), the sample picks one point j of A_a, and j's subset bit
//    z1 = (j mod 4) >> 1 picks the next state. The encoder runs Viterbi on
//    the Lagrangian cost (x - j step)^2 + lambda step^2 bits_a(j), bits_a being
//    the code lengths of the previous pass (iterated). The union index
//    i = (j - a) / 2 of every sample is entropy-coded with golfpack's rANS,
//    one order-0 stream per union codebook (the decoder knows the state, hence
//    which stream the next symbol comes from). Any rate; the knob is step.
//
// 2. Bitshift trellis (QTIP-style), fixed rate. An L-bit state, k new bits
//    per sample; the reconstruction is scale * code[state], code a fixed
//    pseudo-random Gaussian table of 2^L entries (Gaussian quantiles under a
//    fixed permutation of the states). Viterbi over all 2^L states, segments
//    of `block` samples started independently (no tail-biting): a segment of
//    T samples costs exactly L + (T - 1) k bits, so the rate is k plus
//    (L - k) / block; integer k only (no fractional rates).
//
// Both produce one self-contained byte string:
//   u8 kind (1 ECTCQ, 2 bitshift), varint n (samples), the kind's body,
//   u32 LE CRC-32C of every byte before it.
// ECTCQ body: u8 state_bits, f32 step, varint n0 (samples coded in union 0),
//   then per union a = 0, 1 holding samples: varint zigzag(min union index),
//   varint stream bytes, a self-contained order-0 rANS stream (RansCompress:
//   table + payload) of (i - min) in trellis order.
// Bitshift body: u8 L, u8 k, varint block, f32 scale, then per segment the
//   first state (L bits) and k bits per later sample, LSB first, segments
//   back to back, zero-padded to a byte.
// TcqDecode returns exactly TcqEncoded::recon. Library code: Status/Result,
// never prints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::encode {

inline constexpr uint8_t kTcqKindEntropyCoded = 1;
inline constexpr uint8_t kTcqKindBitshift = 2;

struct EctcqSpec {
  int state_bits = 8;     // 2..8: a trellis of 4..256 states
  double step = 0.25;     // spacing of the full grid j * step (each union codebook is spaced 2 step)
  double lambda = 0.3;    // Lagrange multiplier in units of step^2 per bit (0: plain TCQ, nearest points)
  int iterations = 4;     // Viterbi passes; each re-estimates the code lengths from the previous one
  Status Validate() const;
  std::string ToString() const;  // "ectcq:s8:d0.25:l0.3"
};

struct BitshiftSpec {
  int state_bits = 12;    // L, k + 1 .. 20: 2^L trellis states, one code table entry per state
  int k = 2;              // bits per sample, 1..8
  uint32_t block = 4096;  // samples per independently started segment, >= 1
  // scale = gain * rms(x) * sqrt(1 - 2^(-2k)) (sqrt of the D(R) output
  // variance); 1.05 measured best for L = 12..16, k = 2..4 (gaussian_rd's
  // sample not used for that).
  double gain = 1.05;
  Status Validate() const;
  std::string ToString() const;  // "bitshift:L12:k2:b4096"
};

struct TcqEncoded {
  std::vector<uint8_t> bytes;  // the stream; bits_per_sample() = bytes.size() * 8 / n
  std::vector<float> recon;    // what TcqDecode(bytes, n) returns, bit for bit
  double mse = 0.0;            // mean (x - recon)^2
  // ECTCQ: ideal order-0 code length of the union indices, per sample (each
  // union's empirical entropy weighted by its share); bitshift: exact payload
  // bits per sample (L + (T - 1) k per segment, header not counted).
  double entropy_bits = 0.0;
  double bits_per_sample() const {
    return recon.empty() ? 0.0 : 8.0 * static_cast<double>(bytes.size()) / static_cast<double>(recon.size());
  }
};

// Non-finite input is InvalidArgument. An empty input gives a header-only stream.
Result<TcqEncoded> EncodeEctcq(std::span<const float> x, const EctcqSpec& spec);
Result<TcqEncoded> EncodeBitshift(std::span<const float> x, const BitshiftSpec& spec);

// Decodes either kind into n samples. Truncated, extended or altered bytes
// are kCorrupt (CRC, then every header field, every rANS stream consumed
// exactly, every union stream used up exactly); never reads outside `bytes`.
Result<std::vector<float>> TcqDecode(std::span<const uint8_t> bytes, size_t n);

// The Ungerboeck parity-check polynomials (h0, h1) used for 2^state_bits
// states, state_bits 2..8 (exposed for tests).
struct TrellisCode {
  uint32_t h0, h1;
};
TrellisCode UngerboeckCode(int state_bits);

}  // namespace golfpack::encode
