// Non-uniform scalar grids whose levels live in a shared object (encoding 8,
// `codebook`, docs/FORMAT.md): one set of 2^bits levels, fitted by weighted
// k-means (Lloyd) on normalised weights, that one tensor or a whole family of
// tensors (every layer's c_q, every MLP matrix, ...) reference. The levels
// are stored once, as an `f32_values` object, and counted once.
//
//   scale[r, g] = stored(rms of row r / group g)      one per row or group
//   u[r, c]     = w[r, c] / scale[r, g(c)]            what the levels are fitted on
//   index[r, c] = the level nearest u (or GPTQ's choice, "gptq:cb...")
//   value[r, c] = level[index] * scale                 what the decoder returns
//
// The scale is the root mean square of the row/group (an all-zero one, or one
// that underflows, gets the smallest positive value of scale_dtype), rounded
// to nearest in scale_dtype before anything else, so the levels are fitted
// against what the decoder multiplies by. Indices are bit-packed (fixed
// rate); the section's lossless back-end sees them as bytes.
//
// Fit: Lloyd's algorithm in one dimension, exact per iteration: the pooled
// samples are sorted once, each cell (between the midpoints of neighbouring
// levels) is a contiguous range, and its new level is the weighted mean of
// the range, from prefix sums. Weights are the Hessian's diagonal of each
// sample's column when a Hessian is given (an error in a column costs about
// H_cc), else 1. Levels start at the weighted quantiles (k + 1/2) / 2^bits
// and iterate until none moves or `iters` passes. More than 2^20 samples are
// subsampled with a fixed stride (deterministic). Levels are sorted
// ascending; an empty cell keeps its level.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"
#include "codec/gptq.h"

namespace golfpack::encode {

struct CodebookSpec {
  int bits = 4;                // 1..8: 2^bits levels, bits per index
  uint32_t group_size = 0;     // 0: one scale per row; else must divide cols
  uint8_t scale_dtype = 0;     // 0 f16, 1 f32, 2 bf16
  bool shared = false;         // one codebook per recipe rule (its tensor family), else one per tensor
  int iters = 50;              // Lloyd passes at most

  Status Validate() const;
  // Canonical spec string, e.g. "cb4:row", "cb3:g64:shared", "cb4:row:sf32" (see encoder.h).
  std::string ToString() const;
};

// One tensor's normalised values and per-column weights, as FitCodebook pools them.
struct CodebookSamples {
  std::vector<float> u;        // w / scale, row-major
  std::vector<double> weight;  // per column (empty: 1)
  uint64_t cols = 0;
};

// The stored scales of every row/group (see above).
Result<std::vector<float>> CodebookScales(const std::string& name, std::span<const uint64_t> shape,
                                          std::span<const float> w, const CodebookSpec& spec);
// w / scale and diag(H) (nullptr: no weights), for FitCodebook.
Result<CodebookSamples> CodebookSamplesOf(const std::string& name, std::span<const uint64_t> shape,
                                          std::span<const float> w, const CodebookSpec& spec,
                                          const Eigen::MatrixXd* hessian);
// 2^bits sorted levels fitted on all samples together. InvalidArgument when
// there are no samples.
Result<std::vector<float>> FitCodebook(std::span<const CodebookSamples> family, const CodebookSpec& spec);

// Encoding 8 against `levels` (2^bits, sorted ascending), referencing object
// 0 (the caller renumbers refs into its object table). hessian == nullptr:
// nearest level; else GPTQ error feedback (options) with nearest-level
// rounding of each compensated column.
Result<gpk::EncodedTensor> EncodeCodebook(const std::string& name, std::span<const uint64_t> shape,
                                          std::span<const float> w, const CodebookSpec& spec,
                                          std::span<const float> levels, const Eigen::MatrixXd* hessian,
                                          const GptqOptions& options = {});
// The shared object holding the levels (kind f32_values).
gpk::EncodedObject CodebookObject(const std::string& name, std::span<const float> levels);

}  // namespace golfpack::encode
