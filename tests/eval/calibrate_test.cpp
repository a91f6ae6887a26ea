#include "eval/calibrate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

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
