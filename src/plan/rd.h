// Recipe `rd`: rate-distortion allocation under an exact byte cap.
//
// Every quantizable tensor (2-D, with a Hessian) gets a ladder of candidate
// encodings: entropy-coded grids at a range of step sizes, by default. Each
// candidate is priced in exact bytes, and its predicted loss increase is
// s * D, where D = sum_j H_jj * sum_i E_ij^2 / tokens. That is the diagonal of
// the Hessian proxy tr(E H E^T) / tokens, and s is the tensor's fitted
// sensitivity (eval/sensitivity.h). The Lagrangian allocator
// (plan/allocator.h) picks one candidate per tensor so that the whole
// artifact fits the budget: container, manifest, fixed tensors and counted
// code bytes included. The result is never over the budget and at most 0.1%
// under it. Other tensors (control tensors, vectors) are stored as in the
// record recipe: f32 for control tensors, f16 for the rest.
#pragma once

#include <limits>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "plan/calibration.h"
#include "plan/pack.h"

namespace golfpack::encode {

struct RdOptions {
  uint64_t budget = 0;      // counted bytes (file + code); required
  uint64_t code_bytes = 0;
  bool code_bytes_set = false;
  // Candidate spec strings; "{s}" is replaced by each step. Default:
  // "gptq:ans:s{s}:row:cc" (GPTQ onto the entropy-coded grid, its codes
  // coded with column classes where they pay; the Hessian is there for every
  // allocated tensor), else uniform grids of 2..8 bits.
  std::string family;
  std::vector<double> steps;
  int threads = 0;          // 0 = all cores
  // GPTQ families: the ladder is priced with plain rounding first, then GPTQ
  // runs only at the first allocation's step and this many rungs either side
  // (one factorisation per Hessian serves them all). The final allocation
  // sees those GPTQ candidates plus the plain ones cheaper than all of them,
  // so every budget down to the smallest artifact stays reachable.
  int gptq_neighbors = 2;
  // The protection paths (every path but grid) correct the GPTQ candidates
  // this many rungs either side of the first allocation's step (at most
  // gptq_neighbors; < 0: as many as gptq_neighbors).
  int protect_neighbors = -1;
  // The representation paths rd may spend bytes on (`--paths`); empty = all.
  //   "grid": the candidate ladder of `family` (always on: every path builds on it);
  //   "lqer": low-rank corrections of the grid's error (encoding 9,
  //           codec/lowrank.h) at each rank in lqer_ranks and each factor bit
  //           width in lqer_bits, on every GPTQ candidate (GPTQ families only).
  //   "sparse", "blocks", "columns", "rows": corrections of the grid's error
  //           on a sparse set of units (encoding 10, codec/patch.h): single
  //           weights, blocks of patch_block weights along a row, whole input
  //           columns (OWQ) or whole rows (e.g. token rows of the embedding),
  //           chosen and fitted under the Hessian proxy (plan/patch_source.h)
  //           at a ladder of unit counts, values stored at each patch_bits.
  //   "rowstep": a step per row (encoding 7 stores a scale per row, so it costs
  //           no bytes beyond the scales every grid stores): GPTQ re-run at a
  //           grid candidate's step with row r's step times m_r =
  //           (G / (sigma_r sqrt(w_r)))^gamma (clamped to [1/8, 8]; sigma_r the
  //           row's std, w_r its proxy weight, G their geometric mean) for each
  //           gamma in rowstep_gammas. gamma 1 is the high-rate optimum (every
  //           row at the same slope of weighted loss per bit).
  std::vector<std::string> paths;
  std::vector<int> lqer_ranks = {1, 2, 4, 8, 16};
  std::vector<int> lqer_bits = {4, 8};
  int lqer_group = 64;
  std::vector<int> patch_bits = {4, 8};
  int patch_block = 16;
  // How patch values are fitted: true restores the chosen weights exactly
  // (the default: measured safer); false solves for the correction that also
  // compensates the rest of each row under H (plan/patch_source.h).
  bool patch_exact = true;
  std::vector<double> rowstep_gammas = {0.5, 1.0};
  //   "rowalloc": rows as allocation units: each row of a matrix takes the
  //           GPTQ window step that minimises its own predicted loss +
  //           mu * lambda * bytes (lambda: the first allocation's; rows are
  //           independent under GPTQ, so a row's share of the proxy at a step
  //           is exactly that of the window's run at it), one candidate per mu
  //           in rowalloc_lambdas, made on the window's center candidate. Like
  //           rowstep it costs no bytes beyond encoding 7's scale per row.
  std::vector<double> rowalloc_lambdas = {0.5, 1.0, 2.0};
  //   "tcq": entropy-coded trellis-coded quantization (encoding 11,
  //           codec/tcq_grid.h) in place of the grid: block-LDLQ GPTQ (no
  //           act-order) onto a trellis of 2^tcq_state_bits states at the
  //           grid candidate's step times each of tcq_ratios (a trellis step
  //           about half the grid's gives about the same bytes). Its own
  //           representation: no bytes on top of a grid.
  std::vector<double> tcq_ratios = {0.5};
  int tcq_state_bits = 3;
  // GPTQ damping (percdamp, x mean(diag H)) of the tcq factorisation; < 0: the
  // GPTQ family's. 0.1 measured best of 0.01, 0.1, 0.3, 1 after the round trip
  // on the demo and m3 models (docs/results/structure.md): the trellis search
  // fits the calibration Hessian harder than rounding does.
  double tcq_damp = 0.1;
  // The tcq Viterbi's code lengths per union and per class of columns (K = 2..16
  // classes found as the column-class streams find them) instead of per union
  // (1). Measured on 7 calibration windows of the demo and m3 models (rd:all,
  // 2.5 bits/param): the predicted loss fell in all 7, the val_bpb by
  // 0.00025 +- 0.00083 on average (4 of 7 better): undecided, so off.
  int tcq_rate_classes = 1;
  // The output-gain correction of the tcq path's candidates (TcqGridSpec::debias,
  // "ub" in their spec; codec/tcq_grid.h DebiasTcqRows): each row's scale is
  // moved this fraction of the way to the gain that makes its output error
  // uncorrelated with its output under the calibration Hessian. 0: off. The
  // rate-weighted trellis shrinks the weights (the demo's by 10 to 23 %), and
  // the lost gain costs more loss than its share of the proxy says. On 14
  // calibration windows of the demo and m3 models (rd:all, 2.5 bits/param)
  // 0.5 with q and k skipped cut the gap by 0.00046 +- 0.00047 (10 of 14
  // better; demo 8 of 9, -0.00059 +- 0.00055; m3 2 of 5, -0.00022), so it
  // is the default (docs/results/structure.md, "The trellis shrinks").
  double tcq_debias = 0.5;
  // Where the correction measures a row's gain: true (default) in the row's
  // own gradient-weighted Hessian H_i = sum_t (dL/dy_i)^2 x x^T when the
  // calibration has it ("row_hw", `calibrate` with the row Fisher), else in
  // the calibration Hessian H. For the MLP's fc rows, which ReLU^2 gates,
  // H_i weighs the tokens where the unit is active and large, so a shrunk
  // row costs more than H says (docs/results/structure.md, "What the
  // shrinkage costs: the rows' own Hessians").
  bool tcq_debias_row_metric = true;
  // Tensors (name contains one of these) whose tcq candidates keep their
  // gains: in the Parameter Golf model q and k are RMS-normalised per head
  // right after their projection, so a common gain on their rows is
  // normalised away and the correction would only add distortion.
  std::vector<std::string> tcq_debias_skip = {".attn.c_q.", ".attn.c_k."};
  // The tcq Viterbi's rate weight (TcqGridSpec::lambda, in scale^2 per bit): it
  // trades distortion for cheaper, smaller codes, and so shrinks the weights.
  // With the correction above, 0.1 beat TcqGridSpec's 0.3 on 10 of the 14
  // windows (-0.00057 +- 0.00057; -0.00104 +- 0.00073, 11 of 14, against
  // neither), so rd uses 0.1.
  double tcq_lambda = 0.1;
  // The tcq path is offered only for tensors whose name contains one of
  // these (empty: every tensor), e.g. {".attn."}: on the 2-3M models the
  // proxy overrates trellis grids on the MLP matrices
  // (docs/results/structure.md).
  std::vector<std::string> tcq_only;
  // Loss sensitivities (dL per unit of proxy) for the tcq path's candidates
  // and every protection on top of them, per weight, in place of the
  // calibration's (`pack --tcq-sensitivity FILE`: a calibration made with
  // `calibrate --probe gptq:tcq:...`). Empty: the calibration's trellis-probe
  // sensitivities (`calibrate --tcq-probe`) where it has them, else its
  // sensitivities for all. At
  // equal proxy, block-LDLQ trellis errors cost the demo model's MLP matrices
  // 1.2 to 2.3x the loss of GPTQ grid errors (docs/results/structure.md).
  std::map<std::string, double> tcq_sensitivity;
  // Shrinkage of every calibration Hessian toward a multiple of the
  // identity, H + hessian_shrink x mean(diag H) x I, before anything uses
  // it: every GPTQ / trellis fit, every correction's fit and every proxy. A
  // Hessian from a few thousand calibration sequences underestimates its
  // small eigenvalues, and the searches that exploit H hardest (GPTQ, the
  // trellis) put their error there; the shrunk H prices that error as the
  // round trip finds it. 0 leaves H as calibrated.
  double hessian_shrink = 0;
  // Token rows of the tied embedding weigh by their frequency in the proxy
  // when the calibration file has token counts (plan/calibration.h,
  // TokenRowWeights); this is the floor of those weights, < 0 turns them off.
  double token_row_floor = kTokenRowFloor;
  // Rows of the other matrices weigh by their row Fisher (plan/calibration.h,
  // FisherRowWeights) when the calibration file has one; this is their floor,
  // < 0 turns them off. NaN (the default): the floor the file's sensitivities
  // were fitted with (Hessians::RowFisherFloor), off when it has none.
  double row_fisher_floor = std::numeric_limits<double>::quiet_NaN();
  // The most bytes the protection paths (all but grid) may add together: the
  // protected-byte sweep. UINT64_MAX = no cap (the allocator alone decides).
  uint64_t protect_max = UINT64_MAX;
  ProgressFn progress;
};

// The paths PackRd knows, in report order.
std::vector<std::string> RdPathNames();

struct RdCandidate {
  std::string spec;
  double step = 0;          // the ladder value substituted for {s}
  bool gptq = false;
  std::string path = "grid";  // the path that made it (RdOptions::paths)
  int rank = 0;             // lqer: rank of the correction (0 = none)
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

// What one path got of the budget: the bytes it added on top of the grid
// candidates it builds on, the predicted loss those bytes bought, and the
// best further loss per KB it offered where it stopped.
struct RdPathReport {
  std::string path;
  int units = 0;            // allocation units that took a candidate of this path
  uint64_t bytes = 0;
  double loss_bought = 0;
  double marginal_loss_per_kb = 0;
};

// Where PackRd spent its time (seconds, wall clock).
struct RdTimings {
  double ladder = 0;      // plain-rounding candidates at every step (priced and proxied)
  double factor = 0;      // GPTQ factorisations (once per Hessian, reused across steps and budgets)
  double gptq = 0;        // GPTQ candidates
  double lqer = 0;        // the protection paths' candidates (wall)
  // Thread-seconds per candidate source (path), summed over threads, this
  // budget's new candidates only (the shared patch source is counted in the first path that uses it).
  std::map<std::string, double> source_cpu;
  double allocation = 0;  // the allocator runs
  double fine_fill = 0;   // in-between steps that absorb the slack
  double assembly = 0;    // the one real build of the artifact, its size check, the report
  double total = 0;
};

struct RdResult {
  PackResult pack;
  std::vector<RdTensorReport> tensors;
  std::vector<RdPathReport> paths;  // one row per enabled path
  double predicted_loss = 0;      // sum over tensors
  double lambda = 0;              // allocator's final slope (nats/token per byte)
  std::string family;
  int allocation_rounds = 0;
  int fine_steps = 0;         // tensors moved to an in-between step to absorb the slack
  bool underfilled = false;   // more than 0.1% under budget (the finest candidates use less)
  RdTimings timings;
};

Result<RdResult> PackRd(const io::TensorFile& model, const Hessians& hessians, const RdOptions& options);

// PackRd in two parts, for packing one model at several budgets: Create does
// the budget-independent work (the plain-rounding ladder, exact prices), each
// Pack(budget) the rest. GPTQ factorisations and GPTQ candidates are cached
// across Pack calls; every Pack returns exactly what PackRd would for that
// budget. The model and the Hessians must outlive the planner. Not
// thread-safe (Pack uses RdOptions::threads itself).
//
// Pricing: every tensor gets its own uncompressed section, so a candidate's
// share of the file is its payload and params plus the manifest varints that
// depend on them (3 x varint(payload size), varint(params size),
// varint(encoding)); everything else is a constant. The allocator works on
// these exact prices, and the one real build at the end is checked against
// them (Internal on any difference), so the result is never over the budget.
class RdPlanner {
 public:
  static Result<RdPlanner> Create(const io::TensorFile& model, const Hessians& hessians, const RdOptions& options);
  RdPlanner(RdPlanner&&) noexcept;
  RdPlanner& operator=(RdPlanner&&) noexcept;
  ~RdPlanner();

  // Smallest counted bytes (file + code) any budget can reach: every
  // allocated tensor at its cheapest candidate. Budgets below are refused.
  uint64_t min_counted_bytes() const;
  // Counted bytes with every allocated tensor at its costliest plain-rounding
  // candidate (for GPTQ families the finest GPTQ candidates can differ a little).
  uint64_t max_plain_counted_bytes() const;
  Result<RdResult> Pack(uint64_t budget);

 private:
  struct Impl;
  explicit RdPlanner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The byte-ROI report as JSON text.
std::string RdReportJson(const RdResult& r);

}  // namespace golfpack::encode
