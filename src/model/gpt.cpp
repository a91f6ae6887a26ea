#include "model/gpt.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace golfpack::model {

namespace F = torch::nn::functional;

int64_t GPTConfig::NumParams() const {
  const int64_t d = model_dim, kv = kv_dim(), h = static_cast<int64_t>(mlp_mult) * model_dim;
  const int64_t per_block = d * d * 2 + 2 * kv * d + 2 * h * d + num_heads + 4 * d;
  int64_t n = static_cast<int64_t>(vocab_size) * d + num_blocks() * per_block + num_skip_weights() * d;
  if (!tie_embeddings) n += static_cast<int64_t>(vocab_size) * d;
  if (layer_scales) n += 2 * static_cast<int64_t>(num_layers) * d;
  return n;
}

Status GPTConfig::Validate() const {
  auto bad = [&](const std::string& why) { return InvalidArgument("model config " + ToString() + ": " + why); };
  if (vocab_size <= 0 || vocab_size > 65536) return bad("vocab_size must be in 1..65536 (uint16 shards)");
  if (num_layers <= 0) return bad("num_layers must be positive");
  if (model_dim <= 0 || num_heads <= 0 || num_kv_heads <= 0 || mlp_mult <= 0) return bad("dimensions must be positive");
  if (model_dim % num_heads != 0) return bad("model_dim must be divisible by num_heads");
  if (num_heads % num_kv_heads != 0) return bad("num_heads must be divisible by num_kv_heads");
  if (head_dim() % 2 != 0) return bad("head_dim must be even for RoPE");
  if (!(logit_softcap > 0)) return bad("logit_softcap must be positive");
  if (num_unique_blocks < 0) return bad("shared depth must be >= 0 (0 = off)");
  if (num_unique_blocks > num_layers)
    return bad("shared depth " + std::to_string(num_unique_blocks) + " exceeds the " + std::to_string(num_layers) +
               " layers");
  if (num_unique_blocks > 0 && num_layers % num_unique_blocks != 0)
    return bad("shared depth " + std::to_string(num_unique_blocks) + " does not divide the " +
               std::to_string(num_layers) + " layers");
  if (layer_scales && num_unique_blocks == 0) return bad("layer scales need shared depth");
  return Status::Ok();
}

std::string GPTConfig::ToString() const {
  std::ostringstream os;
  os << num_layers << "L";
  if (num_unique_blocks > 0) os << "(" << num_unique_blocks << " shared)";
  os << " d" << model_dim << " h" << num_heads << " kv" << num_kv_heads << " mlp" << mlp_mult
     << "x vocab" << vocab_size << (tie_embeddings ? " tied" : " untied");
  if (layer_scales) os << " layer-scales";
  if (extra_norm) os << " extra-norm";
  return os.str();
}

torch::Tensor RmsNorm(const torch::Tensor& x) {
  const double eps = std::numeric_limits<float>::epsilon();
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);
}

namespace {

// y, after showing it to the output capture when one is set.
torch::Tensor Tap(const OutputCapture* c, const std::string& weight, torch::Tensor y) {
  if (c && *c) (*c)(weight, y);
  return y;
}

torch::nn::Linear MakeLinear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// Rotate-half RoPE on the two halves of the head dimension, as train_gpt.py.
torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * cos + x2 * sin, x2 * cos - x1 * sin}, -1);
}

// Queries per block of the chunked causal attention used without gradients
// (calibration, sensitivity probes, evaluation): 64 measured fastest at
// T = 256 and 1024 on a 2-core AVX-512 machine (2.8x less CPU at T = 1024).
constexpr int64_t kAttentionChunk = 64;

// Upper-triangular "future" mask, cached for the last sequence length used.
torch::Tensor CausalMask(int64_t T) {
  thread_local torch::Tensor mask;
  if (!mask.defined() || mask.size(0) != T) {
    c10::InferenceMode normal_tensor(false);  // usable by autograd even if first made under InferenceMode
    mask = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool)).triu(1);
  }
  return mask;
}

// Causal attention without gradients, in blocks of kAttentionChunk queries:
// block [t0, t0 + n) reads only keys [0, t0 + n), and only the diagonal n x n
// block of its scores needs the mask. The masked scores are exactly zero
// after the softmax either way, so this is the full T x T computation without
// its upper triangle: half the FLOPs, score blocks that stay in cache, and
// the same values up to float rounding (summation order inside the GEMMs;
// bit-identical at T = 256). q, k, v: [B, heads, T, hd] / [B, kv, T, hd].
torch::Tensor CausalAttentionChunked(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     int64_t group) {
  const int64_t B = q.size(0), T = q.size(2), hd = q.size(3), kv = k.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  // Scaling q instead of the scores is exact when the scale is a power of two
  // (head_dim 4, 16, 64, 256, ...); otherwise scale the scores, as the full path.
  int exp2 = 0;
  const bool exact = std::frexp(scale, &exp2) == 0.5;
  const auto q5 = (exact ? q * scale : q).reshape({B, kv, group, T, hd});
  const torch::Tensor mask = CausalMask(kAttentionChunk);
  std::vector<torch::Tensor> blocks;
  for (int64_t t0 = 0; t0 < T; t0 += kAttentionChunk) {
    const int64_t n = std::min<int64_t>(kAttentionChunk, T - t0), keys = t0 + n;
    auto qc = q5.narrow(3, t0, n).reshape({B, kv, group * n, hd});
    auto scores = torch::matmul(qc, k.narrow(2, 0, keys).transpose(-2, -1));
    if (!exact) scores = scores * scale;
    scores = scores.view({B, kv, group, n, keys});
    // The top-left n x n corner of the chunk's mask is the mask of n.
    scores.narrow(-1, t0, n).masked_fill_(mask.narrow(0, 0, n).narrow(1, 0, n), -std::numeric_limits<float>::infinity());
    auto probs = torch::softmax(scores, -1).view({B, kv, group * n, keys});
    blocks.push_back(torch::matmul(probs, v.narrow(2, 0, keys)).view({B, kv, group, n, hd}));
  }
  // [B, kv, group, T, hd] = [B, heads, T, hd] -> [B, T, heads * hd]
  return torch::cat(blocks, 3).view({B, kv * group, T, hd}).transpose(1, 2).reshape({B, T, kv * group * hd});
}

}  // namespace

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const GPTConfig& cfg)
    : num_heads_(cfg.num_heads), num_kv_heads_(cfg.num_kv_heads), head_dim_(cfg.head_dim()), extra_norm_(cfg.extra_norm) {
  c_q = register_module("c_q", MakeLinear(cfg.model_dim, cfg.model_dim));
  c_k = register_module("c_k", MakeLinear(cfg.model_dim, cfg.kv_dim()));
  c_v = register_module("c_v", MakeLinear(cfg.model_dim, cfg.kv_dim()));
  proj = register_module("proj", MakeLinear(cfg.model_dim, cfg.model_dim));
  q_gain = register_parameter("q_gain", torch::full({cfg.num_heads}, cfg.qk_gain_init));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                               const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  // [B, T, D] -> [B, heads, T, head_dim]
  auto q = Tap(out_capture, site_prefix + "attn.c_q.weight", c_q(x)).view({B, T, num_heads_, head_dim_}).transpose(1, 2);
  auto k = Tap(out_capture, site_prefix + "attn.c_k.weight", c_k(x)).view({B, T, num_kv_heads_, head_dim_}).transpose(1, 2);
  auto v = Tap(out_capture, site_prefix + "attn.c_v.weight", c_v(x)).view({B, T, num_kv_heads_, head_dim_}).transpose(1, 2);
  q = ApplyRotary(RmsNorm(q), cos, sin) * q_gain.view({1, num_heads_, 1, 1});
  k = ApplyRotary(RmsNorm(k), cos, sin);
  // GQA: query head h reads kv head h / group (what SDPA's enable_gqa does).
  // Grouping the query heads of one kv head along the time axis gives one
  // matmul per kv head without copying k and v.
  const int64_t group = num_heads_ / num_kv_heads_;
  if (!torch::GradMode::is_enabled() && T > kAttentionChunk) {
    auto y = CausalAttentionChunked(q, k, v, group);
    if (extra_norm_) y = RmsNorm(y);
    if (capture && *capture) (*capture)(site_prefix + "attn.proj_in", y.reshape({B * T, D}));
    return Tap(out_capture, site_prefix + "attn.proj.weight", proj(y));
  }
  auto qg = q.reshape({B, num_kv_heads_, group * T, head_dim_});
  auto scores = torch::matmul(qg, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim_)));
  scores = scores.view({B, num_kv_heads_, group, T, T}).masked_fill(CausalMask(T), -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores, -1).view({B, num_kv_heads_, group * T, T});
  auto y = torch::matmul(probs, v).view({B, num_heads_, T, head_dim_}).transpose(1, 2).reshape({B, T, D});
  if (extra_norm_) y = RmsNorm(y);
  if (capture && *capture) (*capture)(site_prefix + "attn.proj_in", y.reshape({B * T, D}));
  return Tap(out_capture, site_prefix + "attn.proj.weight", proj(y));
}

MLPImpl::MLPImpl(const GPTConfig& cfg) : extra_norm_(cfg.extra_norm) {
  fc = register_module("fc", MakeLinear(cfg.model_dim, static_cast<int64_t>(cfg.mlp_mult) * cfg.model_dim));
  proj = register_module("proj", MakeLinear(static_cast<int64_t>(cfg.mlp_mult) * cfg.model_dim, cfg.model_dim));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  auto h = torch::relu(Tap(out_capture, site_prefix + "mlp.fc.weight", fc(x))).square();
  if (extra_norm_) h = RmsNorm(h);
  if (capture && *capture) (*capture)(site_prefix + "mlp.proj_in", h.reshape({-1, h.size(-1)}));
  return Tap(out_capture, site_prefix + "mlp.proj.weight", proj(h));
}

BlockImpl::BlockImpl(const GPTConfig& cfg) {
  attn = register_module("attn", CausalSelfAttention(cfg));
  mlp = register_module("mlp", MLP(cfg));
  attn_scale = register_parameter("attn_scale", torch::ones({cfg.model_dim}));
  mlp_scale = register_parameter("mlp_scale", torch::ones({cfg.model_dim}));
  resid_mix = register_parameter("resid_mix", torch::stack({torch::ones({cfg.model_dim}), torch::zeros({cfg.model_dim})}));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor& x0, const torch::Tensor& cos,
                                 const torch::Tensor& sin, const torch::Tensor& attn_gain, const torch::Tensor& mlp_gain) {
  auto x = resid_mix[0] * x_in + resid_mix[1] * x0;
  auto h = RmsNorm(x);
  if (capture && *capture) (*capture)(site_prefix + "attn_in", h.reshape({-1, h.size(-1)}));
  x = x + (attn_gain.defined() ? attn_scale * attn_gain : attn_scale) * attn(h, cos, sin);
  h = RmsNorm(x);
  if (capture && *capture) (*capture)(site_prefix + "mlp_in", h.reshape({-1, h.size(-1)}));
  return x + (mlp_gain.defined() ? mlp_scale * mlp_gain : mlp_scale) * mlp(h);
}

GPTImpl::GPTImpl(const GPTConfig& cfg) : cfg_(cfg) {
  tok_emb = register_module("tok_emb", torch::nn::Embedding(cfg.vocab_size, cfg.model_dim));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < cfg.num_blocks(); ++i) blocks->push_back(Block(cfg));
  skip_weights = register_parameter("skip_weights", torch::ones({cfg.num_skip_weights(), cfg.model_dim}));
  if (!cfg.tie_embeddings) lm_head = register_module("lm_head", MakeLinear(cfg.model_dim, cfg.vocab_size));
  if (cfg.layer_scales) {
    layer_attn_scale = register_parameter("layer_attn_scale", torch::ones({cfg.num_layers, cfg.model_dim}));
    layer_mlp_scale = register_parameter("layer_mlp_scale", torch::ones({cfg.num_layers, cfg.model_dim}));
  }
  const int64_t hd = cfg.head_dim();
  inv_freq_ = 1.0 / torch::pow(cfg.rope_base, torch::arange(0, hd, 2, torch::kFloat32) / static_cast<double>(hd));
  ResetParameters();
}

void GPTImpl::ResetParameters() {
  torch::NoGradGuard no_grad;
  for (auto& m : blocks->children()) {
    auto b = std::dynamic_pointer_cast<BlockImpl>(m);
    b->attn->c_q->reset_parameters();
    b->attn->c_k->reset_parameters();
    b->attn->c_v->reset_parameters();
    b->mlp->fc->reset_parameters();
    b->attn->proj->weight.zero_();
    b->mlp->proj->weight.zero_();
    b->attn->q_gain.fill_(cfg_.qk_gain_init);
    b->attn_scale.fill_(1.0);
    b->mlp_scale.fill_(1.0);
    b->resid_mix[0].fill_(1.0);
    b->resid_mix[1].fill_(0.0);
  }
  skip_weights.fill_(1.0);
  if (cfg_.layer_scales) {
    layer_attn_scale.fill_(1.0);
    layer_mlp_scale.fill_(1.0);
  }
  if (cfg_.tie_embeddings) {
    tok_emb->weight.normal_(0.0, cfg_.tied_embed_init_std);
  } else {
    tok_emb->weight.normal_(0.0, 1.0);  // nn.Embedding default
    lm_head->weight.zero_();
  }
}

void GPTImpl::RotaryTables(int64_t seq_len, torch::Tensor* cos, torch::Tensor* sin) {
  if (cached_len_ != seq_len) {
    auto t = torch::arange(seq_len, torch::kFloat32);
    auto freqs = torch::outer(t, inv_freq_);  // [T, hd/2]
    cos_cache_ = freqs.cos().view({1, 1, seq_len, -1});
    sin_cache_ = freqs.sin().view({1, 1, seq_len, -1});
    cached_len_ = seq_len;
  }
  *cos = cos_cache_;
  *sin = sin_cache_;
}

torch::Tensor GPTImpl::hidden(const torch::Tensor& input_ids) {
  torch::Tensor cos, sin;
  RotaryTables(input_ids.size(1), &cos, &sin);
  auto x = RmsNorm(tok_emb(input_ids));
  const auto x0 = x;
  std::vector<torch::Tensor> skips;
  const int enc = cfg_.num_encoder_layers();
  for (int i = 0; i < enc; ++i) {
    x = layer(i, x, x0, cos, sin);
    skips.push_back(x);
  }
  for (int i = 0; i < cfg_.num_decoder_layers(); ++i) {
    // Decoder layers consume the encoder outputs in reverse order (U-Net skips).
    if (!skips.empty()) {
      x = x + skip_weights[i] * skips.back();
      skips.pop_back();
    }
    x = layer(enc + i, x, x0, cos, sin);
  }
  auto h = RmsNorm(x).reshape({-1, x.size(-1)});
  if (capture_) capture_("head_in", h);
  return h;
}

torch::Tensor GPTImpl::layer(int l, const torch::Tensor& x, const torch::Tensor& x0, const torch::Tensor& cos,
                             const torch::Tensor& sin) {
  auto b = blocks[cfg_.block_of(l)]->as<BlockImpl>();
  if (!cfg_.layer_scales) return b->forward(x, x0, cos, sin);
  return b->forward(x, x0, cos, sin, layer_attn_scale[l], layer_mlp_scale[l]);
}

std::vector<torch::Tensor> GPTImpl::adapter_parameters() const {
  if (!cfg_.layer_scales) return {};
  return {layer_attn_scale, layer_mlp_scale};
}

void GPTImpl::set_input_capture(InputCapture fn) {
  capture_ = std::move(fn);
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto b = blocks[i]->as<BlockImpl>();
    const std::string prefix = "blocks." + std::to_string(i) + ".";
    b->capture = b->attn->capture = b->mlp->capture = &capture_;
    b->site_prefix = b->attn->site_prefix = b->mlp->site_prefix = prefix;
  }
}

void GPTImpl::set_output_capture(OutputCapture fn) {
  out_capture_ = std::move(fn);
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto b = blocks[i]->as<BlockImpl>();
    const std::string prefix = "blocks." + std::to_string(i) + ".";
    b->attn->out_capture = b->mlp->out_capture = &out_capture_;
    b->site_prefix = b->attn->site_prefix = b->mlp->site_prefix = prefix;
  }
}

torch::Tensor GPTImpl::logits_from_hidden(const torch::Tensor& h) {
  auto proj = cfg_.tie_embeddings ? F::linear(h, tok_emb->weight) : lm_head(h);
  const double cap = cfg_.logit_softcap;
  return cap * torch::tanh(proj / cap);
}

torch::Tensor GPTImpl::forward(const torch::Tensor& input_ids) {
  auto logits = logits_from_hidden(hidden(input_ids));
  return logits.view({input_ids.size(0), input_ids.size(1), -1});
}

torch::Tensor GPTImpl::loss(const torch::Tensor& input_ids, const torch::Tensor& target_ids) {
  return F::cross_entropy(logits_from_hidden(hidden(input_ids)), target_ids.reshape({-1}));
}

torch::Tensor GPTImpl::token_losses(const torch::Tensor& input_ids, const torch::Tensor& target_ids) {
  return F::cross_entropy(logits_from_hidden(hidden(input_ids)), target_ids.reshape({-1}),
                          F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

}  // namespace golfpack::model
