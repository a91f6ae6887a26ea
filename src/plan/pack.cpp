#include "plan/pack.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "core/rans.h"
#include "codec/codecs.h"
#include "codec/encoder.h"
#include "codec/lowrank.h"
#include "io/pg_names.h"

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
       "rd:PATH,PATH,... prices only those paths",
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

}  // namespace

Result<Recipe> FindRecipe(const std::string& name) {
  if (name.rfind("record-lqer:", 0) == 0) {
    const std::string arg = name.substr(12);
    if (arg.size() == 4 && arg.rfind("int", 0) == 0 && arg[3] >= '4' && arg[3] <= '8') return RecordLqer(arg[3] - '0');
    return InvalidArgument("recipe '" + name + "': the parameter must be int4..int8 (e.g. record-lqer:int5)");
  }
  if (name.rfind("rd:", 0) == 0) {
    Recipe r;
    for (auto& each : AllRecipes())
      if (each.name == "rd") r = each;
    for (size_t at = 3; at <= name.size();) {
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
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const io::Tensor& t = model.tensors[i];
    const RecipeRule* rule = nullptr;
    for (const auto& r : recipe.rules)
      if (Matches(r.match, t)) {
        rule = &r;
        break;
      }
    if (!rule) return Internal("recipe " + recipe.name + " has no rule for tensor '" + t.name + "'");
    GP_ASSIGN_OR_RETURN(auto encoder, MakeEncoder(rule->encoder));
    const Eigen::MatrixXd* h = hessians ? hessians->ForWeight(t.name) : nullptr;
    if (encoder->needs_hessian() && !h)
      return InvalidArgument("recipe " + recipe.name + ": tensor '" + t.name + "' uses '" + rule->encoder +
                             "', which needs calibration: run `golfpack calibrate` and pass --calib FILE");
    auto values = t.ToFloat32();
    if (!values.ok()) return InvalidArgument("tensor '" + t.name + "': " + values.status().message());
    std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
    GP_ASSIGN_OR_RETURN(gpk::EncodedTensor e, encoder->Encode(t.name, shape, *values, h));
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
    w.sections.push_back(std::move(plan));
  } else {
    for (size_t i = 0; i < encoded.size(); ++i)
      w.sections.push_back({recipe.codec, recipe.level, {i}, {}, recipe.shuffle});
  }
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
      const Status st = p->model == 0 ? RansDecompress(stream, sym.size(), sym) : ContextRansDecompress(stream, sym.size(), sym);
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
