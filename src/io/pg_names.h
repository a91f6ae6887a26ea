// Parameter Golf tensor-name conventions, shared by the torch and non-torch layers.
#pragma once

#include <string>

namespace golfpack::io {

// train_gpt.py's CONTROL_TENSOR_NAME_PATTERNS: attn_scale, mlp_scale,
// resid_mix, q_gain, skip_weight(s). Trained with Adam, kept in float by the
// int8 export.
bool IsControlTensorName(const std::string& name);

// The input site a weight multiplies: c_q/c_k/c_v share "blocks.i.attn_in",
// then "blocks.i.attn.proj_in", "blocks.i.mlp_in", "blocks.i.mlp.proj_in";
// the tied embedding (or lm_head) as output projection reads "head_in".
// Empty for tensors that are not linear weights.
std::string HessianSite(const std::string& weight_name);

}  // namespace golfpack::io
