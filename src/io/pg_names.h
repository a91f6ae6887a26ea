// Parameter Golf tensor-name conventions, shared by the torch and non-torch layers.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace golfpack::io {

// train_gpt.py's CONTROL_TENSOR_NAME_PATTERNS: attn_scale, mlp_scale,
// resid_mix, q_gain, skip_weight(s). Trained with Adam, kept in float by the
// int8 export. golfpack's per-layer adapters of shared depth
// (layer_attn_scale, layer_mlp_scale) match too.
bool IsControlTensorName(const std::string& name);

// The input site a weight multiplies: c_q/c_k/c_v share "blocks.i.attn_in",
// then "blocks.i.attn.proj_in", "blocks.i.mlp_in", "blocks.i.mlp.proj_in";
// the tied embedding (or lm_head) as output projection reads "head_in".
// Empty for tensors that are not linear weights. With shared depth, i is a
// unique block and its sites sum the inputs of every layer that applies it.
std::string HessianSite(const std::string& weight_name);

// Every Hessian site of a model with `num_blocks` stored blocks (the unique
// blocks under shared depth): the 4 sites of each block in block order, then
// "head_in".
std::vector<std::string> HessianSites(int num_blocks);

// Architecture metadata: what tensor shapes cannot tell, kept in the
// safetensors __metadata__ and carried into a .gpk's metadata. Absent keys
// mean the Parameter Golf baseline layout (one block per layer, no extra norm).
inline constexpr const char* kMetaNumLayers = "golfpack.num_layers";     // L, layers applied
inline constexpr const char* kMetaSharedDepth = "golfpack.shared_depth";  // K unique blocks (0 = off)
inline constexpr const char* kMetaLayerScales = "golfpack.layer_scales";  // 0/1: per-layer branch scales
inline constexpr const char* kMetaExtraNorm = "golfpack.extra_norm";      // 0/1: RMSNorm before attn.proj / mlp.proj

// The architecture keys of `metadata` (empty for a baseline-layout file).
std::map<std::string, std::string> ArchitectureMetadata(const std::map<std::string, std::string>& metadata);

}  // namespace golfpack::io
