#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <tuple>
#include <nlohmann/json.hpp>

#include "io/pg_names.h"
#include "io/shards.h"
#include "model/weights.h"
#include "train/fake_quant.h"
#include "train/muon.h"
#include "train/rate.h"

namespace golfpack::train {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

torch::Tensor ToInt64(const std::vector<uint16_t>& v, size_t begin, size_t count) {
  auto t = torch::empty({static_cast<int64_t>(count)}, torch::kInt64);
  auto* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < count; ++i) p[i] = v[begin + i];
  return t;
}

void SetAdamLr(torch::optim::Adam& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

}  // namespace

double LrMultiplier(const TrainOptions& o, int step) {
  double mul = 1.0;
  if (o.warmup_steps > 0 && step < o.warmup_steps) mul = static_cast<double>(step + 1) / o.warmup_steps;
  if (o.warmdown_steps > 0) {
    const int start = std::max(o.iterations - o.warmdown_steps, 0);
    if (step >= start) mul = std::min(mul, std::max(0.0, static_cast<double>(o.iterations - step) / o.warmdown_steps));
  }
  return mul;
}

double QuickLoss(model::GPT& model, const std::vector<uint16_t>& tokens, int seq_len, int64_t max_tokens) {
  torch::NoGradGuard no_grad;
  const int64_t usable = std::min<int64_t>(max_tokens, static_cast<int64_t>(tokens.size()) - 1);
  const int64_t nseq = usable / seq_len;
  if (nseq <= 0) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  const int64_t per_batch = 8;
  for (int64_t s = 0; s < nseq; s += per_batch) {
    const int64_t n = std::min(per_batch, nseq - s);
    auto x = ToInt64(tokens, s * seq_len, n * seq_len).view({n, seq_len});
    auto y = ToInt64(tokens, s * seq_len + 1, n * seq_len).view({n, seq_len});
    sum += model->token_losses(x, y).to(torch::kFloat64).sum().item<double>();
  }
  return sum / static_cast<double>(nseq * seq_len);
}

Result<TrainResult> Train(model::GPT& model, const TrainOptions& o, const ProgressFn& progress) {
  if (o.seq_len <= 0 || o.batch_tokens < o.seq_len || o.batch_tokens % o.seq_len != 0)
    return InvalidArgument("batch_tokens (" + std::to_string(o.batch_tokens) + ") must be a positive multiple of seq_len (" +
                           std::to_string(o.seq_len) + ")");
  if (o.iterations <= 0) return InvalidArgument("iterations must be positive");
  if (!(o.rate_lambda >= 0) || !std::isfinite(o.rate_lambda)) return InvalidArgument("train: --rate-lambda must be >= 0");
  GP_ASSIGN_OR_RETURN(const RateKind rate_kind, ParseRateKind(o.rate_kind));
  if (!(o.rate_step > 0) || !std::isfinite(o.rate_step)) return InvalidArgument("train: --rate-step must be > 0");
  if (!(o.muon_rank_decay >= 0) || !std::isfinite(o.muon_rank_decay))
    return InvalidArgument("train: --muon-rank-decay must be >= 0");
  if (o.muon_rank_every < 1) return InvalidArgument("train: --muon-rank-every must be >= 1");
  GP_ASSIGN_OR_RETURN(io::TokenStream stream, io::TokenStream::Open(o.train_pattern));
  std::vector<uint16_t> val;
  if (!o.val_pattern.empty()) {
    GP_ASSIGN_OR_RETURN(val, io::ReadShards(o.val_pattern));
  }
  const auto& cfg = model->config();

  // Optimizer split exactly as train_gpt.py: block matrices -> Muon; block
  // vectors and control tensors + skip_weights -> Adam(scalar_lr); embedding
  // -> Adam(tied or embed lr); untied head -> Adam(head_lr).
  std::vector<torch::Tensor> matrices, scalars;
  std::vector<std::string> matrix_names;
  for (auto& p : model->blocks->named_parameters()) {
    if (p.value().dim() == 2 && !model::IsControlTensorName(p.key())) {
      matrices.push_back(p.value());
      matrix_names.push_back("blocks." + p.key());
    } else {
      scalars.push_back(p.value());
    }
  }
  if (model->skip_weights.numel() > 0) scalars.push_back(model->skip_weights);
  for (const auto& t : model->adapter_parameters()) scalars.push_back(t);  // shared depth's per-layer scales
  const double token_lr = cfg.tie_embeddings ? o.tied_embed_lr : o.embed_lr;
  auto adam_opts = [&](double lr) { return torch::optim::AdamOptions(lr).betas({o.beta1, o.beta2}).eps(o.adam_eps); };
  torch::optim::Adam opt_tok({model->tok_emb->weight}, adam_opts(token_lr));
  torch::optim::Adam opt_scalar(scalars, adam_opts(o.scalar_lr));
  std::unique_ptr<torch::optim::Adam> opt_head;
  if (!cfg.tie_embeddings) opt_head = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{model->lm_head->weight}, adam_opts(o.head_lr));
  Muon muon(matrices, o.matrix_lr, o.muon_momentum, o.muon_backend_steps);
  muon.rank_decay = o.muon_rank_decay;
  muon.rank_every = o.muon_rank_every;

  std::ofstream log;
  if (!o.log_path.empty()) {
    log.open(o.log_path, std::ios::trunc);
    if (!log) return IoError(o.log_path + ": cannot open log file for writing");
  }
  auto log_line = [&](const nlohmann::json& j) {
    if (log) log << j.dump() << "\n" << std::flush;
  };
  log_line({{"event", "start"}, {"model", cfg.ToString()}, {"params", cfg.NumParams()}, {"seed", o.seed},
            {"batch_tokens", o.batch_tokens}, {"seq_len", o.seq_len}, {"iterations", o.iterations},
            {"rate_lambda", o.rate_lambda}, {"rate_kind", RateKindName(rate_kind)}, {"rate_step", o.rate_step},
            {"muon_rank_decay", o.muon_rank_decay}, {"muon_rank_every", o.muon_rank_every}});

  // Spectra of the Muon matrices: one "spectra" event; returns the mean
  // effective rank.
  auto spectra = [&](int step) {
    nlohmann::json mats = nlohmann::json::array();
    double sum = 0;
    for (size_t i = 0; i < matrices.size(); ++i) {
      const Spectrum sp = SpectrumOf(matrices[i]);
      sum += sp.effective_rank;
      mats.push_back({{"name", matrix_names[i]}, {"shape", matrices[i].sizes().vec()}, {"eff_rank", sp.effective_rank},
                      {"rank90", sp.rank90}, {"top_sv", sp.top_sv}});
    }
    const double mean = matrices.empty() ? 0.0 : sum / static_cast<double>(matrices.size());
    log_line({{"event", "spectra"}, {"step", step}, {"mean_eff_rank", mean}, {"matrices", mats}});
    return mean;
  };

  auto save = [&](int step) {
    return model::SaveModel(o.out_path, model,
                            {{"golfpack.step", std::to_string(step)}, {"golfpack.config", cfg.ToString()},
                             {"golfpack.seed", std::to_string(o.seed)}});
  };

  TrainResult result;
  result.out_path = o.out_path;
  result.initial_val_loss = val.empty() ? std::nan("") : QuickLoss(model, val, o.seq_len, o.val_tokens);
  const int64_t seqs = o.batch_tokens / o.seq_len;
  // Several smaller forwards beat one big one on CPU (activations stay in
  // cache): ~25% more tokens/s at 2048 tokens than at 8192 for the demo model.
  const int64_t micro = std::min<int64_t>(
      seqs, o.micro_batch_seqs > 0 ? o.micro_batch_seqs : std::max<int64_t>(1, 2048 / o.seq_len));
  // QAT targets: (name, parameter, step).
  std::vector<std::tuple<std::string, torch::Tensor, double>> qat;
  // Rate targets: the same matrices, at their QAT step or rate_step.
  std::vector<RateTensor> rated;
  if (o.qat_from < 0 || o.qat_from >= 1) return InvalidArgument("train: --qat-from must be in [0, 1)");
  if (o.qat_step < 0) return InvalidArgument("train: --qat-step must be >= 0");
  for (const auto& p : model->named_parameters()) {
    if (p.value().dim() != 2 || io::HessianSite(p.key()).empty()) continue;
    const auto it = o.qat_steps.find(p.key());
    const double qstep = it != o.qat_steps.end() ? it->second : o.qat_step;
    if (qstep > 0) qat.emplace_back(p.key(), p.value(), qstep);
    rated.push_back({p.key(), p.value(), qstep > 0 ? qstep : o.rate_step});
  }
  const int qat_start = static_cast<int>(std::ceil(o.qat_from * o.iterations));
  if (!qat.empty())
    log_line({{"event", "qat"}, {"tensors", qat.size()}, {"from_step", qat_start}, {"noise", o.qat_noise},
              {"step", o.qat_step}, {"plan_steps", o.qat_steps.size()}});
  const auto t0 = Clock::now();
  model->train();
  int step = 0;
  double ema_loss = 0;
  for (; step < o.iterations; ++step) {
    const double elapsed = Seconds(t0);
    if (o.max_seconds > 0 && elapsed >= o.max_seconds) break;
    double mul = LrMultiplier(o, step);
    if (o.max_seconds > 0 && step > 0 && o.warmdown_steps > 0) {
      // Wall-clock warmdown as train_gpt.py: decay over the time the last
      // warmdown_steps would take at the current pace.
      const double warmdown_s = o.warmdown_steps * elapsed / step;
      const double remaining = std::max(o.max_seconds - elapsed, 0.0);
      mul = std::min(o.warmup_steps > 0 && step < o.warmup_steps ? mul : 1.0,
                     remaining <= warmdown_s ? remaining / warmdown_s : 1.0);
    }
    GP_ASSIGN_OR_RETURN(std::vector<uint16_t> chunk, stream.Take(static_cast<size_t>(o.batch_tokens) + 1));
    // QAT: the forward and backward passes see the codec's values; the float
    // weights come back before the optimizer steps (straight-through).
    const bool qat_on = !qat.empty() && step >= qat_start;
    std::vector<torch::Tensor> latent;
    if (qat_on) {
      torch::NoGradGuard no_grad;
      for (auto& [name, p, qstep] : qat) {
        latent.push_back(p.detach().clone());
        GP_ASSIGN_OR_RETURN(torch::Tensor q, o.qat_noise ? AnsGridNoise(name, p, qstep) : AnsGridValues(name, p, qstep));
        p.copy_(q);
      }
    }
    double step_loss = 0;
    for (int64_t s = 0; s < seqs; s += micro) {
      const int64_t n = std::min(micro, seqs - s);
      auto x = ToInt64(chunk, s * o.seq_len, n * o.seq_len).view({n, o.seq_len});
      auto y = ToInt64(chunk, s * o.seq_len + 1, n * o.seq_len).view({n, o.seq_len});
      auto loss = model->loss(x, y);
      const double frac = static_cast<double>(n) / seqs;
      (loss * frac).backward();
      step_loss += loss.item<double>() * frac;
    }
    if (qat_on) {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < qat.size(); ++i) std::get<1>(qat[i]).copy_(latent[i]);
    }
    // The rate penalty, once per step on the float weights.
    double rate_bits = 0;
    if (o.rate_lambda > 0) {
      const torch::Tensor rate = MeanRateBits(rated, rate_kind);
      (rate * o.rate_lambda).backward();
      rate_bits = rate.item<double>();
    }
    if (!std::isfinite(step_loss))
      return Internal("training diverged at step " + std::to_string(step) + ": loss is " + std::to_string(step_loss));

    const double frac = o.muon_momentum_warmup_steps > 0 ? std::min(1.0, static_cast<double>(step) / o.muon_momentum_warmup_steps) : 1.0;
    muon.momentum = (1 - frac) * o.muon_momentum_warmup_start + frac * o.muon_momentum;
    muon.lr = o.matrix_lr * mul;
    SetAdamLr(opt_tok, token_lr * mul);
    SetAdamLr(opt_scalar, o.scalar_lr * mul);
    if (opt_head) SetAdamLr(*opt_head, o.head_lr * mul);
    if (o.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip_norm);
    opt_tok.step();
    opt_scalar.step();
    if (opt_head) opt_head->step();
    muon.step();
    model->zero_grad();

    ema_loss = step == 0 ? step_loss : 0.9 * ema_loss + 0.1 * step_loss;
    result.final_train_loss = step_loss;
    const double secs = Seconds(t0);
    const double tps = static_cast<double>(o.batch_tokens) * (step + 1) / std::max(secs, 1e-9);
    nlohmann::json line = {{"event", "step"}, {"step", step + 1}, {"train_loss", step_loss}, {"lr_mul", mul},
                           {"tokens", o.batch_tokens * (step + 1)}, {"elapsed_s", secs}, {"tokens_per_s", tps}};
    if (qat_on) line["qat"] = true;
    if (o.rate_lambda > 0) line["rate_bits"] = rate_bits;
    const bool val_due = o.val_every > 0 && (step + 1) % o.val_every == 0 && step + 1 < o.iterations;
    const bool do_val = !val.empty() && val_due;
    if (do_val) {
      model->eval();
      line["val_loss"] = QuickLoss(model, val, o.seq_len, o.val_tokens);
      model->train();
    }
    log_line(line);
    const double erank = val_due ? spectra(step + 1) : 0.0;
    if (progress) {
      char detail[128];
      std::snprintf(detail, sizeof detail, "loss %.4f  %.0f tok/s", ema_loss, tps);
      std::string d = detail;
      if (o.rate_lambda > 0) {
        std::snprintf(detail, sizeof detail, "  rate %.3f b/p", rate_bits);
        d += detail;
      }
      if (do_val) d += "  val " + std::to_string(line["val_loss"].get<double>()).substr(0, 6);
      if (val_due) {
        std::snprintf(detail, sizeof detail, "  erank %.1f", erank);
        d += detail;
      }
      progress({"train", static_cast<uint64_t>(step + 1), static_cast<uint64_t>(o.iterations), "steps", d});
    }
    if (o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) GP_RETURN_IF_ERROR(save(step + 1));
  }
  result.steps = step;
  result.seconds = Seconds(t0);
  result.tokens_per_second = static_cast<double>(o.batch_tokens) * step / std::max(result.seconds, 1e-9);
  model->eval();
  result.final_val_loss = val.empty() ? std::nan("") : QuickLoss(model, val, o.seq_len, o.val_tokens);
  GP_RETURN_IF_ERROR(save(step));
  {
    torch::NoGradGuard no_grad;
    result.final_rate_bits = MeanRateBits(rated, rate_kind).item<double>();
  }
  result.mean_effective_rank = spectra(step);
  if (progress) {
    char detail[160];
    std::snprintf(detail, sizeof detail, "mean effective rank %.2f; rate %.3f bits/param (%s)", result.mean_effective_rank,
                  result.final_rate_bits, RateKindName(rate_kind));
    progress({"spectra", matrices.size(), matrices.size(), "matrices", detail});
  }
  log_line({{"event", "end"}, {"steps", step}, {"seconds", result.seconds}, {"tokens_per_s", result.tokens_per_second},
            {"final_train_loss", result.final_train_loss}, {"rate_bits", result.final_rate_bits},
            {"val_loss", std::isnan(result.final_val_loss) ? nlohmann::json(nullptr) : nlohmann::json(result.final_val_loss)}});
  return result;
}

Result<std::map<std::string, double>> QatStepsFromReport(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open the rd report");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tensors") || !j["tensors"].is_array())
    return InvalidArgument(path + ": not an rd report (pack --report): no \"tensors\" list");
  std::map<std::string, double> steps;
  for (const auto& t : j["tensors"]) {
    if (!t.is_object() || !t.contains("name") || !t.contains("chosen") || !t["chosen"].is_string()) continue;
    const std::string spec = t["chosen"].get<std::string>();  // e.g. "gptq:ans:s0.25:row+rowstep0.5"
    const auto at = spec.find(":s");
    if (at == std::string::npos) continue;
    const double s = std::strtod(spec.c_str() + at + 2, nullptr);
    if (s > 0 && std::isfinite(s)) steps[t["name"].get<std::string>()] = s;
  }
  if (steps.empty()) return InvalidArgument(path + ": the rd report names no tensor with a grid step");
  return steps;
}

}  // namespace golfpack::train
