// An adaptive context-mixing (CM) coder for the signed integer codes of
// quantized 2-D tensors (rows x cols, row-major), in the spirit of lpaq/paq:
// every code is binarized, each binary decision is predicted by mixing the
// predictions of adaptive bit-probability tables in the logistic (stretch)
// domain with an online-learned mixer, and coded by a binary arithmetic
// coder. The model is learned while coding: the stream stores no parameters,
// no tables, no counts; the decoder rebuilds exactly the encoder's model from
// what it has already decoded.
//
// Binarization of a code v, m = |v| <= 32767, with a Rice parameter k (0..3)
// that the decoder derives from the column's mean |code| (k = 0 below a mean
// of 4, then 1, 2, 3 from means 4, 8, 16), q = (m - 1) >> k:
//   slot 0        m != 0                                 (zero flag)
//   slot 1        v < 0                                  (only when m != 0)
//   slots 2..15   q > j for j = 0, 1, ..., 13, unary, stopping at the first 0
//   escape        q >= 14: e = q - 14 in exp-Golomb (k = 0): the length
//                 nb = bit_width(e + 1) - 1 in unary, then the nb low bits of
//                 e + 1, high to low
//   low bits      the k low bits of m - 1, high to low, as a binary tree
// The zero flag, the unary decisions and the sign of a column with a sign
// bias are mixed decisions. The escape, the low bits and the sign of a column
// without a bias are coded with one adaptive probability each (they are rare,
// or close to fair coins).
//
// Contexts, all from what the decoder already has (zero outside the tensor
// and above row 0):
//   column     the column's mean |code| over the rows above, with the
//              tensor's running mean as a prior worth two rows (a column
//              sensitivity proxy: codes of a salient input channel are
//              larger), in 16 log-spaced buckets; and its sign bias: the mean
//              code relative to the mean |code|, in 4 levels with a sign
//   row        an exponential moving average (1/8) of |code| along the row,
//              in 16 buckets; or, when the caller passes one, its per-row
//              side input row_context (0..15, e.g. a bucket of the row's
//              stored scale), identical for encoder and decoder and not
//              stored in the stream
//   neighbours min(|code|, 2) and the sign of the left and the above code
//   slot       the decision's slot and k
// Mixed decisions have two inputs: table 0 indexed by (column bucket, sign
// bias state, slot) and table 1 by (row bucket, left, above, slot); the mixer
// has one weight set per (slot, 4 column-mean groups). The column contexts
// are refreshed every row for the first 32 rows of a tensor, then every 4th
// row. All arithmetic is integer (the squash curve is a 33-point integer
// table), so a stream decodes the same on every machine.
//
// Several tensors can share one stream (CmEncode with a list of shapes): the
// learned tables and mixer weights carry over from one tensor to the next,
// the per-column and per-row statistics restart.
//
// Stream layout: the arithmetic coder's bytes, then nothing. The coder codes
// every code of every tensor, then a 16-bit end marker (0xA5C3, each bit at
// probability 1/2) and flushes one byte. Zero codes in total give an empty
// stream. The decoder reads zeros past the end of the stream (it never reads
// outside it) and rejects the stream (kCorrupt) unless the end marker is
// decoded and exactly the stream's bytes were consumed, so truncation,
// extension and most corruptions are reported. A corrupted stream can never
// make the decoder read out of bounds or produce |code| > 32767.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace golfpack::encode {

// Binary arithmetic coder state (carry-less, 32-bit, paq style).
//
// Invariant (between coded decisions): the encoder's interval is [x1, x2]
// with x1 < x2 and x1 >> 24 != x2 >> 24 (bytes whose top byte the whole
// interval shares have been shifted out and emitted). The decoder keeps the
// same x1, x2 and the 32 bits x of the stream at the same position, with
// x1 <= x <= x2. A decision with P(1) = p / 4096 (1 <= p <= 4095) splits the
// interval at xmid = x1 + ((x2 - x1) >> 12) * p: a 1 keeps [x1, xmid], a 0
// keeps [xmid + 1, x2]; x1 <= xmid < x2 holds because x1 < x2 and p < 4096.
// The flush emits the top byte of the smallest multiple of 2^24 that is
// >= x1, which is <= x2 by the invariant, so the decoder reading three
// implicit zero bytes after it lands inside the final interval.
inline constexpr int kCmProbBits = 12;
inline constexpr int kCmMaxMagnitude = 32767;
inline constexpr int kCmMaxRowContext = 15;  // row_context values above are clamped

// One tensor of a stream. row_context: empty, or one value per row.
struct CmTensorShape {
  uint64_t rows = 0, cols = 0;
  std::span<const uint8_t> row_context;
};

// Codes the concatenation of the tensors' codes (row-major each, in order):
// codes.size() must be the sum of rows * cols. InvalidArgument for a size
// mismatch, a row_context of the wrong length or |code| > 32767.
Result<std::vector<uint8_t>> CmEncode(std::span<const int16_t> codes, std::span<const CmTensorShape> tensors);
// Decodes what CmEncode wrote for the same shapes (and row contexts) into
// out (out.size() must be the total element count: InvalidArgument). A stream
// that is not exactly such an encoding is kCorrupt (see above).
Status CmDecode(std::span<const uint8_t> stream, std::span<const CmTensorShape> tensors, std::span<int16_t> out);

// One tensor.
Result<std::vector<uint8_t>> CmEncode(std::span<const int16_t> codes, uint64_t rows, uint64_t cols,
                                      std::span<const uint8_t> row_context = {});
Status CmDecode(std::span<const uint8_t> stream, uint64_t rows, uint64_t cols, std::span<int16_t> out,
                std::span<const uint8_t> row_context = {});

}  // namespace golfpack::encode
