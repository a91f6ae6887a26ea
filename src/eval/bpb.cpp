#include "eval/bpb.h"

#include <chrono>
#include <cmath>

namespace golfpack::eval {

EvalResult MakeEvalResult(double loss_sum, uint64_t tokens, uint64_t bytes) {
  EvalResult r;
  r.loss_sum = loss_sum;
  r.tokens = tokens;
  r.bytes = bytes;
  r.val_loss = tokens ? loss_sum / static_cast<double>(tokens) : 0.0;
  r.val_bpb = bytes ? (r.val_loss / std::log(2.0)) * (static_cast<double>(tokens) / static_cast<double>(bytes)) : 0.0;
  return r;
}

Result<EvalResult> EvaluateBpb(model::GPT& model, std::span<const uint16_t> val_tokens, const data::ByteLut& lut,
                               const EvalOptions& o, const ProgressFn& progress) {
  if (o.seq_len <= 0 || o.batch_seqs <= 0) return InvalidArgument("eval: seq_len and batch_seqs must be positive");
  const int vocab = model->config().vocab_size;
  if (static_cast<int>(lut.base_bytes.size()) < vocab)
    return InvalidArgument("eval: tokenizer has " + std::to_string(lut.base_bytes.size()) + " pieces but the model's vocab is " +
                           std::to_string(vocab));
  if (val_tokens.size() < 2) return InvalidArgument("eval: validation stream has fewer than 2 tokens");
  // PG truncation: ((N - 1) // seq_len) * seq_len targets.
  int64_t nseq = (static_cast<int64_t>(val_tokens.size()) - 1) / o.seq_len;
  if (o.max_tokens > 0) nseq = std::min<int64_t>(nseq, o.max_tokens / o.seq_len);
  if (nseq <= 0)
    return InvalidArgument("eval: validation stream (" + std::to_string(val_tokens.size()) +
                           " tokens) is too short for seq_len " + std::to_string(o.seq_len));
  for (size_t i = 0; i < static_cast<size_t>(nseq * o.seq_len + 1); ++i)
    if (val_tokens[i] >= vocab)
      return InvalidArgument("eval: token id " + std::to_string(val_tokens[i]) + " at position " + std::to_string(i) +
                             " is outside the model's vocab of " + std::to_string(vocab));

  torch::NoGradGuard no_grad;
  model->eval();
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0;
  uint64_t bytes = 0;
  const int64_t T = o.seq_len;
  for (int64_t s = 0; s < nseq; s += o.batch_seqs) {
    const int64_t n = std::min<int64_t>(o.batch_seqs, nseq - s);
    const size_t begin = static_cast<size_t>(s * T);
    auto window = val_tokens.subspan(begin, static_cast<size_t>(n * T + 1));
    auto x = torch::empty({n, T}, torch::kInt64), y = torch::empty({n, T}, torch::kInt64);
    auto* px = x.data_ptr<int64_t>();
    auto* py = y.data_ptr<int64_t>();
    for (int64_t i = 0; i < n * T; ++i) {
      px[i] = window[i];
      py[i] = window[i + 1];
    }
    loss_sum += model->token_losses(x, y).to(torch::kFloat64).sum().item<double>();
    bytes += data::CountTargetBytes(lut, window.first(n * T), window.subspan(1, n * T));
    if (progress)
      progress({"eval", static_cast<uint64_t>((s + n) * T), static_cast<uint64_t>(nseq * T), "tokens", ""});
  }
  EvalResult r = MakeEvalResult(loss_sum, static_cast<uint64_t>(nseq * T), bytes);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.bytes == 0) return InvalidArgument("eval: the scored tokens stand for 0 bytes (only control tokens?)");
  return r;
}

}  // namespace golfpack::eval

namespace golfpack::eval {

double UnigramCrossEntropy(std::span<const uint16_t> train, std::span<const uint16_t> val, int vocab_size) {
  std::vector<double> counts(static_cast<size_t>(vocab_size), 1.0);
  for (uint16_t t : train)
    if (t < vocab_size) counts[t] += 1;
  const double total = static_cast<double>(train.size()) + vocab_size;
  double sum = 0;
  size_t n = 0;
  for (size_t i = 1; i < val.size(); ++i) {  // targets, as the model is scored
    if (val[i] >= vocab_size) continue;
    sum -= std::log(counts[val[i]] / total);
    ++n;
  }
  return n ? sum / static_cast<double>(n) : 0.0;
}

}  // namespace golfpack::eval
