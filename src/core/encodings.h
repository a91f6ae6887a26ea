// The encoding registry (docs/FORMAT.md, "Encodings"): one append-only table
// row per encoding with its exact payload size rule, a fast decoder and a slow
// scalar reference decoder used as the test oracle (as ggml's type traits).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace golfpack::gpk {

enum EncodingId : uint32_t {
  kRawF32 = 0,
  kRawF16 = 1,
  kRawBF16 = 2,
  kPgInt8Row = 3,
  kPgInt8Tensor = 4,
  kUniform = 5,
  kConst = 6,
  kAnsGrid = 7,
};

// What a decoder gets for one tensor; all spans validated by the container.
struct TensorView {
  std::span<const uint64_t> shape;
  uint64_t numel = 0;
  std::span<const uint8_t> params;
  std::span<const uint8_t> payload;
};

struct EncodingTraits {
  uint32_t id;
  const char* name;
  // true when the payload size follows from shape + params alone.
  bool fixed_rate;
  // Fixed-rate: the exact payload size the encoding requires. Variable-rate
  // (entropy-coded): the smallest payload the encoding can have; the real
  // length is the manifest's and only decoding validates it. Corrupt for bad
  // params or shapes either way.
  Result<uint64_t> (*payload_size)(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params);
  // Decode to out (out.size() == numel); called only after payload_size
  // matched (fixed-rate) or was at most payload.size() (variable-rate).
  Status (*decode)(const TensorView& t, std::span<float> out);
  // Slow, obviously-correct scalar version of decode: the oracle in tests.
  Status (*decode_ref)(const TensorView& t, std::span<float> out);
};

// nullptr for an unknown id.
const EncodingTraits* FindEncoding(uint32_t id);
std::span<const EncodingTraits> AllEncodings();

// Params of encoding 5 (`uniform`), 7 bytes on disk.
struct UniformParams {
  uint8_t bits = 8;          // 2..8
  uint8_t packing = 0;       // 0: one int8 per code, 1: LSB-first bit packing
  uint8_t scale_dtype = 0;   // 0 f16, 1 f32, 2 bf16
  uint32_t group_size = 0;   // 0 = one scale per row

  std::vector<uint8_t> Serialize() const;
  static Result<UniformParams> Parse(std::span<const uint8_t> bytes);
  int max_code() const { return (1 << (bits - 1)) - 1; }
};

// Params of encoding 7 (`ans_grid`), 6 bytes on disk: u8 scale_dtype,
// u32 group_size, u8 model (docs/FORMAT.md, "7: ans_grid").
struct AnsGridParams {
  uint8_t scale_dtype = 0;   // 0 f16, 1 f32, 2 bf16
  uint32_t group_size = 0;   // 0 = one scale per row, else divides cols
  uint8_t model = 0;         // 0: order-0 rANS (RansCompress), 1: context rANS (ContextRansCompress)

  std::vector<uint8_t> Serialize() const;
  static Result<AnsGridParams> Parse(std::span<const uint8_t> bytes);
};

// rows = dims[0], cols = numel / rows (1 for a 0-d tensor); shared by encoders.
uint64_t Rows(std::span<const uint64_t> shape);
uint64_t Cols(std::span<const uint64_t> shape, uint64_t numel);

}  // namespace golfpack::gpk
