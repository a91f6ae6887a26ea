// The distortion model of the rate-distortion allocator.
//
// Fast proxy: quantizing weight W (out x in) to W' adds, per calibration
// token, the squared output error D = tr(E H E^T) / tokens with E = W - W'
// and H = X^T X from `golfpack calibrate`. The proxy is blind to what the
// output feeds, so each tensor gets a sensitivity s fitted against the
// measured change of the model's loss: quantize only that tensor with a
// probe grid, measure the mean loss change dL on a calibration batch, and set
// s = dL / D. Predicted loss change of any other encoding: s * D.
//
// The fit is checked on a second, coarser grid: across tensors, how well do
// the raw proxy and the fitted prediction rank the measured loss changes
// (Spearman rho)? That answers the seed notes' question whether
// pre-artifact error predicts post-artifact loss.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/status.h"
#include "eval/calibrate.h"
#include "model/gpt.h"

namespace golfpack::eval {

struct SensitivityOptions {
  std::string train_pattern;            // calibration batch: the first `tokens` train tokens
  int64_t tokens = 16384;
  int seq_len = 1024;
  int batch_seqs = 4;                      // sequences per forward pass (memory vs per-call overhead)
  std::string probe_spec = "u3:row:none";  // fits s (coarse enough to move the loss measurably)
  std::string check_spec = "u4:row:none";  // tests the prediction at another distortion level
  // A third probe per weight (empty: none), fitted as the first: the
  // sensitivity rd prices its trellis candidates with
  // (TensorSensitivity::tcq_sensitivity). Block-LDLQ trellis errors cost the
  // demo model's MLP matrices more loss per unit of proxy than grid errors.
  std::string tcq_probe_spec;
  // Probes re-run only the layers downstream of the quantized weight, from the
  // base pass's cached activations (bit-identical losses; off = full forward
  // passes, for tests and comparison).
  bool reuse_activations = true;
  // Probe worker threads, each on its own copy of the model with
  // single-threaded tensor operations (0 = libtorch's intra-op thread count,
  // what --threads set). 1 = no copies, operations on libtorch's threads.
  int threads = 0;
};

struct TensorSensitivity {
  std::string name;
  double proxy_probe = 0, dloss_probe = 0;  // D and measured dL (nats/token) at the probe
  double sensitivity = 0;                   // dL / D (the median of the others when dL <= 0)
  bool imputed = false;                     // the probe did not move the loss measurably
  double proxy_check = 0, dloss_check = 0, predicted_check = 0;
  // With a tcq probe: its D, measured dL and dL / D (the median of the
  // others, as above, when dL <= 0).
  double proxy_tcq = 0, dloss_tcq = 0, tcq_sensitivity = 0;
  bool tcq_imputed = false;
};

struct SensitivityResult {
  double base_loss = 0;  // nats/token of the unquantized model on the batch
  int64_t tokens = 0;
  std::vector<TensorSensitivity> tensors;
  double spearman_raw_proxy = 0;  // rank corr(proxy_check, dloss_check)
  double spearman_fitted = 0;     // rank corr(predicted_check, dloss_check)
  bool activations_reused = false;  // the staged forward matched the model and was used
  int threads = 1;                  // probe workers used
  std::vector<PhaseTime> timings;  // where MeasureSensitivity spent its time
};

// Every 2-D weight that has a Hessian in `cal` is measured.
Result<SensitivityResult> MeasureSensitivity(model::GPT& model, const Calibration& cal, const SensitivityOptions& options,
                                             const ProgressFn& progress);

// tr(E H E^T) / tokens for E = a - b (both [out, in]).
double HessianProxy(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& hessian, int64_t tokens,
                    std::span<const double> row_weight = {});

// Spearman rank correlation (average ranks for ties).
double Spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace golfpack::eval
