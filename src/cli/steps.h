// Flags and steps shared by `train`, `eval` and `demo`.
#pragma once

#include <string>

#include "cli/commands.h"
#include "data/tokenizer_model.h"
#include "eval/bpb.h"
#include "train/trainer.h"

namespace golfpack::cli {

struct EvalCli {
  std::string data_dir, val_files, tokenizer;
  eval::EvalOptions opts;
  int64_t skip_tokens = 0;  // score from this token of the stream on
  bool json = false;
};

void AddEvalFlags(CLI::App* cmd, EvalCli& e);
Result<eval::EvalResult> EvaluateModelFile(model::GPT& model, const EvalCli& e, const GlobalOptions& g);
// A model from a .safetensors file or a .gpk artifact (decoded, as `golfpack eval` does).
Result<model::GPT> LoadAnyModel(const std::string& path);
std::string FormatEval(const eval::EvalResult& r, bool json);

// Model shape flags (--preset, --layers, ...); explicit flags win over the preset.
void AddModelShapeFlags(CLI::App& cmd, model::GPTConfig& cfg, std::string& preset);
Status ApplyPreset(const std::string& preset, model::GPTConfig& cfg, const CLI::App& cmd);

struct TrainCli {
  std::string data_dir, train_files, val_files, init;
  std::string preset;
  std::string qat_plan;  // rd report whose per-tensor steps QAT uses
  model::GPTConfig cfg;
  train::TrainOptions opts;
};

void AddTrainFlags(CLI::App* cmd, TrainCli& t);
Status RunTrain(TrainCli& t, const CLI::App& cmd, const GlobalOptions& g, train::TrainResult* out);

}  // namespace golfpack::cli
