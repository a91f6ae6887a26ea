// The encoding registry (FORMAT.md "Encodings"): one append-only row per
// encoding, its payload size rule and its decoder.
#pragma once

#include <vector>

#include "gpk/bytes.h"

namespace golfpack::gpk {

using Dims = std::span<const uint64_t>;  // a tensor shape

enum EncodingId : uint32_t {
  kRawF32 = 0, kRawF16 = 1, kRawBF16 = 2, kPgInt8Row = 3, kPgInt8Tensor = 4, kUniform = 5,
  kConst = 6, kAnsGrid = 7, kCodebook = 8, kLowRank = 9, kPatch = 10,
};

// FORMAT.md "Shared objects".
enum ObjectKind : uint32_t { kObjF32Values = 0 };
inline constexpr uint32_t kNumObjectKinds = 1;

// A shared object as a decoder sees it: validated by the container.
struct ObjectView {
  uint32_t kind = 0;
  ByteSpan params, data;
};

// What a decoder gets for one tensor, validated by the container; `objects`
// in ref order.
struct TensorView {
  Dims shape;
  uint64_t numel = 0;
  ByteSpan params, payload;
  std::span<const ObjectView> objects;
};

struct EncodingTraits {
  uint32_t id;
  const char* name;
  bool fixed_rate;  // payload size follows from shape + params alone
  uint32_t refs;    // shared objects a tensor must reference
  // Fixed-rate: the exact payload size. Variable-rate: the smallest payload.
  Result<uint64_t> (*payload_size)(Dims shape, uint64_t numel, ByteSpan params);
  // out.size() == numel; called only after the container's checks.
  Status (*decode)(const TensorView& t, std::span<float> out);
};

const EncodingTraits* FindEncoding(uint32_t id);  // nullptr for an unknown id
std::span<const EncodingTraits> AllEncodings();
// The check a decoder applies first (sizes, params); exposed for the oracles.
Status CheckView(const EncodingTraits& e, const TensorView& t, std::span<float> out);

// Params, one struct per encoding that has them: FORMAT.md "Encodings".
struct UniformParams {
  uint8_t bits = 8, packing = 0, scale_dtype = 0;
  uint32_t group_size = 0;
  std::vector<uint8_t> Serialize() const;
  static Result<UniformParams> Parse(ByteSpan bytes);
  int max_code() const { return (1 << (bits - 1)) - 1; }
};

struct AnsGridParams {
  uint8_t scale_dtype = 0;
  uint32_t group_size = 0;
  uint8_t model = 0;
  uint16_t carry = 0;  // row-order carry (8-byte params)
  std::vector<uint8_t> Serialize() const;
  static Result<AnsGridParams> Parse(ByteSpan bytes);
};

struct CodebookParams {
  uint8_t bits = 4, scale_dtype = 0;
  uint32_t group_size = 0;
  std::vector<uint8_t> Serialize() const;
  static Result<CodebookParams> Parse(ByteSpan bytes);
};

// ans_grid models 2..8: Ungerboeck's 1-D trellis codes (h0, h1), octal.
inline constexpr uint16_t kTrellis[7][2] = {{05, 02}, {013, 04}, {023, 04}, {045, 010}, {0103, 024}, {0235, 0126}, {0515, 0362}};

// The inner encoding that lowrank and patch build on.
struct InnerParams {
  uint32_t inner = 0;
  std::vector<uint8_t> inner_params;
  uint64_t inner_payload = 0;
};

struct LowRankParams : InnerParams {
  uint8_t rank = 1, bits = 4;
  uint64_t group = 0;
  std::vector<uint8_t> Serialize() const;
  static Result<LowRankParams> Parse(ByteSpan bytes);
};

enum PatchUnit : uint8_t { kPatchElement = 0, kPatchBlock = 1, kPatchColumn = 2, kPatchRow = 3 };
struct PatchParams : InnerParams {
  uint8_t unit = 0;
  uint64_t block = 0;
  uint8_t bits = 8, rice_k = 0;
  uint64_t count = 1;
  std::vector<uint8_t> Serialize() const;
  static Result<PatchParams> Parse(ByteSpan bytes);
};

// rows = dims[0] (1 for 0-d), cols = numel / rows (0 when rows is 0).
uint64_t Rows(Dims shape);
uint64_t Cols(Dims shape, uint64_t numel);
inline uint64_t ScaleBytes(uint8_t scale_dtype) { return scale_dtype == 1 ? 4 : 2; }

}  // namespace golfpack::gpk
