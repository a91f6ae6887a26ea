#include "io/pg_names.h"

namespace golfpack::io {

bool IsControlTensorName(const std::string& name) {
  static const char* kPatterns[] = {"attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weight"};
  for (const char* p : kPatterns)
    if (name.find(p) != std::string::npos) return true;
  return false;
}

std::string HessianSite(const std::string& w) {
  if (w == "tok_emb.weight" || w == "lm_head.weight") return "head_in";
  if (w.rfind("blocks.", 0) != 0) return "";
  const auto dot = w.find('.', 7);  // after "blocks.<i>"
  if (dot == std::string::npos) return "";
  const std::string prefix = w.substr(0, dot + 1), rest = w.substr(dot + 1);
  if (rest == "attn.c_q.weight" || rest == "attn.c_k.weight" || rest == "attn.c_v.weight") return prefix + "attn_in";
  if (rest == "attn.proj.weight") return prefix + "attn.proj_in";
  if (rest == "mlp.fc.weight") return prefix + "mlp_in";
  if (rest == "mlp.proj.weight") return prefix + "mlp.proj_in";
  return "";
}

std::vector<std::string> HessianSites(int num_blocks) {
  std::vector<std::string> out;
  for (int i = 0; i < num_blocks; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    for (const char* s : {"attn_in", "attn.proj_in", "mlp_in", "mlp.proj_in"}) out.push_back(p + s);
  }
  out.push_back("head_in");
  return out;
}

std::map<std::string, std::string> ArchitectureMetadata(const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> out;
  for (const char* key : {kMetaNumLayers, kMetaSharedDepth, kMetaLayerScales, kMetaExtraNorm})
    if (auto it = metadata.find(key); it != metadata.end()) out.emplace(it->first, it->second);
  return out;
}

}  // namespace golfpack::io
