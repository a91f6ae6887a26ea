// GPT <-> safetensors. A baseline-layout file needs no golfpack metadata:
// every dimension is inferred from tensor shapes (files written by PyTorch
// carry none). Shared depth and the extra norm are read from the
// architecture keys (io::kMeta*, see io/pg_names.h), which golfpack writes.
#pragma once

#include <string>

#include "core/status.h"
#include "io/safetensors.h"
#include "model/gpt.h"

namespace golfpack::model {

// layers from the block indices, heads from len(q_gain), head_dim = d / heads,
// KV heads from c_k rows / head_dim, MLP multiple from mlp.fc rows / d, vocab
// from tok_emb rows, untied iff lm_head.weight is present. Every expected
// tensor is then checked for presence and shape; unknown names are rejected.
// Metadata: golfpack.shared_depth = K (must equal the stored block count,
// divide golfpack.num_layers = L and not exceed it), golfpack.layer_scales
// and golfpack.extra_norm = 0/1; a bad value is one Corrupt error naming the
// file and the key.
Result<GPTConfig> InferConfig(const io::TensorFile& file, const std::string& origin);

// Copies tensors into an existing model (shapes must match its config).
Status LoadWeights(GPT& model, const io::TensorFile& file, const std::string& origin);
Result<GPT> LoadModel(const std::string& path);
Result<GPT> ModelFromTensors(const io::TensorFile& file, const std::string& origin);

// The architecture keys that InferConfig needs beyond shapes (empty for the
// baseline layout, so such files stay as PyTorch would write them).
std::map<std::string, std::string> ArchitectureMetadata(const GPTConfig& cfg);

// Named parameters as tensors in the given dtype (F32, F16 or BF16), with
// ArchitectureMetadata as the file's metadata.
io::TensorFile ExportWeights(GPT& model, io::DType dtype = io::DType::kF32);
// Writes atomically; `metadata` lands in __metadata__ next to the
// architecture keys (which win over a same-named key in `metadata`).
Status SaveModel(const std::string& path, GPT& model, const std::map<std::string, std::string>& metadata = {},
                 io::DType dtype = io::DType::kF32);

// torch tensor <-> io tensor (float data only).
torch::Tensor ToTorch(const io::Tensor& t, const std::string& origin, Status* status);
io::Tensor FromTorch(const std::string& name, const torch::Tensor& t, io::DType dtype = io::DType::kF32);

}  // namespace golfpack::model
