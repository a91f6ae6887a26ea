#include "eval/calibrate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "eval/sensitivity.h"
#include "io/shards.h"
#include "common/scratch.h"

namespace golfpack::eval {
namespace {

namespace fs = std::filesystem;

std::string WriteShard() {
  fs::path d = golfpack::testing::ScratchDir("gp_calib_");
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

// The tiny model with N(0, 0.3) weights from a seed.
model::GPT RandomTiny(uint64_t seed) {
  torch::manual_seed(seed);
  model::GPT m(Tiny());
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.normal_(0, 0.3);
  return m;
}

TEST(Calibrate, OneSymmetricHessianPerInputSiteWithNormedTraces) {
  const std::string dir = WriteShard();
  model::GPT m = RandomTiny(2);
  CalibrationOptions o;
  o.train_pattern = dir + "/fineweb_train_*.bin";
  o.tokens = 1000;  // -> 15 sequences of 64
  o.seq_len = 64;
  auto cal = Calibrate(m, o, {});
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  EXPECT_EQ(cal->tokens, 960);
  EXPECT_EQ(cal->hessians.size(), 3u * 4 + 1);  // 4 sites per block + head
  // Token counts: the first 960 tokens of the shard, counted independently.
  auto stream = io::TokenStream::Open(o.train_pattern);
  ASSERT_TRUE(stream.ok());
  auto ids = stream->Take(960);
  ASSERT_TRUE(ids.ok());
  std::vector<double> want(size_t(m->config().vocab_size), 0.0);
  for (uint16_t t : *ids) want[t] += 1;
  EXPECT_EQ(cal->token_counts, want);
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

// eval's file functions are converters over encode::Hessians (plan/calibration.h):
// the float64 values, tokens, seq_len, sensitivities and notes survive both
// directions exactly, and a file either reader loads is the same file.
TEST(Calibrate, TorchAndEigenCalibrationsConvertExactlyAndShareOneFile) {
  Calibration c;
  c.tokens = 960;
  c.seq_len = 64;
  torch::manual_seed(3);
  c.hessians.emplace("head_in", torch::randn({32, 32}, torch::kFloat64));  // not symmetric: orientation shows
  c.hessians.emplace("blocks.0.mlp.proj_in", torch::randn({64, 64}, torch::kFloat64));
  c.sensitivity = {{"tok_emb.weight", 0.25}};
  c.tcq_sensitivity = {{"tok_emb.weight", 0.375}};
  c.notes = {{"golfpack.sensitivity_spearman_fitted", "0.7877"}};
  c.token_counts = {5, 0, 955};
  const encode::Hessians h = ToHessians(c);
  EXPECT_EQ(h.token_counts(), c.token_counts);
  EXPECT_EQ(h.tokens(), 960);
  EXPECT_EQ(h.seq_len(), 64);
  EXPECT_EQ((*h.ForSite("head_in"))(2, 7), c.hessians.at("head_in")[2][7].item<double>());
  const Calibration back = FromHessians(h);
  ASSERT_EQ(back.hessians.size(), 2u);
  for (const auto& [site, t] : c.hessians) EXPECT_TRUE(torch::equal(back.hessians.at(site), t)) << site;
  EXPECT_EQ(back.tokens, 960);
  EXPECT_EQ(back.seq_len, 64);
  EXPECT_EQ(back.sensitivity, c.sensitivity);
  EXPECT_EQ(back.tcq_sensitivity, c.tcq_sensitivity);
  EXPECT_EQ(back.notes, c.notes);
  EXPECT_EQ(back.token_counts, c.token_counts);

  const std::string path = (golfpack::testing::ScratchDir("gp_calib_conv_") / "calib.safetensors").string();
  ASSERT_TRUE(SaveCalibration(path, c).ok());
  auto loaded = LoadCalibration(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto eigen = encode::Hessians::Load(path);
  ASSERT_TRUE(eigen.ok()) << eigen.status().ToString();
  EXPECT_EQ(loaded->notes, c.notes);
  EXPECT_EQ(loaded->token_counts, c.token_counts);
  EXPECT_EQ(eigen->Sensitivity("tok_emb.weight"), 0.25);
  EXPECT_EQ(eigen->TcqSensitivity("tok_emb.weight"), 0.375);
  EXPECT_EQ(loaded->tcq_sensitivity, c.tcq_sensitivity);
  for (const auto& [site, t] : c.hessians) {
    // Stored as float32: both readers see the float32-rounded values.
    EXPECT_TRUE(torch::equal(loaded->hessians.at(site), t.to(torch::kFloat32).to(torch::kFloat64))) << site;
    EXPECT_TRUE(torch::equal(FromHessians(*eigen).hessians.at(site), loaded->hessians.at(site))) << site;
  }
  fs::remove(path);
}

// The row Fisher from retained output gradients equals an independent
// computation from the weight gradients: with sequences of 2 tokens each
// sequence makes one prediction from one input token, so dL/dW = g x^T and
// row i of dL/dW has squared norm g_i^2 |x|^2.
TEST(Calibrate, RowFisherMatchesWeightGradientsOfOneTokenSequences) {
  const std::string dir = WriteShard();
  model::GPT m = RandomTiny(4);
  CalibrationOptions o;
  o.train_pattern = dir + "/fineweb_train_*.bin";
  o.tokens = 40;  // 20 sequences of 2
  o.seq_len = 2;
  o.threads = 1;
  o.row_fisher_floor = 0.1;
  auto cal = Calibrate(m, o, {});
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  ASSERT_EQ(cal->row_fisher.size(), 3u * 6);  // c_q, c_k, c_v, attn.proj, fc, mlp.proj per block
  EXPECT_EQ(cal->row_fisher.at("blocks.0.attn.c_k.weight").size(0), 16);  // kv_dim
  EXPECT_EQ(cal->row_fisher.at("blocks.1.mlp.fc.weight").size(0), 64);
  EXPECT_FALSE(cal->row_fisher.count("tok_emb.weight"));

  auto stream = io::TokenStream::Open(o.train_pattern);
  ASSERT_TRUE(stream.ok());
  auto ids = stream->Take(40);
  ASSERT_TRUE(ids.ok());
  std::map<std::string, torch::Tensor> inputs;  // site -> [1, in] of the current sequence
  m->set_input_capture([&](const std::string& site, const torch::Tensor& x) { inputs[site] = x.detach().clone(); });
  std::map<std::string, torch::Tensor> want, want_hw;
  for (int s = 0; s < 20; ++s) {
    auto x = torch::tensor({int64_t((*ids)[2 * s])}, torch::kInt64).view({1, 1});
    auto y = torch::tensor({int64_t((*ids)[2 * s + 1])}, torch::kInt64).view({1, 1});
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    m->token_losses(x, y).sum().backward();
    for (const auto& p : m->named_parameters()) {
      if (!cal->row_fisher.count(p.key())) continue;
      const torch::Tensor in = inputs.at(model::HessianSite(p.key())).to(torch::kFloat64);
      auto r = p.value().grad().to(torch::kFloat64).square().sum(1) / in.square().sum();
      if (want.count(p.key())) want[p.key()] += r;
      else want[p.key()] = r;
      // One token: (dL/dy_i)^2 * y_i * x, y = W x.
      auto hw = (r.unsqueeze(1) * p.value().to(torch::kFloat64).matmul(in.t())) * in;
      if (want_hw.count(p.key())) want_hw[p.key()] += hw;
      else want_hw[p.key()] = hw;
    }
  }
  m->set_input_capture(nullptr);
  for (const auto& [w, f] : want) {
    EXPECT_TRUE(torch::allclose(cal->row_fisher.at(w), f, 1e-4, 1e-10)) << w;
    // One position: the softmax is 1 whatever q and k are, so only they get no gradient.
    const bool qk = w.find("c_q") != std::string::npos || w.find("c_k") != std::string::npos;
    EXPECT_EQ(f.sum().item<double>() > 0, !qk) << w;
    ASSERT_TRUE(cal->row_hw.count(w)) << w;
    const torch::Tensor& hw = cal->row_hw.at(w);
    EXPECT_EQ(hw.sizes(), want_hw.at(w).sizes()) << w;
    // Signed sums of float32 values: within 1e-5 of the largest entry.
    const double scale = want_hw.at(w).abs().max().item<double>();
    EXPECT_LE((hw - want_hw.at(w)).abs().max().item<double>(), 1e-5 * scale) << w;  // float32 model
    EXPECT_EQ(hw.abs().sum().item<double>() > 0, !qk) << w;
  }
  EXPECT_EQ(cal->row_hw.size(), cal->row_fisher.size());

  // Saved and loaded with the Hessians (as float32).
  const std::string path = dir + "/fisher.safetensors";
  ASSERT_TRUE(SaveCalibration(path, *cal).ok());
  auto back = LoadCalibration(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->row_fisher.size(), cal->row_fisher.size());
  for (const auto& [w, f] : cal->row_fisher)
    EXPECT_TRUE(torch::equal(back->row_fisher.at(w), f.to(torch::kFloat32).to(torch::kFloat64))) << w;
  ASSERT_EQ(back->row_hw.size(), cal->row_hw.size());
  for (const auto& [w, v] : cal->row_hw)
    EXPECT_TRUE(torch::equal(back->row_hw.at(w), v.to(torch::kFloat32).to(torch::kFloat64))) << w;

  // rd's default floor is the one the file's sensitivities were fitted with.
  encode::Hessians h = ToHessians(*back);
  EXPECT_EQ(h.RowFisherFloor(), 0.1);  // Calibrate notes the floor
  o.row_fisher_floor = -1;
  auto plain = Calibrate(m, o, {});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->row_fisher.empty());
  EXPECT_TRUE(plain->row_hw.empty());
  EXPECT_FALSE(ToHessians(*plain).RowFisherFloor().has_value());
  h.set_note(encode::kRowFisherFloorNote, "0.25");
  EXPECT_EQ(h.RowFisherFloor(), 0.25);
  EXPECT_EQ(h.RowWeights("blocks.1.mlp.fc.weight", 64, 0.3, 0.25).size(), 64u);
  h.set_row_fisher({});
  EXPECT_FALSE(h.RowFisherFloor().has_value());  // a note without a row Fisher is no floor
}

// Worker threads (each on a copy of the model) sum the same Hessians and
// measure the same losses as one thread.
TEST(Calibrate, WorkerThreadsGiveTheSameHessiansAndSensitivities) {
  const std::string dir = WriteShard();
  model::GPT m = RandomTiny(2);
  const int threads_before = torch::get_num_threads();
  CalibrationOptions o;
  o.train_pattern = dir + "/fineweb_train_*.bin";
  o.tokens = 1000;
  o.seq_len = 64;
  o.threads = 1;
  o.row_fisher_floor = -1;  // the H pass alone (the row Fisher runs one model)
  auto one = Calibrate(m, o, {});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->threads, 1);
  o.threads = 3;
  std::vector<uint64_t> done;
  auto three = Calibrate(m, o, [&](const Progress& p) { done.push_back(p.done); });
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  EXPECT_EQ(three->threads, 3);
  EXPECT_EQ(three->tokens, one->tokens);
  ASSERT_EQ(done.size(), 4u);  // 15 sequences in batches of 4; counts only go up
  EXPECT_TRUE(std::is_sorted(done.begin(), done.end()));
  EXPECT_EQ(done.back(), 960u);
  for (const auto& [site, h] : one->hessians)
    EXPECT_TRUE(torch::allclose(three->hessians.at(site), h, 1e-12, 1e-9)) << site;

  SensitivityOptions so;
  so.train_pattern = o.train_pattern;
  so.tokens = 64 * 6;
  so.seq_len = 64;
  so.probe_spec = "u2:row:none";
  so.check_spec = "u3:row:none";
  so.threads = 1;
  auto s1 = MeasureSensitivity(m, *one, so, {});
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  so.threads = 2;
  auto s2 = MeasureSensitivity(m, *one, so, {});
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  EXPECT_EQ(s1->threads, 1);
  EXPECT_EQ(s2->threads, 2);
  EXPECT_TRUE(s2->activations_reused);
  // One worker runs on libtorch's threads, whose OpenBLAS matrix products sum
  // in another order on some CPUs (a 2-core Xeon gave 4e-9 on a loss of 5.2),
  // so float32 rounding, not a missed probe, sets the tolerance.
  constexpr double kTol = 1e-7;
  EXPECT_NEAR(s2->base_loss, s1->base_loss, kTol);
  ASSERT_EQ(s2->tensors.size(), s1->tensors.size());
  for (size_t i = 0; i < s1->tensors.size(); ++i) {
    EXPECT_NEAR(s2->tensors[i].dloss_probe, s1->tensors[i].dloss_probe, kTol) << s1->tensors[i].name;
    EXPECT_NEAR(s2->tensors[i].dloss_check, s1->tensors[i].dloss_check, kTol) << s1->tensors[i].name;
  }
  EXPECT_EQ(torch::get_num_threads(), threads_before);  // the workers' single-threaded settings are undone
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

// A gptq probe is quantized with the calibration's Hessian of its input, as
// rd's candidates are: at the same grid its proxy tr(E H E^T) is below plain
// rounding's for every weight (GPTQ minimizes it), and a trellis probe runs.
TEST(Sensitivity, GptqProbesUseTheCalibrationHessian) {
  const std::string dir = WriteShard();
  model::GPT m = RandomTiny(2);
  CalibrationOptions o;
  o.train_pattern = dir + "/fineweb_train_*.bin";
  o.tokens = 1000;
  o.seq_len = 64;
  o.row_fisher_floor = -1;
  auto cal = Calibrate(m, o, {});
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  SensitivityOptions so;
  so.train_pattern = o.train_pattern;
  so.tokens = 64 * 2;
  so.seq_len = 64;
  so.probe_spec = "gptq:ans:s1:row";
  so.check_spec = "ans:s1:row";
  auto s = MeasureSensitivity(m, *cal, so, {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_FALSE(s->tensors.empty());
  for (const auto& t : s->tensors) EXPECT_LT(t.proxy_probe, t.proxy_check) << t.name;
  so.probe_spec = "gptq:tcq:s0.7:st3";
  so.check_spec = "tcq:s0.7:st3";
  auto tr = MeasureSensitivity(m, *cal, so, {});
  ASSERT_TRUE(tr.ok()) << tr.status().ToString();
  for (const auto& t : tr->tensors) {
    EXPECT_GT(t.proxy_check, 0) << t.name;
    EXPECT_LT(t.proxy_probe, t.proxy_check) << t.name;
    EXPECT_EQ(t.proxy_tcq, 0) << t.name;  // no third probe asked for
  }
  // A third, trellis probe: fitted like the first, the other two unchanged.
  so.probe_spec = "gptq:ans:s1:row";
  so.check_spec = "ans:s1:row";
  so.tcq_probe_spec = "gptq:tcq:s0.7:st3";
  auto three = MeasureSensitivity(m, *cal, so, {});
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  ASSERT_EQ(three->tensors.size(), s->tensors.size());
  for (size_t i = 0; i < s->tensors.size(); ++i) {
    const auto &a = three->tensors[i], &b = s->tensors[i];
    EXPECT_EQ(a.dloss_probe, b.dloss_probe) << a.name;
    EXPECT_EQ(a.dloss_check, b.dloss_check) << a.name;
    EXPECT_EQ(a.sensitivity, b.sensitivity) << a.name;
    EXPECT_EQ(a.proxy_tcq, tr->tensors[i].proxy_probe) << a.name;  // the same trellis roundtrip
    EXPECT_NEAR(a.dloss_tcq, tr->tensors[i].dloss_probe, 1e-12) << a.name;
    if (!a.tcq_imputed) EXPECT_DOUBLE_EQ(a.tcq_sensitivity, a.dloss_tcq / a.proxy_tcq) << a.name;
    EXPECT_GT(a.tcq_sensitivity, 0) << a.name;
  }
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
