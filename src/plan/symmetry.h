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
// bits-back coder could recover. golfpack's format has no bits-back stream
// (the counted decoder has no room for one today), so these bits are
// reported, not recovered.
//
// Layers are found by name (blocks.<i>.attn.c_q.weight, ...); the head
// count comes from q_gain, head_dim from c_q's rows, the KV-head count from
// c_k's rows. Shared-depth models have fewer blocks; each is canonicalised
// once.
#pragma once

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
};

// log2(n!).
double Log2Factorial(uint64_t n);

// Reorders `model` in place into the canonical form above (tensors keep
// their dtype; values are moved, never rounded). InvalidArgument naming the
// tensor when a block's shapes disagree.
Result<SymmetryReport> Canonicalize(io::TensorFile& model);

// The calibration of the reordered model: each reordered site's H becomes
// P H P^T (H'(i, j) = H(perm[i], perm[j])); everything else is kept.
// InvalidArgument when a site's size disagrees with its permutation.
Result<Hessians> PermuteHessians(const Hessians& h, const SymmetryReport& report);

}  // namespace golfpack::encode
