// Recipe `rd`: rate-distortion allocation under an exact byte cap.
//
// Every quantizable tensor (2-D, with a Hessian) gets a ladder of candidate
// encodings: entropy-coded grids at a range of step sizes, by default. Each
// candidate is priced in exact bytes, and its predicted loss increase is
// s * D, where D = sum_j H_jj * sum_i E_ij^2 / tokens. That is the diagonal of
// the Hessian proxy tr(E H E^T) / tokens, and s is the tensor's fitted
// sensitivity (eval/sensitivity.h). The Lagrangian allocator
// (encode/allocator.h) picks one candidate per tensor so that the whole
// artifact fits the budget: container, manifest, fixed tensors and counted
// code bytes included. The result is never over the budget and at most 0.1%
// under it. Other tensors (control tensors, vectors) are stored as in the
// record recipe: f32 for control tensors, f16 for the rest.
#pragma once

#include <string>
#include <vector>

#include "encode/pack.h"

namespace golfpack::encode {

struct RdOptions {
  uint64_t budget = 0;      // counted bytes (file + code); required
  uint64_t code_bytes = 0;
  bool code_bytes_set = false;
  // Candidate spec strings; "{s}" is replaced by each step. Default:
  // "gptq:ans:s{s}:row" (GPTQ onto the entropy-coded grid; the Hessian is
  // there for every allocated tensor), else uniform grids of 2..8 bits.
  std::string family;
  std::vector<double> steps;
  int threads = 0;          // 0 = all cores
  // GPTQ families: the ladder is priced with plain rounding first, then GPTQ
  // runs only at the first allocation's step and this many rungs either side.
  int gptq_neighbors = 2;
  ProgressFn progress;
};

struct RdCandidate {
  std::string spec;
  double step = 0;          // the ladder value substituted for {s}
  bool gptq = false;
  uint64_t bytes = 0;       // payload + params (the part that varies)
  double proxy = 0;         // D
  double predicted = 0;     // s * D (nats/token)
};

struct RdTensorReport {
  std::string name;
  uint64_t numel = 0;
  double sensitivity = 0;
  std::vector<RdCandidate> candidates;
  size_t chosen = 0;
  uint64_t bytes = 0;             // accounted bytes in the final file
  double predicted_loss = 0;      // predicted loss increase it costs (nats/token)
  double loss_bought = 0;         // predicted loss its bytes saved relative to its cheapest candidate
  double marginal_loss_per_kb = 0;  // loss saved per extra KB at the chosen step (0 at the top)
};

struct RdResult {
  PackResult pack;
  std::vector<RdTensorReport> tensors;
  double predicted_loss = 0;      // sum over tensors
  double lambda = 0;              // allocator's final slope (nats/token per byte)
  std::string family;
  int allocation_rounds = 0;
  int fine_steps = 0;         // tensors moved to an in-between step to absorb the slack
  bool underfilled = false;   // more than 0.1% under budget (the finest candidates use less)
};

Result<RdResult> PackRd(const io::TensorFile& model, const Hessians& hessians, const RdOptions& options);

// The byte-ROI report as JSON text.
std::string RdReportJson(const RdResult& r);

}  // namespace golfpack::encode
