// Shared depth (K unique blocks over L layers, optional per-layer scales) and
// the extra RMSNorm before attn.proj / mlp.proj: forward semantics against
// explicit unshared / manual computations, safetensors round trips and the
// architecture metadata that InferConfig reads.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "model/weights.h"
#include "common/scratch.h"

namespace golfpack::model {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

std::string Tmp(const std::string& name) {
  fs::path d = golfpack::testing::ScratchDir("gp_arch_");
  fs::create_directories(d);
  return (d / name).string();
}

GPTConfig Small() {
  GPTConfig c;
  c.vocab_size = 40;
  c.num_layers = 6;
  c.model_dim = 32;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  return c;
}

GPTConfig Shared(int k, bool scales = false, bool extra_norm = false) {
  GPTConfig c = Small();
  c.num_unique_blocks = k;
  c.layer_scales = scales;
  c.extra_norm = extra_norm;
  return c;
}

// Every parameter random (PG's init zeroes the projections, which would hide
// most of the blocks' arithmetic).
void Randomize(GPT& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.normal_(0, 0.3);
}

torch::Tensor Ids(int64_t b, int64_t t, int vocab, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, vocab, {b, t}, torch::kInt64);
}

torch::Tensor Logits(GPT& m, const torch::Tensor& ids) {
  torch::NoGradGuard g;
  m->eval();
  return m->forward(ids);
}

// Copies `shared`'s block `from` into `plain`'s block `to` (same config but for sharing).
void CopyBlock(GPT& shared, int from, GPT& plain, int to) {
  torch::NoGradGuard g;
  auto src = shared->blocks[from]->named_parameters();
  auto dst = plain->blocks[to]->named_parameters();
  ASSERT_EQ(src.size(), dst.size());
  for (const auto& p : src) dst[p.key()].copy_(p.value());
}

void CopyOutside(GPT& shared, GPT& plain) {
  torch::NoGradGuard g;
  plain->tok_emb->weight.copy_(shared->tok_emb->weight);
  plain->skip_weights.copy_(shared->skip_weights);
}

TEST(SharedDepth, ForwardEqualsUnsharedModelWithCopiedBlocks) {
  GPT shared(Shared(3, /*scales=*/true));
  Randomize(shared, 1);
  {
    torch::NoGradGuard g;  // adapters of 1: plain copies of the blocks
    shared->layer_attn_scale.fill_(1.0);
    shared->layer_mlp_scale.fill_(1.0);
  }
  EXPECT_EQ(shared->blocks->size(), 3u);
  GPT plain(Small());
  CopyOutside(shared, plain);
  for (int l = 0; l < 6; ++l) CopyBlock(shared, l % 3, plain, l);  // the documented pattern: block l % K
  for (int64_t T : {16, 80}) {  // 80 > 64: the chunked attention too
    const auto ids = Ids(2, T, 40, 9);
    const auto a = Logits(shared, ids), b = Logits(plain, ids);
    EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << "T=" << T << " max diff " << (a - b).abs().max().item<float>();
  }
  // The pattern matters: contiguous groups (l * K / L) give another model.
  GPT grouped(Small());
  CopyOutside(shared, grouped);
  for (int l = 0; l < 6; ++l) CopyBlock(shared, l * 3 / 6, grouped, l);
  const auto ids = Ids(2, 16, 40, 9);
  EXPECT_GT((Logits(shared, ids) - Logits(grouped, ids)).abs().max().item<float>(), 1e-2);
}

TEST(SharedDepth, LayerScalesMultiplyEachApplicationsBranches) {
  GPT shared(Shared(2, /*scales=*/true));
  Randomize(shared, 2);  // layer scales random too
  GPT plain(Small());
  CopyOutside(shared, plain);
  {
    torch::NoGradGuard g;
    for (int l = 0; l < 6; ++l) {
      CopyBlock(shared, l % 2, plain, l);
      auto b = plain->blocks[l]->as<BlockImpl>();
      b->attn_scale.mul_(shared->layer_attn_scale[l]);
      b->mlp_scale.mul_(shared->layer_mlp_scale[l]);
    }
  }
  const auto ids = Ids(3, 24, 40, 4);
  const auto a = Logits(shared, ids), b = Logits(plain, ids);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << (a - b).abs().max().item<float>();
  // Gradients reach the adapters, and adapter_parameters() names them for the trainer.
  shared->train();
  shared->loss(ids, Ids(3, 24, 40, 5)).backward();
  const auto adapters = shared->adapter_parameters();
  ASSERT_EQ(adapters.size(), 2u);
  for (const auto& t : adapters) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_GT(t.grad().abs().sum().item<float>(), 0);
  }
  EXPECT_TRUE(GPT(Small())->adapter_parameters().empty());
}

TEST(SharedDepth, ConfigCountsStringsAndValidation) {
  GPTConfig c = Shared(3, true, true);
  ASSERT_TRUE(c.Validate().ok()) << c.Validate().ToString();
  EXPECT_EQ(c.ToString(), "6L(3 shared) d32 h4 kv2 mlp2x vocab40 tied layer-scales extra-norm");
  EXPECT_EQ(Small().ToString(), "6L d32 h4 kv2 mlp2x vocab40 tied");
  EXPECT_EQ(c.num_blocks(), 3);
  EXPECT_EQ(c.block_of(4), 1);
  GPT m(c);
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  EXPECT_EQ(c.NumParams(), n);
  GPTConfig plain_cfg = Small();
  EXPECT_EQ(plain_cfg.NumParams(), [&] {
    int64_t k = 0;
    for (const auto& p : GPT(plain_cfg)->parameters()) k += p.numel();
    return k;
  }());
  for (auto [k, scales, why] : {std::tuple{4, false, "does not divide"}, std::tuple{7, false, "exceeds"},
                                std::tuple{-1, false, ">= 0"}, std::tuple{0, true, "need shared depth"}}) {
    GPTConfig b = Shared(k, scales);
    const Status s = b.Validate();
    ASSERT_FALSE(s.ok()) << k;
    EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
  }
}

TEST(SharedDepth, SaveLoadRoundTripKeepsLogitsAndStoresOnlyUniqueBlocks) {
  const GPTConfig cfg = Shared(3, /*scales=*/true, /*extra_norm=*/true);
  GPT a(cfg);
  Randomize(a, 3);
  const std::string path = Tmp("shared.safetensors");
  ASSERT_TRUE(SaveModel(path, a, {{"golfpack.step", "7"}, {"golfpack.shared_depth", "99"}}).ok());
  auto file = io::ReadSafetensors(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  // Exactly the K unique blocks' tensors, each once, plus the adapters.
  std::set<int> block_ids;
  size_t block_tensors = 0;
  for (const auto& t : file->tensors) {
    if (t.name.rfind("blocks.", 0) != 0) continue;
    block_ids.insert(std::stoi(t.name.substr(7)));
    ++block_tensors;
  }
  EXPECT_EQ(block_ids, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(block_tensors, 3 * GPT(Small())->blocks[0]->named_parameters().size());
  ASSERT_NE(file->Find("layer_attn_scale"), nullptr);
  EXPECT_EQ(file->Find("layer_mlp_scale")->shape, (std::vector<int64_t>{6, 32}));
  EXPECT_EQ(file->metadata.at("golfpack.num_layers"), "6");
  EXPECT_EQ(file->metadata.at("golfpack.shared_depth"), "3");  // the model's own keys win over the caller's
  EXPECT_EQ(file->metadata.at("golfpack.layer_scales"), "1");
  EXPECT_EQ(file->metadata.at("golfpack.extra_norm"), "1");
  EXPECT_EQ(file->metadata.at("golfpack.step"), "7");

  auto b = LoadModel(path);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->config().ToString(), cfg.ToString());
  EXPECT_EQ((*b)->config().num_unique_blocks, 3);
  EXPECT_TRUE((*b)->config().layer_scales);
  EXPECT_TRUE((*b)->config().extra_norm);
  const auto ids = Ids(2, 20, 40, 6);
  EXPECT_TRUE(torch::equal(Logits(a, ids), Logits(*b, ids)));
}

TEST(SharedDepth, FileWithoutArchitectureMetadataInfersTheBaselineLayout) {
  GPT a(Small());
  io::TensorFile f = ExportWeights(a);
  EXPECT_TRUE(f.metadata.empty());  // baseline files stay metadata-free
  auto cfg = InferConfig(f, "m");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->num_layers, 6);
  EXPECT_EQ(cfg->num_unique_blocks, 0);
  EXPECT_FALSE(cfg->layer_scales);
  EXPECT_FALSE(cfg->extra_norm);
  // A shared model's tensors without the keys do not pass for a 3-layer
  // model: the U-Net skip weights count the L layers, not the K blocks.
  GPT s(Shared(3));
  io::TensorFile bare = ExportWeights(s);
  ASSERT_EQ(bare.metadata.size(), 3u);
  bare.metadata.clear();
  cfg = InferConfig(bare, "m");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("'skip_weights' has shape [3, 32], expected [1, 32]"), std::string::npos)
      << cfg.status().message();
  // Explicit zeros are the baseline.
  f.metadata = {{"golfpack.shared_depth", "0"}, {"golfpack.layer_scales", "0"}, {"golfpack.extra_norm", "0"},
                {"golfpack.num_layers", "6"}};
  cfg = InferConfig(f, "m");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->ToString(), "6L d32 h4 kv2 mlp2x vocab40 tied");
}

TEST(SharedDepth, BadMetadataIsOneClearErrorNamingFileAndKey) {
  GPT m(Shared(2, /*scales=*/false));  // 6 layers over 2 stored blocks
  const io::TensorFile good = ExportWeights(m);
  ASSERT_TRUE(InferConfig(good, "m.safetensors").ok());
  struct Case {
    std::string key, value, why;
  };
  const std::vector<Case> cases = {
      {"golfpack.num_layers", "5", "does not divide"},      // K = 2 does not divide 5 (reported on shared_depth)
      {"golfpack.num_layers", "1", "exceeds"},              // K = 2 > L = 1
      {"golfpack.shared_depth", "3", "does not match"},     // the file holds 2 blocks
      {"golfpack.shared_depth", "2x", "not an integer"},
      {"golfpack.shared_depth", " 2", "not an integer"},
      {"golfpack.num_layers", "6.0", "not an integer"},
      {"golfpack.num_layers", "", "not an integer"},
      {"golfpack.num_layers", "99999999999", "not an integer"},
      {"golfpack.num_layers", "-6", "not a positive"},
      {"golfpack.shared_depth", "-2", "negative"},
      {"golfpack.layer_scales", "yes", "not 0 or 1"},
      {"golfpack.extra_norm", "2", "not 0 or 1"},
  };
  for (const Case& c : cases) {
    io::TensorFile f = good;
    f.metadata[c.key] = c.value;
    auto r = InferConfig(f, "m.safetensors");
    ASSERT_FALSE(r.ok()) << c.key << "=" << c.value;
    const std::string& msg = r.status().message();
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << msg;
    EXPECT_EQ(msg.rfind("m.safetensors: metadata golfpack.", 0), 0u) << msg;
    const std::string named = c.why == "does not divide" || c.why == "exceeds" ? "golfpack.shared_depth" : c.key;
    EXPECT_NE(msg.find(named), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.why), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  io::TensorFile no_layers = good;
  no_layers.metadata.erase("golfpack.num_layers");
  auto r = InferConfig(no_layers, "m.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("golfpack.num_layers"), std::string::npos) << r.status().message();
  GPT plain(Small());
  io::TensorFile scales_alone = ExportWeights(plain);
  scales_alone.metadata["golfpack.layer_scales"] = "1";
  r = InferConfig(scales_alone, "m.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("golfpack.layer_scales"), std::string::npos) << r.status().message();
  io::TensorFile unshared_layers = ExportWeights(plain);
  unshared_layers.metadata["golfpack.num_layers"] = "9";
  r = InferConfig(unshared_layers, "m.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("golfpack.num_layers"), std::string::npos) << r.status().message();

  // Through a file: the path names the file.
  io::TensorFile bad = good;
  bad.metadata["golfpack.num_layers"] = "7";
  const std::string path = Tmp("bad_meta.safetensors");
  ASSERT_TRUE(io::WriteSafetensors(path, bad).ok());
  auto loaded = LoadModel(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            path + ": metadata golfpack.shared_depth = '2' does not divide golfpack.num_layers = 7");
}

TEST(ExtraNorm, ChangesTheOutputAndMatchesRmsNormBeforeEachProjection) {
  GPTConfig on = Small();
  on.num_layers = 1;
  on.extra_norm = true;
  GPTConfig off = on;
  off.extra_norm = false;
  GPT a(on), b(off);
  Randomize(a, 8);
  {
    torch::NoGradGuard g;
    auto pb = b->named_parameters();
    for (const auto& p : a->named_parameters()) pb[p.key()].copy_(p.value());
  }
  const auto ids = Ids(2, 12, 40, 1);
  EXPECT_GT((Logits(a, ids) - Logits(b, ids)).abs().max().item<float>(), 1e-2);

  // One block by hand: the unnormed block's attn.proj input, normed, then proj.
  torch::NoGradGuard g;
  auto block_on = a->blocks[0]->as<BlockImpl>();
  auto block_off = b->blocks[0]->as<BlockImpl>();
  torch::manual_seed(5);
  const auto x = torch::randn({2, 12, 32}), x0 = torch::randn({2, 12, 32});
  auto t = torch::arange(12, torch::kFloat32);
  auto inv = 1.0 / torch::pow(10000.0, torch::arange(0, 8, 2, torch::kFloat32) / 8.0);
  auto freqs = torch::outer(t, inv);
  const auto cos = freqs.cos().view({1, 1, 12, -1}), sin = freqs.sin().view({1, 1, 12, -1});
  torch::Tensor attn_heads;
  InputCapture grab = [&](const std::string& site, const torch::Tensor& v) {
    if (site == "attn.proj_in") attn_heads = v.view({2, 12, 32});
  };
  block_off->attn->capture = &grab;
  const auto mix = block_off->resid_mix[0] * x + block_off->resid_mix[1] * x0;
  block_off->attn(RmsNorm(mix), cos, sin);
  block_off->attn->capture = nullptr;
  ASSERT_TRUE(attn_heads.defined());
  const auto mid = mix + block_off->attn_scale * F::linear(RmsNorm(attn_heads), block_off->attn->proj->weight);
  const auto hidden = torch::relu(F::linear(RmsNorm(mid), block_off->mlp->fc->weight)).square();
  const auto want = mid + block_off->mlp_scale * F::linear(RmsNorm(hidden), block_off->mlp->proj->weight);
  const auto got = block_on->forward(x, x0, cos, sin);
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max().item<float>();
  EXPECT_GT((block_off->forward(x, x0, cos, sin) - want).abs().max().item<float>(), 1e-2);

  // Calibration sites see the normed inputs: mean square 1 per token.
  std::map<std::string, torch::Tensor> seen;
  a->set_input_capture([&](const std::string& site, const torch::Tensor& v) { seen[site] = v.clone(); });
  a->forward(ids);
  a->set_input_capture(nullptr);
  for (const char* site : {"blocks.0.attn.proj_in", "blocks.0.mlp.proj_in"}) {
    ASSERT_TRUE(seen.count(site)) << site;
    EXPECT_TRUE(torch::allclose(seen[site].pow(2).mean(-1), torch::ones({24}), 1e-4, 1e-4)) << site;
  }
}

TEST(SharedDepth, HessianSitesListOnlyUniqueBlocks) {
  const auto sites = io::HessianSites(2);
  ASSERT_EQ(sites.size(), 9u);
  EXPECT_EQ(sites.front(), "blocks.0.attn_in");
  EXPECT_EQ(sites[7], "blocks.1.mlp.proj_in");
  EXPECT_EQ(sites.back(), "head_in");
  // Every linear weight of a shared model maps into the list; the adapters are control tensors.
  GPT m(Shared(2, /*scales=*/true));
  std::set<std::string> listed(sites.begin(), sites.end()), used;
  for (const auto& p : m->named_parameters()) {
    const std::string s = io::HessianSite(p.key());
    if (p.value().dim() == 2 && !io::IsControlTensorName(p.key())) {
      EXPECT_TRUE(listed.count(s)) << p.key();
      used.insert(s);
    }
    if (p.key().rfind("layer_", 0) == 0) {
      EXPECT_TRUE(s.empty()) << p.key();
      EXPECT_TRUE(io::IsControlTensorName(p.key())) << p.key();
    }
  }
  EXPECT_EQ(used, listed);
}

}  // namespace
}  // namespace golfpack::model
