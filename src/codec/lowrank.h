// Low-rank error correction (LQER), encoding 9 `lowrank` (docs/FORMAT.md):
// a tensor stored as any other encoding (the "inner" one) plus rank-r
// factors A [rows x r] and B [r x cols] of what that inner encoding got wrong,
// so that the decoded tensor is inner + A * B.
//
// One file for the writer's side of the encoding: fit (the factors of a
// residual), encode (quantize the factors, wrap the inner tensor) and the
// exact byte price. The decoder is the counted one (gpk/encodings.cpp), and
// its `_ref` oracle sits with the others in core/encodings.cpp (DecodeRef),
// since core cannot depend on codec.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/status.h"

namespace golfpack::encode {

// How the factors are stored. bits 2..8: symmetric integer codes with one f16
// scale per `group` consecutive values of a factor row (group 0 = the whole
// row); bits 16: raw f16 values (group ignored and stored as 0; Parse
// rejects an explicit nonzero g with b16).
struct LowRankSpec {
  int rank = 4;    // 1..255
  int bits = 4;    // 2..8 or 16
  int group = 64;  // 0 = one scale per factor row
  // "r4:b4:g64" (the canonical form; Parse accepts the same tokens in any order,
  // each optional but r).
  std::string ToString() const;
  static Result<LowRankSpec> Parse(std::string_view text);
};

// The encoder-spec suffix after '+' ("lr4", "lr4:b16", "lr2:b3:g0"): the
// same tokens with the rank written lr<R>; bits default b4, group g64 (g0
// with b16). InvalidArgument with a message naming the bad token, no prefix.
Result<LowRankSpec> ParseLowRankSuffix(std::string_view text);
// The canonical suffix, '+' included: defaults omitted ("+lr4", "+lr2:b16").
std::string LowRankSuffix(const LowRankSpec& spec);

// Rank-r factors of E [rows x cols] that minimise
//   sum_j col_weight_j * sum_i (E - A B)_ij^2
// (col_weight empty = all ones; the Hessian diagonal gives the proxy rd uses).
// A = U_r S_r, B = V_r^T of E diag(sqrt w), then B is unscaled. rank is
// clipped to min(rows, cols). Deterministic: the subspace iteration starts
// from a fixed hash of the indices, so equal inputs give equal factors.
// Components are sorted by decreasing singular value: the first r' < r
// columns of a (rows of b) are the rank-r' fit (fit once, slice).
struct LowRankFactors {
  Eigen::MatrixXf a;  // rows x r
  Eigen::MatrixXf b;  // r x cols
};
Result<LowRankFactors> FitLowRank(const Eigen::MatrixXf& e, std::span<const double> col_weight, int rank);

// The factors as the decoder will see them (quantized per `spec`, then
// dequantized): what the allocator must price its proxy on. Like
// EncodeLowRank it keeps exactly spec.rank components: f's first spec.rank,
// zero-padded when f has fewer (FitLowRank clipped the rank). `spec` must be
// valid (rank 1..255, bits 2..8 or 16, group >= 0; EncodeLowRank checks).
LowRankFactors QuantizeFactors(const LowRankFactors& f, const LowRankSpec& spec);

// One n x m block of values as encoding 9 stores a factor (and encoding 10
// its values): f16 scales per `spec.group` values of a row (0 = the whole
// row) then bit-packed codes, or raw f16 with bits 16 (spec.rank unused).
// QuantizeBlock returns its bytes and the values a decoder gets back.
struct QuantizedBlock {
  std::vector<uint8_t> bytes;
  Eigen::MatrixXf values;
};
QuantizedBlock QuantizeBlock(const Eigen::MatrixXf& x, const LowRankSpec& spec);
uint64_t BlockBytes(uint64_t n, uint64_t m, const LowRankSpec& spec);

// Exact payload bytes the factors of a rows x cols tensor add under `spec`.
uint64_t LowRankFactorBytes(uint64_t rows, uint64_t cols, const LowRankSpec& spec);

// Wraps an encoded 2-D tensor (any encoding that takes no shared objects) with
// quantized factors: encoding 9, params and payload per FORMAT.md.
// `f` are the unquantized factors (FitLowRank's); they are quantized here
// exactly as QuantizeFactors does.
Result<gpk::EncodedTensor> EncodeLowRank(const gpk::EncodedTensor& inner, const LowRankFactors& f,
                                         const LowRankSpec& spec);

// Exact bytes (payload + params) of EncodeLowRank's output given the inner
// tensor's payload and params sizes, without building it.
uint64_t LowRankEncodedBytes(uint64_t inner_payload, uint64_t inner_params, uint32_t inner_encoding,
                             uint64_t rows, uint64_t cols, const LowRankSpec& spec);
// The params bytes EncodeLowRank writes (for exact manifest pricing).
std::vector<uint8_t> LowRankParams(uint32_t inner_encoding, std::span<const uint8_t> inner_params,
                                   uint64_t inner_payload, const LowRankSpec& spec);

}  // namespace golfpack::encode
