#include <malloc.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "cli/steps.h"
#include "eval/calibrate.h"
#include "eval/sensitivity.h"
#include "model/weights.h"

namespace golfpack::cli {

Runner AddCalibrateCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("calibrate", "stream train tokens through a model; store H = X^T X per linear layer");
  struct Opts {
    std::string model, data_dir, out;
    eval::CalibrationOptions cal;
    eval::SensitivityOptions sens;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "model .safetensors")->required();
  cmd->add_option("--data", o->data_dir, "directory with fineweb_train_*.bin");
  cmd->add_option("--train-files", o->cal.train_pattern, "glob of training shards (instead of --data)");
  cmd->add_option("-o,--out", o->out, "output calibration .safetensors")->required();
  cmd->add_option("--tokens", o->cal.tokens, "calibration tokens")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seq-len", o->cal.seq_len, "sequence length")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch-seqs", o->cal.batch_seqs, "sequences per forward pass (calibration and sensitivity)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--sensitivity-tokens", o->sens.tokens,
                  "tokens of the batch that measures each weight's loss sensitivity (0 = skip)")
      ->capture_default_str();
  cmd->add_option("--tcq-probe", o->sens.tcq_probe_spec,
                  "also fit a sensitivity per weight with this trellis probe, which rd prices its tcq path with "
                  "(e.g. gptq:tcq:s0.7:st3:damp0.11; default: none, the tcq path uses --probe's)");
  cmd->add_option("--probe", o->sens.probe_spec, "encoder spec whose measured loss change fits the sensitivity")
      ->capture_default_str();
  cmd->add_option("--check", o->sens.check_spec, "coarser spec on which the fitted prediction is checked")
      ->capture_default_str();
  cmd->add_option("--row-fisher", o->cal.row_fisher_floor,
                  "floor of the row Fisher weights: each block matrix's output rows weigh by the sum of (dL/dy)^2 "
                  "over the tokens (a backward pass per batch) in the sensitivity fit and in rd; negative: off")
      ->capture_default_str();
  return [o, &g]() -> Status {
    // Calibration allocates and frees tensors of tens of MB on every forward
    // pass (logits, attention scores). glibc serves anything over its mmap
    // threshold (at most 32 MB) with a fresh mmap, so each pass page-faulted
    // and zeroed its memory again: 40% of calibrate's CPU time was kernel time.
    // Keep freed memory in the heap for the next pass instead.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (o->cal.train_pattern.empty()) {
      if (o->data_dir.empty()) return InvalidArgument("give --data DIR or --train-files PATTERN");
      o->cal.train_pattern = TrainPattern(o->data_dir);
    }
    std::vector<eval::PhaseTime> phases;
    eval::PhaseClock clock;
    clock.Start();
    GP_ASSIGN_OR_RETURN(model::GPT model, model::LoadModel(o->model));
    clock.Stop(phases.emplace_back(eval::PhaseTime{"load model"}));
    ProgressBar bar(g.quiet);
    GP_ASSIGN_OR_RETURN(eval::Calibration cal, eval::Calibrate(model, o->cal, bar.Callback()));
    bar.Finish();
    phases.insert(phases.end(), cal.timings.begin(), cal.timings.end());
    char line[256];
    int sens_threads = 0;
    if (o->sens.tokens > 0) {
      o->sens.train_pattern = o->cal.train_pattern;
      o->sens.seq_len = std::min<int>(o->cal.seq_len, static_cast<int>(o->sens.tokens));
      o->sens.batch_seqs = o->cal.batch_seqs;
      ProgressBar sbar(g.quiet);
      GP_ASSIGN_OR_RETURN(eval::SensitivityResult sr, eval::MeasureSensitivity(model, cal, o->sens, sbar.Callback()));
      sbar.Finish();
      phases.insert(phases.end(), sr.timings.begin(), sr.timings.end());
      sens_threads = sr.threads;
      for (const auto& t : sr.tensors) {
        cal.sensitivity[t.name] = t.sensitivity;
        if (!o->sens.tcq_probe_spec.empty()) cal.tcq_sensitivity[t.name] = t.tcq_sensitivity;
      }
      std::snprintf(line, sizeof line, "%.4f", sr.spearman_raw_proxy);
      cal.notes["golfpack.sensitivity_spearman_raw"] = line;
      std::snprintf(line, sizeof line, "%.4f", sr.spearman_fitted);
      cal.notes["golfpack.sensitivity_spearman_fitted"] = line;
      if (g.verbose) {
        std::snprintf(line, sizeof line, "%-28s %11s %11s %11s %11s %11s %11s", "tensor", "D_probe", "dL_probe", "s",
                      "D_check", "dL_check", "pred_check");
        Say(g, line);
        for (const auto& t : sr.tensors) {
          std::snprintf(line, sizeof line, "%-28s %11.3e %11.3e %11.3e %11.3e %11.3e %11.3e", t.name.c_str(), t.proxy_probe,
                        t.dloss_probe, t.sensitivity, t.proxy_check, t.dloss_check, t.predicted_check);
          Say(g, line);
        }
        if (!o->sens.tcq_probe_spec.empty()) {
          std::snprintf(line, sizeof line, "%-28s %11s %11s %11s", "tensor", "D_tcq", "dL_tcq", "s_tcq");
          Say(g, line);
          for (const auto& t : sr.tensors) {
            std::snprintf(line, sizeof line, "%-28s %11.3e %11.3e %11.3e", t.name.c_str(), t.proxy_tcq, t.dloss_tcq,
                          t.tcq_sensitivity);
            Say(g, line);
          }
        }
      }
      std::snprintf(line, sizeof line,
                    "sensitivity  %zu weights on %lld tokens (base loss %.4f): probe %s, check %s\n"
                    "             Spearman rho vs measured dL at the check: raw proxy %.3f, fitted %.3f",
                    sr.tensors.size(), (long long)sr.tokens, sr.base_loss, o->sens.probe_spec.c_str(),
                    o->sens.check_spec.c_str(), sr.spearman_raw_proxy, sr.spearman_fitted);
      Say(g, line);
      if (!o->sens.tcq_probe_spec.empty()) {
        std::snprintf(line, sizeof line, "             trellis probe %s: a second sensitivity per weight for rd's tcq path",
                      o->sens.tcq_probe_spec.c_str());
        Say(g, line);
      }
    }
    clock.Start();
    GP_RETURN_IF_ERROR(eval::SaveCalibration(o->out, cal));
    clock.Stop(phases.emplace_back(eval::PhaseTime{"save"}));
    if (g.verbose) {
      std::snprintf(line, sizeof line, "workers: %d for the calibration batches, %d for the sensitivity probes",
                    cal.threads, sens_threads);
      Say(g, line);
      eval::PhaseTime sum{"sum of phases"};
      for (const auto& p : phases) {
        std::snprintf(line, sizeof line, "phase  %-40s wall %8.2f s  cpu %8.2f s", p.phase.c_str(), p.wall_s, p.cpu_s);
        Say(g, line);
        sum.wall_s += p.wall_s;
        sum.cpu_s += p.cpu_s;
      }
      std::snprintf(line, sizeof line, "phase  %-40s wall %8.2f s  cpu %8.2f s", sum.phase.c_str(), sum.wall_s, sum.cpu_s);
      Say(g, line);
    }
    std::snprintf(line, sizeof line, "calibration  %zu input sites, %lld tokens (seq %d) -> %s", cal.hessians.size(),
                  (long long)cal.tokens, cal.seq_len, o->out.c_str());
    Say(g, line);
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
