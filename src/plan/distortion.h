// The distortion proxy: one definition for every decision that trades bytes
// for loss (rd's candidates, the lqer path, calibrate's sensitivity fit).
//
// Replacing the weights W [rows x cols] of a linear layer by Q changes its
// output on input x by (W - Q) x. Summed over the calibration tokens, the
// squared change is
//
//   D = tr(E H E^T) / tokens,   E = W - Q,   H = X^T X  [cols x cols]
//
// (per token, so it does not grow with the calibration size). `calibrate`
// fits each tensor's sensitivity s so that s * D predicts the measured loss
// change in nats/token (eval/sensitivity.h).
//
// The diagonal form keeps only H's diagonal: sum_j H_jj * sum_i E_ij^2 /
// tokens. It is the full one's expectation when E's columns are uncorrelated,
// as they are for plain rounding, and costs rows x cols instead of rows x cols
// x cols. GPTQ correlates its errors on purpose (it moves them into directions
// H forgives), so GPTQ candidates need the full form.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <span>

namespace golfpack::encode {

// Row weights. Rows of one matrix can matter unequally: the token rows of
// the tied embedding by their token's frequency (plan/calibration.h,
// TokenRowWeights). With one weight r_i per row the proxy is
//
//   D = sum_i r_i E_i H E_i^T / tokens
//
// (r = 1 everywhere when no weights are given). The lower-level helpers below
// take errors whose rows are already scaled by sqrt(r_i).

// D for row-major W, Q [rows x cols]; tokens <= 0 counts as 1; row_weight
// empty or one weight per row.
double HessianProxy(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                    const Eigen::MatrixXd& h, int64_t tokens, std::span<const double> row_weight = {});
double DiagHessianProxy(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                        const Eigen::MatrixXd& h, int64_t tokens, std::span<const double> row_weight = {});

// D after a low-rank correction: E' = E - A B (A [rows x r], B [r x cols]),
// from tr(E H E^T) (`base_trace`, not divided by tokens) without forming E' H:
//   tr(E' H E'^T) = tr(E H E^T) - 2 <A (B H), E> + <A^T A, B H B^T>.
// Clamped at 0 (base_trace may itself be an estimate). With row weights, pass
// E and A with their rows scaled by sqrt(r_i) and the weighted base_trace.
double CorrectedHessianProxy(double base_trace, const Eigen::MatrixXd& e, const Eigen::MatrixXd& a,
                             const Eigen::MatrixXd& b, const Eigen::MatrixXd& h, int64_t tokens);

// D after a sparse change: E' = E - S, with S nonzero only at the row-major
// flat positions `pos` (ascending) where it holds `s`; E is row-major
// [rows x cols]. From the weighted tr(E H E^T) (`base_trace`, not divided by
// tokens) without forming E' H:
//   sum_i r_i E'_i H E'_i^T = base - 2 sum_i r_i S_i H E_i^T + sum_i r_i S_i H S_i^T,
// cols operations per nonzero plus (nonzeros in the row)^2 per row. Clamped
// at 0. Patches (a few salient weights, columns or blocks) are such changes.
double SparseCorrectedHessianProxy(double base_trace, std::span<const float> e, uint64_t cols,
                                   std::span<const uint64_t> pos, std::span<const float> s, const Eigen::MatrixXd& h,
                                   int64_t tokens, std::span<const double> row_weight = {});

}  // namespace golfpack::encode
