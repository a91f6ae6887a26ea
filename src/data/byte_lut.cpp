#include "data/byte_lut.h"

#include <algorithm>

namespace golfpack::data {

const char* PieceKindName(PieceKind kind) {
  switch (kind) {
    case PieceKind::kNormal: return "normal";
    case PieceKind::kByte: return "byte";
    case PieceKind::kControl: return "control";
    case PieceKind::kUnknown: return "unknown";
    case PieceKind::kUnused: return "unused";
    case PieceKind::kUserDefined: return "user_defined";
  }
  return "?";
}

ByteLut BuildByteLut(std::span<const PieceInfo> pieces, int table_size) {
  const size_t n = std::max(pieces.size(), static_cast<size_t>(std::max(table_size, 0)));
  ByteLut lut;
  lut.base_bytes.assign(n, 0);
  lut.has_leading_space.assign(n, 0);
  lut.is_boundary.assign(n, 1);
  for (size_t id = 0; id < pieces.size(); ++id) {
    const PieceInfo& p = pieces[id];
    if (p.kind == PieceKind::kControl || p.kind == PieceKind::kUnknown ||
        p.kind == PieceKind::kUnused) {
      continue;
    }
    lut.is_boundary[id] = 0;
    if (p.kind == PieceKind::kByte) {
      lut.base_bytes[id] = 1;
      continue;
    }
    std::string_view s = p.piece;
    if (s.starts_with(kSpaceMarker)) {
      lut.has_leading_space[id] = 1;
      s.remove_prefix(kSpaceMarker.size());
    }
    lut.base_bytes[id] = static_cast<int16_t>(std::min<size_t>(s.size(), INT16_MAX));
  }
  return lut;
}

uint64_t CountTargetBytes(const ByteLut& lut, std::span<const uint16_t> prev_ids,
                          std::span<const uint16_t> target_ids) {
  const size_t n = std::min(prev_ids.size(), target_ids.size());
  const size_t table = lut.size();
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t t = target_ids[i];
    if (t >= table) continue;
    total += static_cast<uint64_t>(lut.base_bytes[t]);
    const size_t p = prev_ids[i];
    const bool prev_boundary = p >= table || lut.is_boundary[p];
    if (lut.has_leading_space[t] && !prev_boundary) total += 1;
  }
  return total;
}

uint64_t CountStreamBytes(const ByteLut& lut, std::span<const uint16_t> stream) {
  if (stream.size() < 2) return 0;
  return CountTargetBytes(lut, stream.first(stream.size() - 1), stream.subspan(1));
}

}  // namespace golfpack::data
