#include <cstdio>

#include "cli/commands.h"
#include "cli/steps.h"
#include "cli/progress_bar.h"
#include "io/shards.h"
#include "core/artifact.h"
#include "core/file_util.h"
#include "codec/codecs.h"
#include "plan/pack.h"
#include "model/weights.h"

namespace golfpack::cli {

Result<model::GPT> LoadAnyModel(const std::string& path) {
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path));
  static const char kMagic[8] = {'G', 'O', 'L', 'F', 'P', 'A', 'C', 'K'};
  if (bytes.size() >= 8 && std::equal(kMagic, kMagic + 8, bytes.begin())) {
    encode::RegisterAllCodecs();
    GP_ASSIGN_OR_RETURN(gpk::Artifact art, gpk::Artifact::Parse(bytes, path));
    GP_ASSIGN_OR_RETURN(io::TensorFile f, encode::UnpackToTensors(art, /*keep_original_dtype=*/false));
    return model::ModelFromTensors(f, path);
  }
  GP_ASSIGN_OR_RETURN(io::TensorFile f, io::ParseSafetensors(bytes, path));
  return model::ModelFromTensors(f, path);
}

Result<eval::EvalResult> EvaluateModelFile(model::GPT& model, const EvalCli& e, const GlobalOptions& g) {
  std::string val = e.val_files, tok_path = e.tokenizer;
  if (!e.data_dir.empty()) {
    if (val.empty()) val = ValPattern(e.data_dir);
    if (tok_path.empty()) tok_path = e.data_dir + "/tokenizer.model";
  }
  if (val.empty()) return InvalidArgument("give --data DIR or --val-files PATTERN");
  if (tok_path.empty()) return InvalidArgument("give --tokenizer MODEL (or --data DIR containing tokenizer.model)");
  GP_ASSIGN_OR_RETURN(data::TokenizerModel tok, data::TokenizerModel::Load(tok_path));
  if (tok.vocab_size() != model->config().vocab_size)
    return InvalidArgument(tok_path + ": tokenizer vocab_size " + std::to_string(tok.vocab_size()) +
                           " does not match the model's vocab " + std::to_string(model->config().vocab_size));
  GP_ASSIGN_OR_RETURN(std::vector<uint16_t> tokens, io::ReadShards(val));
  if (e.skip_tokens < 0 || uint64_t(e.skip_tokens) + 2 > tokens.size())
    return InvalidArgument(val + ": " + std::to_string(tokens.size()) + " tokens, nothing left to score after --skip-tokens " +
                           std::to_string(e.skip_tokens));
  const std::span<const uint16_t> scored = std::span<const uint16_t>(tokens).subspan(size_t(e.skip_tokens));
  data::ByteLut lut = tok.MakeByteLut(model->config().vocab_size);
  ProgressBar bar(g.quiet);
  auto r = eval::EvaluateBpb(model, scored, lut, e.opts, bar.Callback());
  bar.Finish();
  return r;
}

void AddEvalFlags(CLI::App* cmd, EvalCli& e) {
  cmd->add_option("--data", e.data_dir, "directory with fineweb_val_*.bin and tokenizer.model");
  cmd->add_option("--val-files", e.val_files, "glob of validation shards");
  cmd->add_option("--tokenizer", e.tokenizer, "sentencepiece .model whose pieces define the byte counts");
  cmd->add_option("--seq-len", e.opts.seq_len, "evaluation sequence length")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch", e.opts.batch_seqs, "sequences per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-tokens", e.opts.max_tokens, "score only the first N tokens (0 = the whole val split)");
  cmd->add_option("--skip-tokens", e.skip_tokens,
                  "score the stream from token N on (e.g. one half of val for choosing, the other for reporting)");
  cmd->add_flag("--json", e.json, "print one JSON object instead of the table");
}

std::string FormatEval(const eval::EvalResult& r, bool json) {
  char buf[512];
  if (json) {
    std::snprintf(buf, sizeof buf,
                  "{\"val_loss\": %.8f, \"val_bpb\": %.8f, \"tokens\": %llu, \"bytes\": %llu, \"seconds\": %.2f}", r.val_loss,
                  r.val_bpb, (unsigned long long)r.tokens, (unsigned long long)r.bytes, r.seconds);
  } else {
    std::snprintf(buf, sizeof buf, "val_loss  %.6f\nval_bpb   %.6f\ntokens    %llu\nbytes     %llu\nseconds   %.1f",
                  r.val_loss, r.val_bpb, (unsigned long long)r.tokens, (unsigned long long)r.bytes, r.seconds);
  }
  return buf;
}

Runner AddEvalCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("eval", "exact Parameter Golf val_bpb of a safetensors model");
  auto e = std::make_shared<EvalCli>();
  auto model_path = std::make_shared<std::string>();
  auto reference = std::make_shared<std::string>();
  cmd->add_option("model", *model_path, "model .safetensors or .gpk artifact (PG tensor names; shapes give the config)")
      ->required();
  cmd->add_option("--reference", *reference, "the uncompressed model: also evaluate it and report pre, post and the gap");
  AddEvalFlags(cmd, *e);
  return [e, model_path, reference, &g]() -> Status {
    GP_ASSIGN_OR_RETURN(model::GPT model, LoadAnyModel(*model_path));
    if (!g.quiet) std::fprintf(stderr, "eval: %s (%s)\n", model->config().ToString().c_str(), model_path->c_str());
    GP_ASSIGN_OR_RETURN(eval::EvalResult post, EvaluateModelFile(model, *e, g));
    if (reference->empty()) {
      Say(g, FormatEval(post, e->json));
      return Status::Ok();
    }
    GP_ASSIGN_OR_RETURN(model::GPT ref, LoadAnyModel(*reference));
    if (!g.quiet) std::fprintf(stderr, "eval: reference %s\n", reference->c_str());
    GP_ASSIGN_OR_RETURN(eval::EvalResult pre, EvaluateModelFile(ref, *e, g));
    char buf[512];
    if (e->json) {
      std::snprintf(buf, sizeof buf,
                    "{\"pre_val_bpb\": %.8f, \"post_val_bpb\": %.8f, \"gap_bpb\": %.8f, \"pre_val_loss\": %.8f, "
                    "\"post_val_loss\": %.8f, \"tokens\": %llu, \"bytes\": %llu}",
                    pre.val_bpb, post.val_bpb, post.val_bpb - pre.val_bpb, pre.val_loss, post.val_loss,
                    (unsigned long long)post.tokens, (unsigned long long)post.bytes);
    } else {
      std::snprintf(buf, sizeof buf,
                    "pre_val_bpb   %.6f  (val_loss %.6f)\npost_val_bpb  %.6f  (val_loss %.6f)\ngap_bpb       %+.6f\n"
                    "tokens        %llu\nbytes         %llu",
                    pre.val_bpb, pre.val_loss, post.val_bpb, post.val_loss, post.val_bpb - pre.val_bpb,
                    (unsigned long long)post.tokens, (unsigned long long)post.bytes);
    }
    Say(g, buf);
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
