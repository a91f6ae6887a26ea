// GPT <-> safetensors. A file needs no golfpack metadata: every dimension is
// inferred from tensor shapes (files written by PyTorch carry none).
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
Result<GPTConfig> InferConfig(const io::TensorFile& file, const std::string& origin);

// Copies tensors into an existing model (shapes must match its config).
Status LoadWeights(GPT& model, const io::TensorFile& file, const std::string& origin);
Result<GPT> LoadModel(const std::string& path);
Result<GPT> ModelFromTensors(const io::TensorFile& file, const std::string& origin);

// Named parameters as tensors in the given dtype (F32, F16 or BF16).
io::TensorFile ExportWeights(GPT& model, io::DType dtype = io::DType::kF32);
// Writes atomically; `metadata` lands in __metadata__.
Status SaveModel(const std::string& path, GPT& model, const std::map<std::string, std::string>& metadata = {},
                 io::DType dtype = io::DType::kF32);

// torch tensor <-> io tensor (float data only).
torch::Tensor ToTorch(const io::Tensor& t, const std::string& origin, Status* status);
io::Tensor FromTorch(const std::string& name, const torch::Tensor& t, io::DType dtype = io::DType::kF32);

}  // namespace golfpack::model
