// Per-token byte counts for val_bpb, exactly as Parameter Golf's train_gpt.py
// (build_sentencepiece_luts) computes them from a sentencepiece vocabulary.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace golfpack::data {

// sentencepiece piece types (ModelProto.SentencePiece.Type).
enum class PieceKind { kNormal, kByte, kControl, kUnknown, kUnused, kUserDefined };

const char* PieceKindName(PieceKind kind);

struct PieceInfo {
  std::string piece;  // as stored in the model, e.g. "▁the", "<0xE2>", "<s>"
  PieceKind kind = PieceKind::kNormal;
};

// Lookup tables indexed by token id, of size max(#pieces, table_size).
struct ByteLut {
  std::vector<int16_t> base_bytes;         // UTF-8 bytes of the piece without a leading "▁"
  std::vector<uint8_t> has_leading_space;  // 1 if the piece began with "▁" (U+2581)
  std::vector<uint8_t> is_boundary;        // 1 for control/unknown/unused and padding ids

  size_t size() const { return base_bytes.size(); }
};

// The UTF-8 encoding of U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's space marker.
inline constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

// Builds the tables like train_gpt.py: ids beyond the pieces are boundary tokens
// with 0 bytes; control/unknown/unused pieces are boundaries with 0 bytes; byte
// pieces (<0x..>) count 1 byte; normal and user-defined pieces count their UTF-8
// length with one leading "▁" removed (and then set has_leading_space).
ByteLut BuildByteLut(std::span<const PieceInfo> pieces, int table_size);

// Bytes scored for the targets: sum over i of base_bytes[tgt[i]] +
// (has_leading_space[tgt[i]] && !is_boundary[prev[i]]). The spans are paired
// element-wise (only the common length counts); ids outside the table count as
// 0-byte boundary tokens.
uint64_t CountTargetBytes(const ByteLut& lut, std::span<const uint16_t> prev_ids,
                          std::span<const uint16_t> target_ids);

// Convenience for a contiguous token stream: targets are stream[1..], each with
// its predecessor (what val_bpb scores for a stream evaluated as one sequence).
uint64_t CountStreamBytes(const ByteLut& lut, std::span<const uint16_t> stream);

}  // namespace golfpack::data
