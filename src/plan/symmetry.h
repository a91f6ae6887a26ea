// Exact permutation symmetries of the Parameter Golf GPT, put into a
// canonical form (issue 9, item 4).
//
// Three reorderings leave the function unchanged, bit for bit up to float
// summation order:
//   1. MLP hidden units: row j of mlp.fc.weight and column j of
//      mlp.proj.weight move together (relu^2 is elementwise, and the optional
//      extra RMSNorm before proj is over all units, so order-free).
//   2. Query heads within one KV group: a head's head_dim rows of c_q, its
//      q_gain entry and its head_dim columns of attn.proj move together
//      (the per-head RMSNorm, RoPE and q_gain act per head; every head of a
//      group reads the same K/V).
//   3. KV groups: a group's rows of c_k and c_v move with all its query
//      heads (as in 2).
// Canonical form: MLP units sorted by the L2 norm of their fc row, largest
// first; KV groups by the norm of their c_k rows; heads within a group by
// the norm of their c_q rows (ties keep the original order). Any of the n!
// orderings of a model maps to the same canonical model, so the choice the
// trainer made carries log2(n!) bits that a decoder never needs: what a
// bits-back coder can recover. `pack --bits-back` (plan/bits_back.h)
// recovers those of the MLP units: the order it stores carries the first
// bytes of each fc matrix's scales (ans_grid's row-order carry). The heads'
// and KV groups' orders are reported here, not recovered.
//
// Optionally (SymmetryOptions::vo), a continuous symmetry as well:
//   4. V and the output projection, per KV group: for any invertible T
//      (head_dim x head_dim), the group's c_v rows W_v -> T W_v and the
//      proj columns of each of its query heads W_o,h -> W_o,h T^-1 give the
//      same function (attention mixes V rows linearly, nothing else touches
//      V). Canonical choice: W_v = L Q (LQ, diag(L) > 0), T = L^-1, so the
//      stored V rows are orthonormal and L moves into the projection. The
//      extra RMSNorm before attn.proj is not invariant under a non-orthogonal
//      T, so a model with golfpack.extra_norm = 1 is left alone there
//      (vo_applied false). Values are recomputed in double and rounded to
//      the tensor's dtype, so this one is exact only up to that rounding.
//
// Layers are found by name (blocks.<i>.attn.c_q.weight, ...); the head
// count comes from q_gain, head_dim from c_q's rows, the KV-head count from
// c_k's rows. Shared-depth models have fewer blocks; each is canonicalised
// once.
#pragma once

#include <Eigen/Dense>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/safetensors.h"
#include "plan/calibration.h"

namespace golfpack::encode {

struct SymmetryGroup {
  std::string tensor;   // the tensor whose rows define the order (fc.weight, c_q.weight, c_k.weight)
  std::string kind;     // "mlp units", "heads in KV group g", "KV groups"
  uint64_t items = 0;   // n: the orderings are n!
  double bits = 0;      // log2(n!)
  bool moved = false;   // the canonical order differs from the given one
};

struct SymmetryReport {
  std::vector<SymmetryGroup> groups;
  double bits = 0;  // sum over groups
  // The order the inputs of each reordered Hessian site (io::HessianSite:
  // "blocks.0.mlp.proj_in", "blocks.0.attn.proj_in") now have: new input i
  // is old input perm[i].
  std::map<std::string, std::vector<uint64_t>> site_perm;
  // With vo: per reordered site ("blocks.0.attn.proj_in"), one T_h per
  // head_dim block of inputs (after site_perm): new input block x'_h = x_h T_h^T.
  std::map<std::string, std::vector<Eigen::MatrixXd>> site_block_transform;
  // The rows of each reordered weight (row i is old row perm[i]), for the
  // calibration's row Fisher.
  std::map<std::string, std::vector<uint64_t>> row_perm;
  bool vo_applied = false;
};

struct SymmetryOptions {
  bool vo = false;  // also orthonormalise V per KV group (4. above)
};

// log2(n!).
double Log2Factorial(uint64_t n);

// Reorders `model` in place into the canonical form above (tensors keep
// their dtype; values are moved, never rounded). InvalidArgument naming the
// tensor when a block's shapes disagree.
Result<SymmetryReport> Canonicalize(io::TensorFile& model, const SymmetryOptions& options = {});

// Reorders the hidden units of the MLPs named in `perms` (key: the
// blocks.<l>.mlp.fc.weight name; new unit i is old unit perm[i]): rows of fc,
// columns of proj. InvalidArgument naming the tensor for a missing proj, a
// shape mismatch or a vector that is not a permutation.
Result<SymmetryReport> PermuteMlpUnits(io::TensorFile& model, const std::map<std::string, std::vector<uint64_t>>& perms);

// The calibration of the reordered model: each reordered site's H becomes
// P H P^T (H'(i, j) = H(perm[i], perm[j])), then, with block transforms,
// H'(h1, h2) = T_h1 H(h1, h2) T_h2^T per head_dim block; each reordered
// weight's row Fisher is reordered (and dropped for c_v under a V/O transform,
// which mixes its rows); everything else is kept.
// InvalidArgument when a site's size disagrees with its permutation.
Result<Hessians> PermuteHessians(const Hessians& h, const SymmetryReport& report);

}  // namespace golfpack::encode
