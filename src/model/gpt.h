// The Parameter Golf baseline GPT (train_gpt.py) in libtorch, float32 on CPU.
// Parameter names match the PyTorch state_dict exactly, so any safetensors file
// written from a PG model loads unchanged:
//   tok_emb.weight, blocks.{i}.attn.{c_q,c_k,c_v,proj}.weight, blocks.{i}.attn.q_gain,
//   blocks.{i}.mlp.{fc,proj}.weight, blocks.{i}.{attn_scale,mlp_scale,resid_mix},
//   skip_weights, and lm_head.weight when the embedding is not tied.
// golfpack's architecture options add, with safetensors metadata (weights.h):
//   shared depth: K unique blocks (blocks.0..K-1.*) applied over L layers,
//     layer l running block l % K (cycles: 0 1 2 0 1 2 ... for K = 3), with
//     PG's U-Net skips over the L layers; optional per-layer adapters
//     layer_attn_scale / layer_mlp_scale [L, D] scaling each application's
//     attention / MLP branch (initialised to 1);
//   extra norm: a weightless RMSNorm on the inputs of attn.proj and mlp.proj.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/pg_names.h"

namespace golfpack::model {

struct GPTConfig {
  int vocab_size = 1024;
  int num_layers = 9;
  int model_dim = 512;
  int num_heads = 8;
  int num_kv_heads = 4;
  int mlp_mult = 2;
  bool tie_embeddings = true;
  double logit_softcap = 30.0;
  double rope_base = 10000.0;
  double qk_gain_init = 1.5;
  double tied_embed_init_std = 0.005;
  // Shared depth: K unique blocks over the num_layers layers (0 = off: every
  // layer its own block). K must divide num_layers; layer l runs block l % K.
  int num_unique_blocks = 0;
  bool layer_scales = false;  // per-layer attn / mlp branch scales (needs shared depth)
  bool extra_norm = false;    // RMSNorm before attn.proj and mlp.proj

  int num_blocks() const { return num_unique_blocks > 0 ? num_unique_blocks : num_layers; }  // stored blocks
  int block_of(int layer) const { return num_unique_blocks > 0 ? layer % num_unique_blocks : layer; }
  int head_dim() const { return model_dim / num_heads; }
  int kv_dim() const { return num_kv_heads * head_dim(); }
  int num_encoder_layers() const { return num_layers / 2; }
  int num_decoder_layers() const { return num_layers - num_encoder_layers(); }
  int num_skip_weights() const { return std::min(num_encoder_layers(), num_decoder_layers()); }
  int64_t NumParams() const;
  Status Validate() const;
  // "9L d512 h8 kv4 mlp2x vocab1024 tied"; with the options e.g.
  // "9L(3 shared) d512 h8 kv4 mlp2x vocab1024 tied layer-scales extra-norm".
  std::string ToString() const;

  static GPTConfig Baseline17M() { return GPTConfig{}; }
  // Demo: ~3.0M parameters, dims multiples of 256, trains in minutes on 2 cores.
  static GPTConfig Demo() {
    GPTConfig c;
    c.num_layers = 6;
    c.model_dim = 256;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    return c;
  }
};

// Called with the input of every linear layer during forward when set (for
// calibration): `site` names the input ("blocks.3.attn_in", "head_in", ...,
// see io::HessianSite), x is that input viewed as [tokens, in_features].
using InputCapture = std::function<void(const std::string& site, const torch::Tensor& x)>;
// Called with the output of every block linear layer during forward when set:
// `weight` names its weight ("blocks.3.mlp.fc.weight"), y is the output
// [..., out_features] as the graph holds it (calibrate's row Fisher retains
// its gradient).
using OutputCapture = std::function<void(const std::string& weight, const torch::Tensor& y)>;

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const GPTConfig& cfg);
  // x: [B, T, D] -> [B, T, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

  torch::nn::Linear c_q{nullptr}, c_k{nullptr}, c_v{nullptr}, proj{nullptr};
  torch::Tensor q_gain;  // [num_heads]
  const InputCapture* capture = nullptr;  // set by GPTImpl::set_input_capture
  const OutputCapture* out_capture = nullptr;  // set by GPTImpl::set_output_capture
  std::string site_prefix;                // "blocks.i."

 private:
  int num_heads_, num_kv_heads_, head_dim_;
  bool extra_norm_;
};
TORCH_MODULE(CausalSelfAttention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const GPTConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);  // proj(relu(fc(x))^2), proj(norm(relu(fc(x))^2)) with extra_norm
  torch::nn::Linear fc{nullptr}, proj{nullptr};
  const InputCapture* capture = nullptr;
  const OutputCapture* out_capture = nullptr;
  std::string site_prefix;

 private:
  bool extra_norm_;
};
TORCH_MODULE(MLP);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GPTConfig& cfg);
  // attn_gain / mlp_gain: a layer's adapters ([D], multiplying attn_scale /
  // mlp_scale), or undefined for none.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0, const torch::Tensor& cos,
                        const torch::Tensor& sin, const torch::Tensor& attn_gain = {},
                        const torch::Tensor& mlp_gain = {});
  CausalSelfAttention attn{nullptr};
  MLP mlp{nullptr};
  torch::Tensor attn_scale, mlp_scale, resid_mix;  // [D], [D], [2, D]
  const InputCapture* capture = nullptr;
  std::string site_prefix;
};
TORCH_MODULE(Block);

class GPTImpl : public torch::nn::Module {
 public:
  explicit GPTImpl(const GPTConfig& cfg);

  // input_ids: int64 [B, T] -> soft-capped logits [B, T, vocab] (float32).
  torch::Tensor forward(const torch::Tensor& input_ids);
  // Mean cross-entropy (nats) over all targets, as train_gpt.py's GPT.forward.
  torch::Tensor loss(const torch::Tensor& input_ids, const torch::Tensor& target_ids);
  // Per-token cross-entropy [B*T] (nats), for exact evaluation sums.
  torch::Tensor token_losses(const torch::Tensor& input_ids, const torch::Tensor& target_ids);

  // PG initialisation: tied embedding N(0, 0.005), proj layers zero, the rest
  // libtorch's default Linear init. Seeded through torch::manual_seed.
  void ResetParameters();

  const GPTConfig& config() const { return cfg_; }

  // Observe the input of every linear layer (nullptr-equivalent: empty function).
  // Sites are named by stored block: a shared block reports each application.
  void set_input_capture(InputCapture fn);
  // Observe the output of every linear layer inside the blocks (not the head).
  void set_output_capture(OutputCapture fn);

  // Parameters outside `blocks`, tok_emb, skip_weights and lm_head: the
  // per-layer adapters (layer_attn_scale, layer_mlp_scale) when configured.
  // Control tensors: the trainer gives them to Adam with the scalars.
  std::vector<torch::Tensor> adapter_parameters() const;

  torch::nn::Embedding tok_emb{nullptr};
  torch::nn::ModuleList blocks{nullptr};  // num_blocks() blocks; layer l runs blocks[config().block_of(l)]
  torch::Tensor skip_weights;          // [num_skip_weights, D]
  torch::nn::Linear lm_head{nullptr};  // only when !tie_embeddings
  torch::Tensor layer_attn_scale, layer_mlp_scale;  // [num_layers, D], only with layer_scales

 private:
  torch::Tensor hidden(const torch::Tensor& input_ids);  // final-normed [B*T, D]
  torch::Tensor layer(int l, const torch::Tensor& x, const torch::Tensor& x0, const torch::Tensor& cos,
                      const torch::Tensor& sin);
  torch::Tensor logits_from_hidden(const torch::Tensor& h);
  void RotaryTables(int64_t seq_len, torch::Tensor* cos, torch::Tensor* sin);

  GPTConfig cfg_;
  InputCapture capture_;
  OutputCapture out_capture_;
  torch::Tensor inv_freq_;
  int64_t cached_len_ = -1;
  torch::Tensor cos_cache_, sin_cache_;
};
TORCH_MODULE(GPT);

// RMSNorm over the last dimension without weight; eps = float32 machine
// epsilon, what F.rms_norm(x, (d,)) uses when eps is None.
torch::Tensor RmsNorm(const torch::Tensor& x);

using io::HessianSite;
using io::IsControlTensorName;

}  // namespace golfpack::model
