#include "codec/codecs.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>

namespace golfpack::encode {
namespace {

// Largest chunk handed to an API whose length fields are 32-bit (zlib).
constexpr size_t kChunk = size_t{1} << 30;

Result<std::vector<uint8_t>> AllocateOutput(const char* codec, uint64_t raw_size) {
  if (raw_size > std::numeric_limits<size_t>::max() / 2) {
    return Corrupt(std::string(codec) + ": raw_size " + std::to_string(raw_size) + " is not addressable");
  }
  return std::vector<uint8_t>(static_cast<size_t>(raw_size));
}

Status Mismatch(const char* codec, const std::string& what, uint64_t raw_size) {
  return Corrupt(std::string(codec) + " section " + what + " (expected exactly " + std::to_string(raw_size) +
                 " bytes)");
}

// ---------------------------------------------------------------- zlib
Result<std::vector<uint8_t>> ZlibCompress(std::span<const uint8_t> raw, int level) {
  if (level == -1) level = 9;
  if (level < 0 || level > 9) return InvalidArgument("zlib level must be 0..9, got " + std::to_string(level));
  z_stream s{};
  if (deflateInit(&s, level) != Z_OK) return Internal("zlib: deflateInit failed");
  std::vector<uint8_t> out(deflateBound(&s, static_cast<uLong>(std::min<size_t>(raw.size(), ULONG_MAX))) + 64);
  size_t in_pos = 0;
  int rc = Z_OK;
  s.next_out = out.data();
  while (true) {
    const size_t in_now = std::min(kChunk, raw.size() - in_pos);
    s.next_in = const_cast<Bytef*>(raw.data() + in_pos);
    s.avail_in = static_cast<uInt>(in_now);
    const bool last = in_pos + in_now == raw.size();
    do {
      const size_t produced = static_cast<size_t>(s.next_out - out.data());
      if (produced == out.size()) {
        out.resize(out.size() * 2);
      }
      s.next_out = out.data() + produced;
      s.avail_out = static_cast<uInt>(std::min(kChunk, out.size() - produced));
      rc = deflate(&s, last ? Z_FINISH : Z_NO_FLUSH);
      if (rc == Z_STREAM_ERROR) {
        deflateEnd(&s);
        return Internal("zlib: deflate failed");
      }
    } while (s.avail_in > 0 || (last && rc != Z_STREAM_END));
    in_pos += in_now;
    if (last) break;
  }
  const size_t produced = static_cast<size_t>(s.next_out - out.data());
  deflateEnd(&s);
  out.resize(produced);
  return out;
}

Result<std::vector<uint8_t>> ZlibDecompress(std::span<const uint8_t> stored, uint64_t raw_size) {
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> out, AllocateOutput("zlib", raw_size));
  z_stream s{};
  if (inflateInit(&s) != Z_OK) return Internal("zlib: inflateInit failed");
  size_t in_pos = 0, out_pos = 0;
  uint8_t spill[1];
  int rc = Z_OK;
  Status error;
  while (true) {
    if (s.avail_in == 0 && in_pos < stored.size()) {
      const size_t n = std::min(kChunk, stored.size() - in_pos);
      s.next_in = const_cast<Bytef*>(stored.data() + in_pos);
      s.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    const bool full = out_pos == out.size();
    const size_t room = full ? 1 : std::min(kChunk, out.size() - out_pos);
    s.next_out = full ? spill : out.data() + out_pos;
    s.avail_out = static_cast<uInt>(room);
    rc = inflate(&s, Z_NO_FLUSH);
    const size_t got = room - s.avail_out;
    if (full && got > 0) {
      error = Mismatch("zlib", "decompresses to more bytes than raw_size", raw_size);
      break;
    }
    out_pos += full ? 0 : got;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR) {
      error = Corrupt(std::string("zlib section is malformed: ") + (s.msg ? s.msg : "inflate error"));
      break;
    }
    if (rc == Z_BUF_ERROR && s.avail_in == 0 && in_pos == stored.size()) {
      error = Mismatch("zlib", "is truncated", raw_size);
      break;
    }
  }
  const size_t trailing = s.avail_in + (stored.size() - in_pos);
  inflateEnd(&s);
  if (!error.ok()) return error;
  if (out_pos != out.size()) {
    return Mismatch("zlib", "decompresses to only " + std::to_string(out_pos) + " bytes", raw_size);
  }
  if (trailing != 0) return Corrupt("zlib section has " + std::to_string(trailing) + " trailing bytes");
  return out;
}

// ---------------------------------------------------------------- zstd
Result<std::vector<uint8_t>> ZstdCompress(std::span<const uint8_t> raw, int level) {
  if (level == -1) level = 22;
  if (level < 1 || level > ZSTD_maxCLevel()) {
    return InvalidArgument("zstd level must be 1.." + std::to_string(ZSTD_maxCLevel()) + ", got " +
                           std::to_string(level));
  }
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) return Internal("zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);  // sections carry their own CRC-32C
  const size_t n = ZSTD_compress2(cctx, out.data(), out.size(), raw.data(), raw.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) return Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Result<std::vector<uint8_t>> ZstdDecompress(std::span<const uint8_t> stored, uint64_t raw_size) {
  // Exactly one frame and nothing after it.
  const size_t frame = ZSTD_findFrameCompressedSize(stored.data(), stored.size());
  if (ZSTD_isError(frame)) {
    return Corrupt(std::string("zstd section is malformed: ") + ZSTD_getErrorName(frame));
  }
  if (frame != stored.size()) {
    return Corrupt("zstd section has " + std::to_string(stored.size() - frame) + " trailing bytes after its frame");
  }
  const unsigned long long declared = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR && declared != raw_size) {
    return Mismatch("zstd", "declares " + std::to_string(declared) + " bytes", raw_size);
  }
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> out, AllocateOutput("zstd", raw_size));
  ZSTD_DStream* ds = ZSTD_createDStream();
  if (!ds) return Internal("zstd: out of memory");
  ZSTD_inBuffer in{stored.data(), stored.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  Status error;
  size_t rc = 1;
  while (true) {
    rc = ZSTD_decompressStream(ds, &ob, &in);
    if (ZSTD_isError(rc)) {
      error = Corrupt(std::string("zstd section is malformed: ") + ZSTD_getErrorName(rc));
      break;
    }
    if (rc == 0) break;  // frame complete
    if (ob.pos == ob.size) {
      // Output full but the frame is not done: does it produce anything more?
      uint8_t spill[1];
      ZSTD_outBuffer sb{spill, 1, 0};
      rc = ZSTD_decompressStream(ds, &sb, &in);
      if (ZSTD_isError(rc)) {
        error = Corrupt(std::string("zstd section is malformed: ") + ZSTD_getErrorName(rc));
      } else if (sb.pos > 0) {
        error = Mismatch("zstd", "decompresses to more bytes than raw_size", raw_size);
      } else if (rc != 0) {
        error = Mismatch("zstd", "is truncated", raw_size);
      }
      break;
    }
    if (in.pos == in.size) {
      error = Mismatch("zstd", "is truncated", raw_size);
      break;
    }
  }
  ZSTD_freeDStream(ds);
  if (!error.ok()) return error;
  if (ob.pos != out.size()) {
    return Mismatch("zstd", "decompresses to only " + std::to_string(ob.pos) + " bytes", raw_size);
  }
  if (in.pos != in.size) return Corrupt("zstd section has trailing bytes");
  return out;
}

// ---------------------------------------------------------------- xz
Result<std::vector<uint8_t>> XzCompress(std::span<const uint8_t> raw, int level) {
  uint32_t preset = 9 | LZMA_PRESET_EXTREME;
  if (level != -1) {
    if (level < 0 || level > 19) return InvalidArgument("xz level must be 0..19, got " + std::to_string(level));
    preset = level >= 10 ? static_cast<uint32_t>(level - 10) | LZMA_PRESET_EXTREME : static_cast<uint32_t>(level);
  }
  lzma_options_lzma opt;
  if (lzma_lzma_preset(&opt, preset)) return Internal("xz: bad preset");
  // A dictionary larger than the input cannot help; keep it (a power of two) just above.
  uint64_t dict = 4096;
  while (dict < raw.size() && dict < opt.dict_size) dict <<= 1;
  opt.dict_size = static_cast<uint32_t>(std::min<uint64_t>(dict, opt.dict_size));
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
  // CRC32 (4 bytes) keeps the stream checkable by stock `xz -d`; sections also carry CRC-32C.
  std::vector<uint8_t> out(lzma_stream_buffer_bound(raw.size()));
  size_t out_pos = 0;
  const lzma_ret rc = lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, nullptr, raw.data(), raw.size(),
                                                out.data(), &out_pos, out.size());
  if (rc != LZMA_OK) return Internal("xz: encoder failed with code " + std::to_string(static_cast<int>(rc)));
  out.resize(out_pos);
  return out;
}

Result<std::vector<uint8_t>> XzDecompress(std::span<const uint8_t> stored, uint64_t raw_size) {
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> out, AllocateOutput("xz", raw_size));
  lzma_stream s = LZMA_STREAM_INIT;
  // flags 0: a single .xz stream, no concatenation, no padding accepted.
  if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) return Internal("xz: decoder init failed");
  s.next_in = stored.data();
  s.avail_in = stored.size();
  s.next_out = out.data();
  s.avail_out = out.size();
  Status error;
  bool ended = false;
  while (true) {
    lzma_ret rc = lzma_code(&s, LZMA_FINISH);
    if (rc == LZMA_STREAM_END) {
      ended = true;
      break;
    }
    if (rc == LZMA_OK && s.avail_out == 0) {
      uint8_t spill[1];
      const size_t before = s.total_out;
      s.next_out = spill;
      s.avail_out = 1;
      rc = lzma_code(&s, LZMA_FINISH);
      if (s.total_out > before) {
        error = Mismatch("xz", "decompresses to more bytes than raw_size", raw_size);
        break;
      }
      if (rc == LZMA_STREAM_END) {
        ended = true;
        break;
      }
      if (rc != LZMA_OK) {
        error = Corrupt("xz section is malformed (lzma code " + std::to_string(static_cast<int>(rc)) + ")");
        break;
      }
      continue;
    }
    if (rc == LZMA_BUF_ERROR) {
      error = Mismatch("xz", "is truncated", raw_size);
      break;
    }
    if (rc != LZMA_OK) {
      error = Corrupt("xz section is malformed (lzma code " + std::to_string(static_cast<int>(rc)) + ")");
      break;
    }
  }
  const uint64_t total_out = s.total_out;
  const size_t trailing = s.avail_in;
  lzma_end(&s);
  if (!error.ok()) return error;
  if (!ended) return Mismatch("xz", "is truncated", raw_size);
  if (total_out != raw_size) {
    return Mismatch("xz", "decompresses to only " + std::to_string(total_out) + " bytes", raw_size);
  }
  if (trailing != 0) return Corrupt("xz section has " + std::to_string(trailing) + " trailing bytes");
  return out;
}

// ---------------------------------------------------------------- brotli
Result<std::vector<uint8_t>> BrotliCompress(std::span<const uint8_t> raw, int level) {
  if (level == -1) level = BROTLI_MAX_QUALITY;
  if (level < BROTLI_MIN_QUALITY || level > BROTLI_MAX_QUALITY) {
    return InvalidArgument("brotli quality must be 0..11, got " + std::to_string(level));
  }
  std::vector<uint8_t> out(BrotliEncoderMaxCompressedSize(raw.size()));
  if (out.empty()) out.resize(raw.size() + 1024);  // 0 means "too large to bound"; grow below
  size_t n = out.size();
  if (!BrotliEncoderCompress(level, BROTLI_MAX_WINDOW_BITS, BROTLI_MODE_GENERIC, raw.size(), raw.data(), &n,
                             out.data())) {
    return Internal("brotli: encoder failed");
  }
  out.resize(n);
  return out;
}

Result<std::vector<uint8_t>> BrotliDecompress(std::span<const uint8_t> stored, uint64_t raw_size) {
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> out, AllocateOutput("brotli", raw_size));
  BrotliDecoderState* st = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (!st) return Internal("brotli: out of memory");
  size_t avail_in = stored.size();
  const uint8_t* next_in = stored.data();
  size_t avail_out = out.size();
  uint8_t* next_out = out.data();
  Status error;
  BrotliDecoderResult r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
  if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
    uint8_t spill[1];
    size_t spill_avail = 1;
    uint8_t* spill_next = spill;
    r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &spill_avail, &spill_next, nullptr);
    if (spill_avail == 0) error = Mismatch("brotli", "decompresses to more bytes than raw_size", raw_size);
  }
  if (error.ok()) {
    if (r == BROTLI_DECODER_RESULT_ERROR) {
      error = Corrupt(std::string("brotli section is malformed: ") +
                      BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st)));
    } else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
      error = Mismatch("brotli", "is truncated", raw_size);
    } else if (r != BROTLI_DECODER_RESULT_SUCCESS) {
      error = Mismatch("brotli", "decompresses to more bytes than raw_size", raw_size);
    } else if (avail_out != 0) {
      error = Mismatch("brotli", "decompresses to only " + std::to_string(out.size() - avail_out) + " bytes",
                       raw_size);
    } else if (avail_in != 0) {
      error = Corrupt("brotli section has " + std::to_string(avail_in) + " trailing bytes");
    }
  }
  BrotliDecoderDestroyInstance(st);
  if (!error.ok()) return error;
  return out;
}

}  // namespace

int DefaultLevel(gpk::Codec codec) {
  switch (codec) {
    case gpk::Codec::kZlib: return 9;
    case gpk::Codec::kZstd: return 22;
    case gpk::Codec::kXz: return 19;  // preset 9 | extreme in this module's level numbering
    case gpk::Codec::kBrotli: return BROTLI_MAX_QUALITY;
    default: return 0;
  }
}

Result<std::vector<uint8_t>> Compress(gpk::Codec codec, std::span<const uint8_t> raw, int level) {
  switch (codec) {
    case gpk::Codec::kNone: return std::vector<uint8_t>(raw.begin(), raw.end());
    case gpk::Codec::kZlib: return ZlibCompress(raw, level);
    case gpk::Codec::kZstd: return ZstdCompress(raw, level);
    case gpk::Codec::kXz: return XzCompress(raw, level);
    case gpk::Codec::kBrotli: return BrotliCompress(raw, level);
  }
  return InvalidArgument("unknown codec " + std::to_string(static_cast<int>(codec)));
}

Result<std::vector<uint8_t>> Decompress(gpk::Codec codec, std::span<const uint8_t> stored, uint64_t raw_size) {
  switch (codec) {
    case gpk::Codec::kNone:
      if (stored.size() != raw_size) {
        return Corrupt("uncompressed section has " + std::to_string(stored.size()) + " bytes, raw_size says " +
                       std::to_string(raw_size));
      }
      return std::vector<uint8_t>(stored.begin(), stored.end());
    case gpk::Codec::kZlib: return ZlibDecompress(stored, raw_size);
    case gpk::Codec::kZstd: return ZstdDecompress(stored, raw_size);
    case gpk::Codec::kXz: return XzDecompress(stored, raw_size);
    case gpk::Codec::kBrotli: return BrotliDecompress(stored, raw_size);
  }
  return Corrupt("unknown codec " + std::to_string(static_cast<int>(codec)));
}

void RegisterAllCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (gpk::Codec c : {gpk::Codec::kZlib, gpk::Codec::kZstd, gpk::Codec::kXz, gpk::Codec::kBrotli}) {
      gpk::CodecImpl impl;
      impl.compress = [c](std::span<const uint8_t> raw, int level) { return Compress(c, raw, level); };
      impl.decompress = [c](std::span<const uint8_t> stored, uint64_t raw_size) {
        return Decompress(c, stored, raw_size);
      };
      gpk::RegisterCodec(c, std::move(impl));
    }
  });
}

}  // namespace golfpack::encode
