// Static-model rANS entropy coding, in the spirit of ryg_rans (rans_byte.h).
//
// Coder: 32-bit state x kept in [L, L << 8) with L = 2^23, byte-wise
// renormalisation, kRansInterleave states interleaved (symbol i is coded by
// state i % kRansInterleave) so the decoder has independent dependency chains.
//
// Model: FrequencyTable, an alphabet of up to 4096 uint16 symbols whose
// frequencies sum to exactly 2^scale_bits (10..15). ContextRansModel holds K
// such tables and picks one per symbol from the previous symbol's distance to
// a zero point (quantized weights: small magnitudes cluster).
//
// Payload stream layout ("rANS payload"), for n symbols and S = min(n, 4):
//   S x u32 LE   final encoder states (= decoder initial states), state k
//                belongs to symbols k, k + 4, k + 8, ...
//   bytes        renormalisation bytes, in decoder read order
// n == 0 gives an empty payload. The decoder checks that every state returns
// to L and that every byte is consumed, so truncation, extension and most
// bit flips are reported as kCorrupt.
//
// Sizes are exact and known before anything is written: RansEncodedSize runs
// the coder without storing bytes, and SerializedSize() prices a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/byte_reader.h"
#include "core/status.h"
#include "gpk/rans.h"

namespace golfpack {

inline constexpr uint32_t kRansL = gpk::kRansL;  // lower bound of the normalised state interval
inline constexpr int kRansInterleave = gpk::kRansLanes;  // states per stream (part of the format)
inline constexpr size_t kRansMaxAlphabet = 4096;
inline constexpr int kRansMinScaleBits = 10;
inline constexpr int kRansMaxScaleBits = 15;
inline constexpr int kRansDefaultScaleBits = 14;

namespace rans_internal {
struct Codec;  // encoder/decoder kernels in rans.cpp
}

class FrequencyTable {
 public:
  FrequencyTable() = default;  // empty: alphabet_size() == 0, codes nothing

  // Quantises `counts` (one per symbol, counts.size() = alphabet size, 1..4096)
  // to frequencies summing to exactly 2^scale_bits, every counted symbol
  // getting freq >= 1, minimising the coded size sum(count * -log2(freq/2^M))
  // (rounding, then greedy +1/-1 moves and improving swaps, which is optimal
  // for this convex separable problem). InvalidArgument if all counts are
  // zero, the sizes are out of range, or more symbols occur than 2^scale_bits.
  static Result<FrequencyTable> FromCounts(std::span<const uint64_t> counts,
                                           int scale_bits = kRansDefaultScaleBits);
  // Uses `freqs` as given; they must sum to exactly 2^scale_bits.
  static Result<FrequencyTable> FromFreqs(std::span<const uint32_t> freqs, int scale_bits);

  // Serialised form: u8 scale_bits, varint alphabet_size, then the body:
  // per symbol varint freq, where a 0 is followed by a varint count of further
  // zeros (runs are maximal). Parse validates everything: scale_bits range,
  // alphabet size, run bounds, each freq <= 2^M, sum exactly 2^M.
  static Result<FrequencyTable> Parse(ByteReader& reader);
  size_t SerializedSize() const { return HeaderSize() + body_size_; }
  void Serialize(ByteWriter& w) const;
  std::vector<uint8_t> Serialize() const;

  // Header-less body, for containers that store scale_bits/alphabet once
  // (ContextRansModel does).
  static Result<FrequencyTable> ParseBody(ByteReader& reader, size_t alphabet_size, int scale_bits);
  size_t BodySize() const { return body_size_; }
  void SerializeBody(ByteWriter& w) const;

  int scale_bits() const { return scale_bits_; }
  size_t alphabet_size() const { return freq_.size(); }
  uint32_t freq(size_t symbol) const { return symbol < freq_.size() ? freq_[symbol] : 0; }
  // Cumulative frequency of symbols < `symbol`; cum(alphabet_size()) == 2^scale_bits.
  uint32_t cum(size_t symbol) const { return cum_[symbol]; }
  std::span<const uint32_t> freqs() const { return freq_; }
  // The counted decoder's model for these tables (nullptr: a context without one).
  static gpk::RansModel DecodeModel(std::span<const FrequencyTable* const> tables, uint16_t zero_point);

  // Ideal coded size in bits of symbols with these counts under this table:
  // sum counts[s] * log2(2^M / freq[s]). +infinity if a counted symbol has
  // freq 0 or is outside the alphabet.
  double CostBits(std::span<const uint64_t> counts) const;

 private:
  friend struct rans_internal::Codec;
  struct EncSymbol {  // ryg's RansEncSymbol: division by freq via reciprocal
    uint32_t x_max;     // (L >> M << 8) * freq: renormalise while x >= x_max; 0 = not codable
    uint32_t rcp_freq;  // fixed-point reciprocal of freq
    uint32_t bias;
    uint32_t cmpl_freq;  // 2^M - freq
    uint32_t rcp_shift;
  };
  static Result<FrequencyTable> Build(std::vector<uint32_t> freqs, int scale_bits);
  size_t HeaderSize() const;

  int scale_bits_ = 0;
  std::vector<uint32_t> freq_;
  std::vector<uint32_t> cum_;  // size alphabet + 1
  std::vector<EncSymbol> enc_;
  size_t body_size_ = 0;
};

// ---- Order-0 rANS -----------------------------------------------------------

// Encodes `symbols` (each < alphabet_size with freq > 0, else
// InvalidArgument) into a payload; the buffer's size is the exact coded size.
Result<std::vector<uint8_t>> RansEncode(std::span<const uint16_t> symbols, const FrequencyTable& table);
// Appends the payload to *out.
Status RansEncodeAppend(std::span<const uint16_t> symbols, const FrequencyTable& table,
                        std::vector<uint8_t>* out);
// Exact byte size RansEncode would produce, without producing it.
Result<size_t> RansEncodedSize(std::span<const uint16_t> symbols, const FrequencyTable& table);

// Decodes exactly `num_symbols` symbols into out[0, num_symbols). The stream
// must be exactly one payload (kCorrupt on truncation, trailing bytes, bad
// states); InvalidArgument if out is too small or the table is empty.
// Never reads outside `stream`. Fast path: 2^M slot lookup table.
Status RansDecode(std::span<const uint8_t> stream, const FrequencyTable& table, size_t num_symbols,
                  std::span<uint16_t> out);
// Reference decoder (the test oracle): scalar, one state at a time, binary
// search over cumulative frequencies, plain arithmetic. Same results and
// same errors as RansDecode.
Status RansDecodeRef(std::span<const uint8_t> stream, const FrequencyTable& table,
                     size_t num_symbols, std::span<uint16_t> out);

// Self-contained order-0 stream: serialised table, then the payload.
// Counts symbols over [0, alphabet_size), builds the table, encodes.
Result<std::vector<uint8_t>> RansCompress(std::span<const uint16_t> symbols, size_t alphabet_size,
                                          int scale_bits = kRansDefaultScaleBits);
// Exact size of RansCompress's output (builds the table, counts bytes).
Result<size_t> RansCompressedSize(std::span<const uint16_t> symbols, size_t alphabet_size,
                                  int scale_bits = kRansDefaultScaleBits);
Status RansDecompress(std::span<const uint8_t> stream, size_t num_symbols, std::span<uint16_t> out);

// ---- Context-conditioned rANS -------------------------------------------------

// K static tables; symbol i is coded with table ContextOf(symbol[i-1])
// (symbol[-1] := zero_point), ContextOf(p) = min(|p - zero_point|, K - 1).
class ContextRansModel {
 public:
  static constexpr int kMaxContexts = 64;

  ContextRansModel() = default;

  // Counts symbols per context and quantises one table per context that
  // occurs (contexts that never occur get no table). All tables share
  // alphabet_size and scale_bits. zero_point < alphabet_size.
  static Result<ContextRansModel> Build(std::span<const uint16_t> symbols, size_t alphabet_size,
                                        uint16_t zero_point, int num_contexts,
                                        int scale_bits = kRansDefaultScaleBits);

  // Column classes (ans_grid model 9): one table per class, counted over the
  // symbols whose column (i % col_class.size(), row-major) has that class;
  // classes that no column has get no table. symbols.size() must be whole
  // rows; every class < num_classes.
  static Result<ContextRansModel> BuildByColumn(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                uint16_t zero_point, int num_classes,
                                                std::span<const uint8_t> col_class,
                                                int scale_bits = kRansDefaultScaleBits);

  // Serialised form: u8 num_contexts, u8 scale_bits, varint alphabet_size,
  // varint zero_point, varint presence mask (bit c = context c has a table),
  // then each present table's body in context order.
  static Result<ContextRansModel> Parse(ByteReader& reader);
  size_t SerializedSize() const;
  void Serialize(ByteWriter& w) const;

  int num_contexts() const { return static_cast<int>(tables_.size()); }
  int scale_bits() const { return scale_bits_; }
  size_t alphabet_size() const { return alphabet_size_; }
  uint16_t zero_point() const { return zero_point_; }
  int ContextOf(uint16_t prev) const {
    uint32_t d = prev > zero_point_ ? prev - zero_point_ : zero_point_ - prev;
    uint32_t last = static_cast<uint32_t>(tables_.size()) - 1;
    return static_cast<int>(d < last ? d : last);
  }
  // nullptr when the context has no table.
  const FrequencyTable* table(int context) const {
    return tables_[context] ? &*tables_[context] : nullptr;
  }

 private:
  // One table per context from its counts (an empty count vector: no table).
  Status TablesFromCounts(const std::vector<std::vector<uint64_t>>& counts);

  int scale_bits_ = 0;
  size_t alphabet_size_ = 0;
  uint16_t zero_point_ = 0;  // unused by column classes (kept, as the format stores it)
  std::vector<std::optional<FrequencyTable>> tables_;
};

// Payload coding under a model (same payload layout as order-0 rANS).
Result<std::vector<uint8_t>> ContextRansEncode(std::span<const uint16_t> symbols,
                                               const ContextRansModel& model);
Result<size_t> ContextRansEncodedSize(std::span<const uint16_t> symbols, const ContextRansModel& model);
Status ContextRansDecode(std::span<const uint8_t> stream, const ContextRansModel& model,
                         size_t num_symbols, std::span<uint16_t> out);
// Reference decoder for the context variant (binary search, scalar).
Status ContextRansDecodeRef(std::span<const uint8_t> stream, const ContextRansModel& model,
                            size_t num_symbols, std::span<uint16_t> out);

// Self-contained: model header (tables) then payload.
Result<std::vector<uint8_t>> ContextRansCompress(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                 uint16_t zero_point, int num_contexts,
                                                 int scale_bits = kRansDefaultScaleBits);
Result<size_t> ContextRansCompressedSize(std::span<const uint16_t> symbols, size_t alphabet_size,
                                         uint16_t zero_point, int num_contexts,
                                         int scale_bits = kRansDefaultScaleBits);
Status ContextRansDecompress(std::span<const uint8_t> stream, size_t num_symbols,
                             std::span<uint16_t> out);

// ---- Column classes (ans_grid model 9) ------------------------------------------------
//
// Symbol i of a row-major matrix with col_class.size() columns is coded with
// the table of its column's class, col_class[i % cols]: columns whose codes
// have different spreads (the input channels of an output projection) or a
// sign bias (an embedding's) get their own tables. Same payload layout as
// order-0 rANS. A self-contained stream is the model (ContextRansModel's
// form, K = num_classes = 2, 4, 8 or 16), the classes packed log2(K) bits
// per column LSB-first (ColumnClassBytes, zero padding), then the payload.
Result<std::vector<uint8_t>> ColumnRansEncode(std::span<const uint16_t> symbols, const ContextRansModel& model,
                                              std::span<const uint8_t> col_class);
Result<size_t> ColumnRansEncodedSize(std::span<const uint16_t> symbols, const ContextRansModel& model,
                                     std::span<const uint8_t> col_class);
Status ColumnRansDecode(std::span<const uint8_t> stream, const ContextRansModel& model,
                        std::span<const uint8_t> col_class, size_t num_symbols, std::span<uint16_t> out);
// Reference decoder (binary search, scalar).
Status ColumnRansDecodeRef(std::span<const uint8_t> stream, const ContextRansModel& model,
                           std::span<const uint8_t> col_class, size_t num_symbols, std::span<uint16_t> out);
size_t ColumnClassBytes(size_t cols, int num_classes);
Result<std::vector<uint8_t>> ColumnRansCompress(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                uint16_t zero_point, int num_classes,
                                                std::span<const uint8_t> col_class,
                                                int scale_bits = kRansDefaultScaleBits);
Result<size_t> ColumnRansCompressedSize(std::span<const uint16_t> symbols, size_t alphabet_size, uint16_t zero_point,
                                        int num_classes, std::span<const uint8_t> col_class,
                                        int scale_bits = kRansDefaultScaleBits);
// cols: the matrix's columns (the stream does not store them). reference: decode with ColumnRansDecodeRef.
Status ColumnRansDecompress(std::span<const uint8_t> stream, size_t cols, size_t num_symbols, std::span<uint16_t> out,
                            bool reference = false);

}  // namespace golfpack
