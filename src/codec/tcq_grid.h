// Entropy-coded trellis-coded quantization of a weight matrix onto encoding
// 7 (`ans_grid`) with model = state_bits (2..8, docs/FORMAT.md): the grid of
// ans_grid.h with a trellis on top.
//
//   scale[r]   = stored(step * row_step[r] * sigma[r])  as AnsGridScales (one per row)
//   value[r,c] = f32(j[r,c]) * f32(scale[r])             j an integer grid index
//
// The grid j * scale is split into four subsets D_k = { j : j mod 4 == k }.
// Each row walks a 2^state_bits-state Ungerboeck trellis from state 0, in
// column order. State s allows only the union A_a = D_a u D_{a+2} with
// a = s & 1 (even or odd j), so each sample costs about one bit less than its
// grid would suggest. The union index u = (j - a) / 2 is what is coded, in one
// order-0 rANS stream per union (column-major order: the rows walk in
// lockstep, so a decoder can vectorise over rows), and u's parity picks the
// next state. The
// encoder chooses the path with Viterbi, on the Lagrangian cost
//   weight_c * (x_c - j_c)^2 + lambda * bits_a(u_c)      x = w / scale
// bits_a being the code lengths of the previous pass. On i.i.d. Gaussian data
// this sits about 0.09 bit (8 states) above D(R), against 0.27-0.33 for
// the entropy-coded scalar grid (docs/results/gaussian_rd.md).
//
// With a GPTQ factorisation (computed WITHOUT act-order: the trellis walks the
// stored column order), GptqTcqGridQuant quantizes blocks of `block` columns
// jointly, as QTIP's block LDLQ does: one Viterbi per row over the block, with
// the error feedback of every earlier block applied; then the block's error is
// spread onto the later columns through the Cholesky factor exactly as GPTQ
// spreads it, so GptqRunStats::err_damped is exact.
//
// Conventions as ans_grid.h: ndim >= 1, rows = shape[0], cols = numel / rows,
// non-finite weights are InvalidArgument naming the tensor.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "codec/gptq.h"
#include "core/artifact.h"
#include "core/status.h"

namespace golfpack::encode {

struct TcqGridSpec {
  double step = 0.15;       // scale = step * std(row): the full grid's spacing (smaller = more bits)
  uint8_t scale_dtype = 0;  // 0 f16, 1 f32, 2 bf16
  int state_bits = 3;       // 2..8: a trellis of 4..256 states
  double lambda = 0.3;      // rate weight, in units of scale^2 per bit (0: nearest point on the path)
  int iterations = 3;       // Viterbi passes; each re-estimates the code lengths from the one before
  int block = 16;           // GPTQ: columns chosen together by one Viterbi per row
  // The Viterbi's code lengths per union and per class of columns (K classes found as the
  // column-class streams find them, 1 = per union only), so the rate term prices each
  // column with the tables that will code it.
  int rate_classes = 1;
  // Output-gain correction per row, 0 (off) to 2 ("ub<X>" in the spec string): see
  // DebiasTcqRows below.
  double debias = 0.0;
  // A step multiplier per row (empty = 1), as AnsGridSpec::row_step; not in the spec string.
  std::vector<double> row_step;
  Status Validate() const;
  std::string ToString() const;  // "tcq:s0.15:st3", plus ":l0.2", ":it2", ":b32", ":rc1", ":ub0.5", ":f32" when not default
};

// Codes and stored scales of one tensor.
struct TcqGridQuant {
  uint64_t rows = 0, cols = 0;
  std::vector<float> scales;   // one per row, as stored
  std::vector<int16_t> codes;  // j per element, row-major; each row's j lie on its trellis path
};

// Plain TCQ (no error feedback): `iterations` Viterbi passes over every row;
// then, with spec.debias > 0, DebiasTcqRows with the identity for H.
Result<TcqGridQuant> QuantizeTcqGrid(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const TcqGridSpec& spec);

// Block-LDLQ TCQ with a factorisation of the tensor's Hessian made with
// act_order = false (InvalidArgument otherwise). The code lengths come from
// QuantizeTcqGrid on the original weights. `stats` as GptqAnsGridQuant's.
// With spec.debias > 0, `hessian` (the one the factor was made from) is
// required (InvalidArgument naming the tensor): DebiasTcqRows with it, and
// stats->row_err_damped / err_damped recomputed for the rescaled rows.
// row_hw (empty, or rows x cols row-major): each row's own gradient-weighted
// Hessian applied to its weights, H_r w_r^T with H_r = sum_t (dL/dy_r)^2 x x^T
// (plan/calibration.h, "row_hw"); when given, the correction's gains are
// measured in it instead of in H: gamma_r = (w_r . v_r) / (q_r . v_r).
Result<TcqGridQuant> GptqTcqGridQuant(const std::string& name, std::span<const uint64_t> shape,
                                      std::span<const float> w, const GptqFactor& factor, const TcqGridSpec& spec,
                                      GptqRunStats* stats = nullptr, const Eigen::MatrixXd* hessian = nullptr,
                                      std::span<const double> row_hw = {});

// The output-gain correction ("ub"). A rate-weighted Viterbi, like any
// quantizer near its minimum-MSE point, shrinks: its reconstruction q_r is
// about (1 - alpha) w_r plus noise, alpha about D / sigma^2 (0.03 to 0.3 on
// the demo model's block-LDLQ trellis grids; about 0 for plain grids), so the
// error is partly a coherent scaling of the layer's output, which costs the
// loss far more than the proxy's isotropic tr(E H E^T) says
// (docs/results/structure.md, "The trellis's shrinkage"). Each row's stored
// scale is multiplied by g_r = 1 + fraction * (gamma_r - 1), clamped to
// [0.5, 2], gamma_r = (w_r H w_r^T) / (q_r H w_r^T): fraction 1 makes the
// row's output error uncorrelated with its output (w_r H e_r^T = 0), at a
// somewhat larger tr(E H E^T). wh: W H row-major [rows x cols] (W itself for
// H = I). Codes are unchanged; rows with a non-positive w H w or q H w, or
// whose rescaled scale would not store, keep theirs. Returns the gains
// applied (stored scale after / before).
std::vector<double> DebiasTcqRows(std::span<const float> w, std::span<const double> wh, double fraction,
                                  uint8_t scale_dtype, TcqGridQuant& q);

// Serializes q as encoding 7, model state_bits (the union streams at their best table
// precision), or model state_bits + 8 (column classes, FORMAT.md "models 10 to 16") when
// K = 2, 4, 8 or 16 classes of columns with their own tables per union make it smaller.
// Internal when a code is off its row's trellis path.
Result<gpk::EncodedTensor> PackTcqGrid(const std::string& name, std::span<const uint64_t> shape,
                                       const TcqGridSpec& spec, const TcqGridQuant& q);
// (symbol, count) pairs of one column.
using SymbolHist = std::vector<std::pair<uint16_t, uint32_t>>;
// Column classes for a trellis grid (models 10..16): hist[a][c] holds union
// a's symbols (v + z[a]) in column c. Starts from k quantiles of the columns'
// mean |code| and moves each column to the class whose tables (per union,
// pooled counts) code it in the fewest bits, summed over both unions, until
// none moves (at most 8 passes): model 9's search, over two unions.
std::vector<uint8_t> ClassifyTrellisColumns(const std::array<std::vector<SymbolHist>, 2>& hist, const std::array<int, 2>& z,
                                            int k);
// Estimated bytes of tables for counts (one count vector per table, empty =
// none) plus the ideal code length, at the best precision (*scale_bits):
// order-0 tables, or with `segmented` one context-model header for all.
double TrellisTablesEstimate(const std::vector<std::vector<uint64_t>>& counts, size_t alphabet, int z, bool segmented,
                             int* scale_bits);
// What a decoder returns: f32(j) * scale, row-major.
std::vector<float> DequantizeTcqGrid(const TcqGridQuant& q);

}  // namespace golfpack::encode
