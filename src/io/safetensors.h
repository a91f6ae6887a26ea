// safetensors: 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the raw little-endian tensor bytes.
// Offsets are relative to the end of the header. The reader validates every
// field before use: offsets in range, non-overlapping, size == numel * dtype size,
// header not longer than the file.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::io {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

const char* DTypeName(DType d);                 // "F32", "BF16", ...
Result<DType> ParseDType(const std::string& s);  // inverse; unknown -> Corrupt
size_t DTypeSize(DType d);

struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // raw little-endian bytes, numel * DTypeSize

  int64_t numel() const;
  // Converts F32/F16/BF16/F64 data to float32 (InvalidArgument for other dtypes).
  Result<std::vector<float>> ToFloat32() const;
  // store_as: F32, F16, BF16 (round to nearest even) or F64; any other dtype stores F32.
  // values.size() should equal the shape's numel (the writer rejects a mismatch).
  static Tensor FromFloat32(std::string name, std::vector<int64_t> shape, std::span<const float> values,
                            DType store_as = DType::kF32);
};

struct TensorFile {
  std::vector<Tensor> tensors;                    // in file order (sorted by offset)
  std::map<std::string, std::string> metadata;    // "__metadata__", may be empty

  const Tensor* Find(const std::string& name) const;
};

// Parses a whole safetensors file held in memory; `origin` names it in errors.
Result<TensorFile> ParseSafetensors(std::span<const uint8_t> bytes, const std::string& origin);
Result<TensorFile> ReadSafetensors(const std::string& path);

// Serializes (header padded with spaces to a multiple of 8, as the reference
// implementation does) and writes atomically.
Result<std::vector<uint8_t>> SerializeSafetensors(const TensorFile& file);
Status WriteSafetensors(const std::string& path, const TensorFile& file);

// float <-> half / bfloat16 conversions (round to nearest even), shared helpers.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBF16(float f);
float BF16ToFloat(uint16_t b);

}  // namespace golfpack::io
