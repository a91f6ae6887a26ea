// The .gpk container (docs/FORMAT.md, version 1): writing the bytes from
// already-encoded tensors, and reading them back with every field validated
// before use. Standard library only, so the decoder can be embedded anywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::gpk {

inline constexpr uint16_t kFormatVersion = 1;
inline constexpr uint64_t kDefaultMaxElements = uint64_t{1} << 31;

enum class Codec : uint8_t { kNone = 0, kZlib = 1, kZstd = 2, kXz = 3, kBrotli = 4 };
const char* CodecName(Codec c);  // "none", "zlib", "zstd", "xz", "brotli"

enum class TargetDType : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2 };

// One tensor as an encoder hands it over: shape, original dtype, encoding id
// and the exact params/payload bytes FORMAT.md defines for that encoding.
struct EncodedTensor {
  std::string name;
  std::vector<uint64_t> shape;
  TargetDType dtype = TargetDType::kF32;
  uint32_t encoding = 0;
  std::vector<uint8_t> params;
  std::vector<uint8_t> payload;
};

// Lossless back-ends live outside core (they need zlib/zstd/xz/brotli); the
// encode layer registers them. Core itself handles Codec::kNone only.
struct CodecImpl {
  // Compress `raw`; level is codec-specific (-1 = the codec's strongest sensible default).
  std::function<Result<std::vector<uint8_t>>(std::span<const uint8_t> raw, int level)> compress;
  // Decompress to exactly `raw_size` bytes; anything else is Corrupt.
  std::function<Result<std::vector<uint8_t>>(std::span<const uint8_t> stored, uint64_t raw_size)> decompress;
};
// Thread-safe. Registering a codec again replaces it; registering an impl whose
// two functions are both empty removes the registration. Codec::kNone cannot be
// registered (core handles it). A CodecImpl pointer stays valid for the
// lifetime of the process, even after it is replaced.
void RegisterCodec(Codec c, CodecImpl impl);
const CodecImpl* FindCodec(Codec c);  // nullptr when not registered (or kNone)

// How tensors are grouped into sections when writing.
struct SectionPlan {
  Codec codec = Codec::kNone;
  int level = -1;
  // Indices into the tensor list. FORMAT.md lays out the payloads of a shared
  // section in manifest (= tensor list) order, so the writer uses that order
  // whatever the order here. Must not be empty.
  std::vector<size_t> tensors;
};

struct WriteOptions {
  std::map<std::string, std::string> metadata;
  // Empty = one uncompressed section per tensor (exact per-tensor bytes).
  std::vector<SectionPlan> sections;
};

// Serializes a complete file. Every tensor must appear in exactly one section.
// Inputs are validated (InvalidArgument) against every rule the reader
// enforces: unique valid names/keys, ndim <= 8, dims and numel <= 2^40, known
// dtype/encoding/codec, params accepted by the encoding and payload size ==
// payload_size for fixed-rate encodings. A compressed section is decompressed
// again to check the codec round-trips (Internal otherwise), a codec that is
// not registered is Unsupported, and the finished bytes are re-parsed, so the
// writer never produces a file the reader rejects.
Result<std::vector<uint8_t>> BuildArtifact(const std::vector<EncodedTensor>& tensors, const WriteOptions& options);
// BuildArtifact + atomic write (temp file + rename).
Status WriteArtifact(const std::string& path, const std::vector<EncodedTensor>& tensors, const WriteOptions& options);

struct SectionInfo {
  Codec codec = Codec::kNone;
  uint64_t file_offset = 0;  // where its stored bytes start in the file
  uint64_t stored_size = 0, raw_size = 0;
  uint32_t crc32c = 0;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> shape;
  uint64_t numel = 0;
  TargetDType dtype = TargetDType::kF32;
  uint32_t encoding = 0;
  uint32_t section = 0;
  uint64_t offset = 0, length = 0;    // in the section's raw bytes
  std::vector<uint8_t> params;
  uint64_t manifest_offset = 0;       // file offset of its TensorEntry
  uint64_t manifest_bytes = 0;        // size of its TensorEntry
  uint64_t accounted_bytes = 0;       // entry + its share of section bytes (FORMAT.md, Byte accounting)
};

// Fixed parts of the container (FORMAT.md, File layout).
inline constexpr uint64_t kFileHeaderSize = 16;
inline constexpr uint64_t kFooterSize = 12;
inline constexpr uint64_t kContainerOverhead = 32;  // header + manifest CRC + footer
inline constexpr uint64_t kMaxDimOrNumel = uint64_t{1} << 40;
inline constexpr size_t kMaxNdim = 8;
inline constexpr size_t kMaxStringBytes = 65535;

// A validated view of a file's bytes (the caller keeps the bytes alive).
// Parse applies every check of FORMAT.md steps 1-4 (and the length-vs-encoding
// check of step 6); section CRCs are checked when a section is read. Every
// rejection is kCorrupt with one line "<origin>: <part>: ... offset N ...",
// except a file whose total numel exceeds Options::max_elements, which is
// kUnsupported (the file may be fine; the limit is the caller's). All const
// methods are safe to call from several threads at once.
class Artifact {
 public:
  struct Options {
    uint64_t max_elements = kDefaultMaxElements;
    bool verify_file_hash = true;
  };
  static Result<Artifact> Parse(std::span<const uint8_t> bytes, const std::string& origin, const Options& options);
  static Result<Artifact> Parse(std::span<const uint8_t> bytes, const std::string& origin) {
    return Parse(bytes, origin, Options());
  }

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SectionInfo>& sections() const { return sections_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Named parts and their bytes; they add up to the file size exactly.
  const std::vector<std::pair<std::string, uint64_t>>& accounting() const { return accounting_; }

  // Decodes tensor i to float32 (checks its section CRC and decompresses as needed).
  Result<std::vector<float>> DecodeTensor(size_t i) const;
  // Same through the slow scalar reference decoders (the test oracle).
  Result<std::vector<float>> DecodeTensorRef(size_t i) const;
  // The raw (decompressed) bytes of a section.
  Result<std::vector<uint8_t>> SectionBytes(size_t section) const;
  // Every tensor, in manifest order, decompressing each section only once.
  Result<std::vector<std::vector<float>>> DecodeAll() const;

  // Index of the tensor with this name, if any.
  std::optional<size_t> FindTensor(std::string_view name) const;
  uint64_t file_size() const { return bytes_.size(); }
  uint64_t manifest_size() const { return manifest_size_; }
  uint64_t total_elements() const { return total_elements_; }

 private:
  std::span<const uint8_t> bytes_;
  std::string origin_;
  std::map<std::string, std::string> metadata_;
  std::vector<SectionInfo> sections_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::pair<std::string, uint64_t>> accounting_;
  uint64_t manifest_size_ = 0;
  uint64_t total_elements_ = 0;

  // CRC check + decompression; `storage` holds decompressed bytes when needed.
  Result<std::span<const uint8_t>> RawSection(size_t section, std::vector<uint8_t>& storage) const;
  Result<std::vector<float>> DecodeFrom(size_t i, std::span<const uint8_t> section_raw, bool reference) const;
};

}  // namespace golfpack::gpk
