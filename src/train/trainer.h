// One readable training path: Parameter Golf's recipe (Muon on block matrices,
// Adam on the embedding and control tensors, warmup + linear warmdown,
// optional gradient clipping), seeded, with a JSON-lines log and atomic
// safetensors checkpoints.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "core/progress.h"
#include "core/status.h"
#include "model/gpt.h"

namespace golfpack::train {

struct TrainOptions {
  std::string train_pattern;            // ".../fineweb_train_*.bin"
  std::string val_pattern;              // ".../fineweb_val_*.bin" (optional)
  std::string out_path = "model.safetensors";
  std::string log_path;                 // JSON lines; empty = none
  int iterations = 200;
  double max_seconds = 0;               // > 0: stop on wall clock, warmdown by time (as PG)
  int warmup_steps = 10;                // linear LR warmup
  int warmdown_steps = 50;              // linear decay to 0 over the last steps
  int64_t batch_tokens = 8192;          // tokens per optimizer step
  int seq_len = 256;
  int micro_batch_seqs = 0;             // sequences per forward; 0 = auto (~2048 tokens, cache-friendly on CPU)
  double tied_embed_lr = 0.05, embed_lr = 0.6, head_lr = 0.008, matrix_lr = 0.04, scalar_lr = 0.04;
  double muon_momentum = 0.95, muon_momentum_warmup_start = 0.85;
  int muon_momentum_warmup_steps = 500, muon_backend_steps = 5;
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double grad_clip_norm = 1.0;          // 0 = off
  uint64_t seed = 1337;
  int val_every = 0;                    // steps between val evaluations; 0 = only at the end
  int64_t val_tokens = 65536;           // tokens of the val split used during training
  int checkpoint_every = 0;             // steps; 0 = only the final save
  // Training through the codec (QAT, train/fake_quant.h): from step
  // qat_from * iterations on, every matrix the codec quantizes (2-D, with a
  // Hessian site: the tied embedding and the block matrices) is replaced for
  // the forward and backward passes by its values on the entropy-coded grid
  // at its step, and the gradient is applied to the float weights
  // (straight-through). The step is qat_step, or the tensor's step in
  // qat_steps (e.g. from an rd report, --qat-plan), which wins. qat_noise:
  // uniform noise of one grid step instead of rounding.
  double qat_step = 0;                  // 0 = off (unless qat_steps names the tensor)
  std::map<std::string, double> qat_steps;
  double qat_from = 0;                  // fraction of the run before QAT starts, in [0, 1)
  bool qat_noise = false;
  // Rate penalty (train/rate.h, in the manner of BackSlash): the loss gets
  // rate_lambda * R, R the estimated coded size in bits per parameter of the
  // same matrices QAT quantizes (the numel-weighted mean over them), so
  // rate_lambda is in nats of loss per bit/param. Each matrix is measured on
  // its QAT grid step when it has one (qat_steps, else qat_step), otherwise
  // at rate_step (x row std, as --qat-step). rate_kind: laplace, cauchy or
  // entropy (soft histogram). The estimate is logged per step ("rate_bits").
  double rate_lambda = 0;               // 0 = off
  std::string rate_kind = "laplace";
  double rate_step = 0.5;
  // Low-rank pressure in Muon (train/muon.h, in the manner of NuMuon):
  // singular value soft-thresholding of every Muon matrix each
  // muon_rank_every steps, threshold lr * muon_rank_decay * muon_rank_every *
  // RMS singular value. 0 = off. Spectra (effective rank, singular values for
  // 90% of the energy) are logged at the end and every val_every steps.
  double muon_rank_decay = 0;
  int muon_rank_every = 10;
};

// The grid step of each tensor in an rd byte-ROI report (`pack --report`):
// the chosen candidate's "s<step>" of its spec. InvalidArgument naming the
// file for a report without tensors.
Result<std::map<std::string, double>> QatStepsFromReport(const std::string& path);

struct TrainResult {
  int steps = 0;
  double seconds = 0;
  double tokens_per_second = 0;
  double final_train_loss = 0;
  double final_val_loss = 0;            // nats/token on val_tokens (NaN without val)
  double initial_val_loss = 0;
  double final_rate_bits = 0;           // the rate estimate (rate_kind) of the final weights, bits/param
  double mean_effective_rank = 0;       // over the Muon matrices at the end
  std::string out_path;
};

// LR multiplier: linear warmup over warmup_steps, then 1, then linear warmdown
// to 0 over the last warmdown_steps of `iterations`.
double LrMultiplier(const TrainOptions& o, int step);

Result<TrainResult> Train(model::GPT& model, const TrainOptions& opts, const ProgressFn& progress);

// Mean loss (nats/token) over the first `max_tokens` tokens of a token stream,
// in seq_len windows; used for quick val checks during training.
double QuickLoss(model::GPT& model, const std::vector<uint16_t>& tokens, int seq_len, int64_t max_tokens);

}  // namespace golfpack::train
