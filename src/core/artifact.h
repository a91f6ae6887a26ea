// Writing .gpk files (docs/FORMAT.md): the container writer, the lossless
// back-ends' registry and the reference-decoder path. The reader is the
// counted decoder's (gpk/artifact.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gpk/artifact.h"

namespace golfpack::gpk {

// One tensor as an encoder hands it over: shape, original dtype, encoding id
// and the exact params/payload bytes FORMAT.md defines for that encoding;
// `refs` name shared objects (indices into WriteOptions::objects).
struct EncodedTensor {
  std::string name;
  std::vector<uint64_t> shape;
  TargetDType dtype = TargetDType::kF32;
  uint32_t encoding = 0;
  std::vector<uint8_t> params;
  std::vector<uint8_t> payload;
  std::vector<uint32_t> refs;
};

// A shared object (codebook, basis, ...) that tensors reference; its bytes
// are stored and counted once.
struct EncodedObject {
  std::string name;
  uint32_t kind = kObjF32Values;
  std::vector<uint8_t> payload;
};

// A lossless back-end; the encode layer registers zlib/zstd/xz/brotli. The
// decompress half is also registered with the reader (RegisterDecompressor).
struct CodecImpl {
  // Compress `raw`; level is codec-specific (-1 = the codec's strongest sensible default).
  std::function<Result<std::vector<uint8_t>>(std::span<const uint8_t> raw, int level)> compress;
  // Decompress to exactly `raw_size` bytes; anything else is Corrupt.
  std::function<Result<std::vector<uint8_t>>(std::span<const uint8_t> stored, uint64_t raw_size)> decompress;
};
// Thread-safe. Registering again replaces; an impl with both functions empty
// removes the registration. Codec::kNone cannot be registered. A CodecImpl
// pointer stays valid for the lifetime of the process.
void RegisterCodec(Codec c, CodecImpl impl);
const CodecImpl* FindCodec(Codec c);  // nullptr when not registered (or kNone)

// How payloads are grouped into sections when writing.
struct SectionPlan {
  Codec codec = Codec::kNone;
  int level = -1;
  // Indices into the tensor list and the object list. FORMAT.md lays out a
  // section's payloads in manifest order (objects, then tensors), so the
  // writer uses that order whatever the order here. Not both empty.
  std::vector<size_t> tensors;
  std::vector<size_t> objects;
  // Byte-shuffle stride (FORMAT.md version 3): 0 = none; 2..15 = the raw bytes
  // are shuffled with this stride before the codec compresses them (or, with
  // Codec::kNone, are stored shuffled). 1 and > 15 are InvalidArgument.
  uint8_t shuffle = 0;
};

// The FORMAT.md byte shuffle with stride s: raw[0::s] ++ raw[1::s] ++ ... ++
// raw[s-1::s]. UnshuffleBytes inverts it. Stride 0 or 1: a copy.
std::vector<uint8_t> ShuffleBytes(std::span<const uint8_t> raw, size_t stride);
std::vector<uint8_t> UnshuffleBytes(std::span<const uint8_t> shuffled, size_t stride);

struct WriteOptions {
  std::map<std::string, std::string> metadata;
  // Empty = one uncompressed section per object and per tensor (exact bytes).
  std::vector<SectionPlan> sections;
  std::vector<EncodedObject> objects;
};

// Serializes a complete file in the lowest version it needs: 3 when a section
// is shuffled, else 2 when there are shared objects, else 1. Every payload
// must be in exactly one section and every object referenced. Inputs are
// validated (InvalidArgument) against every rule the reader enforces; a
// compressed section is decompressed again (Internal if it does not
// round-trip); an unregistered codec is Unsupported; and the finished bytes
// are re-parsed, so the writer never produces a file the reader rejects.
Result<std::vector<uint8_t>> BuildArtifact(const std::vector<EncodedTensor>& tensors, const WriteOptions& options);
// BuildArtifact + atomic write (temp file + rename).
Status WriteArtifact(const std::string& path, const std::vector<EncodedTensor>& tensors, const WriteOptions& options);

// FORMAT.md "Byte accounting": named parts that add up to the file size
// exactly, and each payload's bytes (its entry plus its share of its section).
struct ByteAccount {
  std::vector<std::pair<std::string, uint64_t>> parts;
  std::vector<uint64_t> objects, tensors;
};
ByteAccount AccountBytes(const Artifact& a);

// Tensor i through the scalar reference decoders (the test oracle).
Result<std::vector<float>> DecodeTensorRef(const Artifact& a, size_t i);

// The index of the tensor named `name`, if any.
std::optional<size_t> FindTensor(const Artifact& a, std::string_view name);

}  // namespace golfpack::gpk
