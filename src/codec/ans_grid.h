// Entropy-coded scalar quantization onto encoding 7 (`ans_grid`, see
// docs/FORMAT.md): a symmetric uniform grid per row (or per group of columns)
// whose step, not its bit width, is the knob. Codes are unbounded except by
// the rANS alphabet and are coded by golfpack's own rANS coder, so every
// tensor's size is known exactly before anything is written.
//
//   scale[r, g] = stored(step * sigma[r, g])     sigma: std of the row/group
//   code[r, c]  = round(w[r, c] / scale[r, g(c)])  (dead zone, RDO, or GPTQ)
//   value[r, c] = f32(code) * f32(scale)          what the decoder returns
//
// sigma is the unbiased std (n - 1, as torch.std; 0 for n == 1). A row/group
// with sigma == 0 but nonzero values (a constant row) uses max|w| instead; an
// all-zero row/group (or a scale that underflows its dtype) gets the smallest
// positive value of scale_dtype. The scale is rounded to scale_dtype (nearest)
// BEFORE codes are computed, so codes are chosen against the value the decoder
// multiplies by. A scale that overflows its dtype is InvalidArgument (use f32).
//
// Codes are clipped to [-max_code, max_code], max_code = (max_alphabet - 1) / 2
// (2047 by default): the rANS alphabet is 2 * max|code| + 1 <= 4095 symbols.
// AnsGridQuant::clipped counts the clipped elements (0 unless step is tiny
// compared with the row's outliers).
//
// Conventions as quantize.h: rows = shape[0], cols = numel / rows, ndim >= 1,
// non-finite weights are InvalidArgument naming the tensor.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"
#include "codec/gptq.h"

namespace golfpack::encode {

struct AnsGridSpec {
  double step = 0.3;          // scale = step * std(row or group): the knob (smaller = more bits)
  uint32_t group_size = 0;    // 0: one scale per row; else must divide cols
  uint8_t scale_dtype = 0;    // 0 f16, 1 f32, 2 bf16
  uint8_t model = 0;          // 0: order-0 rANS; 1: context rANS (`contexts` tables)
  int contexts = 4;           // model 1: 1..64 contexts (min(|prev code|, contexts - 1))
  double dead_zone = 0;       // extra rounding-to-zero threshold in steps: |w/scale| < 0.5 + dead_zone -> 0
  double rdo_lambda = 0;      // > 0: rate-distortion optimised rounding (see QuantizeAnsGrid)
  int max_alphabet = 4095;    // odd, 1..4095; codes clip at +-(max_alphabet - 1) / 2
  // A step per row: empty, or one positive multiplier per row, so that
  // scale[r, g] = stored(step * row_step[r] * sigma[r, g]). The format stores a
  // scale per row anyway, so this costs no bytes. Set by rd's rowstep path;
  // not part of the spec string.
  std::vector<double> row_step;

  int max_code() const { return (max_alphabet - 1) / 2; }
  Status Validate() const;
  // Canonical spec string, e.g. "ans:s0.3:row" or "ans:s0.3:g64:ctx4:dz0.1:rdo0.05" (see encoder.h).
  std::string ToString() const;
};

// Codes and stored scales of one tensor on an ans grid.
struct AnsGridQuant {
  uint64_t rows = 0, cols = 0;
  uint64_t groups_per_row = 1;  // cols / group_size, or 1 per row
  uint32_t group_size = 0;
  std::vector<float> scales;    // rows * groups_per_row, exactly as stored (rounded to scale_dtype)
  std::vector<int16_t> codes;   // rows * cols, row-major, |code| <= max_code
  uint64_t clipped = 0;         // elements whose rounded code exceeded max_code
  uint64_t ScaleIndex(uint64_t r, uint64_t c) const {
    return r * groups_per_row + (group_size ? c / group_size : 0);
  }
};

// The stored scale of every row/group (the rules at the top of this file).
Result<AnsGridQuant> AnsGridScales(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                   const AnsGridSpec& spec);

// Scales, then codes. Plain rounding: code = nearbyint(w / scale) (half to
// even), 0 when |w / scale| < 0.5 + dead_zone, clipped to +-max_code.
// With rdo_lambda > 0, rate-distortion optimised rounding follows: starting
// from plain rounding, each pass builds bits(q) = -log2(count(q) / n) from
// the current codes (an unseen q costs log2(2n)), then re-chooses every
// element among {floor(x), ceil(x), 0} (x = w / scale) minimising
//   (h_c / mean(h)) * (x - q)^2 + rdo_lambda * bits(q)
// i.e. distortion in units of scale^2 weighted by the column weight h_c
// (col_weights: diag of the Hessian, empty = all 1). Up to 3 passes, stopping
// early when no code changes. bits are order-0 even for model 1.
Result<AnsGridQuant> QuantizeAnsGrid(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const AnsGridSpec& spec,
                                     std::span<const double> col_weights = {});

// Exact payload bytes of PackAnsGrid(q): scales + the one rANS stream. The
// stream's table precision (scale_bits 10..15) is chosen as the one giving the
// fewest bytes, the same choice PackAnsGrid makes.
Result<uint64_t> AnsGridPayloadBytes(const AnsGridSpec& spec, const AnsGridQuant& q);
// Serializes q as encoding 7; payload.size() == AnsGridPayloadBytes(spec, q)
// (checked: Internal otherwise). Codes outside +-max_code are InvalidArgument.
Result<gpk::EncodedTensor> PackAnsGrid(const std::string& name, std::span<const uint64_t> shape,
                                       const AnsGridSpec& spec, const AnsGridQuant& q);
// What a decoder returns: f32(code) * scale, row-major.
std::vector<float> DequantizeAnsGrid(const AnsGridQuant& q);
// An encoding-7 tensor with its params and an empty payload (PackAnsGrid and
// the trellis grids of tcq_grid.h fill the payload).
gpk::EncodedTensor AnsGridTensor(const std::string& name, std::span<const uint64_t> shape, uint8_t scale_dtype,
                                 uint32_t group_size, uint8_t model);
// Order-0 empirical entropy of the codes in bits per element (0 when empty).
double CodeEntropyBits(std::span<const int16_t> codes);

struct AnsGridResult {
  AnsGridQuant quant;
  gpk::EncodedTensor encoded;      // payload.size() == payload_bytes
  double step = 0.0;               // the step used (EncodeAnsGridToBytes searches it)
  uint64_t payload_bytes = 0;      // exact
  uint64_t scale_bytes = 0;        // of which scales
  double entropy_bits = 0.0;       // CodeEntropyBits(codes), per element
  double mse = 0.0;                // mean (w - value)^2
  // tr(E H E^T), E = W - values, with the caller's Hessian; nullopt without one.
  std::optional<double> err_hessian;
  // gptq only: the same error for plain rounding (QuantizeAnsGrid, same spec).
  std::optional<double> err_rtn;
  double damp_used = 0.0;          // gptq only
};

// QuantizeAnsGrid (col_weights = diag(H) when a Hessian is given) + PackAnsGrid.
Result<AnsGridResult> EncodeAnsGrid(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const AnsGridSpec& spec,
                                    const Eigen::MatrixXd* hessian = nullptr);

// GPTQ error feedback onto the ans grid (GptqRun with the column quantizer
// "round to the row's grid": the scales of AnsGridScales on the original W,
// dead zone applied, codes clipped only at +-max_code). With rdo_lambda > 0
// each column is RDO-rounded with bits(q) taken from the plain-rounding
// histogram and the column's GPTQ weight (1 / U_jj^2, normalised) as h_c.
Result<AnsGridResult> GptqAnsGrid(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                  const Eigen::MatrixXd& hessian, const AnsGridSpec& spec,
                                  const GptqOptions& options = {});

// GptqAnsGrid's codes alone (no packing, no error statistics), with a
// factorisation from GptqFactorize of the Hessian and the same options: for
// callers that run GPTQ at many steps on one Hessian. The codes are exactly
// GptqAnsGrid's.
// `stats` (optional) receives the run's statistics (GptqRunStats::err_damped).
// `keep` (optional, one flag per column, or one per weight, row-major): GPTQ
// keeps those columns or weights exactly, as OWQ does with its protected
// input channels and SpQR with its outliers: their codes are 0 and no error
// is spread from them; `kept` receives their values as GPTQ left them
// (row-major, zero elsewhere), which a patch (codec/patch.h) then stores.
Result<AnsGridQuant> GptqAnsGridQuant(const std::string& name, std::span<const uint64_t> shape,
                                      std::span<const float> w, const GptqFactor& factor, const AnsGridSpec& spec,
                                      const GptqOptions& options = {}, GptqRunStats* stats = nullptr,
                                      std::span<const uint8_t> keep = {}, std::vector<float>* kept = nullptr);

// The smallest step (best quality) whose EncodeAnsGrid payload fits in
// max_payload_bytes, by bisection on log(step) over [the step where the
// largest |w| / scale reaches max_code, a step where every code is 0]
// (`iterations` encodes; the bytes are monotone in the step there up to table
// effects; below it clipping makes them fall again, so it is never searched).
// The result always fits; among the fitting encodes tried it has the lowest
// mse. spec.step is ignored. InvalidArgument when even a step so large that
// every code is 0 does not fit (the scales alone are too big).
Result<AnsGridResult> EncodeAnsGridToBytes(const std::string& name, std::span<const uint64_t> shape,
                                           std::span<const float> w, const AnsGridSpec& spec,
                                           uint64_t max_payload_bytes, const Eigen::MatrixXd* hessian = nullptr,
                                           int iterations = 40);

}  // namespace golfpack::encode
