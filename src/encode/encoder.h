// One tensor encoder per configuration string, faiss-style: every spec
// string is parsed here, in one place.
//
// Grammar (tokens separated by ':'; case-sensitive):
//   spec     := "f32" | "f16" | "bf16"            raw storage (encodings 0-2)
//             | "const"                           encoding 6; fails unless all elements are equal
//             | "pg_int8"                         Parameter Golf's whole baseline rule for the tensor:
//                                                 <= 65536 elements: f32 (control tensors) or f16,
//                                                 else int8 per row (2-D) or per tensor
//             | "pg_int8_row" | "pg_int8_tensor"  force one PG int8 layout (encodings 3, 4)
//             | uniform
//             | "gptq:" uniform                   GPTQ onto that grid (needs a Hessian)
//   uniform  := "u" BITS ":" scope ":" clip { ":" option }
//   BITS     := 2..8
//   scope    := "row" | "g" N                     N > 0: scales per N consecutive columns (must divide cols)
//   clip     := "none"                            clip at max|w|
//             | "q" X                             quantile of |w|, 0 < X <= 1 (e.g. q0.9999)
//             | "sd" K                            K * std(w), K > 0 (SDClip, e.g. sd12.85)
//   option   := "packed" | "bytes"                bit-packed codes / one int8 per code (default)
//             | "sf16" | "sf32" | "sbf16"         scale dtype (default sf16)
//             | "nocap"                           do not cap the clip at max|w| (Parameter Golf record SDClip)
//             | "noact" | "act"                   gptq only: activation order off / on (default on)
//             | "damp" X                          gptq only: percdamp, default 0.01
//             | "block" N                         gptq only: block size, default 128
// Examples: "u6:row:sd12.85", "u8:g64:q0.9999:packed", "u4:row:none",
//           "gptq:u6:row:sd12.85:nocap", "gptq:u4:g128:none:noact:damp0.05".
//
// GPTQ without a Hessian is an error (InvalidArgument naming the tensor and
// suggesting the plain-rounding spec); it never silently falls back.
// Encoders other than gptq ignore the Hessian argument.
#pragma once

#include <Eigen/Dense>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/artifact.h"
#include "core/status.h"
#include "encode/gptq.h"
#include "encode/quantize.h"

namespace golfpack::encode {

class TensorEncoder {
 public:
  virtual ~TensorEncoder();
  // The canonical spec string; MakeEncoder(spec()) builds an equal encoder.
  virtual std::string spec() const = 0;
  // hessian: X^T X [cols x cols] for the gptq encoder, may be nullptr otherwise.
  virtual Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                            std::span<const float> w, const Eigen::MatrixXd* hessian) const = 0;
  // True when Encode needs a Hessian (gptq).
  virtual bool needs_hessian() const { return false; }
};

// InvalidArgument("bad encoder spec 'u9:row:none': bits '9' must be 2..8") etc.
Result<std::unique_ptr<TensorEncoder>> MakeEncoder(std::string_view spec);

// The GPTQ encoder, for callers that also want the error statistics.
class GptqEncoder final : public TensorEncoder {
 public:
  GptqEncoder(UniformSpec grid, GptqOptions options) : grid_(grid), options_(options) {}
  std::string spec() const override;
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd* hessian) const override;
  bool needs_hessian() const override { return true; }
  Result<GptqResult> EncodeWithStats(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const Eigen::MatrixXd& hessian) const;
  const UniformSpec& grid() const { return grid_; }
  const GptqOptions& options() const { return options_; }

 private:
  UniformSpec grid_;
  GptqOptions options_;
};

}  // namespace golfpack::encode
