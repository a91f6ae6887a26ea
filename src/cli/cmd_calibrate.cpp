#include <cstdio>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "cli/steps.h"
#include "eval/calibrate.h"
#include "model/weights.h"

namespace golfpack::cli {

Runner AddCalibrateCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("calibrate", "stream train tokens through a model; store H = X^T X per linear layer");
  struct Opts {
    std::string model, data_dir, out;
    eval::CalibrationOptions cal;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "model .safetensors")->required();
  cmd->add_option("--data", o->data_dir, "directory with fineweb_train_*.bin");
  cmd->add_option("--train-files", o->cal.train_pattern, "glob of training shards (instead of --data)");
  cmd->add_option("-o,--out", o->out, "output calibration .safetensors")->required();
  cmd->add_option("--tokens", o->cal.tokens, "calibration tokens")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seq-len", o->cal.seq_len, "sequence length")->check(CLI::PositiveNumber)->capture_default_str();
  return [o, &g]() -> Status {
    if (o->cal.train_pattern.empty()) {
      if (o->data_dir.empty()) return InvalidArgument("give --data DIR or --train-files PATTERN");
      o->cal.train_pattern = TrainPattern(o->data_dir);
    }
    GP_ASSIGN_OR_RETURN(model::GPT model, model::LoadModel(o->model));
    ProgressBar bar(g.quiet);
    GP_ASSIGN_OR_RETURN(eval::Calibration cal, eval::Calibrate(model, o->cal, bar.Callback()));
    bar.Finish();
    GP_RETURN_IF_ERROR(eval::SaveCalibration(o->out, cal));
    char line[256];
    std::snprintf(line, sizeof line, "calibration  %zu input sites, %lld tokens (seq %d) -> %s", cal.hessians.size(),
                  (long long)cal.tokens, cal.seq_len, o->out.c_str());
    Say(g, line);
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
