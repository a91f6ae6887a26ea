// Logits of tiny fixed-weight models checked against values written once by
// an independent PyTorch implementation (tests/golden/make_golden.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/weights.h"

namespace golfpack::model {
namespace {

const std::string kGolden = std::string(GOLFPACK_SOURCE_DIR) + "/tests/golden/";

nlohmann::json LoadJson(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  return nlohmann::json::parse(f);
}

torch::Tensor IdsTensor(const nlohmann::json& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows)
    for (const auto& v : r) flat.push_back(v.get<int64_t>());
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(rows.size()), -1});
}

void CheckGolden(const std::string& stem, bool expect_tied, int expect_kv_heads) {
  auto golden = LoadJson(kGolden + stem + "_golden.json");
  auto loaded = LoadModel(kGolden + stem + ".safetensors");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  GPT model = *loaded;
  const auto& cfg = model->config();
  const auto& gc = golden["config"];
  // Every dimension was inferred from shapes alone (the file has no metadata).
  EXPECT_EQ(cfg.vocab_size, gc["vocab_size"].get<int>());
  EXPECT_EQ(cfg.num_layers, gc["num_layers"].get<int>());
  EXPECT_EQ(cfg.model_dim, gc["model_dim"].get<int>());
  EXPECT_EQ(cfg.num_heads, gc["num_heads"].get<int>());
  EXPECT_EQ(cfg.num_kv_heads, expect_kv_heads);
  EXPECT_EQ(cfg.mlp_mult, gc["mlp_mult"].get<int>());
  EXPECT_EQ(cfg.tie_embeddings, expect_tied);

  torch::NoGradGuard no_grad;
  model->eval();
  auto x = IdsTensor(golden["input_ids"]);
  auto y = IdsTensor(golden["target_ids"]);
  auto logits = model->forward(x);
  ASSERT_EQ(logits.sizes().vec(), (std::vector<int64_t>{x.size(0), x.size(1), cfg.vocab_size}));
  auto acc = logits.accessor<float, 3>();
  double max_err = 0;
  for (int64_t b = 0; b < x.size(0); ++b)
    for (int64_t t = 0; t < x.size(1); ++t)
      for (int64_t v = 0; v < cfg.vocab_size; ++v)
        max_err = std::max(max_err, std::abs(acc[b][t][v] - golden["logits"][b][t][v].get<double>()));
  EXPECT_LT(max_err, 1e-4) << stem << ": logits differ from the reference";
  EXPECT_NEAR(model->loss(x, y).item<double>(), golden["loss"].get<double>(), 1e-5);
  auto per_token = model->token_losses(x, y);
  const auto& ref = golden["loss_per_token"];
  ASSERT_EQ(per_token.numel(), static_cast<int64_t>(ref.size()));
  for (int64_t i = 0; i < per_token.numel(); ++i)
    EXPECT_NEAR(per_token[i].item<double>(), ref[i].get<double>(), 1e-4) << "token " << i;
}

TEST(GptGolden, TiedGqaThreeLayersMatchesReference) { CheckGolden("tiny_gpt", true, 2); }
TEST(GptGolden, UntiedNoGqaMatchesReference) { CheckGolden("tiny_gpt_untied", false, 4); }

TEST(GptGolden, CausalityFutureTokensDoNotChangeThePast) {
  auto loaded = LoadModel(kGolden + "tiny_gpt.safetensors");
  ASSERT_TRUE(loaded.ok());
  GPT model = *loaded;
  torch::NoGradGuard no_grad;
  auto a = torch::tensor({1, 5, 9, 13, 17, 21}, torch::kInt64).view({1, 6});
  auto b = a.clone();
  b[0][5] = 2;  // change only the last token
  auto la = model->forward(a), lb = model->forward(b);
  EXPECT_TRUE(torch::allclose(la.narrow(1, 0, 5), lb.narrow(1, 0, 5), 0, 0));
  EXPECT_FALSE(torch::allclose(la.narrow(1, 5, 1), lb.narrow(1, 5, 1)));
}

// Without gradients the attention runs in blocks of 64 queries that skip the
// masked upper triangle: the same losses as the full T x T path (used with
// gradients) up to float rounding, here for a length that is not a multiple
// of the block and both the power-of-two (head_dim 16) and other (head_dim 8
// and 12) score scales.
TEST(GptAttention, BlockedCausalPathWithoutGradientsMatchesTheFullPath) {
  for (int heads : {2, 4, 3}) {
    GPTConfig c;
    c.vocab_size = 64;
    c.num_layers = 2;
    c.model_dim = 32 + (heads == 3 ? 4 : 0);
    c.num_heads = heads;
    c.num_kv_heads = heads == 4 ? 2 : heads;
    torch::manual_seed(11);
    GPT m(c);
    {
      torch::NoGradGuard g;
      for (auto& p : m->parameters()) p.normal_(0, 0.2);
    }
    auto x = torch::randint(0, 64, {2, 150}, torch::kInt64);
    auto y = torch::randint(0, 64, {2, 150}, torch::kInt64);
    const auto full = m->token_losses(x, y).detach();  // gradients on: the full path
    torch::Tensor blocked;
    {
      torch::NoGradGuard g;
      blocked = m->token_losses(x, y);
    }
    EXPECT_TRUE(torch::allclose(blocked, full, 1e-5, 1e-5)) << "heads " << heads << ": max diff "
                                                            << (blocked - full).abs().max().item<float>();
    c10::InferenceMode inference;
    EXPECT_TRUE(torch::equal(m->token_losses(x, y), blocked));
  }
}

TEST(GptConfig, ParameterCountsMatchParameterGolf) {
  EXPECT_EQ(GPTConfig::Baseline17M().NumParams(), 17059912);  // train_gpt.py's model_params
  GPT demo(GPTConfig::Demo());
  int64_t n = 0;
  for (const auto& p : demo->parameters()) n += p.numel();
  EXPECT_EQ(n, GPTConfig::Demo().NumParams());
  EXPECT_EQ(n, 3021592);
}

TEST(GptConfig, RejectsInconsistentShapes) {
  GPTConfig c;
  c.num_heads = 7;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = GPTConfig{};
  c.num_kv_heads = 3;
  EXPECT_FALSE(c.Validate().ok());
  c = GPTConfig{};
  c.model_dim = 24;
  c.num_heads = 8;  // head_dim 3, odd: no RoPE
  EXPECT_NE(c.Validate().message().find("even"), std::string::npos);
}

TEST(GptInit, MatchesParameterGolfInit) {
  torch::manual_seed(0);
  GPT m(GPTConfig::Demo());
  auto b0 = m->blocks[0]->as<BlockImpl>();
  EXPECT_EQ(b0->attn->proj->weight.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(b0->mlp->proj->weight.abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(torch::allclose(b0->attn->q_gain, torch::full({4}, 1.5)));
  EXPECT_NEAR(m->tok_emb->weight.std().item<double>(), 0.005, 0.0005);
  // zero-init output projections: the initial loss is ln(vocab) up to the tiny embedding
  // (targets independent of inputs: a tied embedding favours repeating the input)
  auto x = torch::randint(0, 1024, {2, 16}, torch::kInt64);
  auto y = torch::randint(0, 1024, {2, 16}, torch::kInt64);
  EXPECT_NEAR(m->loss(x, y).item<double>(), std::log(1024.0), 0.02);
}

}  // namespace
}  // namespace golfpack::model
