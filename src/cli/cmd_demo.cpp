// `golfpack demo`: the whole pipeline on the embedded corpus, in minutes on 2
// cores: data -> tokenizer -> shards -> train (demo model) -> exact val_bpb ->
// calibrate -> pack (pg-int8-zlib, gptq-int6-brotli, rd at two budgets) ->
// round trip (decode each .gpk, val_bpb again) -> one table + an SVG RD curve.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "cli/steps.h"
#include "core/file_util.h"
#include "data/corpus.h"
#include "plan/pack.h"
#include "plan/bits_back.h"
#include "plan/rd.h"
#include "eval/calibrate.h"
#include "eval/sensitivity.h"
#include "io/safetensors.h"
#include "io/shards.h"
#include "model/weights.h"

namespace golfpack::cli {

namespace fs = std::filesystem;

namespace {

// The demo packs rd with every path but the trellis grids, on calibration
// Hessians shrunk by 0.1 x mean(diag H) (cheap on the 3M model, and on models
// this small the best: docs/results/structure.md), with the MLP unit orders
// carrying their fc scales (bits back, plan/bits_back.h); its rows say so.
constexpr const char* kRdRecipe = "rd:protect --hessian-shrink 0.1 --bits-back";
constexpr double kRdShrink = 0.1;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// One packed artifact and what its round trip measured.
struct PackedRow {
  std::string recipe;
  uint64_t budget = 0;  // rd only
  uint64_t params = 0, file_bytes = 0, code_bytes = 0, counted_bytes = 0;
  double pack_seconds = 0;
  std::string path;
  eval::EvalResult post;
  double BitsPerParam() const { return 8.0 * double(counted_bytes) / double(std::max<uint64_t>(params, 1)); }
};

// The same steps as `golfpack calibrate --sensitivity-tokens N`: H per input
// site, then (when asked) the fitted per-weight loss sensitivity; saved to `path`.
Status CalibrateTo(model::GPT& model, const eval::CalibrationOptions& co, eval::SensitivityOptions so,
                   const std::string& path, const GlobalOptions& g) {
  ProgressBar bar(g.quiet);
  GP_ASSIGN_OR_RETURN(eval::Calibration cal, eval::Calibrate(model, co, bar.Callback()));
  bar.Finish();
  if (so.tokens > 0) {
    so.train_pattern = co.train_pattern;
    so.seq_len = std::min<int>(co.seq_len, static_cast<int>(so.tokens));
    ProgressBar sbar(g.quiet);
    GP_ASSIGN_OR_RETURN(eval::SensitivityResult sr, eval::MeasureSensitivity(model, cal, so, sbar.Callback()));
    sbar.Finish();
    for (const auto& t : sr.tensors) cal.sensitivity[t.name] = t.sensitivity;
    char v[32];
    std::snprintf(v, sizeof v, "%.4f", sr.spearman_raw_proxy);
    cal.notes["golfpack.sensitivity_spearman_raw"] = v;
    std::snprintf(v, sizeof v, "%.4f", sr.spearman_fitted);
    cal.notes["golfpack.sensitivity_spearman_fitted"] = v;
    if (!g.quiet)
      std::fprintf(stderr, "demo: sensitivity of %zu weights; Spearman rho vs measured dL: raw proxy %.3f, fitted %.3f\n",
                   sr.tensors.size(), sr.spearman_raw_proxy, sr.spearman_fitted);
  }
  return eval::SaveCalibration(path, cal);
}

Result<PackedRow> PackRecipe(const io::TensorFile& model, const encode::Hessians& h, const std::string& name,
                             const std::string& path, const GlobalOptions& g) {
  GP_ASSIGN_OR_RETURN(encode::Recipe recipe, encode::FindRecipe(name));
  encode::PackOptions po;
  ProgressBar bar(g.quiet);
  po.progress = bar.Callback();
  GP_ASSIGN_OR_RETURN(encode::PackResult r, encode::Pack(model, &h, recipe, po));
  bar.Finish();
  GP_RETURN_IF_ERROR(WriteFileAtomic(path, r.bytes));
  PackedRow row;
  row.recipe = name;
  row.params = r.params;
  row.file_bytes = r.file_bytes;
  row.code_bytes = r.code_bytes;
  row.counted_bytes = r.counted_bytes;
  row.pack_seconds = r.seconds;
  row.path = path;
  return row;
}

Result<PackedRow> PackRdAt(const io::TensorFile& model, const encode::Hessians& h, uint64_t budget,
                           const std::string& path, const GlobalOptions& g) {
  encode::RdOptions ro;
  ro.budget = budget;
  ro.paths = encode::RdProtectPaths();  // `pack -r rd:protect --hessian-shrink 0.1`
  ro.hessian_shrink = kRdShrink;
  ro.threads = g.threads;
  ProgressBar bar(g.quiet);
  ro.progress = bar.Callback();
  const auto t0 = std::chrono::steady_clock::now();
  GP_ASSIGN_OR_RETURN(encode::RdResult r, encode::PackRdBitsBack(model, h, ro, nullptr));
  bar.Finish();
  r.pack.seconds = Seconds(t0);  // both rd passes
  GP_RETURN_IF_ERROR(WriteFileAtomic(path, r.pack.bytes));
  PackedRow row;
  row.recipe = kRdRecipe;
  row.budget = budget;
  row.params = r.pack.params;
  row.file_bytes = r.pack.file_bytes;
  row.code_bytes = r.pack.code_bytes;
  row.counted_bytes = r.pack.counted_bytes;
  row.pack_seconds = r.pack.seconds;
  row.path = path;
  return row;
}

// ---- a small SVG writer for the RD curve --------------------------------

// Tick spacing 1, 2 or 5 x 10^k giving about `n` intervals over `span`.
double NiceStep(double span, int n) {
  const double raw = span / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string RdCurveSvg(const std::vector<PackedRow>& rows, double reference_bpb, const std::string& title,
                       const std::string& subtitle) {
  const double W = 720, H = 460, L = 80, R = 30, T = 62, B = 56;
  double xmax = 0, ymin = reference_bpb, ymax = reference_bpb;
  for (const auto& r : rows) {
    xmax = std::max(xmax, double(r.counted_bytes) / 1e6);
    ymin = std::min(ymin, r.post.val_bpb);
    ymax = std::max(ymax, r.post.val_bpb);
  }
  const double xstep = NiceStep(xmax * 1.08, 6);
  const double x0 = 0, x1 = std::ceil(xmax * 1.08 / xstep) * xstep;
  const double pad = std::max(0.002, 0.08 * (ymax - ymin));
  const double ystep = NiceStep(ymax - ymin + 2 * pad, 6);
  const double y0 = std::floor((ymin - pad) / ystep) * ystep, y1 = std::ceil((ymax + pad) / ystep) * ystep;
  auto sx = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto sy = [&](double y) { return T + (y1 - y) / (y1 - y0) * (H - T - B); };
  const int ydec = std::max(0, -static_cast<int>(std::floor(std::log10(ystep))));
  const int xdec = std::max(0, -static_cast<int>(std::floor(std::log10(xstep))));
  const std::string yf = "%." + std::to_string(ydec) + "f", xf = "%." + std::to_string(xdec) + "f";

  std::string s;
  auto add = [&](const std::string& line) { s += line + "\n"; };
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Fmt("%.0f", W) + "\" height=\"" + Fmt("%.0f", H) +
      "\" font-family=\"sans-serif\" font-size=\"12\">");
  add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
  add("<text x=\"" + Fmt("%.0f", W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + title + "</text>");
  add("<text x=\"" + Fmt("%.0f", W / 2) + "\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">" + subtitle + "</text>");
  // grid and ticks
  for (double x = x0; x <= x1 + 1e-9; x += xstep) {
    add("<line x1=\"" + Fmt("%.1f", sx(x)) + "\" y1=\"" + Fmt("%.1f", T) + "\" x2=\"" + Fmt("%.1f", sx(x)) + "\" y2=\"" +
        Fmt("%.1f", H - B) + "\" stroke=\"#eee\"/>");
    add("<text x=\"" + Fmt("%.1f", sx(x)) + "\" y=\"" + Fmt("%.1f", H - B + 16) + "\" text-anchor=\"middle\">" +
        Fmt(xf.c_str(), x) + "</text>");
  }
  for (double y = y0; y <= y1 + 1e-9; y += ystep) {
    add("<line x1=\"" + Fmt("%.1f", L) + "\" y1=\"" + Fmt("%.1f", sy(y)) + "\" x2=\"" + Fmt("%.1f", W - R) + "\" y2=\"" +
        Fmt("%.1f", sy(y)) + "\" stroke=\"#eee\"/>");
    add("<text x=\"" + Fmt("%.1f", L - 6) + "\" y=\"" + Fmt("%.1f", sy(y) + 4) + "\" text-anchor=\"end\">" +
        Fmt(yf.c_str(), y) + "</text>");
  }
  add("<line x1=\"" + Fmt("%.1f", L) + "\" y1=\"" + Fmt("%.1f", H - B) + "\" x2=\"" + Fmt("%.1f", W - R) + "\" y2=\"" +
      Fmt("%.1f", H - B) + "\" stroke=\"black\"/>");
  add("<line x1=\"" + Fmt("%.1f", L) + "\" y1=\"" + Fmt("%.1f", T) + "\" x2=\"" + Fmt("%.1f", L) + "\" y2=\"" +
      Fmt("%.1f", H - B) + "\" stroke=\"black\"/>");
  add("<text x=\"" + Fmt("%.0f", (L + W - R) / 2) + "\" y=\"" + Fmt("%.0f", H - 14) +
      "\" text-anchor=\"middle\">counted bytes (MB: .gpk file + decoder code)</text>");
  add("<text x=\"18\" y=\"" + Fmt("%.0f", (T + H - B) / 2) + "\" transform=\"rotate(-90 18 " +
      Fmt("%.0f", (T + H - B) / 2) + ")\" text-anchor=\"middle\">val_bpb after the round trip</text>");
  // the unpacked model
  add("<line x1=\"" + Fmt("%.1f", L) + "\" y1=\"" + Fmt("%.1f", sy(reference_bpb)) + "\" x2=\"" + Fmt("%.1f", W - R) +
      "\" y2=\"" + Fmt("%.1f", sy(reference_bpb)) + "\" stroke=\"gray\" stroke-dasharray=\"5 4\"/>");
  const double ref_label_y = sy(reference_bpb) + 15 > H - B - 4 ? sy(reference_bpb) - 6 : sy(reference_bpb) + 15;
  add("<text x=\"" + Fmt("%.1f", W - R - 4) + "\" y=\"" + Fmt("%.1f", ref_label_y) +
      "\" text-anchor=\"end\" fill=\"gray\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">unpacked model " +
      Fmt("%.4f", reference_bpb) + "</text>");
  // rd points joined, in byte order
  std::vector<const PackedRow*> rd;
  for (const auto& r : rows)
    if (r.recipe == kRdRecipe) rd.push_back(&r);
  std::sort(rd.begin(), rd.end(), [](auto* a, auto* b) { return a->counted_bytes < b->counted_bytes; });
  const char* kRd = "#1f77b4";
  if (rd.size() > 1) {
    std::string pts;
    for (auto* r : rd) pts += Fmt("%.1f", sx(r->counted_bytes / 1e6)) + "," + Fmt("%.1f", sy(r->post.val_bpb)) + " ";
    add("<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + kRd + "\" stroke-width=\"2\"/>");
  }
  auto color = [&](const std::string& recipe) -> std::string {
    if (recipe == kRdRecipe) return kRd;
    if (recipe == "pg-int8-zlib") return "#d62728";
    if (recipe == "gptq-int6-brotli") return "#2ca02c";
    return "#9467bd";
  };
  for (const auto& r : rows) {
    const double cx = sx(r.counted_bytes / 1e6), cy = sy(r.post.val_bpb);
    const bool base = r.recipe != kRdRecipe;
    add("<circle cx=\"" + Fmt("%.1f", cx) + "\" cy=\"" + Fmt("%.1f", cy) + "\" r=\"" + (base ? "6" : "4.5") +
        "\" fill=\"" + color(r.recipe) + "\"" + (base ? " fill-opacity=\"0.75\"" : "") + "/>");
    // Baselines are labelled above their point, rd points below (they can share the x of a baseline).
    const std::string label =
        (base ? r.recipe + " " : std::string(kRdRecipe) + " ") + Fmt("%.2f", r.BitsPerParam()) + " b/p, " + Fmt("%.4f", r.post.val_bpb);
    const bool right = cx < (L + W - R) / 2;
    add("<text x=\"" + Fmt("%.1f", cx + (right ? 8 : -8)) + "\" y=\"" + Fmt("%.1f", cy + (base ? -10 : 18)) +
        "\" text-anchor=\"" + (right ? "start" : "end") + "\" fill=\"" + color(r.recipe) +
        "\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">" + label + "</text>");
  }
  // legend, top right (many bytes and a high val_bpb: no recipe lands there)
  int i = 0;
  for (const char* name : {kRdRecipe, "gptq-int6-brotli", "pg-int8-zlib"}) {
    const double ly = T + 12 + 16 * i++, lx = W - R - 240;
    add("<circle cx=\"" + Fmt("%.1f", lx) + "\" cy=\"" + Fmt("%.1f", ly) + "\" r=\"4.5\" fill=\"" + color(name) +
        "\"/><text x=\"" + Fmt("%.1f", lx + 10) + "\" y=\"" + Fmt("%.1f", ly + 4) + "\">" + name + "</text>");
  }
  add("</svg>");
  return s;
}

}  // namespace

Runner AddDemoCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "demo", "end-to-end demo on the embedded corpus: data, train (~3M params), eval, calibrate, pack, round-trip eval");
  struct Demo {
    std::string out = "demo-run";
    std::string corpus = data::DefaultCorpusDir();
    bool fresh = false;
    TrainCli train;
    EvalCli eval;
    bool no_pack = false;
    eval::CalibrationOptions cal;
    eval::SensitivityOptions sens;
    // 0: every round trip is scored on the whole val split, like the unpacked
    // model (four more evals, about 1.5 minutes on 2 cores).
    int64_t pack_eval_tokens = 0;
    double rd_bits = 2.5;
  };
  auto d = std::make_shared<Demo>();
  cmd->add_option("-o,--out", d->out, "working directory (data/, model.safetensors, train.jsonl, *.gpk, rd_curve.svg)")
      ->capture_default_str();
  cmd->add_option("--corpus", d->corpus, "corpus directory or .jsonl")->capture_default_str();
  cmd->add_flag("--fresh", d->fresh, "rebuild the data even if it is already there");
  // Demo defaults: ~1.3M training tokens, about 5-6 minutes on 2 cores.
  auto& o = d->train.opts;
  o.iterations = 160;
  o.batch_tokens = 8192;
  o.seq_len = 256;
  o.warmup_steps = 10;
  o.warmdown_steps = 50;
  o.val_every = 40;
  o.val_tokens = 32768;
  d->train.preset = "demo";
  AddTrainFlags(cmd, d->train);
  // Attention at 1024 tokens makes CPU training ~3x slower, and RoPE does not
  // extrapolate beyond the trained length, so the demo scores at its training
  // length (printed); --eval-seq-len 1024 gives PG's setting.
  d->eval.opts.seq_len = 0;
  cmd->add_option("--eval-seq-len", d->eval.opts.seq_len, "evaluation sequence length (default: the training --seq-len)");
  // Packing stage.
  d->cal.tokens = 65536;
  // 8192 tokens: sensitivity runs two quantized passes per weight (74 passes
  // on the demo model), the slowest part of the packing stage on 2 cores.
  d->sens.tokens = 8192;
  cmd->add_flag("--no-pack", d->no_pack, "stop after the unpacked model's val_bpb (no calibrate/pack/round trip)");
  cmd->add_option("--calib-tokens", d->cal.tokens, "calibration tokens (H = X^T X per linear layer)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--sensitivity-tokens", d->sens.tokens, "tokens of the loss-sensitivity batch (0 = skip)")
      ->capture_default_str();
  cmd->add_option("--pack-eval-tokens", d->pack_eval_tokens,
                  "val tokens scored after each round trip, and for the unpacked reference (0 = the whole val split)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--rd-bits", d->rd_bits, "the tighter rd budget, in counted bits per parameter")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return [d, cmd, &g]() -> Status {
    const auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    fs::create_directories(d->out, ec);
    if (ec) return IoError(d->out + ": cannot create directory: " + ec.message());
    const std::string data_dir = d->out + "/data";

    // 1. data (reused when a previous run left a complete set)
    const bool have_data = !d->fresh && fs::exists(data_dir + "/tokenizer.model") &&
                           io::GlobShards(TrainPattern(data_dir)).ok() && io::GlobShards(ValPattern(data_dir)).ok();
    if (have_data) {
      if (!g.quiet) std::fprintf(stderr, "demo: reusing data in %s (--fresh rebuilds it)\n", data_dir.c_str());
    } else {
      if (!g.quiet) std::fprintf(stderr, "demo: building data from %s\n", d->corpus.c_str());
      std::vector<std::string> args;
      if (g.quiet) args.push_back("-q");
      for (const char* a : {"data", "--corpus"}) args.push_back(a);
      args.push_back(d->corpus);
      args.push_back("-o");
      args.push_back(data_dir);
      GP_RETURN_IF_ERROR(RunDataTool(args));
    }

    // 2. train
    d->train.data_dir = data_dir;
    d->train.opts.out_path = d->out + "/model.safetensors";
    if (d->train.opts.log_path.empty()) d->train.opts.log_path = d->out + "/train.jsonl";
    train::TrainResult tr;
    GP_RETURN_IF_ERROR(RunTrain(d->train, *cmd, g, &tr));

    // 3. exact val_bpb on the whole val split at PG's sequence length
    GP_ASSIGN_OR_RETURN(model::GPT model, model::LoadModel(tr.out_path));
    d->eval.data_dir = data_dir;
    if (d->eval.opts.seq_len <= 0) d->eval.opts.seq_len = d->train.opts.seq_len;
    if (!g.quiet) std::fprintf(stderr, "demo: exact val_bpb of the trained model on the whole val split\n");
    GP_ASSIGN_OR_RETURN(eval::EvalResult ev, EvaluateModelFile(model, d->eval, g));

    // 4. the unigram bar for context
    GP_ASSIGN_OR_RETURN(std::vector<uint16_t> train_tokens, io::ReadShards(TrainPattern(data_dir)));
    GP_ASSIGN_OR_RETURN(std::vector<uint16_t> val_tokens, io::ReadShards(ValPattern(data_dir)));
    const double unigram = eval::UnigramCrossEntropy(train_tokens, val_tokens, model->config().vocab_size);
    const double unigram_bpb = unigram / std::log(2.0) * double(ev.tokens) / double(ev.bytes);

    char buf[512];
    Say(g, "");
    Say(g, "== golfpack demo ==");
    Say(g, "model       " + model->config().ToString() + ", " + std::to_string(model->config().NumParams()) + " params");
    std::snprintf(buf, sizeof buf, "training    %d steps, %.0f tokens/s, %.1f s", tr.steps, tr.tokens_per_second, tr.seconds);
    Say(g, buf);
    std::snprintf(buf, sizeof buf, "val         %llu tokens, %llu bytes, seq_len %d", (unsigned long long)ev.tokens,
                  (unsigned long long)ev.bytes, d->eval.opts.seq_len);
    Say(g, buf);
    std::snprintf(buf, sizeof buf, "val_loss    %.4f nats/token (unigram model: %.4f)", ev.val_loss, unigram);
    Say(g, buf);
    std::snprintf(buf, sizeof buf, "val_bpb     %.4f (unigram model: %.4f)", ev.val_bpb, unigram_bpb);
    Say(g, buf);

    std::string files = d->out + "/{data/, model.safetensors, train.jsonl}";
    if (!d->no_pack) {
      // 5. calibrate: H = X^T X per linear layer + fitted loss sensitivities (as `golfpack calibrate`)
      const std::string calib_path = d->out + "/calib.safetensors";
      d->cal.train_pattern = TrainPattern(data_dir);
      d->cal.seq_len = d->train.opts.seq_len;
      if (!g.quiet)
        std::fprintf(stderr, "demo: calibrating on %lld train tokens (seq %d), sensitivity on %lld -> %s\n",
                     (long long)d->cal.tokens, d->cal.seq_len, (long long)d->sens.tokens, calib_path.c_str());
      auto tc = std::chrono::steady_clock::now();
      GP_RETURN_IF_ERROR(CalibrateTo(model, d->cal, d->sens, calib_path, g));
      const double calib_s = Seconds(tc);
      GP_ASSIGN_OR_RETURN(encode::Hessians hessians, encode::Hessians::Load(calib_path));
      GP_ASSIGN_OR_RETURN(io::TensorFile weights, io::ReadSafetensors(tr.out_path));

      const auto tp = std::chrono::steady_clock::now();
      // 6. pack: both baselines, rd at gptq-int6-brotli's counted bytes, rd at --rd-bits bits/param
      std::vector<PackedRow> rows;
      auto say_packed = [&](const PackedRow& r) {
        if (!g.quiet)
          std::fprintf(stderr, "demo: packed %s%s: %llu counted bytes (%.3f bits/param) in %.1f s -> %s\n",
                       r.recipe.c_str(), r.budget ? (" @ " + std::to_string(r.budget)).c_str() : "",
                       (unsigned long long)r.counted_bytes, r.BitsPerParam(), r.pack_seconds, r.path.c_str());
      };
      for (const char* name : {"pg-int8-zlib", "gptq-int6-brotli"}) {
        if (!g.quiet) std::fprintf(stderr, "demo: packing %s\n", name);
        GP_ASSIGN_OR_RETURN(PackedRow r, PackRecipe(weights, hessians, name, d->out + "/model." + name + ".gpk", g));
        say_packed(r);
        rows.push_back(std::move(r));
      }
      const uint64_t params = rows.front().params;
      const uint64_t tight = static_cast<uint64_t>(std::llround(d->rd_bits * double(params) / 8.0));
      for (uint64_t budget : {rows.back().counted_bytes, tight}) {
        if (!g.quiet) std::fprintf(stderr, "demo: packing rd at a budget of %llu counted bytes\n", (unsigned long long)budget);
        GP_ASSIGN_OR_RETURN(PackedRow r,
                            PackRdAt(weights, hessians, budget, d->out + "/model.rd-" + std::to_string(budget) + ".gpk", g));
        say_packed(r);
        rows.push_back(std::move(r));
      }

      const double pack_s = Seconds(tp);
      // 7. round trip: decode each .gpk from disk, load, val_bpb at the demo's eval settings
      const auto te = std::chrono::steady_clock::now();
      EvalCli pe = d->eval;
      pe.opts.max_tokens = d->pack_eval_tokens;
      const bool subset = d->pack_eval_tokens > 0 && static_cast<uint64_t>(d->pack_eval_tokens) < ev.tokens;
      eval::EvalResult ref = ev;
      if (subset) {
        if (!g.quiet)
          std::fprintf(stderr, "demo: val_bpb of the unpacked model on the first %lld val tokens\n",
                       (long long)d->pack_eval_tokens);
        GP_ASSIGN_OR_RETURN(ref, EvaluateModelFile(model, pe, g));
      }
      for (auto& r : rows) {
        if (!g.quiet) std::fprintf(stderr, "demo: round trip %s\n", r.path.c_str());
        GP_ASSIGN_OR_RETURN(model::GPT m, LoadAnyModel(r.path));
        GP_ASSIGN_OR_RETURN(r.post, EvaluateModelFile(m, pe, g));
      }

      const double roundtrip_s = Seconds(te);
      // 8. the table and the RD curve
      Say(g, "");
      std::snprintf(buf, sizeof buf,
                    "== packed: each .gpk decoded from disk, then val_bpb on %s val tokens (%llu bytes, seq_len %d) ==",
                    subset ? ("the first " + std::to_string(ref.tokens)).c_str() : ("all " + std::to_string(ref.tokens)).c_str(),
                    (unsigned long long)ref.bytes, d->eval.opts.seq_len);
      Say(g, buf);
      std::snprintf(buf, sizeof buf,
                    "calibration %lld train tokens, sensitivity %lld; counted = file + %llu decoder code bytes; "
                    "bits/param = 8 x counted / %llu params",
                    (long long)d->cal.tokens, (long long)d->sens.tokens, (unsigned long long)rows.front().code_bytes,
                    (unsigned long long)params);
      Say(g, buf);
      int w = 18;  // the recipe column fits the longest name
      for (const auto& r : rows) w = std::max(w, int(r.recipe.size()));
      std::snprintf(buf, sizeof buf, "%-*s %10s %10s %10s %10s %10s %8s", w, "recipe", "budget", "counted", "bits/param",
                    "val_bpb", "gap", "pack_s");
      Say(g, buf);
      std::snprintf(buf, sizeof buf, "%-*s %10s %10s %10s %10.5f %10s %8s", w, "unpacked (f32)", "-", "-", "32.000",
                    ref.val_bpb, "-", "-");
      Say(g, buf);
      for (const auto& r : rows) {
        std::snprintf(buf, sizeof buf, "%-*s %10s %10llu %10.3f %10.5f %+10.5f %8.1f", w, r.recipe.c_str(),
                      r.budget ? std::to_string(r.budget).c_str() : "-", (unsigned long long)r.counted_bytes,
                      r.BitsPerParam(), r.post.val_bpb, r.post.val_bpb - ref.val_bpb, r.pack_seconds);
        Say(g, buf);
      }
      const std::string svg_path = d->out + "/rd_curve.svg";
      std::snprintf(buf, sizeof buf, "demo model, %llu params; val_bpb on %llu val tokens (seq_len %d)",
                    (unsigned long long)params, (unsigned long long)ref.tokens, d->eval.opts.seq_len);
      const std::string svg = RdCurveSvg(rows, ref.val_bpb, "golfpack demo: bytes vs val_bpb after the round trip", buf);
      GP_RETURN_IF_ERROR(
          WriteFileAtomic(svg_path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(svg.data()), svg.size())));
      if (!g.quiet)
        std::fprintf(stderr, "demo: calibrate %.1f s, pack %.1f s, round trips %.1f s; RD curve -> %s\n", calib_s, pack_s,
                     roundtrip_s, svg_path.c_str());
      files = d->out + "/{data/, model.safetensors, train.jsonl, calib.safetensors, model.*.gpk, rd_curve.svg}";
    }

    Say(g, "");
    std::snprintf(buf, sizeof buf, "total time  %s", HumanDuration(Seconds(t0)).c_str());
    Say(g, buf);
    Say(g, "files       " + files);
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
