// The .gpk reader (docs/FORMAT.md, versions 1 to 3).
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "gpk/bytes.h"
#include "gpk/encodings.h"

namespace golfpack::gpk {

inline constexpr uint16_t kFormatVersion = 3;  // newest; 1 and 2 still decode
inline constexpr uint64_t kDefaultMaxElements = 1ull << 31, kContainerOverhead = 32, kMaxDimOrNumel = 1ull << 40;
inline constexpr size_t kMaxNdim = 8, kMaxStringBytes = 65535;

enum class Codec : uint8_t { kNone = 0, kZlib = 1, kZstd = 2, kXz = 3, kBrotli = 4 };
inline constexpr uint8_t kNumCodecs = 5;
const char* CodecName(Codec c);
enum class TargetDType : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2 };

// A lossless back-end from the host (not std); it must produce exactly raw_size bytes.
using Decompressor = std::function<Result<std::vector<uint8_t>>(ByteSpan stored, uint64_t raw_size)>;
// Thread-safe; an empty function removes the registration.
void RegisterDecompressor(Codec c, Decompressor d);

struct SectionInfo {
  Codec codec = Codec::kNone;  // the codec byte's low 4 bits
  uint8_t shuffle = 0;         // its high 4 bits: byte-shuffle stride (version 3), 0 = none
  uint64_t file_offset = 0, stored_size = 0, raw_size = 0;
  uint32_t crc32c = 0;
};

// A tensor's or a shared object's payload.
struct PayloadInfo {
  std::string name;
  uint32_t section = 0;
  uint64_t offset = 0, length = 0;  // in the section's raw bytes
  std::vector<uint8_t> params;
  uint64_t manifest_offset = 0, manifest_bytes = 0;  // its entry in the file
};

struct ObjectInfo : PayloadInfo { uint32_t kind = 0; };

struct TensorInfo : PayloadInfo {
  std::vector<uint64_t> shape;
  uint64_t numel = 0;
  TargetDType dtype = TargetDType::kF32;
  uint32_t encoding = 0;
  std::vector<uint32_t> refs;  // object indices (version 2)
};

struct ArtifactOptions {
  uint64_t max_elements = kDefaultMaxElements;
  bool verify_file_hash = true;
};

// A validated view of a file's bytes (kept alive by the caller). Parse applies
// FORMAT.md checks 1-4 (kCorrupt naming part and offset; over max_elements is
// kUnsupported); section CRCs are checked when read. Thread-safe const methods.
class Artifact {
 public:
  using Options = ArtifactOptions;
  static Result<Artifact> Parse(ByteSpan bytes, const std::string& origin, const Options& options = {});

  uint16_t version() const { return version_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SectionInfo>& sections() const { return sections_; }
  const std::vector<ObjectInfo>& objects() const { return objects_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  uint64_t file_size() const { return bytes_.size(); }
  uint64_t manifest_size() const { return manifest_size_; }

  // Another decoder table (nullptr: the registry's).
  using DecodeFn = Status (*)(uint32_t encoding, const TensorView& t, std::span<float> out);
  // Tensor i as f32 (checks the CRCs of the sections it reads).
  Result<std::vector<float>> DecodeTensor(size_t i, DecodeFn fn = nullptr) const;
  // Every tensor in manifest order, decompressing each section once.
  Result<std::vector<std::vector<float>>> DecodeAll() const { return Decode(0, tensors_.size(), nullptr); }
  // The raw (decompressed, unshuffled) bytes of a section.
  Result<std::vector<uint8_t>> SectionBytes(size_t section) const;

 private:
  ByteSpan bytes_;
  std::string origin_;
  uint16_t version_ = 1;
  std::map<std::string, std::string> metadata_;
  std::vector<SectionInfo> sections_;
  std::vector<ObjectInfo> objects_;
  std::vector<TensorInfo> tensors_;
  uint64_t manifest_size_ = 0;

  // Parse without the origin: ctx is the part that failed ("manifest: tensor 3 'w': ").
  static Result<Artifact> Read(ByteSpan bytes, const Options& options, std::string& ctx);
  Result<ByteSpan> RawSection(size_t section, std::vector<uint8_t>& storage) const;
  // Tensors [begin, end), reading each section they use once.
  Result<std::vector<std::vector<float>>> Decode(size_t begin, size_t end, DecodeFn fn) const;
};

}  // namespace golfpack::gpk
