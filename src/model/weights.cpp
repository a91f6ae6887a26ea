#include "model/weights.h"

#include <charconv>
#include <regex>
#include <set>

namespace golfpack::model {

namespace {

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The architecture keys (io::kMeta*): each is one clear error naming the
// file and the key. Shapes give the stored block count; the keys say how
// they are applied. Absent keys: the baseline layout.
Status ApplyArchitectureMetadata(const io::TensorFile& file, const std::string& origin, int stored_blocks,
                                 GPTConfig* cfg) {
  const auto& meta = file.metadata;
  auto bad = [&](const char* key, const std::string& why) {
    return Corrupt(origin + ": metadata " + key + " = '" + meta.at(key) + "' " + why);
  };
  auto integer = [&](const char* key, int* out) -> Status {
    const std::string& v = meta.at(key);
    const char* end = v.data() + v.size();
    auto [ptr, ec] = std::from_chars(v.data(), end, *out);
    if (v.empty() || ec != std::errc() || ptr != end) return bad(key, "is not an integer");
    return Status::Ok();
  };
  auto flag = [&](const char* key, bool* out) -> Status {
    if (!meta.contains(key)) return Status::Ok();
    const std::string& v = meta.at(key);
    if (v != "0" && v != "1") return bad(key, "is not 0 or 1");
    *out = v == "1";
    return Status::Ok();
  };
  const std::string blocks_text = std::to_string(stored_blocks) + " stored blocks (blocks.0.." +
                                  std::to_string(stored_blocks - 1) + ")";
  int k = 0;
  if (meta.contains(io::kMetaSharedDepth)) {
    GP_RETURN_IF_ERROR(integer(io::kMetaSharedDepth, &k));
    if (k < 0) return bad(io::kMetaSharedDepth, "is negative (0 = off)");
    if (k > 0 && k != stored_blocks) return bad(io::kMetaSharedDepth, "does not match the file's " + blocks_text);
  }
  if (meta.contains(io::kMetaNumLayers)) {
    int l = 0;
    GP_RETURN_IF_ERROR(integer(io::kMetaNumLayers, &l));
    if (l <= 0) return bad(io::kMetaNumLayers, "is not a positive layer count");
    if (k > 0) {
      if (k > l) return bad(io::kMetaSharedDepth, "exceeds " + std::string(io::kMetaNumLayers) + " = " + std::to_string(l));
      if (l % k != 0)
        return bad(io::kMetaSharedDepth, "does not divide " + std::string(io::kMetaNumLayers) + " = " + std::to_string(l));
    } else if (l != stored_blocks) {
      return bad(io::kMetaNumLayers, "without " + std::string(io::kMetaSharedDepth) + " must equal the file's " +
                                         blocks_text);
    }
    cfg->num_layers = l;
  } else if (k > 0) {
    return Corrupt(origin + ": metadata " + io::kMetaSharedDepth + " = '" + meta.at(io::kMetaSharedDepth) +
                   "' needs " + io::kMetaNumLayers + " (the layer count), which is missing");
  }
  cfg->num_unique_blocks = k;
  GP_RETURN_IF_ERROR(flag(io::kMetaLayerScales, &cfg->layer_scales));
  if (cfg->layer_scales && k == 0) return bad(io::kMetaLayerScales, "needs shared depth (" + std::string(io::kMetaSharedDepth) + ")");
  GP_RETURN_IF_ERROR(flag(io::kMetaExtraNorm, &cfg->extra_norm));
  return Status::Ok();
}

}  // namespace

std::map<std::string, std::string> ArchitectureMetadata(const GPTConfig& cfg) {
  std::map<std::string, std::string> out;
  if (cfg.num_unique_blocks > 0) {
    out[io::kMetaNumLayers] = std::to_string(cfg.num_layers);
    out[io::kMetaSharedDepth] = std::to_string(cfg.num_unique_blocks);
    out[io::kMetaLayerScales] = cfg.layer_scales ? "1" : "0";
  }
  if (cfg.extra_norm) out[io::kMetaExtraNorm] = "1";
  return out;
}

Result<GPTConfig> InferConfig(const io::TensorFile& file, const std::string& origin) {
  auto need = [&](const std::string& name) -> Result<const io::Tensor*> {
    const io::Tensor* t = file.Find(name);
    if (!t) return NotFound(origin + ": missing tensor '" + name + "'");
    return t;
  };
  GPTConfig cfg;
  GP_ASSIGN_OR_RETURN(const io::Tensor* emb, need("tok_emb.weight"));
  if (emb->shape.size() != 2) return Corrupt(origin + ": tok_emb.weight must be 2-D, got " + ShapeText(emb->shape));
  cfg.vocab_size = static_cast<int>(emb->shape[0]);
  cfg.model_dim = static_cast<int>(emb->shape[1]);

  static const std::regex kBlock(R"(blocks\.(\d+)\..*)");
  int max_block = -1;
  for (const auto& t : file.tensors) {
    std::smatch m;
    if (std::regex_match(t.name, m, kBlock)) max_block = std::max(max_block, std::stoi(m[1].str()));
  }
  if (max_block < 0) return Corrupt(origin + ": no 'blocks.N.*' tensors: not a Parameter Golf GPT");
  cfg.num_layers = max_block + 1;
  GP_RETURN_IF_ERROR(ApplyArchitectureMetadata(file, origin, max_block + 1, &cfg));

  GP_ASSIGN_OR_RETURN(const io::Tensor* q_gain, need("blocks.0.attn.q_gain"));
  if (q_gain->shape.size() != 1 || q_gain->shape[0] <= 0)
    return Corrupt(origin + ": blocks.0.attn.q_gain must be 1-D, got " + ShapeText(q_gain->shape));
  cfg.num_heads = static_cast<int>(q_gain->shape[0]);
  if (cfg.model_dim % cfg.num_heads != 0)
    return Corrupt(origin + ": model_dim " + std::to_string(cfg.model_dim) + " not divisible by " +
                   std::to_string(cfg.num_heads) + " heads (from q_gain)");
  GP_ASSIGN_OR_RETURN(const io::Tensor* c_k, need("blocks.0.attn.c_k.weight"));
  if (c_k->shape.size() != 2 || c_k->shape[0] % cfg.head_dim() != 0)
    return Corrupt(origin + ": blocks.0.attn.c_k.weight shape " + ShapeText(c_k->shape) +
                   " is not a multiple of head_dim " + std::to_string(cfg.head_dim()));
  cfg.num_kv_heads = static_cast<int>(c_k->shape[0] / cfg.head_dim());
  GP_ASSIGN_OR_RETURN(const io::Tensor* fc, need("blocks.0.mlp.fc.weight"));
  if (fc->shape.size() != 2 || fc->shape[0] % cfg.model_dim != 0)
    return Corrupt(origin + ": blocks.0.mlp.fc.weight shape " + ShapeText(fc->shape) +
                   " is not a multiple of model_dim " + std::to_string(cfg.model_dim));
  cfg.mlp_mult = static_cast<int>(fc->shape[0] / cfg.model_dim);
  cfg.tie_embeddings = file.Find("lm_head.weight") == nullptr;
  if (Status s = cfg.Validate(); !s.ok()) return Corrupt(origin + ": " + s.message());

  // Every expected tensor present with the expected shape, nothing else.
  GPT probe(cfg);
  std::set<std::string> expected;
  for (const auto& p : probe->named_parameters()) {
    expected.insert(p.key());
    const io::Tensor* t = file.Find(p.key());
    if (!t) return Corrupt(origin + ": missing tensor '" + p.key() + "' for " + cfg.ToString());
    if (t->shape != p.value().sizes().vec())
      return Corrupt(origin + ": tensor '" + p.key() + "' has shape " + ShapeText(t->shape) + ", expected " +
                     ShapeText(p.value().sizes().vec()) + " for " + cfg.ToString());
  }
  for (const auto& t : file.tensors)
    if (!expected.count(t.name)) return Corrupt(origin + ": unexpected tensor '" + t.name + "' for " + cfg.ToString());
  return cfg;
}

torch::Tensor ToTorch(const io::Tensor& t, const std::string& origin, Status* status) {
  auto values = t.ToFloat32();
  if (!values.ok()) {
    *status = InvalidArgument(origin + ": tensor '" + t.name + "': " + values.status().message());
    return {};
  }
  *status = Status::Ok();
  return torch::from_blob(values->data(), t.shape, torch::kFloat32).clone();
}

io::Tensor FromTorch(const std::string& name, const torch::Tensor& t, io::DType dtype) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  std::span<const float> values(c.data_ptr<float>(), static_cast<size_t>(c.numel()));
  return io::Tensor::FromFloat32(name, c.sizes().vec(), values, dtype);
}

Status LoadWeights(GPT& model, const io::TensorFile& file, const std::string& origin) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    const io::Tensor* t = file.Find(p.key());
    if (!t) return Corrupt(origin + ": missing tensor '" + p.key() + "'");
    if (t->shape != p.value().sizes().vec())
      return Corrupt(origin + ": tensor '" + p.key() + "' has shape " + ShapeText(t->shape) + ", model expects " +
                     ShapeText(p.value().sizes().vec()));
    Status s;
    auto src = ToTorch(*t, origin, &s);
    GP_RETURN_IF_ERROR(s);
    p.value().copy_(src);
  }
  return Status::Ok();
}

Result<GPT> ModelFromTensors(const io::TensorFile& file, const std::string& origin) {
  GP_ASSIGN_OR_RETURN(GPTConfig cfg, InferConfig(file, origin));
  GPT model(cfg);
  GP_RETURN_IF_ERROR(LoadWeights(model, file, origin));
  return model;
}

Result<GPT> LoadModel(const std::string& path) {
  GP_ASSIGN_OR_RETURN(io::TensorFile file, io::ReadSafetensors(path));
  return ModelFromTensors(file, path);
}

io::TensorFile ExportWeights(GPT& model, io::DType dtype) {
  io::TensorFile out;
  out.metadata = ArchitectureMetadata(model->config());
  for (const auto& p : model->named_parameters()) out.tensors.push_back(FromTorch(p.key(), p.value(), dtype));
  return out;
}

Status SaveModel(const std::string& path, GPT& model, const std::map<std::string, std::string>& metadata,
                 io::DType dtype) {
  io::TensorFile out = ExportWeights(model, dtype);
  for (const auto& [key, value] : metadata) out.metadata.emplace(key, value);  // the model's architecture keys win
  return io::WriteSafetensors(path, out);
}

}  // namespace golfpack::model
