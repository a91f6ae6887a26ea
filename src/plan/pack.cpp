#include "plan/pack.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "core/rans.h"
#include "codec/codecs.h"
#include "codec/encoder.h"
#include "codec/lowrank.h"
#include "io/pg_names.h"
#include "plan/rd.h"

namespace golfpack::encode {

uint64_t DecoderCodeBytes() { return GOLFPACK_DECODER_CODE_BYTES; }
std::vector<std::string> DecoderFiles() {
  std::vector<std::string> out;
  std::string all = GOLFPACK_DECODER_FILE_NAMES;
  for (size_t a = 0, b; a < all.size(); a = b + 1) {
    b = all.find(',', a);
    if (b == std::string::npos) b = all.size();
    out.push_back(all.substr(a, b - a));
  }
  return out;
}

namespace {

// The recipes, as data. PG baseline: train_gpt.py's int8 export (control
// tensors f32, other tensors up to 65,536 elements f16, int8 per row with
// f16 scales for matrices), zlib level 9 over the whole blob. Record stack
// (April 2026): full-Hessian GPTQ int6 with SD-Clip 12.85 on matrices, int8
// SD-Clip 20 on the embedding, brotli over the whole blob.
// record-lqer: the April 2026 records' export as published in
// openai/parameter-golf (records/track_10min_16mb): GPTQ int6 with SD-Clip
// k 12 on MLP and 13 on attention matrices, a GPTQ int7 embedding with k 15,
// asymmetric-group LQER of rank 4 on the 3 matrices with the largest error
// (int4 factors, groups of 64), then their stride-2 byte shuffle and brotli -q 11
// (a shuffled section, FORMAT.md version 3).
Recipe RecordLqer(int bits) {
  const std::string b = std::to_string(bits);
  Recipe r{"record-lqer",
           "records' export (April 2026): GPTQ int" + b +
               " SD-Clip 12 MLP / 13 attention, GPTQ int7 k15 embedding, rank-4 LQER (int4 factors, groups of 64) "
               "on the 3 worst matrices, stride-2 byte shuffle, brotli -q 11; record-lqer:intN sets the matrix bits "
               "(4..8)",
           {{Match::kControl, "f32"},
            {Match::kEmbedding, "gptq:u7:row:sd15:nocap"},
            {Match::kAttention, "gptq:u" + b + ":row:sd13:nocap"},
            {Match::kMlp, "gptq:u" + b + ":row:sd12:nocap"},
            {Match::kMatrix, "gptq:u" + b + ":row:sd12.85:nocap"},
            {Match::kAny, "f16"}},
           gpk::Codec::kBrotli,
           11,
           true};
  if (bits != 6) r.name += ":int" + b;
  r.lqer_top_k = 3;
  r.lqer = "r4:b4:g64";
  r.shuffle = 2;
  return r;
}

std::vector<Recipe> AllRecipes() {
  return {
      {"pg-int8-zlib",
       "Parameter Golf baseline export: int8 per row (99.99984th-percentile clip, f16 scales), small tensors f16, "
       "control tensors f32, zlib -9",
       {{Match::kAny, "pg_int8"}},
       gpk::Codec::kZlib,
       9,
       true},
      {"gptq-int6-brotli",
       "record stack: GPTQ int6 SD-Clip 12.85 on every matrix, int8 SD-Clip 20 embedding, other tensors f16, "
       "control tensors f32, brotli -q 11",
       {{Match::kControl, "f32"},
        {Match::kEmbedding, "u8:row:sd20:nocap"},
        {Match::kMatrix, "gptq:u6:row:sd12.85:nocap"},  // every linear layer, whatever its size
        {Match::kAny, "f16"}},
       gpk::Codec::kBrotli,
       11,
       true},
      RecordLqer(6),
      // Not rule-based: see plan/rd.h (PackRd). Listed here so every recipe has one name space.
      {"rd",
       "rate-distortion allocation over representation paths (grids, corrections, patches, a step per row), one "
       "candidate per tensor chosen by a Lagrangian allocator so the counted size fills --budget (needs --calib); "
       "plain rd prices grids and a step per row (fast), rd:all every path, rd:PATH,PATH,... only those",
       {},
       gpk::Codec::kNone,
       -1,
       false},
  };
}

bool Matches(Match m, const io::Tensor& t) {
  switch (m) {
    case Match::kControl: return io::IsControlTensorName(t.name);
    case Match::kSmall: return t.numel() <= 65536;
    case Match::kEmbedding: return t.name == "tok_emb.weight" || t.name == "lm_head.weight";
    case Match::kAttention: return t.shape.size() == 2 && t.name.find(".attn.") != std::string::npos;
    case Match::kMlp: return t.shape.size() == 2 && t.name.find(".mlp.") != std::string::npos;
    case Match::kMatrix: return t.shape.size() == 2;
    case Match::kAny: return true;
  }
  return false;
}

gpk::TargetDType TargetOf(io::DType d) {
  switch (d) {
    case io::DType::kF16: return gpk::TargetDType::kF16;
    case io::DType::kBF16: return gpk::TargetDType::kBF16;
    default: return gpk::TargetDType::kF32;
  }
}

io::DType DTypeOf(gpk::TargetDType d) {
  switch (d) {
    case gpk::TargetDType::kF16: return io::DType::kF16;
    case gpk::TargetDType::kBF16: return io::DType::kBF16;
    default: return io::DType::kF32;
  }
}

// Recipe::lqer_top_k: wraps the matrices with the largest ||W - Q||_F.
Status ApplyLqer(const io::TensorFile& model, const Recipe& recipe, std::vector<gpk::EncodedTensor>& encoded,
                 PackResult& result) {
  GP_ASSIGN_OR_RETURN(LowRankSpec spec, LowRankSpec::Parse(recipe.lqer));
  struct Residual {
    size_t index;
    double norm;
    Eigen::MatrixXf e;
  };
  std::vector<Residual> cands;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const io::Tensor& t = model.tensors[i];
    if (t.shape.size() != 2 || Matches(Match::kEmbedding, t) || !Matches(Match::kMatrix, t)) continue;
    const gpk::EncodedTensor& e = encoded[i];
    const gpk::EncodingTraits* traits = gpk::FindEncoding(e.encoding);
    if (!traits || traits->refs != 0 || e.encoding <= gpk::kRawBF16 || e.encoding == gpk::kConst) continue;
    const uint64_t numel = static_cast<uint64_t>(t.numel());
    std::vector<float> q(numel);
    GP_RETURN_IF_ERROR(traits->decode({e.shape, numel, e.params, e.payload, {}}, q));
    GP_ASSIGN_OR_RETURN(std::vector<float> w, t.ToFloat32());
    const auto rows = static_cast<Eigen::Index>(t.shape[0]), cols = static_cast<Eigen::Index>(t.shape[1]);
    Residual r{i, 0.0, Eigen::MatrixXf(rows, cols)};
    for (Eigen::Index a = 0; a < rows; ++a)
      for (Eigen::Index b = 0; b < cols; ++b) r.e(a, b) = w[size_t(a * cols + b)] - q[size_t(a * cols + b)];
    r.norm = r.e.norm();
    cands.push_back(std::move(r));
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Residual& a, const Residual& b) { return a.norm > b.norm; });
  if (cands.size() > size_t(recipe.lqer_top_k)) cands.resize(size_t(recipe.lqer_top_k));
  for (const Residual& r : cands) {
    GP_ASSIGN_OR_RETURN(LowRankFactors f, FitLowRank(r.e, {}, spec.rank));
    GP_ASSIGN_OR_RETURN(gpk::EncodedTensor wrapped, EncodeLowRank(encoded[r.index], f, spec));
    result.tensors[r.index].encoder += LowRankSuffix(spec);
    result.tensors[r.index].encoding = wrapped.encoding;
    result.tensors[r.index].payload_bytes = wrapped.payload.size();
    encoded[r.index] = std::move(wrapped);
  }
  return Status::Ok();
}

// Rule keys of rules:... strings, in Match order.
constexpr const char* kMatchKeys[] = {"control", "small", "embedding", "attn", "mlp", "matrix", "any"};

// "rules:KEY=VALUE,..." (see pack.h).
Result<Recipe> ParseRules(const std::string& name) {
  auto bad = [&](const std::string& what) { return InvalidArgument("recipe '" + name + "': " + what); };
  Recipe r{name, "rule-based recipe from its factory string", {}, gpk::Codec::kNone, -1, true};
  bool any = false, control = false;
  for (size_t at = 6; at <= name.size();) {
    const size_t end = std::min(name.find(',', at), name.size());
    const std::string item = name.substr(at, end - at);
    at = end + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return bad("'" + item + "' is not KEY=VALUE (e.g. rules:matrix=gptq:u6:row:sd12.85,codec=brotli)");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    const auto* m = std::find(std::begin(kMatchKeys), std::end(kMatchKeys), key);
    if (m != std::end(kMatchKeys)) {
      auto enc = MakeEncoder(value);
      if (!enc.ok()) return bad(enc.status().message());
      r.rules.push_back({Match(m - std::begin(kMatchKeys)), value});
      any |= key == "any";
      control |= key == "control";
    } else if (key == "codec") {
      int c = 0;
      while (c < gpk::kNumCodecs && value != gpk::CodecName(gpk::Codec(c))) ++c;
      if (c == gpk::kNumCodecs) return bad("codec '" + value + "' must be none, zlib, zstd, xz or brotli");
      r.codec = gpk::Codec(c);
    } else if (key == "level" || key == "shuffle") {
      int v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size()) return bad(key + " '" + value + "' is not an integer");
      if (key == "shuffle" && (v == 1 || v < 0 || v > 15)) return bad("shuffle must be 0 or 2..15");
      if (key == "level") r.level = v;
      if (key == "shuffle") r.shuffle = uint8_t(v);
    } else if (key == "sections") {
      if (value != "one" && value != "each") return bad("sections must be one or each");
      r.one_section = value == "one";
    } else if (key == "lqer") {
      const size_t atsign = value.find('@');
      int k = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + std::min(atsign, value.size()), k);
      if (ec != std::errc() || p != value.data() + std::min(atsign, value.size()) || k < 1 || atsign == std::string::npos)
        return bad("lqer '" + value + "' must be K@SPEC, like 3@r4:b4:g64");
      auto spec = LowRankSpec::Parse(value.substr(atsign + 1));
      if (!spec.ok()) return bad(spec.status().message());
      r.lqer_top_k = k;
      r.lqer = value.substr(atsign + 1);
    } else {
      return bad("unknown key '" + key + "' (rules: control, small, embedding, attn, mlp, matrix, any; options: "
                 "codec, level, shuffle, sections, lqer)");
    }
  }
  if (r.rules.empty()) return bad("no rule (e.g. rules:matrix=cb4:row:shared)");
  // Without an `any` rule, Parameter Golf's passthrough: control tensors f32
  // ahead of the rules given (unless one is given), whatever else no rule matches f16.
  if (!any && !control) r.rules.insert(r.rules.begin(), {Match::kControl, "f32"});
  if (!any) r.rules.push_back({Match::kAny, "f16"});
  return r;
}

}  // namespace

std::vector<std::string> RdDefaultPaths() { return {"grid", "rowalloc"}; }
std::vector<std::string> RdProtectPaths() {
  std::vector<std::string> p = RdPathNames();
  std::erase(p, "tcq");
  return p;
}

std::string RecipeFactoryString(const Recipe& r) {
  if (r.rules.empty()) {
    std::string s = "rd";
    if (!r.rd_paths_named) return s;
    if (r.rd_paths == RdPathNames()) return "rd:all";
    if (r.rd_paths == RdProtectPaths()) return "rd:protect";
    for (size_t i = 0; i < r.rd_paths.size(); ++i) s += (i ? "," : ":") + r.rd_paths[i];
    return s;
  }
  std::string s = "rules:";
  for (size_t i = 0; i < r.rules.size(); ++i)
    s += (i ? "," : "") + std::string(kMatchKeys[size_t(r.rules[i].match)]) + "=" + r.rules[i].encoder;
  s += ",codec=" + std::string(gpk::CodecName(r.codec));
  if (r.level != -1) s += ",level=" + std::to_string(r.level);
  if (r.shuffle) s += ",shuffle=" + std::to_string(r.shuffle);
  if (!r.one_section) s += ",sections=each";
  if (r.lqer_top_k > 0) s += ",lqer=" + std::to_string(r.lqer_top_k) + "@" + r.lqer;
  return s;
}

Result<Recipe> FindRecipe(const std::string& name) {
  if (name.rfind("rules:", 0) == 0) return ParseRules(name);
  if (name.rfind("record-lqer:", 0) == 0) {
    const std::string arg = name.substr(12);
    if (arg.size() == 4 && arg.rfind("int", 0) == 0 && arg[3] >= '4' && arg[3] <= '8') return RecordLqer(arg[3] - '0');
    return InvalidArgument("recipe '" + name + "': the parameter must be int4..int8 (e.g. record-lqer:int5)");
  }
  if (name == "rd" || name.rfind("rd:", 0) == 0) {
    Recipe r;
    for (auto& each : AllRecipes())
      if (each.name == "rd") r = each;
    r.rd_paths_named = name != "rd";
    if (name == "rd") r.rd_paths = RdDefaultPaths();
    if (name == "rd:all") r.rd_paths = RdPathNames();
    if (name == "rd:protect") r.rd_paths = RdProtectPaths();
    const bool listed = r.rd_paths.empty();  // rd:PATH,PATH,...
    for (size_t at = 3; listed && at <= name.size();) {
      const size_t end = std::min(name.find(',', at), name.size());
      if (end == at) return InvalidArgument("recipe '" + name + "': empty path name (e.g. rd:grid,lqer,rowalloc)");
      r.rd_paths.push_back(name.substr(at, end - at));
      at = end + 1;
    }
    return r;
  }
  for (auto& r : AllRecipes())
    if (r.name == name) return r;
  std::string known;
  for (const auto& n : RecipeNames()) known += (known.empty() ? "" : ", ") + n;
  return NotFound("unknown recipe '" + name + "' (known: " + known + ")");
}

std::vector<std::string> RecipeNames() {
  std::vector<std::string> out;
  for (const auto& r : AllRecipes()) out.push_back(r.name);
  return out;
}

Result<PackResult> Pack(const io::TensorFile& model, const Hessians* hessians, const Recipe& recipe,
                        const PackOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (recipe.rules.empty()) return InvalidArgument("recipe " + recipe.name + " is not rule-based (use PackRd)");
  RegisterAllCodecs();
  PackResult result;
  std::vector<gpk::EncodedTensor> encoded;
  encoded.reserve(model.tensors.size());
  std::vector<gpk::EncodedObject> objects;
  // The first rule that matches each tensor.
  std::vector<size_t> rule_of(model.tensors.size());
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    size_t r = 0;
    while (r < recipe.rules.size() && !Matches(recipe.rules[r].match, model.tensors[i])) ++r;
    if (r == recipe.rules.size())
      return Internal("recipe " + recipe.name + " has no rule for tensor '" + model.tensors[i].name + "'");
    rule_of[i] = r;
  }
  auto values_of = [&](const io::Tensor& t) -> Result<std::vector<float>> {
    auto v = t.ToFloat32();
    if (!v.ok()) return InvalidArgument("tensor '" + t.name + "': " + v.status().message());
    return v;
  };
  auto hessian_of = [&](const io::Tensor& t, const TensorEncoder& enc) -> Result<const Eigen::MatrixXd*> {
    const Eigen::MatrixXd* h = hessians ? hessians->ForWeight(t.name) : nullptr;
    if (enc.needs_hessian() && !h && hessians)
      return InvalidArgument("recipe " + recipe.name + ": tensor '" + t.name + "' uses '" + enc.spec() +
                             "', which needs a Hessian, and the calibration has none for it (only linear layers' "
                             "weights have one): give it a rule without gptq");
    if (enc.needs_hessian() && !h)
      return InvalidArgument("recipe " + recipe.name + ": tensor '" + t.name + "' uses '" + enc.spec() +
                             "', which needs calibration: run `golfpack calibrate` and pass --calib FILE");
    return h;
  };
  // Encoders fitted on a rule's whole family (shared codebooks): one per
  // rule, fitted when its first tensor comes; `object_base` is where its
  // objects start in the artifact's table.
  std::vector<std::unique_ptr<TensorEncoder>> family(recipe.rules.size());
  std::vector<uint32_t> object_base(recipe.rules.size(), 0);
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const io::Tensor& t = model.tensors[i];
    const size_t r = rule_of[i];
    std::unique_ptr<TensorEncoder> own;
    TensorEncoder* encoder = family[r].get();
    uint32_t base = object_base[r];
    if (!encoder) {
      GP_ASSIGN_OR_RETURN(own, MakeEncoder(recipe.rules[r].encoder));
      encoder = own.get();
      if (encoder->fit_scope() == TensorEncoder::FitScope::kFamily) {
        std::vector<std::vector<float>> vals;
        std::vector<std::vector<uint64_t>> shapes;
        std::vector<FitTensor> fam;
        for (size_t j = i; j < model.tensors.size(); ++j) {
          if (rule_of[j] != r) continue;
          const io::Tensor& m = model.tensors[j];
          GP_ASSIGN_OR_RETURN(auto v, values_of(m));
          GP_ASSIGN_OR_RETURN(const Eigen::MatrixXd* h, hessian_of(m, *encoder));
          vals.push_back(std::move(v));
          shapes.emplace_back(m.shape.begin(), m.shape.end());
          fam.push_back({m.name, {}, {}, h});
        }
        for (size_t k = 0; k < fam.size(); ++k) fam[k].shape = shapes[k], fam[k].w = vals[k];
        GP_RETURN_IF_ERROR(encoder->Fit(fam));
        family[r] = std::move(own);
      }
      base = uint32_t(objects.size());
      object_base[r] = base;
      if (encoder->fit_scope() == TensorEncoder::FitScope::kFamily)
        for (auto& o : encoder->objects()) {
          o.name = "rule" + std::to_string(r) + "." + o.name;
          objects.push_back(std::move(o));
        }
    }
    GP_ASSIGN_OR_RETURN(const Eigen::MatrixXd* h, hessian_of(t, *encoder));
    GP_ASSIGN_OR_RETURN(std::vector<float> values, values_of(t));
    std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
    if (encoder->fit_scope() == TensorEncoder::FitScope::kTensor) {
      const FitTensor one{t.name, shape, values, h};
      GP_RETURN_IF_ERROR(encoder->Fit({&one, 1}));
      base = uint32_t(objects.size());
      for (auto& o : encoder->objects()) {
        o.name = t.name + "." + o.name;
        objects.push_back(std::move(o));
      }
    }
    GP_ASSIGN_OR_RETURN(gpk::EncodedTensor e, encoder->Encode(t.name, shape, values, h));
    for (uint32_t& ref : e.refs) ref += base;
    e.dtype = TargetOf(t.dtype);
    result.tensors.push_back({t.name, shape, static_cast<uint64_t>(t.numel()), encoder->spec(), e.encoding,
                              static_cast<uint64_t>(e.payload.size())});
    result.params += static_cast<uint64_t>(t.numel());
    encoded.push_back(std::move(e));
    if (options.progress)
      options.progress({"encode", i + 1, static_cast<uint64_t>(model.tensors.size()), "tensors", t.name});
  }

  if (recipe.lqer_top_k > 0) GP_RETURN_IF_ERROR(ApplyLqer(model, recipe, encoded, result));

  gpk::WriteOptions w;
  w.metadata = {{"golfpack.recipe", recipe.name}, {"golfpack.format", "gpk-1"}};
  w.metadata.merge(io::ArchitectureMetadata(model.metadata));  // shared depth / extra norm: what shapes cannot tell
  if (recipe.one_section) {
    gpk::SectionPlan plan{recipe.codec, recipe.level, {}, {}, recipe.shuffle};
    for (size_t i = 0; i < encoded.size(); ++i) plan.tensors.push_back(i);
    for (size_t i = 0; i < objects.size(); ++i) plan.objects.push_back(i);
    w.sections.push_back(std::move(plan));
  } else {
    for (size_t i = 0; i < encoded.size(); ++i)
      w.sections.push_back({recipe.codec, recipe.level, {i}, {}, recipe.shuffle});
    if (!objects.empty()) {
      gpk::SectionPlan plan{recipe.codec, recipe.level, {}, {}, recipe.shuffle};
      for (size_t i = 0; i < objects.size(); ++i) plan.objects.push_back(i);
      w.sections.push_back(std::move(plan));
    }
  }
  w.objects = std::move(objects);
  if (options.progress) options.progress({"compress", 0, 0, "", gpk::CodecName(recipe.codec)});
  GP_ASSIGN_OR_RETURN(result.bytes, gpk::BuildArtifact(encoded, w));
  result.file_bytes = result.bytes.size();
  result.code_bytes = options.code_bytes_set ? options.code_bytes : DecoderCodeBytes();
  result.counted_bytes = result.file_bytes + result.code_bytes;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (options.budget > 0 && result.counted_bytes > options.budget)
    return InvalidArgument("recipe " + recipe.name + " needs " + std::to_string(result.counted_bytes) + " bytes (file " +
                           std::to_string(result.file_bytes) + " + code " + std::to_string(result.code_bytes) +
                           "), over --budget " + std::to_string(options.budget) + " by " +
                           std::to_string(result.counted_bytes - options.budget) + " bytes; nothing was written");
  return result;
}

std::optional<double> CodeEntropyBits(const gpk::TensorInfo& t, std::span<const uint8_t> payload) {
  std::vector<uint64_t> hist(256, 0);
  uint64_t n = 0;
  auto add_bytes = [&](uint64_t start) {
    if (start > payload.size()) return;
    for (uint64_t i = start; i < payload.size(); ++i) ++hist[payload[i]];
    n += payload.size() - start;
  };
  const uint64_t rows = gpk::Rows(t.shape), cols = gpk::Cols(t.shape, t.numel);
  switch (t.encoding) {
    case gpk::kPgInt8Row: add_bytes(2 * rows); break;
    case gpk::kPgInt8Tensor: add_bytes(4); break;
    case gpk::kUniform: {
      auto p = gpk::UniformParams::Parse(t.params);
      if (!p.ok()) return std::nullopt;
      const uint64_t n_scales = rows * (p->group_size ? cols / p->group_size : 1);
      const uint64_t start = n_scales * (p->scale_dtype == 1 ? 4 : 2);
      if (p->packing == 0) {
        add_bytes(start);
      } else {  // LSB-first bit fields of `bits` bits
        uint64_t bitpos = start * 8;
        for (uint64_t i = 0; i < t.numel && (bitpos + p->bits) <= payload.size() * 8; ++i, bitpos += p->bits) {
          uint32_t v = 0;
          for (int b = 0; b < p->bits; ++b) v |= ((payload[(bitpos + b) / 8] >> ((bitpos + b) % 8)) & 1u) << b;
          ++hist[v & 0xFF];
          ++n;
        }
      }
      break;
    }
    case gpk::kAnsGrid: {  // symbols of the rANS stream after the scales
      auto p = gpk::AnsGridParams::Parse(t.params);
      if (!p.ok()) return std::nullopt;
      const uint64_t n_scales = rows * (p->group_size ? cols / p->group_size : 1);
      const uint64_t start = n_scales * (p->scale_dtype == 1 ? 4 : 2);
      if (start > payload.size()) return std::nullopt;
      std::vector<uint16_t> sym(t.numel);
      const auto stream = payload.subspan(start);
      if (p->model > 1 && p->model != 9) return std::nullopt;  // a trellis grid: two union streams
      const Status st = p->model == 0   ? RansDecompress(stream, sym.size(), sym)
                        : p->model == 9 ? ColumnRansDecompress(stream, cols, sym.size(), sym)
                                        : ContextRansDecompress(stream, sym.size(), sym);
      if (!st.ok()) return std::nullopt;
      std::map<uint16_t, uint64_t> counts;
      for (uint16_t v : sym) ++counts[v];
      double h = 0;
      for (const auto& [v, c] : counts) {
        const double q = double(c) / double(sym.size());
        h -= q * std::log2(q);
      }
      return sym.empty() ? 0.0 : h;
    }
    default: return std::nullopt;
  }
  if (n == 0) return 0.0;
  double h = 0;
  for (uint64_t c : hist)
    if (c) {
      const double q = double(c) / double(n);
      h -= q * std::log2(q);
    }
  return h;
}

Result<io::TensorFile> UnpackToTensors(const gpk::Artifact& artifact, bool keep_original_dtype) {
  RegisterAllCodecs();
  io::TensorFile out;
  out.metadata = io::ArchitectureMetadata(artifact.metadata());
  // DecodeAll decompresses each shared section once (not once per tensor).
  GP_ASSIGN_OR_RETURN(auto all, artifact.DecodeAll());
  for (size_t i = 0; i < artifact.tensors().size(); ++i) {
    const auto& info = artifact.tensors()[i];
    std::vector<int64_t> shape(info.shape.begin(), info.shape.end());
    out.tensors.push_back(io::Tensor::FromFloat32(info.name, shape, all[i],
                                                  keep_original_dtype ? DTypeOf(info.dtype) : io::DType::kF32));
  }
  return out;
}

}  // namespace golfpack::encode
