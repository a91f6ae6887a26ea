// Selective precision, encoding 10 `patch` (docs/FORMAT.md "10: patch"): a
// tensor stored in any other encoding (the "inner" one) plus additive
// corrections on a sparse set of units: single elements (sparse exceptions),
// blocks of L weights along a row (structured exceptions, one flag per block
// as in MicroScopiQ), whole input columns (OWQ's protected channels) or whole
// rows (protected output channels, e.g. token rows of a tied embedding).
//
// The writer's side of the encoding: unit geometry, value quantization, the
// exact byte price and the encoder. Which units to patch and with what
// values is the planner's choice (plan/patch_source.h picks them under the
// Hessian proxy). The decoder is the counted one (gpk/encodings.cpp); its
// `_ref` oracle is in core/encodings.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"
#include "gpk/encodings.h"

namespace golfpack::encode {

struct PatchSpec {
  gpk::PatchUnit unit = gpk::kPatchElement;
  int block = 16;  // unit kPatchBlock: weights per block (must divide cols); ignored otherwise
  int bits = 8;    // 2..8: codes with one f16 scale per unit (per patch for elements); 16: f16 values
  // "e:b8" (elements), "k16:b4" (blocks of 16), "c:b8" (columns), "r:b16" (rows).
  std::string ToString() const;
  static Result<PatchSpec> Parse(std::string_view text);
};

// Units of a rows x cols tensor, elements per unit, and where element t of
// unit u lies in the row-major tensor.
uint64_t PatchUnitCount(const PatchSpec& s, uint64_t rows, uint64_t cols);
uint64_t PatchUnitLen(const PatchSpec& s, uint64_t rows, uint64_t cols);
inline uint64_t PatchPosition(const PatchSpec& s, uint64_t cols, uint64_t len, uint64_t u, uint64_t t) {
  return s.unit == gpk::kPatchColumn ? t * cols + u : u * len + t;
}

// Corrections of distinct units in increasing order: values[i * len + t] is
// element t of units[i] (len = 1 for elements).
struct PatchValues {
  std::vector<uint64_t> units;
  std::vector<float> values;
};

// The values as a decoder adds them (quantized per `s`), same layout.
std::vector<float> QuantizePatchValues(const PatchValues& v, const PatchSpec& s, uint64_t len);

// The Rice parameter that codes the gaps of `units` (increasing) in the
// fewest bits, and that many bits.
struct RiceChoice {
  int k = 0;
  uint64_t bits = 0;
};
RiceChoice BestRice(std::span<const uint64_t> units);

// Exact sizes of EncodePatch's output over an inner tensor with these
// payload and params, without building it.
struct PatchBytes {
  uint64_t payload = 0, params = 0;
};
PatchBytes PatchBytesOf(uint32_t inner_encoding, std::span<const uint8_t> inner_params, uint64_t inner_payload,
                        const PatchValues& v, const PatchSpec& s, uint64_t len);

// Wraps an encoded 2-D tensor (any encoding but patch and codebook) with the
// corrections: encoding 10. InvalidArgument names the tensor and the problem
// (unsorted or out-of-range units, wrong value count, a bad spec).
Result<gpk::EncodedTensor> EncodePatch(const gpk::EncodedTensor& inner, const PatchValues& v, const PatchSpec& s);

}  // namespace golfpack::encode
