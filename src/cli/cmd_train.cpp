#include <cmath>
#include <cstdio>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "cli/steps.h"
#include "model/weights.h"
#include "train/trainer.h"

namespace golfpack::cli {

void AddModelShapeFlags(CLI::App& cmd, model::GPTConfig& cfg, std::string& preset) {
  cmd.add_option("--preset", preset, "model shape preset: demo (~3.0M params) or baseline (PG 17.06M)")
      ->check(CLI::IsMember({"demo", "baseline"}));
  cmd.add_option("--layers", cfg.num_layers, "transformer blocks")->check(CLI::PositiveNumber);
  cmd.add_option("--dim", cfg.model_dim, "model width d_model")->check(CLI::PositiveNumber);
  cmd.add_option("--heads", cfg.num_heads, "query heads")->check(CLI::PositiveNumber);
  cmd.add_option("--kv-heads", cfg.num_kv_heads, "key/value heads (GQA)")->check(CLI::PositiveNumber);
  cmd.add_option("--mlp-mult", cfg.mlp_mult, "MLP width multiple")->check(CLI::PositiveNumber);
  cmd.add_option("--vocab", cfg.vocab_size, "vocabulary size (must match the tokenizer)")->check(CLI::Range(1, 65536));
  cmd.add_flag("!--untied", cfg.tie_embeddings, "separate output head instead of the tied embedding");
  cmd.add_option("--shared-depth", cfg.num_unique_blocks,
                 "K unique blocks applied over the layers (layer l runs block l % K; K divides --layers; 0 = off)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--layer-scales", cfg.layer_scales, "with --shared-depth: learned per-layer attn/mlp branch scales");
  cmd.add_flag("--extra-norm", cfg.extra_norm, "weightless RMSNorm on the inputs of attn.proj and mlp.proj");
}

Status ApplyPreset(const std::string& preset, model::GPTConfig& cfg, const CLI::App& cmd) {
  if (preset.empty()) return cfg.Validate();
  model::GPTConfig base = preset == "demo" ? model::GPTConfig::Demo() : model::GPTConfig::Baseline17M();
  // Explicit flags win over the preset.
  auto given = [&](const char* flag) {
    const CLI::Option* o = cmd.get_option_no_throw(flag);  // `demo` has no shape flags
    return o != nullptr && o->count() > 0;
  };
  if (!given("--layers")) cfg.num_layers = base.num_layers;
  if (!given("--dim")) cfg.model_dim = base.model_dim;
  if (!given("--heads")) cfg.num_heads = base.num_heads;
  if (!given("--kv-heads")) cfg.num_kv_heads = base.num_kv_heads;
  if (!given("--mlp-mult")) cfg.mlp_mult = base.mlp_mult;
  if (!given("--vocab")) cfg.vocab_size = base.vocab_size;
  return cfg.Validate();
}


void AddTrainFlags(CLI::App* cmd, TrainCli& t) {
  auto& o = t.opts;
  cmd->add_option("--iterations", o.iterations, "optimizer steps")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-seconds", o.max_seconds, "stop after this much wall clock (warmdown follows the clock, as PG)");
  cmd->add_option("--batch-tokens", o.batch_tokens, "tokens per step")->capture_default_str();
  cmd->add_option("--seq-len", o.seq_len, "training sequence length")->capture_default_str();
  cmd->add_option("--micro-batch", o.micro_batch_seqs, "sequences per forward pass (gradient accumulation); 0 = ~2048 tokens");
  cmd->add_option("--warmup", o.warmup_steps, "linear LR warmup steps")->capture_default_str();
  cmd->add_option("--warmdown", o.warmdown_steps, "linear LR warmdown steps at the end")->capture_default_str();
  cmd->add_option("--matrix-lr", o.matrix_lr, "Muon LR for block matrices")->capture_default_str();
  cmd->add_option("--scalar-lr", o.scalar_lr, "Adam LR for control tensors")->capture_default_str();
  cmd->add_option("--embed-lr", o.tied_embed_lr, "Adam LR for the tied embedding")->capture_default_str();
  cmd->add_option("--grad-clip", o.grad_clip_norm, "clip the global gradient norm (0 = off)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "random seed (init and nothing else: data order is sequential)")->capture_default_str();
  cmd->add_option("--val-every", o.val_every, "steps between quick val checks (0 = end only)");
  cmd->add_option("--val-tokens", o.val_tokens, "val tokens used by quick checks")->capture_default_str();
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "steps between atomic checkpoints (0 = final only)");
  cmd->add_option("--log", o.log_path, "JSON-lines training log");
  cmd->add_option("--qat-step", o.qat_step,
                  "train through the codec: matrices on the entropy-coded grid at this step (x row std) in the "
                  "forward pass, straight-through gradients (0 = off)");
  cmd->add_option("--qat-plan", t.qat_plan, "train through the codec at each tensor's step in this rd report (pack --report)");
  cmd->add_option("--qat-from", o.qat_from, "fraction of the run before QAT starts, in [0, 1) (e.g. 0.8: the last 20%)")
      ->capture_default_str();
  cmd->add_flag("--qat-noise", o.qat_noise, "QAT by uniform noise of one grid step instead of rounding");
  cmd->add_option("--rate-lambda", o.rate_lambda,
                  "rate penalty: add this x the estimated coded bits/param of the codec's matrices to the loss "
                  "(nats per bit/param; 0 = off)");
  cmd->add_option("--rate-kind", o.rate_kind, "rate estimate: laplace or cauchy prior, or entropy of a soft histogram")
      ->capture_default_str();
  cmd->add_option("--rate-step", o.rate_step, "grid step (x row std) the rate is measured at, for tensors without a QAT step")
      ->capture_default_str();
  cmd->add_option("--muon-rank-decay", o.muon_rank_decay,
                  "low-rank pressure: Muon soft-thresholds singular values by lr x this x RMS singular value per step "
                  "(0 = off)");
  cmd->add_option("--muon-rank-every", o.muon_rank_every, "steps between the singular value thresholding (SVDs)")
      ->capture_default_str();
}

Status RunTrain(TrainCli& t, const CLI::App& cmd, const GlobalOptions& g, train::TrainResult* out) {
  if (!t.data_dir.empty()) {
    if (t.train_files.empty()) t.train_files = TrainPattern(t.data_dir);
    if (t.val_files.empty()) t.val_files = ValPattern(t.data_dir);
  }
  if (t.train_files.empty()) return InvalidArgument("give --data DIR or --train-files PATTERN");
  if (!t.qat_plan.empty()) {
    GP_ASSIGN_OR_RETURN(t.opts.qat_steps, train::QatStepsFromReport(t.qat_plan));
  }
  t.opts.train_pattern = t.train_files;
  t.opts.val_pattern = t.val_files;

  torch::manual_seed(t.opts.seed);
  model::GPT model(nullptr);
  if (!t.init.empty()) {
    GP_ASSIGN_OR_RETURN(model, model::LoadModel(t.init));
  } else {
    GP_RETURN_IF_ERROR(ApplyPreset(t.preset, t.cfg, cmd));
    model = model::GPT(t.cfg);
  }
  const auto& cfg = model->config();
  if (!g.quiet)
    std::fprintf(stderr, "train: %s, %s params, %d steps of %lld tokens (seq %d), %d threads\n", cfg.ToString().c_str(),
                 HumanCount(double(cfg.NumParams())).c_str(), t.opts.iterations, (long long)t.opts.batch_tokens,
                 t.opts.seq_len, torch::get_num_threads());
  ProgressBar bar(g.quiet);
  GP_ASSIGN_OR_RETURN(*out, train::Train(model, t.opts, bar.Callback()));
  bar.Finish();
  char line[256];
  std::snprintf(line, sizeof line, "steps       %d in %.1f s (%.0f tokens/s)", out->steps, out->seconds,
                out->tokens_per_second);
  Say(g, line);
  std::snprintf(line, sizeof line, "train_loss  %.4f", out->final_train_loss);
  Say(g, line);
  if (!std::isnan(out->final_val_loss)) {
    std::snprintf(line, sizeof line, "val_loss    %.4f (first %lld val tokens; was %.4f at init)", out->final_val_loss,
                  (long long)t.opts.val_tokens, out->initial_val_loss);
    Say(g, line);
  }
  Say(g, "model       " + out->out_path);
  return Status::Ok();
}

Runner AddTrainCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("train", "train a Parameter Golf GPT (Muon + Adam) on token shards");
  auto t = std::make_shared<TrainCli>();
  t->preset = "demo";
  cmd->add_option("--data", t->data_dir, "directory with fineweb_train_*.bin / fineweb_val_*.bin");
  cmd->add_option("--train-files", t->train_files, "glob of training shards");
  cmd->add_option("--val-files", t->val_files, "glob of validation shards");
  cmd->add_option("-o,--out", t->opts.out_path, "output safetensors")->capture_default_str();
  cmd->add_option("--init", t->init, "start from this safetensors model instead of a fresh init");
  AddModelShapeFlags(*cmd, t->cfg, t->preset);
  AddTrainFlags(cmd, *t);
  return [t, cmd, &g]() {
    train::TrainResult r;
    return RunTrain(*t, *cmd, g, &r);
  };
}

}  // namespace golfpack::cli
