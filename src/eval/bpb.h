// val_bpb exactly as Parameter Golf defines it:
//   val_bpb = (mean cross-entropy in nats / ln 2) * (tokens / bytes)
// over the validation stream truncated to ((N - 1) // seq_len) * seq_len + 1
// tokens, with bytes per target token from the tokenizer's pieces (ByteLut).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/progress.h"
#include "core/status.h"
#include "data/byte_lut.h"
#include "model/gpt.h"

namespace golfpack::eval {

struct EvalOptions {
  int seq_len = 1024;
  int batch_seqs = 4;         // sequences per forward pass
  int64_t max_tokens = 0;     // > 0: score only the first max_tokens targets (rounded down to seq_len)
};

struct EvalResult {
  double val_loss = 0;        // nats per token
  double val_bpb = 0;
  uint64_t tokens = 0;        // scored target tokens
  uint64_t bytes = 0;         // bytes those targets stand for
  double loss_sum = 0;        // total nats (double accumulation)
  double seconds = 0;
};

// Combines the sums; exposed so tests can check the formula on its own.
EvalResult MakeEvalResult(double loss_sum, uint64_t tokens, uint64_t bytes);

Result<EvalResult> EvaluateBpb(model::GPT& model, std::span<const uint16_t> val_tokens, const data::ByteLut& lut,
                               const EvalOptions& opts, const ProgressFn& progress);

}  // namespace golfpack::eval

namespace golfpack::eval {

// Cross-entropy (nats/token) on `val` targets of a unigram model fitted on
// `train` with add-one smoothing: the bar any trained model must clear.
double UnigramCrossEntropy(std::span<const uint16_t> train, std::span<const uint16_t> val, int vocab_size);

}  // namespace golfpack::eval
