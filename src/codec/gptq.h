// Full-Hessian GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training
// Quantization for Generative Pre-trained Transformers"), onto a uniform grid.
//
// W is [rows x cols] = [out x in] like nn.Linear.weight; H = X^T X is
// [cols x cols]. The algorithm follows the paper's reference implementation:
//  1. dead columns (H_ii == 0): W[:, i] = 0, H_ii = 1;
//  2. activation order (optional): columns permuted by descending diag(H);
//  3. damping: H += percdamp * mean(diag(H)) * I;
//  4. U = upper Cholesky factor of H^-1 (H^-1 = U^T U);
//  5. columns processed in blocks of `block_size`, each column rounded to the
//     grid, its error spread onto the block's remaining columns through U,
//     then one lazy batch update of all later columns per block;
//  6. un-permute.
// Grid scales: computed ONCE up front by UniformScales on the original W (the
// simplest correct choice, like the reference's `static_groups`): per row, or
// per (row, group) where groups follow the ORIGINAL column order, so act-order
// and groups combine without re-fitting scales mid-way. Codes clip to
// [-max_code, max_code]; the stored tensor decodes to code * stored_scale.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"
#include "codec/quantize.h"

namespace golfpack::encode {

struct GptqOptions {
  double percdamp = 0.01;  // damping = percdamp * mean(diag(H))
  bool act_order = true;
  int block_size = 128;
  // When the damped H is not positive definite, damping is multiplied by 10
  // and retried up to this many times before giving up (InvalidArgument).
  int max_damp_retries = 3;
};

struct GptqResult {
  UniformQuant quant;            // codes (original column order) and stored scales
  gpk::EncodedTensor encoded;    // EncodeUniform(w, spec, &quant.codes)
  // Hessian-weighted error tr((W - Q) H (W - Q)^T) with the given (undamped) H,
  // W the original weights and Q the dequantized grid values.
  double err_rtn = 0.0;          // plain round-to-nearest with the same scales
  double err_gptq = 0.0;
  double damp_used = 0.0;        // absolute damping added to the diagonal
  uint64_t dead_columns = 0;
};

// hessian: [cols x cols], finite; only its lower triangle is read by the
// Cholesky steps (pass a symmetric matrix). shape: ndim >= 1, rows = shape[0].
Result<GptqResult> GptqQuantize(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                const Eigen::MatrixXd& hessian, const UniformSpec& spec,
                                const GptqOptions& options = {});
Result<GptqResult> GptqQuantize(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                const Eigen::MatrixXf& hessian, const UniformSpec& spec,
                                const GptqOptions& options = {});

// ---- The GPTQ core on any per-column grid ------------------------------------
//
// GptqRun does steps 1-6 above and calls `quantize` once per column, in
// processing (act-order) order, with the column's ORIGINAL index, its current
// error-compensated values (one per row) and `weight`, the relative cost of
// an error in this column once the later columns have compensated:
// (1 / U_jj^2) / mean_j(1 / U_jj^2), U the Cholesky factor above (OBS). The
// hook writes the dequantized grid value of every row to `out` (exactly what
// the decoder will produce, as double) and records its codes itself; GptqRun
// spreads the error (values - out) onto the later columns. GptqQuantize is
// GptqRun with "round to nearest on the uniform grid"; ans_grid.h plugs in
// its unbounded entropy-coded grid.
using GptqColumnQuantizer =
    std::function<void(uint64_t col, double weight, std::span<const double> values, std::span<double> out)>;

struct GptqRunStats {
  double damp_used = 0.0;
  uint64_t dead_columns = 0;
  // sum of the squared scaled errors (W_j - Q_j) / U_jj that GPTQ spreads:
  // exactly tr(E (H + damp I) E^T) for E = W - Q (dead columns zeroed in W;
  // with the dead columns' diagonal set to 1), since E = Err U and
  // U (H + damp I) U^T = I. So with no dead columns the Hessian-weighted error
  // is err_damped - damp_used * ||W - Q||_F^2, without another [rows x cols x
  // cols] product (up to rounding).
  double err_damped = 0.0;
  // The same per row (rows are independent under GPTQ: each row's share of
  // err_damped is e_r (H + damp I) e_r^T exactly), so that sums over any rows,
  // with any row weights, need no product either.
  std::vector<double> row_err_damped;
};

// Validates the Hessian (cols x cols, finite, diag >= 0) and the options
// (InvalidArgument naming the tensor), then runs GPTQ. Does nothing (and
// calls no hook) when rows or cols is 0. w is row-major [rows x cols].
// Same as GptqFactorize followed by the GptqRun below.
Result<GptqRunStats> GptqRun(const std::string& name, uint64_t rows, uint64_t cols, std::span<const float> w,
                             const Eigen::MatrixXd& hessian, const GptqOptions& options,
                             const GptqColumnQuantizer& quantize);

// Steps 1-4 above, which depend on the Hessian and the options only: dead
// columns, the activation-order permutation, the damped H, its inverse and
// that inverse's Cholesky factor. One factorisation serves every GPTQ run on
// the same Hessian and options, whatever the grid or the weights (c_q, c_k and
// c_v share theirs), so callers that quantize at many steps compute it once.
struct GptqFactor {
  uint64_t cols = 0;
  std::vector<Eigen::Index> perm;  // processing position j -> original column
  std::vector<uint8_t> dead;       // per original column: H_ii == 0 (its weights are zeroed)
  Eigen::MatrixXd U;               // upper Cholesky factor of (H_perm + damp I)^-1, [cols x cols]
  Eigen::VectorXd weight;          // per processing position: (1 / U_jj^2) / mean(1 / U_jj^2)
  double damp_used = 0.0;
  uint64_t dead_columns = 0;
  // The options it was computed with (GptqRun checks they match its own).
  double percdamp = 0.0;
  bool act_order = true;
  int max_damp_retries = 0;
};

// Validates the Hessian and the options as GptqRun does (the message names
// the tensor) and factorises. cols == 0 gives an empty factor.
Result<GptqFactor> GptqFactorize(const std::string& name, const Eigen::MatrixXd& hessian, const GptqOptions& options);

// Steps 5-6 with a factorisation from GptqFactorize: bit-identical to the
// GptqRun above on the Hessian it came from. InvalidArgument when the factor
// is for another width or other percdamp / act_order / max_damp_retries.
Result<GptqRunStats> GptqRun(const std::string& name, uint64_t rows, uint64_t cols, std::span<const float> w,
                             const GptqFactor& factor, const GptqOptions& options,
                             const GptqColumnQuantizer& quantize);

// tr((W - Q) H (W - Q)^T) for row-major W, Q [rows x cols] and H [cols x cols].
double HessianWeightedError(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                            const Eigen::MatrixXd& hessian);

}  // namespace golfpack::encode
