#include "eval/calibrate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "eval/sensitivity.h"
#include "io/shards.h"

namespace golfpack::eval {
namespace {

namespace fs = std::filesystem;

std::string WriteShard() {
  fs::path d = fs::temp_directory_path() / ("gp_calib_" + std::to_string(::getpid()));
  fs::create_directories(d);
  std::mt19937 rng(5);
  std::vector<uint16_t> t(5000);
  for (auto& x : t) x = static_cast<uint16_t>(rng() % 50);
  EXPECT_TRUE(io::WriteShard(io::ShardPath(d.string(), "train", 0), t).ok());
  return d.string();
}

model::GPTConfig Tiny() {
  model::GPTConfig c;
  c.vocab_size = 50;
  c.num_layers = 3;
  c.model_dim = 32;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  return c;
}

TEST(Calibrate, OneSymmetricHessianPerInputSiteWithNormedTraces) {
  const std::string dir = WriteShard();
  torch::manual_seed(2);
  model::GPT m(Tiny());
  {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.normal_(0, 0.3);
  }
  CalibrationOptions o;
  o.train_pattern = dir + "/fineweb_train_*.bin";
  o.tokens = 1000;  // -> 15 sequences of 64
  o.seq_len = 64;
  auto cal = Calibrate(m, o, {});
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  EXPECT_EQ(cal->tokens, 960);
  EXPECT_EQ(cal->hessians.size(), 3u * 4 + 1);  // 4 sites per block + head
  for (const auto& [site, h] : cal->hessians) {
    EXPECT_TRUE(torch::allclose(h, h.t())) << site;
    // RMS-normed inputs have mean square 1 per token: trace(H) = tokens * d.
    if (site.find("_in") != std::string::npos && site.find("proj_in") == std::string::npos)
      EXPECT_NEAR(h.trace().item<double>(), 960.0 * 32, 1e-3 * 960 * 32) << site;
  }
  EXPECT_EQ(cal->ForWeight("blocks.2.mlp.proj.weight").size(0), 64);  // MLP hidden = 2 x 32
  EXPECT_TRUE(torch::equal(cal->ForWeight("blocks.1.attn.c_k.weight"), cal->ForWeight("blocks.1.attn.c_q.weight")));
  EXPECT_FALSE(cal->ForWeight("blocks.1.attn.q_gain").defined());

  // A second run over the same tokens gives the same sums (deterministic capture).
  auto again = Calibrate(m, o, {});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(torch::equal(again->hessians.at("head_in"), cal->hessians.at("head_in")));

  const std::string path = dir + "/calib.safetensors";
  ASSERT_TRUE(SaveCalibration(path, *cal).ok());
  auto back = LoadCalibration(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tokens, 960);
  EXPECT_EQ(back->seq_len, 64);
  EXPECT_TRUE(torch::allclose(back->hessians.at("blocks.0.attn_in"), cal->hessians.at("blocks.0.attn_in"), 1e-6, 1e-3));
}

TEST(Calibrate, RejectsModelFilesAndOutOfVocabTokens) {
  const std::string dir = WriteShard();
  auto r = LoadCalibration(std::string(GOLFPACK_SOURCE_DIR) + "/tests/golden/tiny_gpt.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a golfpack calibration file"), std::string::npos);
  model::GPTConfig c = Tiny();
  c.vocab_size = 20;  // the shard has ids up to 49
  model::GPT m(c);
  CalibrationOptions o;
  o.train_pattern = dir + "/fineweb_train_*.bin";
  o.tokens = 128;
  o.seq_len = 64;
  auto cal = Calibrate(m, o, {});
  ASSERT_FALSE(cal.ok());
  EXPECT_NE(cal.status().message().find("outside the model's vocab"), std::string::npos);
}

// The probes that re-run only the layers downstream of the quantized weight
// must measure exactly what full forward passes measure, for every kind of
// weight (embedding, attention, MLP, untied head) and U-Net layout.
void ExpectReuseMatchesFullForward(model::GPTConfig c, int64_t tokens) {
  const std::string dir = WriteShard();
  torch::manual_seed(7);
  model::GPT m(c);
  {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.normal_(0, 0.3);
  }
  CalibrationOptions co;
  co.train_pattern = dir + "/fineweb_train_*.bin";
  co.tokens = 640;
  co.seq_len = 64;
  auto cal = Calibrate(m, co, {});
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  SensitivityOptions so;
  so.train_pattern = co.train_pattern;
  so.tokens = tokens;
  so.seq_len = 64;
  so.probe_spec = "u2:row:none";
  so.check_spec = "u3:row:none";
  std::vector<std::string> stages;
  auto fast = MeasureSensitivity(m, *cal, so, [&](const Progress& p) { stages.push_back(p.stage); });
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  EXPECT_TRUE(fast->activations_reused);
  so.reuse_activations = false;
  auto full = MeasureSensitivity(m, *cal, so, {});
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_FALSE(full->activations_reused);

  // Every 2-D weight with a Hessian, once; the model is left unquantized.
  const size_t expected = 6u * c.num_layers + (c.tie_embeddings ? 1 : 2);
  ASSERT_EQ(fast->tensors.size(), expected);
  ASSERT_EQ(full->tensors.size(), expected);
  EXPECT_EQ(stages.size(), expected * ((tokens / 64 + 3) / 4));
  EXPECT_EQ(fast->tokens, tokens / 64 * 64);
  EXPECT_EQ(fast->base_loss, full->base_loss);
  EXPECT_GT(fast->base_loss, 1.0);
  int moved = 0;
  for (size_t i = 0; i < expected; ++i) {
    const auto &a = fast->tensors[i], &b = full->tensors[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dloss_probe, b.dloss_probe) << a.name;
    EXPECT_EQ(a.dloss_check, b.dloss_check) << a.name;
    EXPECT_EQ(a.proxy_probe, b.proxy_probe) << a.name;
    EXPECT_EQ(a.sensitivity, b.sensitivity) << a.name;
    EXPECT_GT(a.proxy_probe, a.proxy_check) << a.name;  // 2 bits distort more than 3
    moved += a.dloss_probe != 0;
  }
  EXPECT_EQ(moved, static_cast<int>(expected));  // every probe changed the loss
  EXPECT_EQ(fast->spearman_raw_proxy, full->spearman_raw_proxy);
  EXPECT_EQ(fast->spearman_fitted, full->spearman_fitted);
  auto again = MeasureSensitivity(m, *cal, so, {});  // weights restored: same base loss
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->base_loss, full->base_loss);
}

TEST(Sensitivity, ReusedActivationsGiveTheSameLossesAsFullForwards) {
  ExpectReuseMatchesFullForward(Tiny(), 64 * 6);  // 3 layers: 1 encoder, 2 decoders; batches of 4 + 2
}

TEST(Sensitivity, ReusedActivationsMatchWithUntiedHeadAndEvenDepth) {
  model::GPTConfig c = Tiny();
  c.num_layers = 4;
  c.tie_embeddings = false;
  ExpectReuseMatchesFullForward(c, 64 * 4);
}

TEST(Sensitivity, SpearmanAndProxyValues) {
  EXPECT_DOUBLE_EQ(Spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(Spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(Spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-12);
  // E = [[1, 2]], H = [[2, 0], [0, 3]]: tr(E H E^T) = 2 + 12 = 14, over 7 tokens = 2.
  auto a = torch::tensor({{1.0f, 2.0f}}), b = torch::zeros({1, 2});
  auto h = torch::tensor({{2.0, 0.0}, {0.0, 3.0}}, torch::kFloat64);
  EXPECT_DOUBLE_EQ(HessianProxy(a, b, h, 7), 2.0);
}

TEST(HessianSite, MapsEveryLinearWeight) {
  EXPECT_EQ(model::HessianSite("blocks.10.attn.c_v.weight"), "blocks.10.attn_in");
  EXPECT_EQ(model::HessianSite("blocks.0.attn.proj.weight"), "blocks.0.attn.proj_in");
  EXPECT_EQ(model::HessianSite("blocks.3.mlp.fc.weight"), "blocks.3.mlp_in");
  EXPECT_EQ(model::HessianSite("blocks.3.mlp.proj.weight"), "blocks.3.mlp.proj_in");
  EXPECT_EQ(model::HessianSite("tok_emb.weight"), "head_in");
  EXPECT_EQ(model::HessianSite("blocks.3.resid_mix"), "");
  EXPECT_EQ(model::HessianSite("skip_weights"), "");
}

}  // namespace
}  // namespace golfpack::eval
