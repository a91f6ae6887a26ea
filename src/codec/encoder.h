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
//             | ans                               entropy-coded grid, encoding 7 (ans_grid.h)
//             | "gptq:" ans                       GPTQ error feedback onto that grid (needs a Hessian)
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
//   ans      := "ans:s" STEP ":" scope { ":" ans_opt }
//   STEP     := X > 0                             scale = STEP * std(row or group), e.g. s0.3
//   ans_opt  := "ctx" K                           context rANS (model 1) with K = 1..64 contexts
//             | "o0"                              order-0 rANS (model 0, the default)
//             | "cc"                              column classes (model 9): 2-16 classes of columns,
//                                                 a table each, when they pay; else model 0
//             | "dz" X                            dead zone X >= 0: |w/scale| < 0.5 + X -> 0
//             | "rdo" X                           RDO rounding with lambda X >= 0 (bits vs step^2 units)
//             | "sf16" | "sf32" | "sbf16"         scale dtype (default sf16)
//             | "amax" N                          max rANS alphabet, odd 1..4095 (default 4095)
//             | "noact" | "act" | "damp" X | "block" N   gptq:ans only, as for uniform
//   tcq      := "tcq:s" STEP { ":" tcq_opt }      trellis-coded grid, encoding 7 (tcq_grid.h): one
//                                                 scale per row, scale = STEP * std(row)
//             | "gptq:" tcq                       block LDLQ onto the trellis (needs a Hessian)
//   tcq_opt  := "st" N                            a trellis of 2^N states, N 2..8 (default 3)
//             | "l" X                             Viterbi rate weight X >= 0 (default 0.3; 0: nearest path)
//             | "it" N                            Viterbi passes 1..16 (default 3)
//             | "b" N                             columns one Viterbi chooses together (gptq; default 16)
//             | "rc" K                            rate classes 1..16 (default 1)
//             | "ub" X                            output-gain correction per row, X in [0, 2] (default 0;
//                                                 tcq_grid.h DebiasTcqRows; gptq: H-weighted)
//             | "row"                             the only scope, accepted (rd writes it)
//             | "f16" | "f32" | "bf16"            scale dtype (default f16)
//             | "damp" X                          gptq:tcq only, as for uniform
//   codebook := "cb" BITS ":" scope { ":" cb_opt }  k-means levels in a shared object, encoding 8
//                                                 (codebook.h); BITS 1..8, indices bit-packed
//             | "gptq:" codebook                 GPTQ error feedback, nearest level (needs a Hessian)
//   cb_opt   := "shared"                          one codebook for every tensor of the recipe rule
//                                                 (fitted on all of them), else one per tensor
//             | "sf16" | "sf32" | "sbf16"         scale dtype (default sf16)
//             | "it" N                            Lloyd passes at most, N >= 1 (default 50)
//             | "noact" | "act" | "damp" X | "block" N   gptq:cb only, as for uniform
//   lowrank  := spec "+lr" R { ":" lr_opt }      LQER, encoding 9: the inner spec, plus rank-R factors
//                                                 of its error (W - decoded inner) fitted with column
//                                                 weights diag(H) when a Hessian is given (else 1);
//                                                 2-D tensors only; the inner spec has no '+'
//   R        := 1..255
//   lr_opt   := "b" BITS                          factor bits 2..8, or 16 for raw f16 factors (default b4)
//             | "g" N                             N values of a factor row per f16 scale, g0 = whole
//                                                 row (default g64; g0 with b16)
// Examples: "cb4:row", "gptq:cb3:g64:shared", "u6:row:sd12.85", "u8:g64:q0.9999:packed", "u4:row:none",
//           "gptq:u6:row:sd12.85:nocap", "gptq:u4:g128:none:noact:damp0.05",
//           "ans:s0.3:row", "ans:s0.3:g64:ctx4:dz0.1:rdo0.05:sf16", "gptq:ans:s0.3:row",
//           "tcq:s0.5:st3", "gptq:tcq:s0.35:st3:l0.2".
//           "gptq:u6:row:sd12.85+lr4:b4:g64", "ans:s0.3:row+lr2".
// Canonical lowrank form: the inner's canonical spec, then "+lrR", then ":bB"
// and ":gN" only when not the default ("gptq:u6:row:sd12.85+lr4").
// Canonical ans form (spec()): step, scope, then ctxK, dzX, rdoX, sf32/sbf16,
// amaxN (each only when not the default), then the gptq options.
// Canonical tcq form: TcqGridSpec::ToString() (step, stN, then lX, itN, bN,
// rcK, ubX, f32/bf16 when not the default), then dampX when not the default.
// The plain ans encoder uses diag(H) as RDO column weights when a Hessian is
// given (and ignores it otherwise); it never needs one.
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
#include "codec/ans_grid.h"
#include "codec/codebook.h"
#include "codec/gptq.h"
#include "codec/lowrank.h"
#include "codec/quantize.h"
#include "codec/tcq_grid.h"

namespace golfpack::encode {

// One tensor of the family an encoder is fitted on (TensorEncoder::Fit).
struct FitTensor {
  std::string name;
  std::span<const uint64_t> shape;
  std::span<const float> w;
  const Eigen::MatrixXd* hessian = nullptr;  // may be nullptr
};

// faiss's Quantizer, for tensors: Fit (learn the shared objects: codebooks,
// bases), Encode, Decode. Encoders with nothing to learn (grids, raw) have
// fit_scope() kNone and no objects. The others must be fitted before Encode:
// on the one tensor they will encode (kTensor), or on every tensor of the
// family that will share the objects (kFamily: a recipe rule's tensors).
// Encode's refs index objects(); the caller renumbers them into the
// artifact's object table.
class TensorEncoder {
 public:
  enum class FitScope { kNone, kTensor, kFamily };

  virtual ~TensorEncoder();
  // The canonical spec string; MakeEncoder(spec()) builds an equal encoder (unfitted).
  virtual std::string spec() const = 0;
  // hessian: X^T X [cols x cols] for the gptq encoder, may be nullptr otherwise.
  virtual Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                            std::span<const float> w, const Eigen::MatrixXd* hessian) const = 0;
  // True when Encode needs a Hessian (gptq).
  virtual bool needs_hessian() const { return false; }

  virtual FitScope fit_scope() const { return FitScope::kNone; }
  // Learns the objects from `family` (refits from scratch when called again).
  // Encoders with fit_scope() kNone accept any family and learn nothing.
  virtual Status Fit(std::span<const FitTensor> family);
  bool fitted() const { return fit_scope() == FitScope::kNone || !objects().empty(); }
  // The objects Encode's refs point at, in ref order (empty before Fit).
  virtual std::vector<gpk::EncodedObject> objects() const { return {}; }
  // The other direction: `e` (from Encode) through the counted decoder's
  // registry, with objects(). What a .gpk reader returns for it.
  Result<std::vector<float>> Decode(const gpk::EncodedTensor& e) const;
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

// Entropy-coded grid (encoding 7) with plain / dead-zone / RDO rounding.
class AnsGridEncoder final : public TensorEncoder {
 public:
  explicit AnsGridEncoder(AnsGridSpec grid) : grid_(grid) {}
  std::string spec() const override { return grid_.ToString(); }
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd* hessian) const override;
  // hessian may be nullptr (then err_hessian is empty and RDO weights are 1).
  Result<AnsGridResult> EncodeWithStats(const std::string& name, std::span<const uint64_t> shape,
                                        std::span<const float> w, const Eigen::MatrixXd* hessian) const;
  const AnsGridSpec& grid() const { return grid_; }

 private:
  AnsGridSpec grid_;
};

// GPTQ error feedback onto an ans grid ("gptq:ans:...").
class GptqAnsGridEncoder final : public TensorEncoder {
 public:
  GptqAnsGridEncoder(AnsGridSpec grid, GptqOptions options) : grid_(grid), options_(options) {}
  std::string spec() const override;
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd* hessian) const override;
  bool needs_hessian() const override { return true; }
  Result<AnsGridResult> EncodeWithStats(const std::string& name, std::span<const uint64_t> shape,
                                        std::span<const float> w, const Eigen::MatrixXd& hessian) const;
  const AnsGridSpec& grid() const { return grid_; }
  const GptqOptions& options() const { return options_; }

 private:
  AnsGridSpec grid_;
  GptqOptions options_;
};

// A trellis-coded grid ("tcq:s0.5:st3"; "gptq:tcq:s0.5:st3": block LDLQ with
// the Hessian, never in activation order, since the trellis walks the stored
// column order), encoding 7 with model = state bits, or state bits + 8 with
// column classes (tcq_grid.h).
class TcqGridEncoder final : public TensorEncoder {
 public:
  TcqGridEncoder(TcqGridSpec grid, bool gptq, GptqOptions options);
  std::string spec() const override;
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd* hessian) const override;
  bool needs_hessian() const override { return gptq_; }
  const TcqGridSpec& grid() const { return grid_; }

 private:
  TcqGridSpec grid_;
  bool gptq_;
  GptqOptions options_;
};

// Shared k-means levels ("cb4:row", "gptq:cb3:g64:shared"), encoding 8.
class CodebookEncoder final : public TensorEncoder {
 public:
  CodebookEncoder(CodebookSpec spec, bool gptq, GptqOptions options) : spec_(spec), gptq_(gptq), options_(options) {}
  std::string spec() const override;
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd* hessian) const override;
  bool needs_hessian() const override { return gptq_; }
  FitScope fit_scope() const override { return spec_.shared ? FitScope::kFamily : FitScope::kTensor; }
  Status Fit(std::span<const FitTensor> family) override;
  std::vector<gpk::EncodedObject> objects() const override;
  const std::vector<float>& levels() const { return levels_; }

 private:
  CodebookSpec spec_;
  bool gptq_;
  GptqOptions options_;
  std::vector<float> levels_;
};

// Low-rank error correction around another encoder ("<inner>+lr4", encoding 9):
// encodes with the inner encoder, decodes that through the registry, fits
// factors of the error (FitLowRank, column weights diag(H) when given) and
// wraps them (EncodeLowRank).
class LowRankEncoder final : public TensorEncoder {
 public:
  LowRankEncoder(std::unique_ptr<TensorEncoder> inner, LowRankSpec lowrank)
      : inner_(std::move(inner)), lowrank_(lowrank) {}
  std::string spec() const override { return inner_->spec() + LowRankSuffix(lowrank_); }
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd* hessian) const override;
  bool needs_hessian() const override { return inner_->needs_hessian(); }
  const TensorEncoder& inner() const { return *inner_; }
  const LowRankSpec& lowrank() const { return lowrank_; }

 private:
  std::unique_ptr<TensorEncoder> inner_;
  LowRankSpec lowrank_;
};

}  // namespace golfpack::encode
