// Shared depth and the extra norm through the rest of the pipeline:
// calibration (one Hessian site per unique block, summed over its
// applications), sensitivity probes, and the .gpk round trip (the
// architecture metadata travels with the artifact).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "codec/codecs.h"
#include "eval/calibrate.h"
#include "eval/sensitivity.h"
#include "io/shards.h"
#include "model/weights.h"
#include "plan/pack.h"
#include "common/scratch.h"

namespace golfpack::model {
namespace {

namespace fs = std::filesystem;

std::string WriteShard() {
  fs::path d = golfpack::testing::ScratchDir("gp_arch_pipe_");
  fs::create_directories(d);
  std::mt19937 rng(11);
  std::vector<uint16_t> t(5000);
  for (auto& x : t) x = static_cast<uint16_t>(rng() % 50);
  EXPECT_TRUE(io::WriteShard(io::ShardPath(d.string(), "train", 0), t).ok());
  return d.string() + "/fineweb_train_*.bin";
}

GPTConfig Tiny(int shared = 0, bool scales = false, bool extra_norm = false) {
  GPTConfig c;
  c.vocab_size = 50;
  c.num_layers = 4;
  c.model_dim = 32;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.num_unique_blocks = shared;
  c.layer_scales = scales;
  c.extra_norm = extra_norm;
  return c;
}

void Randomize(GPT& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.normal_(0, 0.3);
}

// The unshared model that computes what `shared` computes: block l % K in
// layer l, its branch scales times the layer's adapters.
GPT Unshare(GPT& shared) {
  GPTConfig c = shared->config();
  c.num_unique_blocks = 0;
  c.layer_scales = false;
  GPT plain(c);
  torch::NoGradGuard g;
  plain->tok_emb->weight.copy_(shared->tok_emb->weight);
  plain->skip_weights.copy_(shared->skip_weights);
  for (int l = 0; l < c.num_layers; ++l) {
    auto dst = plain->blocks[l]->named_parameters();
    for (const auto& p : shared->blocks[l % shared->config().num_unique_blocks]->named_parameters())
      dst[p.key()].copy_(p.value());
    if (shared->config().layer_scales) {
      auto b = plain->blocks[l]->as<BlockImpl>();
      b->attn_scale.mul_(shared->layer_attn_scale[l]);
      b->mlp_scale.mul_(shared->layer_mlp_scale[l]);
    }
  }
  return plain;
}

TEST(SharedDepthCalibration, OneSitePerUniqueBlockSummedOverItsApplications) {
  const std::string pattern = WriteShard();
  GPT shared(Tiny(2, /*scales=*/true, /*extra_norm=*/true));
  Randomize(shared, 2);
  GPT plain = Unshare(shared);
  eval::CalibrationOptions o;
  o.train_pattern = pattern;
  o.tokens = 1000;  // 15 sequences of 64
  o.seq_len = 64;
  o.threads = 1;
  auto cs = eval::Calibrate(shared, o, {});
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  auto cp = eval::Calibrate(plain, o, {});
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cs->tokens, 960);

  std::vector<std::string> sites;
  for (const auto& [site, h] : cs->hessians) sites.push_back(site);
  auto want = io::HessianSites(2);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(sites, want);  // blocks.0 and blocks.1 only, + head_in
  EXPECT_EQ(cp->hessians.size(), io::HessianSites(4).size());

  // Each application adds its tokens: RMS-normed inputs (with the extra norm,
  // the projections' too) have trace(H) = applications x tokens x width.
  for (const auto& [site, h] : cs->hessians) {
    const double apps = site == "head_in" ? 1 : 2;
    const double width = site.ends_with("mlp.proj_in") ? 64 : 32;
    EXPECT_NEAR(h.trace().item<double>(), apps * 960 * width, 1e-4 * apps * 960 * width) << site;
  }
  // And exactly the unshared model's layers l and l + K, summed.
  for (int j = 0; j < 2; ++j)
    for (const char* s : {"attn_in", "attn.proj_in", "mlp_in", "mlp.proj_in"}) {
      const std::string a = "blocks." + std::to_string(j) + "." + s, b = "blocks." + std::to_string(j + 2) + "." + s;
      const auto sum = cp->hessians.at(a) + cp->hessians.at(b);
      const auto& h = cs->hessians.at(a);
      const double scale = sum.abs().max().item<double>();
      EXPECT_TRUE(torch::allclose(h, sum, 1e-4, 1e-5 * scale)) << a << " max diff " << (h - sum).abs().max().item<double>();
      EXPECT_FALSE(torch::allclose(h, cp->hessians.at(a), 1e-2, 1e-3 * scale)) << a;  // not one application alone
    }
  EXPECT_TRUE(torch::allclose(cs->hessians.at("head_in"), cp->hessians.at("head_in"), 1e-4, 1e-2));

  // Sensitivity probes run full forward passes on the shared model: one per
  // stored weight (6 per unique block + the embedding), each moving the loss.
  eval::SensitivityOptions so;
  so.train_pattern = pattern;
  so.tokens = 64 * 2;
  so.seq_len = 64;
  so.probe_spec = "u2:row:none";
  so.check_spec = "u3:row:none";
  so.threads = 1;
  auto sr = eval::MeasureSensitivity(shared, *cs, so, {});
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  EXPECT_FALSE(sr->activations_reused);
  ASSERT_EQ(sr->tensors.size(), 6u * 2 + 1);
  for (const auto& t : sr->tensors) EXPECT_NE(t.dloss_probe, 0) << t.name;
}

TEST(SharedDepthArtifact, GpkRoundTripKeepsTheArchitecture) {
  GPT m(Tiny(2, /*scales=*/true, /*extra_norm=*/true));
  Randomize(m, 4);
  const io::TensorFile file = ExportWeights(m);
  auto recipe = encode::FindRecipe("pg-int8-zlib");
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  auto packed = encode::Pack(file, nullptr, *recipe, {});
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  encode::RegisterAllCodecs();
  auto art = gpk::Artifact::Parse(packed->bytes, "m.gpk");
  ASSERT_TRUE(art.ok()) << art.status().ToString();
  EXPECT_EQ(art->tensors().size(), file.tensors.size());  // each shared tensor stored once
  EXPECT_EQ(art->metadata().at("golfpack.shared_depth"), "2");
  EXPECT_EQ(art->metadata().at("golfpack.num_layers"), "4");
  EXPECT_EQ(art->metadata().at("golfpack.layer_scales"), "1");
  EXPECT_EQ(art->metadata().at("golfpack.extra_norm"), "1");
  auto unpacked = encode::UnpackToTensors(*art, /*keep_original_dtype=*/false);
  ASSERT_TRUE(unpacked.ok()) << unpacked.status().ToString();
  EXPECT_EQ(unpacked->metadata, ArchitectureMetadata(m->config()));
  auto back = ModelFromTensors(*unpacked, "m.gpk");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)->config().ToString(), m->config().ToString());
  torch::NoGradGuard g;
  torch::manual_seed(1);
  const auto ids = torch::randint(0, 50, {2, 16}, torch::kInt64);
  const double diff = ((*back)->forward(ids) - m->forward(ids)).abs().max().item<double>();
  EXPECT_LT(diff, 0.5);  // int8 rounding only
  // A baseline model's artifact gets no architecture keys.
  GPT plain(Tiny());
  auto plain_packed = encode::Pack(ExportWeights(plain), nullptr, *recipe, {});
  ASSERT_TRUE(plain_packed.ok());
  auto plain_art = gpk::Artifact::Parse(plain_packed->bytes, "p.gpk");
  ASSERT_TRUE(plain_art.ok());
  EXPECT_TRUE(io::ArchitectureMetadata(plain_art->metadata()).empty());
}

}  // namespace
}  // namespace golfpack::model
