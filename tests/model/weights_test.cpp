#include <gtest/gtest.h>

#include <filesystem>

#include "model/weights.h"
#include "common/scratch.h"

namespace golfpack::model {
namespace {

namespace fs = std::filesystem;

std::string Tmp(const std::string& name) {
  fs::path d = golfpack::testing::ScratchDir("gp_model_");
  fs::create_directories(d);
  return (d / name).string();
}

GPTConfig Small() {
  GPTConfig c;
  c.vocab_size = 40;
  c.num_layers = 4;
  c.model_dim = 48;
  c.num_heads = 6;
  c.num_kv_heads = 3;
  c.mlp_mult = 3;
  return c;
}

TEST(Weights, SaveLoadRoundTripIsExactInF32) {
  torch::manual_seed(3);
  GPT a(Small());
  const std::string path = Tmp("a.safetensors");
  ASSERT_TRUE(SaveModel(path, a, {{"note", "x"}}).ok());
  auto b = LoadModel(path);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->config().ToString(), Small().ToString());
  auto pa = a->named_parameters();
  auto pb = (*b)->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

TEST(Weights, Bf16SaveRoundsEachValueOnce) {
  torch::manual_seed(4);
  GPT a(Small());
  const std::string path = Tmp("bf16.safetensors");
  ASSERT_TRUE(SaveModel(path, a, {}, io::DType::kBF16).ok());
  auto b = LoadModel(path);
  ASSERT_TRUE(b.ok());
  auto w = a->tok_emb->weight.detach();
  EXPECT_TRUE(torch::equal((*b)->tok_emb->weight, w.to(torch::kBFloat16).to(torch::kFloat32)));
}

TEST(Weights, InferConfigRejectsMissingWrongAndUnknownTensors) {
  GPT a(Small());
  io::TensorFile f = ExportWeights(a);
  io::TensorFile missing = f;
  std::erase_if(missing.tensors, [](const io::Tensor& t) { return t.name == "blocks.2.mlp.proj.weight"; });
  auto r = InferConfig(missing, "m.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("blocks.2.mlp.proj.weight"), std::string::npos) << r.status().message();

  io::TensorFile extra = f;
  extra.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn.bias", {1}, std::vector<float>{0.f}));
  r = InferConfig(extra, "m.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unexpected tensor 'blocks.0.attn.bias'"), std::string::npos);

  io::TensorFile wrong = f;
  for (auto& t : wrong.tensors)
    if (t.name == "blocks.1.attn.c_v.weight") t = io::Tensor::FromFloat32(t.name, {24, 47}, std::vector<float>(24 * 47));
  r = InferConfig(wrong, "m.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("blocks.1.attn.c_v.weight"), std::string::npos);

  io::TensorFile not_gpt;
  not_gpt.tensors.push_back(io::Tensor::FromFloat32("tok_emb.weight", {4, 8}, std::vector<float>(32)));
  r = InferConfig(not_gpt, "x.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a Parameter Golf GPT"), std::string::npos);
}

TEST(Weights, InferConfigReadsEveryDimensionFromShapes) {
  GPT a(Small());
  auto cfg = InferConfig(ExportWeights(a), "m");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->num_layers, 4);
  EXPECT_EQ(cfg->num_heads, 6);
  EXPECT_EQ(cfg->num_kv_heads, 3);
  EXPECT_EQ(cfg->mlp_mult, 3);
  EXPECT_EQ(cfg->vocab_size, 40);
  EXPECT_TRUE(cfg->tie_embeddings);
}

TEST(Weights, MissingFileIsOneClearError) {
  auto r = LoadModel("/nonexistent/model.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/model.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace golfpack::model
