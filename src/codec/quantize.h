// Tensor encoders that turn float32 weights into gpk::EncodedTensor bytes
// (docs/FORMAT.md, "Encodings"): raw f32/f16/bf16, const, Parameter Golf's
// int8 baseline (bit-exact with train_gpt.py), and symmetric uniform grids.
//
// Conventions for every function here:
//  - `shape` is row-major; rows = shape[0], cols = numel / rows (a 0-d tensor
//    is one row of one element). numel(shape) must equal w.size().
//  - NaN or +-Inf anywhere in `w` is InvalidArgument naming the tensor and the
//    first bad flat index.
//  - The returned EncodedTensor has dtype kF32 (the original dtype is the
//    caller's business: set `.dtype` afterwards when the source was f16/bf16).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/artifact.h"
#include "core/encodings.h"
#include "core/status.h"

namespace golfpack::encode {

// ------------------------------------------------------------------ checks
// InvalidArgument("tensor 'x': non-finite value nan at index 17") etc.
Status CheckFinite(const std::string& name, std::span<const float> w);
// numel(shape) == w.size(), ndim <= 8, numel < 2^40.
Status CheckShape(const std::string& name, std::span<const uint64_t> shape, size_t n);
uint64_t RowsOf(std::span<const uint64_t> shape);                 // 1 for 0-d
uint64_t ColsOf(std::span<const uint64_t> shape, uint64_t numel);  // numel / rows (0 when rows == 0)

// ------------------------------------------------------------------ raw / const
// Encoding 0/1/2 by `storage`. f16 storage rejects finite values that overflow
// f16 (|w| >= 65520) instead of silently writing inf.
Result<gpk::EncodedTensor> EncodeRaw(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, gpk::TargetDType storage);
// The common value when every element has the same bit pattern (so -0 and +0
// differ), nullopt otherwise or when w is empty.
std::optional<float> ConstValue(std::span<const float> w);
// Encoding 6; InvalidArgument when the elements are not all equal.
Result<gpk::EncodedTensor> EncodeConst(const std::string& name, std::span<const uint64_t> shape,
                                       std::span<const float> w);

// ------------------------------------------------------------------ Parameter Golf baseline
inline constexpr uint64_t kPgKeepFloatMaxNumel = 65536;  // INT8_KEEP_FLOAT_MAX_NUMEL
inline constexpr double kPgClipPercentile = 99.99984;    // INT8_CLIP_PERCENTILE
// PG's control-tensor name patterns (substring match, as train_gpt.py).
bool IsPgControlTensor(std::string_view name);

enum class PgDecision { kKeepF32, kKeepF16, kQuantize };
// train_gpt.py's rule for one float tensor: numel > 65536 -> quantize
// (int8 per row for 2-D, per tensor otherwise, whatever the name); else
// control tensors stay f32 and everything else is stored as f16.
PgDecision PgPassthroughDType(std::string_view name, uint64_t numel);

// torch.quantile(x, q) for float32 x with linear interpolation, reproduced
// operation by operation: q is rounded to f32, rank = f32(q * (n-1)), the
// weight is rank - floor(rank) and the lerp is torch's fused form
// (w < 0.5 ? lo + w*(hi-lo) : hi - (hi-lo)*(1-w), each with one rounding
// through fma, as the vectorized ATen kernel computes it). Sorts `values`.
// Returns 0 for an empty input.
float TorchQuantileF32(std::vector<float> values, double q);

// Encoding 3: PG per-row int8 (rows = shape[0]; PG applies it to 2-D
// tensors). Bit-exact with quantize_float_tensor: clip = TorchQuantileF32(|row|,
// 0.9999984), clipped = clamp(w, -clip, clip), scale = max(clip / 127f,
// f32(1/127)) in f32, q = clamp(nearbyint(clipped / scale), -127, 127), and
// the stored scale is f16(scale). Note: codes use the f32 scale, the decoder
// multiplies by the f16-rounded one, exactly as dequantize_state_dict_int8.
Result<gpk::EncodedTensor> EncodePgInt8Row(const std::string& name, std::span<const uint64_t> shape,
                                           std::span<const float> w);
// Encoding 4: PG per-tensor int8 (non-2-D tensors with > 65536 elements).
// clip = quantile over all |w|; scale = f32(double(clip) / 127) if clip > 0
// else 1; q = clamp(nearbyint(clamp(w, -clip, clip) / scale), -127, 127).
Result<gpk::EncodedTensor> EncodePgInt8Tensor(const std::string& name, std::span<const uint64_t> shape,
                                              std::span<const float> w);
// The whole PG rule for one tensor: raw_f32 / raw_f16 passthrough per
// PgPassthroughDType, pg_int8_row for 2-D, pg_int8_tensor otherwise.
Result<gpk::EncodedTensor> EncodePgBaseline(const std::string& name, std::span<const uint64_t> shape,
                                            std::span<const float> w);

// Where the scales of a per-row or per-group grid go (uniform and ans_grid).
struct ScaleLayout {
  uint64_t rows = 0, cols = 0;
  uint64_t groups_per_row = 1;
  uint32_t group_size = 0;  // 0: one scale per row
  uint64_t group_len() const { return group_size ? group_size : cols; }
};
// InvalidArgument naming the tensor when ndim is 0 or group_size does not
// divide the columns. `encoding` names the grid in the message.
Result<ScaleLayout> MakeScaleLayout(const std::string& name, std::span<const uint64_t> shape, uint64_t numel,
                                    uint32_t group_size, const char* encoding);

// ------------------------------------------------------------------ uniform grids (encoding 5)
struct UniformSpec {
  enum Clip { kNone, kQuantile, kStd };
  int bits = 8;                 // 2..8; codes in [-(2^(bits-1)-1), 2^(bits-1)-1]
  uint32_t group_size = 0;      // 0: one scale per row; else must divide cols
  Clip clip = kNone;            // kNone: clip at max|w| of the row/group
  double clip_value = 0.0;      // kQuantile: q in (0, 1]; kStd: k in k * std(w)
  uint8_t packing = 0;          // 0: one int8 per code; 1: LSB-first bit packing
  uint8_t scale_dtype = 0;      // 0 f16, 1 f32, 2 bf16
  // The clip is capped at max|w| of the row/group. With cap = false a kStd
  // clip is used as is (Parameter Golf's record SDClip: scale = k*std/max_code,
  // which for k = 12.85 leaves most codes unused and lowers the entropy).
  bool cap_at_absmax = true;

  int max_code() const { return (1 << (bits - 1)) - 1; }
  Status Validate() const;
  // Canonical spec-string form, e.g. "u6:row:sd12.85" (see encoder.h).
  std::string ToString() const;
};

// Codes and scales of one tensor on a uniform grid.
struct UniformQuant {
  uint64_t rows = 0, cols = 0;
  uint64_t groups_per_row = 1;  // cols / group_size, or 1 per row
  uint32_t group_size = 0;
  std::vector<float> scales;    // rows * groups_per_row, exactly as stored (already rounded to scale_dtype)
  std::vector<int8_t> codes;    // rows * cols, row-major
  // Index of the scale of element (r, c).
  uint64_t ScaleIndex(uint64_t r, uint64_t c) const {
    return r * groups_per_row + (group_size ? c / group_size : 0);
  }
};

// The stored scale of every row/group. clip = max|w|, quantile(|w|, q) (linear
// interpolation at q*(n-1), in double) or k * std(w) (unbiased, n-1, as
// torch.std; population std for n == 1 is 0), capped at max|w| unless
// cap_at_absmax is false. scale = clip / max_code, rounded UP to the next
// value representable in scale_dtype, so every |w| <= clip maps to a code
// within range and its error is at most scale/2. An all-zero row/group (or one
// whose scale underflows) gets the smallest positive scale of the dtype.
// InvalidArgument when a scale overflows its dtype (use f32 scales).
Result<UniformQuant> UniformScales(const std::string& name, std::span<const uint64_t> shape,
                                   std::span<const float> w, const UniformSpec& spec);
// Round to nearest (half to even) with the stored scales: code =
// clamp(nearbyint(w / scale), -max_code, max_code).
Result<UniformQuant> QuantizeUniform(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const UniformSpec& spec);
// Serializes codes + scales into encoding 5 (params via gpk::UniformParams).
// Codes outside [-max_code, max_code] are InvalidArgument.
Result<gpk::EncodedTensor> PackUniform(const std::string& name, std::span<const uint64_t> shape,
                                       const UniformSpec& spec, const UniformQuant& q);
// QuantizeUniform + PackUniform. With codes_override (rows*cols codes, e.g.
// from GPTQ) the scales still come from `w` and the given codes are stored.
Result<gpk::EncodedTensor> EncodeUniform(const std::string& name, std::span<const uint64_t> shape,
                                         std::span<const float> w, const UniformSpec& spec,
                                         const std::vector<int8_t>* codes_override = nullptr);
// What a decoder returns for (codes, scales): f32(code) * scale, row-major.
std::vector<float> DequantizeUniform(const UniformQuant& q);

}  // namespace golfpack::encode
