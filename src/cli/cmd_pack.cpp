// pack / unpack / inspect: safetensors model <-> .gpk artifact.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "cli/steps.h"
#include "core/artifact.h"
#include "core/encodings.h"
#include "core/file_util.h"
#include "codec/codecs.h"
#include "plan/bits_back.h"
#include "plan/pack.h"
#include "plan/rd.h"
#include "plan/symmetry.h"
#include "io/pg_names.h"
#include "io/safetensors.h"
#include "io/shards.h"
#include "model/weights.h"

namespace golfpack::cli {

// `pack --code python`: the self-extracting python/golfpack_decode.py (python_sfx.cpp,
// generated at build time by python/make_sfx.py); size 0 when the build had no python3.
extern const unsigned char kPythonDecoderSfx[];
extern const size_t kPythonDecoderSfxSize;

namespace {

std::string ShapeText(const std::vector<uint64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out.empty() ? "scalar" : out;
}

// The architecture keys that tensor shapes cannot tell (shared depth, extra
// norm) must reach the artifact, or eval / unpack would rebuild another model.
Status CheckArchitectureCarried(const io::TensorFile& model, std::span<const uint8_t> artifact, const std::string& recipe) {
  const auto need = io::ArchitectureMetadata(model.metadata);
  if (need.empty()) return Status::Ok();
  GP_ASSIGN_OR_RETURN(gpk::Artifact art, gpk::Artifact::Parse(artifact, "packed artifact"));
  for (const auto& [key, value] : need) {
    const auto it = art.metadata().find(key);
    if (it == art.metadata().end() || it->second != value)
      return Unsupported("recipe " + recipe + " does not carry the model's metadata " + key + " = '" + value +
                         "' into the artifact (shared depth / extra norm); nothing was written");
  }
  return Status::Ok();
}

}  // namespace

namespace {

// --canonical: the model's exact permutation symmetries in canonical order
// (plan/symmetry.h), the calibration reordered to match.
Status Canonical(io::TensorFile& model, bool vo, std::optional<encode::SymmetryReport>& sym, const GlobalOptions& g) {
  GP_ASSIGN_OR_RETURN(sym, encode::Canonicalize(model, {.vo = vo}));
  if (vo)
    Say(g, sym->vo_applied ? "symmetry  V rows orthonormal per KV group, their transform moved into attn.proj"
                           : "symmetry  V/O transform skipped: the model has the extra RMSNorm before attn.proj");
  size_t moved = 0;
  for (const auto& grp : sym->groups) moved += grp.moved;
  char line[256];
  std::snprintf(line, sizeof line,
                "symmetry  canonical order (%zu of %zu groups moved): %.0f bits = %.0f bytes of ordering freedom, "
                "not recovered (--bits-back recovers the MLP units' share with rd)",
                moved, sym->groups.size(), sym->bits, sym->bits / 8);
  Say(g, line);
  return Status::Ok();
}

template <typename Opts>
Status RunPackRd(const Opts& o, const io::TensorFile& model, const GlobalOptions& g,
                 const std::optional<encode::SymmetryReport>& sym, bool announce = true) {
  if (o.calib.empty()) return InvalidArgument("recipe rd needs --calib FILE (from `golfpack calibrate`)");
  if (o.budget == 0) return InvalidArgument("recipe rd needs --budget BYTES (the cap it fills exactly)");
  GP_ASSIGN_OR_RETURN(encode::Hessians h, encode::Hessians::Load(o.calib));
  if (sym) {
    GP_ASSIGN_OR_RETURN(h, encode::PermuteHessians(h, *sym));
  }
  if (!h.has_sensitivity() && !g.quiet)
    std::fprintf(stderr, "pack: %s has no sensitivities (calibrate with --sensitivity-tokens > 0): using the raw proxy\n",
                 o.calib.c_str());
  encode::RdOptions ro;
  ro.budget = o.budget;
  if (o.code_bytes >= 0) {
    ro.code_bytes = static_cast<uint64_t>(o.code_bytes);
    ro.code_bytes_set = true;
  }
  ro.family = o.family;
  ro.steps = o.steps;
  ro.paths = o.paths;
  if (!o.lqer_ranks.empty()) ro.lqer_ranks = o.lqer_ranks;
  if (!o.lqer_bits.empty()) ro.lqer_bits = o.lqer_bits;
  if (!o.patch_bits.empty()) ro.patch_bits = o.patch_bits;
  if (o.patch_block > 0) ro.patch_block = o.patch_block;
  ro.patch_exact = o.patch_fit != "compensate";
  if (!o.rowstep_gammas.empty()) ro.rowstep_gammas = o.rowstep_gammas;
  if (!o.tcq_ratios.empty()) ro.tcq_ratios = o.tcq_ratios;
  if (o.tcq_state_bits > 0) ro.tcq_state_bits = o.tcq_state_bits;
  ro.tcq_only = o.tcq_only;
  if (o.tcq_damp >= 0) ro.tcq_damp = o.tcq_damp;
  if (o.tcq_rate_classes > 0) ro.tcq_rate_classes = o.tcq_rate_classes;
  if (o.tcq_debias >= 0) ro.tcq_debias = o.tcq_debias;
  if (!o.tcq_debias_metric.empty()) ro.tcq_debias_row_metric = o.tcq_debias_metric == "row";
  if (o.tcq_lambda >= 0) ro.tcq_lambda = o.tcq_lambda;
  if (o.tcq_debias_skip_set) ro.tcq_debias_skip = o.tcq_debias_skip;
  if (!o.tcq_sensitivity.empty()) {
    GP_ASSIGN_OR_RETURN(encode::Hessians ts, encode::Hessians::Load(o.tcq_sensitivity));
    if (!ts.has_sensitivity())
      return InvalidArgument(o.tcq_sensitivity + ": --tcq-sensitivity needs a calibration with fitted sensitivities");
    ro.tcq_sensitivity = ts.sensitivity();
  }
  if (o.hessian_shrink >= 0) ro.hessian_shrink = o.hessian_shrink;
  ro.token_row_floor = o.token_row_floor;
  ro.row_fisher_floor = o.row_fisher_floor;
  ro.protect_neighbors = o.protect_neighbors;
  if (o.protect_bytes >= 0) ro.protect_max = static_cast<uint64_t>(o.protect_bytes);
  ProgressBar bar(g.quiet);
  ro.progress = bar.Callback();
  encode::BitsBackReport bb;
  GP_ASSIGN_OR_RETURN(encode::RdResult r,
                      o.bits_back ? encode::PackRdBitsBack(model, h, ro, &bb) : encode::PackRd(model, h, ro));
  bar.Finish();
  GP_RETURN_IF_ERROR(CheckArchitectureCarried(model, r.pack.bytes, "rd"));
  GP_RETURN_IF_ERROR(WriteFileAtomic(o.out, r.pack.bytes));
  if (!o.report.empty()) {
    const std::string json = encode::RdReportJson(r);
    GP_RETURN_IF_ERROR(WriteFileAtomic(o.report, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(json.data()), json.size())));
  }
  char line[256];
  Say(g, "recipe    rd (" + r.family + ")");
  std::snprintf(line, sizeof line, "params    %llu in %zu tensors (%zu allocated)", (unsigned long long)r.pack.params,
                r.pack.tensors.size(), r.tensors.size());
  Say(g, line);
  std::snprintf(line, sizeof line, "file      %llu bytes (%.3f bits/param)", (unsigned long long)r.pack.file_bytes,
                8.0 * double(r.pack.file_bytes) / double(std::max<uint64_t>(r.pack.params, 1)));
  Say(g, line);
  std::snprintf(line, sizeof line, "counted   %llu bytes (file + %llu code bytes) of budget %llu (%.4f%% used)",
                (unsigned long long)r.pack.counted_bytes, (unsigned long long)r.pack.code_bytes,
                (unsigned long long)o.budget, 100.0 * double(r.pack.counted_bytes) / double(o.budget));
  Say(g, line);
  std::snprintf(line, sizeof line, "predicted loss increase %.5f nats/token; lambda %.3e per byte; %d allocation rounds",
                r.predicted_loss, r.lambda, r.allocation_rounds);
  Say(g, line);
  if (o.bits_back) {
    size_t n = 0;
    for (const auto& l : bb.layers) n += l.bytes > 0;
    std::snprintf(line, sizeof line, "bits-back %llu bytes carried by the unit order of %zu of %zu MLPs (%.3f%% of the file); "
                  "%d rd passes%s", (unsigned long long)bb.carried, n, bb.layers.size(),
                  100.0 * double(bb.carried) / double(std::max<uint64_t>(r.pack.file_bytes + bb.carried, 1)), bb.rd_passes,
                  bb.fell_back ? "; fell back to plain rd (the carried artifact was over the budget)" : "");
    Say(g, line);
    for (const auto& l : bb.layers) {
      std::snprintf(line, sizeof line, "          %-28s %5llu units %5llu bytes%s%s", l.tensor.c_str(),
                    (unsigned long long)l.rows, (unsigned long long)l.bytes, l.bytes ? "" : "  not carried: ",
                    l.bytes ? "" : l.note.c_str());
      Say(g, line);
    }
  }
  for (const auto& p : r.paths) {
    std::snprintf(line, sizeof line, "path      %-5s %3d units %10llu bytes  loss bought %.3e  next %.3e per KB",
                  p.path.c_str(), p.units, (unsigned long long)p.bytes, p.loss_bought, p.marginal_loss_per_kb);
    Say(g, line);
  }
  const encode::RdTimings& tm = r.timings;
  std::snprintf(line, sizeof line,
                "time      %.2f s: ladder %.1f, factor %.1f, gptq %.1f, protection %.1f, fill %.1f, assembly %.1f",
                r.pack.seconds, tm.ladder, tm.factor, tm.gptq, tm.lqer, tm.fine_fill, tm.assembly);
  Say(g, line);
  if (!tm.source_cpu.empty()) {
    std::string s = "          protection thread-seconds:";
    for (const auto& [path, sec] : tm.source_cpu) {
      std::snprintf(line, sizeof line, " %s %.1f", path.c_str(), sec);
      s += line;
    }
    Say(g, s);
  }
  if (g.verbose) {
    std::snprintf(line, sizeof line, "%-28s %-18s %10s %9s %12s %12s %12s", "tensor", "chosen", "bytes", "bits/par",
                  "pred_dloss", "loss_bought", "dloss/KB");
    Say(g, line);
    for (const auto& t : r.tensors) {
      std::snprintf(line, sizeof line, "%-28s %-18s %10llu %9.3f %12.3e %12.3e %12.3e", t.name.c_str(),
                    t.candidates[t.chosen].spec.c_str(), (unsigned long long)t.bytes, 8.0 * double(t.bytes) / double(t.numel),
                    t.predicted_loss, t.loss_bought, t.marginal_loss_per_kb);
      Say(g, line);
    }
  }
  if (announce) Say(g, "artifact  " + o.out);
  return Status::Ok();
}

// --or: the allocator's loss proxy can rate a path better than the round trip
// finds it (the trellis on small models, docs/results/structure.md), so pack
// -r and every --or recipe at the same budget, score each decoded artifact on
// training tokens the calibration did not see, and keep the lowest loss.
// Every candidate is a temporary file next to -o; the kept one is renamed
// over -o, the others are removed, also on error.
template <typename Opts>
Status RunPackSelect(const Opts& o, const io::TensorFile& model, const GlobalOptions& g,
                     const std::optional<encode::SymmetryReport>& sym) {
  if (o.select_data.empty())
    return InvalidArgument("--or needs --select-data DIR (its tokenizer, and the training shards the candidates are scored on)");
  if (!o.paths.empty()) return InvalidArgument("--or: name each recipe's paths in the recipe (rd:PATH,...), not with --paths");
  if (o.calib.empty()) return InvalidArgument("recipe rd needs --calib FILE (from `golfpack calibrate`)");
  std::vector<std::string> names = {o.recipe};
  names.insert(names.end(), o.alternatives.begin(), o.alternatives.end());
  std::vector<std::vector<std::string>> paths;
  for (const auto& n : names) {
    GP_ASSIGN_OR_RETURN(encode::Recipe r, encode::FindRecipe(n));
    if (r.name != "rd") return InvalidArgument("--or compares rd recipes (rd, rd:all, rd:PATH,...); " + n + " is not one");
    paths.push_back(r.rd_paths);
  }
  // The scoring tokens: the training shards after the tokens the calibration
  // summed over (its sensitivity probes use the first of those too), or
  // --select-files from its first token. A model that has seen its training
  // tokens many times ranks candidates on them by what they keep of the
  // memorised text, not of what generalises: give such a model shards it has
  // not trained on.
  GP_ASSIGN_OR_RETURN(encode::Hessians h, encode::Hessians::Load(o.calib));
  const int64_t skip = o.select_skip >= 0 ? o.select_skip : o.select_files.empty() ? h.tokens() : 0;
  const int seq_len = o.select_seq_len > 0 ? o.select_seq_len : (h.seq_len() > 0 ? h.seq_len() : 1024);
  const std::string pattern = o.select_files.empty() ? TrainPattern(o.select_data) : o.select_files;
  GP_ASSIGN_OR_RETURN(std::vector<uint16_t> train, io::ReadShards(pattern));
  const int64_t need = skip + o.select_tokens + 1;
  if (int64_t(train.size()) < need)
    return InvalidArgument(pattern + ": " + std::to_string(train.size()) + " tokens, --or scoring needs " +
                           std::to_string(need) + " (--select-skip " + std::to_string(skip) + " + --select-tokens " +
                           std::to_string(o.select_tokens) + " + 1)");
  const std::span<const uint16_t> tokens = std::span<const uint16_t>(train).subspan(size_t(skip), size_t(o.select_tokens + 1));
  GP_ASSIGN_OR_RETURN(data::TokenizerModel tok, data::TokenizerModel::Load(o.select_data + "/tokenizer.model"));
  eval::EvalOptions eo;
  eo.seq_len = seq_len;
  eo.max_tokens = o.select_tokens;
  auto score = [&](const io::TensorFile& f, const std::string& origin) -> Result<eval::EvalResult> {
    GP_ASSIGN_OR_RETURN(model::GPT m, model::ModelFromTensors(f, origin));
    if (tok.vocab_size() != m->config().vocab_size)
      return InvalidArgument(o.select_data + "/tokenizer.model: vocab_size " + std::to_string(tok.vocab_size()) +
                             " does not match the model's vocab " + std::to_string(m->config().vocab_size));
    const data::ByteLut lut = tok.MakeByteLut(m->config().vocab_size);
    ProgressBar bar(g.quiet);
    auto r = eval::EvaluateBpb(m, tokens, lut, eo, bar.Callback());
    bar.Finish();
    return r;
  };
  GP_ASSIGN_OR_RETURN(eval::EvalResult ref, score(model, o.model));

  struct Candidate {
    std::string out, report;
    eval::EvalResult r;
    uint64_t file_bytes = 0;
  };
  std::vector<Candidate> cands(names.size());
  struct Cleanup {  // removes whatever temporary files are left
    std::vector<Candidate>* c;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& x : *c) {
        if (!x.out.empty()) std::filesystem::remove(x.out, ec);
        if (!x.report.empty()) std::filesystem::remove(x.report, ec);
      }
    }
  } cleanup{&cands};
  char line[320];
  for (size_t i = 0; i < names.size(); ++i) {
    Opts c = o;
    c.recipe = names[i];
    c.paths = paths[i];
    c.out = o.out + ".or" + std::to_string(i) + ".tmp";
    c.report = o.report.empty() ? "" : o.report + ".or" + std::to_string(i) + ".tmp";
    cands[i].out = c.out;
    cands[i].report = c.report;
    Say(g, "candidate " + names[i]);
    GP_RETURN_IF_ERROR(RunPackRd(c, model, g, sym, /*announce=*/false));
    GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(c.out));
    cands[i].file_bytes = bytes.size();
    GP_ASSIGN_OR_RETURN(gpk::Artifact art, gpk::Artifact::Parse(bytes, c.out));
    GP_ASSIGN_OR_RETURN(io::TensorFile f, encode::UnpackToTensors(art, /*keep_original_dtype=*/false));
    GP_ASSIGN_OR_RETURN(cands[i].r, score(f, c.out));
  }
  size_t best = 0;
  for (size_t i = 1; i < cands.size(); ++i)
    if (cands[i].r.loss_sum < cands[best].r.loss_sum) best = i;
  std::snprintf(line, sizeof line, "select    %llu tokens of %s from token %lld, seq %d; float model loss %.6f bpb %.6f",
                (unsigned long long)ref.tokens, pattern.c_str(), (long long)skip, seq_len, ref.val_loss, ref.val_bpb);
  Say(g, line);
  for (size_t i = 0; i < cands.size(); ++i) {
    std::snprintf(line, sizeof line, "select    %-24s loss %.6f  bpb %.6f  gap %+.6f  file %llu bytes%s", names[i].c_str(),
                  cands[i].r.val_loss, cands[i].r.val_bpb, cands[i].r.val_bpb - ref.val_bpb,
                  (unsigned long long)cands[i].file_bytes, i == best ? "  kept" : "");
    Say(g, line);
  }
  std::error_code ec;
  std::filesystem::rename(cands[best].out, o.out, ec);
  if (ec) return IoError(o.out + ": cannot rename " + cands[best].out + " over it: " + ec.message());
  cands[best].out.clear();
  if (!o.report.empty()) {
    std::filesystem::rename(cands[best].report, o.report, ec);
    if (ec) return IoError(o.report + ": cannot rename " + cands[best].report + " over it: " + ec.message());
    cands[best].report.clear();
  }
  Say(g, "artifact  " + o.out + " (" + names[best] + ")");
  return Status::Ok();
}

}  // namespace

Runner AddPackCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("pack", "encode a safetensors model into a .gpk artifact with a named recipe");
  struct Opts {
    std::string model, out, recipe = "pg-int8-zlib", calib;
    uint64_t budget = 0;
    int64_t code_bytes = -1;
    std::string code = "cpp";
    bool list = false;
    std::string report, family;
    std::vector<double> steps;
    std::vector<std::string> paths;
    int64_t protect_bytes = -1;
    std::vector<int> lqer_ranks, lqer_bits, patch_bits;
    int patch_block = 0;
    std::string patch_fit = "exact";
    std::vector<double> rowstep_gammas;
    std::vector<double> tcq_ratios;
    int tcq_state_bits = 0;
    std::vector<std::string> tcq_only;
    double tcq_damp = -1;
    int tcq_rate_classes = 0;
    double tcq_debias = -1;
    std::string tcq_debias_metric;
    double tcq_lambda = -1;
    std::vector<std::string> tcq_debias_skip;
    bool tcq_debias_skip_set = false;
    std::string tcq_sensitivity;
    double hessian_shrink = -1;
    double token_row_floor = encode::kTokenRowFloor;
    double row_fisher_floor = std::numeric_limits<double>::quiet_NaN();
    int protect_neighbors = -1;
    bool canonical = false, canonical_vo = false, bits_back = false;
    std::vector<std::string> alternatives;  // --or
    std::string select_data, select_files;
    int64_t select_tokens = 65536, select_skip = -1;
    int select_seq_len = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "model .safetensors");
  cmd->add_option("-o,--out", o->out, "output .gpk (written atomically, only if it fits --budget)");
  cmd->add_option("-r,--recipe", o->recipe, "recipe name or factory string: rd, rd:all, rd:protect, rd:PATH,..., rules:... (--list-recipes)")->capture_default_str();
  cmd->add_option("--calib", o->calib, "calibration file from `golfpack calibrate` (needed by GPTQ recipes)");
  cmd->add_option("--budget", o->budget, "refuse unless file + code bytes <= N (PG cap: 16000000)");
  cmd->add_option("--code-bytes", o->code_bytes, "code bytes counted with the file (default: those of --code)");
  cmd->add_option("--code", o->code,
                  "decoder counted with the file: cpp (golfpack's C++ decoder sources) or python (the self-extracting "
                  "python/golfpack_decode.py, also written to OUT.decode.py)")
      ->check(CLI::IsMember({"cpp", "python"}))
      ->capture_default_str();
  cmd->add_flag("--list-recipes", o->list, "print the recipes and exit");
  cmd->add_flag("--canonical", o->canonical,
                "reorder MLP units, heads and KV groups into a canonical order first (the same function; the "
                "calibration is reordered to match) and print the ordering freedom in bits");
  cmd->add_flag("--canonical-vo", o->canonical_vo,
                "--canonical, and also make V's rows orthonormal per KV group, moving the transform into attn.proj "
                "(the same function; not for models with the extra RMSNorm)");
  cmd->add_flag("--bits-back", o->bits_back,
                "rd: store each MLP's hidden units in the order that carries the first bytes of its fc scales "
                "(the same function; floor(log2(units!)/8) bytes back per MLP; rd runs twice)");
  cmd->add_option("--report", o->report, "rd: write the byte-ROI report (per tensor bytes, loss bought, loss per KB) as JSON");
  cmd->add_option("--family", o->family, "rd: candidate spec with {s} for the step (default gptq:ans:s{s}:row:cc)");
  cmd->add_option("--steps", o->steps, "rd: candidate steps substituted for {s}")->delimiter(',');
  cmd->add_option("--paths", o->paths, "rd: representation paths to price, from grid,lqer,sparse,blocks,columns,rows,rowstep,rowalloc,tcq, or all "
                  "(default: grid,rowalloc; -r rd:all is --paths all)")->delimiter(',');
  cmd->add_option("--lqer-ranks", o->lqer_ranks, "rd: ranks the lqer path offers (default 1,2,4,8,16)")->delimiter(',');
  cmd->add_option("--lqer-bits", o->lqer_bits, "rd: lqer factor bit widths, 2..8 or 16 (default 4,8)")->delimiter(',');
  cmd->add_option("--patch-bits", o->patch_bits,
                  "rd: value bit widths of the sparse/blocks/columns/rows paths, 2..8 or 16 (default 4,8)")
      ->delimiter(',');
  cmd->add_option("--patch-block", o->patch_block, "rd: weights per block of the blocks path (default 16)");
  cmd->add_option("--patch-fit", o->patch_fit,
                  "rd: patch values restore the weights (exact, default) or compensate the row's other errors under H")
      ->check(CLI::IsMember({"exact", "compensate"}));
  cmd->add_option("--tcq-ratios", o->tcq_ratios,
                  "rd: the tcq path's trellis steps as multiples of each grid candidate's step, in (0, 4] (default 0.5)")
      ->delimiter(',');
  cmd->add_option("--tcq-state-bits", o->tcq_state_bits, "rd: the tcq path's trellis has 2^N states, N 2..8 (default 3)");
  cmd->add_option("--tcq-only", o->tcq_only,
                  "rd: offer the tcq path only for tensors whose name contains one of these (e.g. .attn.; default: every tensor)")
      ->delimiter(',');
  cmd->add_option("--tcq-damp", o->tcq_damp, "rd: GPTQ damping of the tcq path's factorisation, x mean(diag H) (default 0.1)");
  cmd->add_option("--tcq-rate-classes", o->tcq_rate_classes,
                  "rd: the tcq Viterbi prices each column with the code lengths of its column class, K = 2..16 classes "
                  "(default 1: per union only; measured undecided, docs/results/structure.md)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--tcq-debias", o->tcq_debias,
                  "rd: output-gain correction of the tcq path's candidates, 0..2: each row's scale moves this fraction "
                  "of the way to the gain that leaves its output error uncorrelated with its output (default 0.5; 0: off)")
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--tcq-debias-metric", o->tcq_debias_metric,
                  "rd: where the correction measures a row's gain: row (default; each row's own gradient-weighted "
                  "Hessian, from a calibration made with the row Fisher; else as h) or h (the calibration Hessian)")
      ->check(CLI::IsMember({"row", "h"}));
  cmd->add_option("--tcq-lambda", o->tcq_lambda,
                  "rd: rate weight of the tcq path's Viterbi, in scale^2 per bit (default 0.1; 0: the nearest path)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option_function<std::vector<std::string>>(
         "--tcq-debias-skip",
         [o](const std::vector<std::string>& v) {
           o->tcq_debias_skip = v;
           if (o->tcq_debias_skip.size() == 1 && o->tcq_debias_skip[0] == "none") o->tcq_debias_skip.clear();
           o->tcq_debias_skip_set = true;
         },
         "rd: tensors (name contains one of these) whose tcq candidates keep their gains, or none (default "
         ".attn.c_q.,.attn.c_k.: q and k are RMS-normalised per head, so their gain is normalised away)")
      ->delimiter(',');
  cmd->add_option("--tcq-sensitivity", o->tcq_sensitivity,
                  "rd: price the tcq path's candidates with the sensitivities of this calibration file (made with "
                  "`calibrate --probe gptq:tcq:s0.7:st3`; default: the --calib file's trellis-probe sensitivities "
                  "where it has them, `calibrate --tcq-probe`, else its sensitivities)");
  cmd->add_option("--hessian-shrink", o->hessian_shrink,
                  "rd: shrink every calibration Hessian to H + A x mean(diag H) x I before any fit or proxy (default 0)");
  cmd->add_option("--rowstep-gammas", o->rowstep_gammas,
                  "rd: exponents of the rowstep path's per-row steps, in (0, 4] (default 0.5,1)")
      ->delimiter(',');
  cmd->add_option("--token-row-floor", o->token_row_floor,
                  "rd: floor of the tied embedding's token-frequency row weights (needs token counts in --calib; "
                  "negative: every row weighs 1)")
      ->capture_default_str();
  cmd->add_option("--row-fisher-floor", o->row_fisher_floor,
                  "rd: weigh each matrix row by its row Fisher (needs calibrate --row-fisher), with this floor; "
                  "negative: off (default: the floor the calibration's sensitivities were fitted with)");
  cmd->add_option("--protect-neighbors", o->protect_neighbors,
                  "rd: the protection paths correct the GPTQ candidates this many steps either side of the first "
                  "allocation's (default: all of the GPTQ window, 2)");
  cmd->add_option("--protect-bytes", o->protect_bytes,
                  "rd: at most N bytes for the protection paths together (the protected-byte sweep; default: no cap)");
  cmd->add_option("--or", o->alternatives,
                  "rd: also pack this rd recipe at the same budget (repeatable), score every candidate, decoded, on "
                  "--select-tokens tokens (best: shards the model has not trained on, --select-files) and keep the "
                  "lowest loss");
  cmd->add_option("--select-data", o->select_data,
                  "--or: directory with fineweb_train_*.bin and tokenizer.model the candidates are scored on");
  cmd->add_option("--select-files", o->select_files,
                  "--or: score on these shards instead (glob; e.g. shards the model has not trained on), from token 0 "
                  "unless --select-skip");
  cmd->add_option("--select-tokens", o->select_tokens, "--or: tokens to score")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--select-skip", o->select_skip,
                  "--or: score from this training token on (default: after the calibration's tokens)");
  cmd->add_option("--select-seq-len", o->select_seq_len, "--or: sequence length of the scoring (default: the calibration's)");
  return [o, &g]() -> Status {
    if (o->list) {
      for (const auto& name : encode::RecipeNames()) {
        auto r = encode::FindRecipe(name);
        Say(g, name + "  " + r->description);
        if (!r->rules.empty()) Say(g, "    = " + encode::RecipeFactoryString(*r));
      }
      Say(g, "rules:KEY=SPEC,...  any rule-based recipe as data: KEY control|small|embedding|attn|mlp|matrix|any "
             "takes an encoder spec (first match wins; unmatched tensors: control f32, others f16); "
             "codec=, level=, shuffle=, sections=one|each, lqer=K@r4:b4:g64 set the layout. "
             "e.g. rules:matrix=gptq:cb4:row:shared,codec=brotli");
      return Status::Ok();
    }
    if (o->model.empty() || o->out.empty()) return InvalidArgument("give a model and -o OUT.gpk (or --list-recipes)");
    const bool python = o->code == "python";
    if (python && kPythonDecoderSfxSize == 0)
      return Unsupported("--code python: this golfpack was built without python3, so it has no self-extracting "
                         "Python decoder (install python3, then reconfigure and rebuild)");
    if (python && o->code_bytes < 0) o->code_bytes = static_cast<int64_t>(kPythonDecoderSfxSize);  // --code-bytes wins
    // The decoder that ships with the artifact, next to it, once the artifact is written.
    auto write_decoder = [&]() -> Status {
      if (!python) return Status::Ok();
      const std::string path = o->out + ".decode.py";
      GP_RETURN_IF_ERROR(WriteFileAtomic(path, std::span<const uint8_t>(kPythonDecoderSfx, kPythonDecoderSfxSize)));
      Say(g, "decoder   " + path + " (python/golfpack_decode.py self-extracting, " +
                 std::to_string(kPythonDecoderSfxSize) + " bytes" +
                 (o->code_bytes != static_cast<int64_t>(kPythonDecoderSfxSize) ? "; --code-bytes counted instead" : "") +
                 ")");
      return Status::Ok();
    };
    GP_ASSIGN_OR_RETURN(encode::Recipe recipe, encode::FindRecipe(o->recipe));
    GP_ASSIGN_OR_RETURN(io::TensorFile model, io::ReadSafetensors(o->model));
    std::optional<encode::SymmetryReport> sym;
    if (o->canonical || o->canonical_vo) GP_RETURN_IF_ERROR(Canonical(model, o->canonical_vo, sym, g));
    if (!o->alternatives.empty()) {
      GP_RETURN_IF_ERROR(RunPackSelect(*o, model, g, sym));
      return write_decoder();
    }
    if (!o->select_data.empty() || !o->select_files.empty())
      return InvalidArgument("--select-data and --select-files score the --or candidates: give --or RECIPE");
    if (recipe.name == "rd") {
      if (recipe.rd_paths_named && !o->paths.empty() && o->paths != recipe.rd_paths)
        return InvalidArgument("-r " + o->recipe + " and --paths name different paths: give one of them");
      if (o->paths == std::vector<std::string>{"all"}) o->paths = encode::RdPathNames();
      if (recipe.rd_paths_named || o->paths.empty()) o->paths = recipe.rd_paths;
      GP_RETURN_IF_ERROR(RunPackRd(*o, model, g, sym));
      return write_decoder();
    }
    if (o->bits_back) return InvalidArgument("--bits-back works with the rd recipes (-r rd, rd:all, rd:PATH,...), not " + recipe.name);
    std::optional<encode::Hessians> hessians;
    if (!o->calib.empty()) {
      GP_ASSIGN_OR_RETURN(hessians, encode::Hessians::Load(o->calib));
      if (sym) {
        GP_ASSIGN_OR_RETURN(hessians, encode::PermuteHessians(*hessians, *sym));
      }
    }
    encode::PackOptions popt;
    popt.budget = o->budget;
    if (o->code_bytes >= 0) {
      popt.code_bytes = static_cast<uint64_t>(o->code_bytes);
      popt.code_bytes_set = true;
    }
    ProgressBar bar(g.quiet);
    popt.progress = bar.Callback();
    GP_ASSIGN_OR_RETURN(encode::PackResult r, encode::Pack(model, hessians ? &*hessians : nullptr, recipe, popt));
    bar.Finish();
    GP_RETURN_IF_ERROR(CheckArchitectureCarried(model, r.bytes, recipe.name));
    GP_RETURN_IF_ERROR(WriteFileAtomic(o->out, r.bytes));
    char line[256];
    Say(g, "recipe    " + recipe.name);
    std::snprintf(line, sizeof line, "params    %llu in %zu tensors", (unsigned long long)r.params, r.tensors.size());
    Say(g, line);
    std::snprintf(line, sizeof line, "file      %llu bytes (%.3f bits/param)", (unsigned long long)r.file_bytes,
                  8.0 * double(r.file_bytes) / double(std::max<uint64_t>(r.params, 1)));
    Say(g, line);
    std::snprintf(line, sizeof line, "counted   %llu bytes (file + %llu code bytes)%s", (unsigned long long)r.counted_bytes,
                  (unsigned long long)r.code_bytes,
                  o->budget ? (" <= budget " + std::to_string(o->budget)).c_str() : "");
    Say(g, line);
    std::snprintf(line, sizeof line, "time      %.2f s", r.seconds);
    Say(g, line);
    Say(g, "artifact  " + o->out);
    return write_decoder();
  };
}

Runner AddUnpackCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("unpack", "decode a .gpk artifact back to a safetensors model");
  struct Opts {
    std::string in, out;
    bool f32 = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("artifact", o->in, ".gpk file")->required();
  cmd->add_option("-o,--out", o->out, "output .safetensors")->required();
  cmd->add_flag("--f32", o->f32, "write every tensor as F32 (default: each tensor's original dtype)");
  return [o, &g]() -> Status {
    encode::RegisterAllCodecs();
    GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(o->in));
    GP_ASSIGN_OR_RETURN(gpk::Artifact art, gpk::Artifact::Parse(bytes, o->in));
    GP_ASSIGN_OR_RETURN(io::TensorFile f, encode::UnpackToTensors(art, !o->f32));
    GP_RETURN_IF_ERROR(io::WriteSafetensors(o->out, f));
    Say(g, "unpacked  " + std::to_string(f.tensors.size()) + " tensors -> " + o->out);
    return Status::Ok();
  };
}

Runner AddInspectCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("inspect", "one row per tensor: params, encoding, bytes, bits/param, symbol entropy");
  struct Opts {
    std::string in;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("artifact", o->in, ".gpk file")->required();
  cmd->add_flag("--json", o->json, "print JSON instead of the table");
  return [o, &g]() -> Status {
    encode::RegisterAllCodecs();
    GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(o->in));
    GP_ASSIGN_OR_RETURN(gpk::Artifact art, gpk::Artifact::Parse(bytes, o->in));
    nlohmann::json j;
    j["file"] = o->in;
    j["file_bytes"] = bytes.size();
    j["metadata"] = art.metadata();
    uint64_t params = 0, tensor_bytes = 0;
    std::vector<std::vector<uint8_t>> sections(art.sections().size());
    const gpk::ByteAccount acct = gpk::AccountBytes(art);
    for (size_t ti = 0; ti < art.tensors().size(); ++ti) {
      const auto& t = art.tensors()[ti];
      const uint64_t accounted = acct.tensors[ti];
      if (sections[t.section].empty() && art.sections()[t.section].raw_size > 0) {
        GP_ASSIGN_OR_RETURN(sections[t.section], art.SectionBytes(t.section));
      }
      std::span<const uint8_t> payload(sections[t.section].data() + t.offset, t.length);
      const auto* enc = gpk::FindEncoding(t.encoding);
      auto entropy = encode::CodeEntropyBits(t, payload);
      nlohmann::json row = {{"name", t.name},
                            {"shape", t.shape},
                            {"params", t.numel},
                            {"encoding", enc ? enc->name : "?"},
                            {"section", t.section},
                            {"codec", gpk::CodecName(art.sections()[t.section].codec)},
                            {"payload_bytes", t.length},
                            {"bytes", accounted},
                            {"bits_per_param", t.numel ? 8.0 * double(accounted) / double(t.numel) : 0.0}};
      row["symbol_entropy_bits"] = entropy ? nlohmann::json(*entropy) : nlohmann::json(nullptr);
      if (t.encoding == gpk::kAnsGrid) {  // its stream: FORMAT.md ans_grid "model"
        if (auto p = gpk::AnsGridParams::Parse(t.params); p.ok()) row["ans_model"] = p->model;
      }
      j["tensors"].push_back(row);
      params += t.numel;
      tensor_bytes += accounted;
    }
    for (const auto& [part, n] : acct.parts)
      if (part.rfind("tensor:", 0) != 0) j["parts"][part] = n;
    j["params"] = params;
    j["bits_per_param"] = params ? 8.0 * double(bytes.size()) / double(params) : 0.0;
    if (o->json) {
      Say(g, j.dump(2));
      return Status::Ok();
    }
    char line[512];
    std::snprintf(line, sizeof line, "%-28s %-10s %10s  %-14s %-7s %10s %9s %9s", "tensor", "shape", "params", "encoding",
                  "codec", "bytes", "bits/par", "entropy");
    Say(g, line);
    for (const auto& row : j["tensors"]) {
      std::string ent = row["symbol_entropy_bits"].is_null()
                            ? "-"
                            : std::to_string(row["symbol_entropy_bits"].get<double>()).substr(0, 5);
      std::string encoding = row["encoding"].get<std::string>();
      if (row.contains("ans_model")) {  // ans_grid/ctx, /tcqN (2^N states), /cc (column classes), /tcqNcc
        const int m = row["ans_model"].get<int>();
        encoding += m == 1 ? "/ctx" : m == 9 ? "/cc" : m > 9 ? "/tcq" + std::to_string(m - 8) + "cc"
                                                : m > 1 ? "/tcq" + std::to_string(m) : "";
      }
      std::snprintf(line, sizeof line, "%-28s %-10s %10llu  %-14s %-7s %10llu %9.3f %9s",
                    row["name"].get<std::string>().c_str(),
                    ShapeText(row["shape"].get<std::vector<uint64_t>>()).c_str(),
                    (unsigned long long)row["params"].get<uint64_t>(), encoding.c_str(),
                    row["codec"].get<std::string>().c_str(), (unsigned long long)row["bytes"].get<uint64_t>(),
                    row["bits_per_param"].get<double>(), ent.c_str());
      Say(g, line);
    }
    for (const auto& [part, n] : j["parts"].items()) {
      std::snprintf(line, sizeof line, "%-28s %-10s %10s  %-14s %-7s %10llu", part.c_str(), "", "", "", "",
                    (unsigned long long)n.get<uint64_t>());
      Say(g, line);
    }
    std::snprintf(line, sizeof line, "%-28s %-10s %10llu  %-14s %-7s %10zu %9.3f", "TOTAL", "",
                  (unsigned long long)params, "", "", bytes.size(), j["bits_per_param"].get<double>());
    Say(g, line);
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
