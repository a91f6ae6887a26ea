// Lossless back-ends for .gpk sections (docs/FORMAT.md, SectionEntry.codec):
// zlib (RFC 1950), zstd (one frame), xz (.xz container, LZMA2) and brotli.
//
// Levels: -1 picks the strongest sensible default of each codec:
//   zlib   9                        (valid 0..9)
//   zstd   22, the level `zstd --ultra -22` uses (valid 1..22; the library
//          needs no --ultra flag, that is a CLI guard only)
//   xz     9 | LZMA_PRESET_EXTREME  (valid 0..9 plain presets, 10..19 = preset
//          (level - 10) | extreme); the dictionary is shrunk to the input size,
//          which changes no output bit that matters and saves encoder memory
//   brotli quality 11, lgwin 24     (valid quality 0..11)
// Decompression produces exactly raw_size bytes; a stream that produces more
// or fewer, that is truncated, malformed, or followed by trailing bytes is
// rejected with StatusCode::kCorrupt.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"

namespace golfpack::encode {

// Registers zlib, zstd, xz and brotli with gpk::RegisterCodec. Idempotent.
void RegisterAllCodecs();

// The level that level == -1 stands for (0 for kNone).
int DefaultLevel(gpk::Codec codec);

// Direct helpers (they do not need RegisterAllCodecs). kNone copies the bytes.
Result<std::vector<uint8_t>> Compress(gpk::Codec codec, std::span<const uint8_t> raw, int level = -1);
Result<std::vector<uint8_t>> Decompress(gpk::Codec codec, std::span<const uint8_t> stored, uint64_t raw_size);

}  // namespace golfpack::encode
