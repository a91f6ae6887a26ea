// Permutation symmetries (plan/symmetry.h): the canonical model computes the
// same function, and every reordering of a model has the same canonical form.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <map>
#include <random>

#include "model/weights.h"
#include "plan/symmetry.h"

namespace golfpack::model {
namespace {

GPTConfig Config(bool extra_norm = false, int unique = 0) {
  GPTConfig c;
  c.vocab_size = 48;
  c.num_layers = 4;
  c.model_dim = 32;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.extra_norm = extra_norm;
  if (unique) c.num_unique_blocks = unique;
  return c;
}

io::TensorFile RandomModel(const GPTConfig& c, uint64_t seed) {
  GPT m(c);
  torch::manual_seed(seed);
  {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.normal_(0, 0.3);
  }
  return ExportWeights(m);
}

torch::Tensor Logits(const io::TensorFile& f) {
  auto m = ModelFromTensors(f, "mem");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  torch::manual_seed(99);
  const auto ids = torch::randint(0, 48, {2, 24}, torch::kInt64);
  torch::NoGradGuard g;
  (*m)->eval();
  return (*m)->forward(ids);
}

const io::Tensor& T(const io::TensorFile& f, const std::string& n) { return *f.Find(n); }

TEST(Symmetry, CanonicalModelComputesTheSameLogits) {
  for (bool extra : {false, true}) {
    for (int unique : {0, 2}) {
      SCOPED_TRACE(std::string("extra_norm ") + (extra ? "on" : "off") + ", unique blocks " + std::to_string(unique));
      const GPTConfig c = Config(extra, unique);
      io::TensorFile f = RandomModel(c, 5);
      const io::TensorFile before = f;
      auto rep = encode::Canonicalize(f);
      ASSERT_TRUE(rep.ok()) << rep.status().ToString();
      // Something moved (random weights are not sorted), and the values are the same multiset.
      bool any = false;
      for (const auto& g : rep->groups) any |= g.moved;
      EXPECT_TRUE(any);
      EXPECT_NE(T(f, "blocks.0.mlp.fc.weight").data, T(before, "blocks.0.mlp.fc.weight").data);
      const auto a = Logits(before), b = Logits(f);
      EXPECT_LT((a - b).abs().max().item<float>(), 1e-4f);
      // log2(n!) per group: MLP 64 units, 2 KV groups, 2 heads in each; per unique block.
      const int blocks = unique ? unique : c.num_layers;
      const double want = blocks * (encode::Log2Factorial(64) + encode::Log2Factorial(2) + 2 * encode::Log2Factorial(2));
      EXPECT_NEAR(rep->bits, want, 1e-9);
    }
  }
}

TEST(Symmetry, EveryReorderingHasTheSameCanonicalForm) {
  const GPTConfig c = Config();
  io::TensorFile a = RandomModel(c, 7);
  // A random reordering of layer 1's MLP units and layer 2's heads, done by
  // hand (independently of the code under test).
  io::TensorFile b = a;
  std::mt19937 rng(3);
  {
    std::vector<int> p(64);
    std::iota(p.begin(), p.end(), 0);
    std::shuffle(p.begin(), p.end(), rng);
    auto fc = *T(b, "blocks.1.mlp.fc.weight").ToFloat32(), pr = *T(b, "blocks.1.mlp.proj.weight").ToFloat32();
    std::vector<float> fc2(fc.size()), pr2(pr.size());
    for (int i = 0; i < 64; ++i)
      for (int j = 0; j < 32; ++j) fc2[i * 32 + j] = fc[p[i] * 32 + j], pr2[j * 64 + i] = pr[j * 64 + p[i]];
    for (auto& t : b.tensors) {
      if (t.name == "blocks.1.mlp.fc.weight") t = io::Tensor::FromFloat32(t.name, t.shape, fc2);
      if (t.name == "blocks.1.mlp.proj.weight") t = io::Tensor::FromFloat32(t.name, t.shape, pr2);
    }
  }
  {  // swap the two KV groups of layer 2, and the two heads inside group 0
    const int hd = 8;
    const std::vector<int> heads{3, 2, 1, 0};  // group 1's heads (2, 3) first, then group 0's swapped
    auto q = *T(b, "blocks.2.attn.c_q.weight").ToFloat32(), k = *T(b, "blocks.2.attn.c_k.weight").ToFloat32(),
         v = *T(b, "blocks.2.attn.c_v.weight").ToFloat32(), o = *T(b, "blocks.2.attn.proj.weight").ToFloat32(),
         g = *T(b, "blocks.2.attn.q_gain").ToFloat32();
    auto q2 = q, k2 = k, v2 = v, o2 = o, g2 = g;
    for (int h = 0; h < 4; ++h) {
      g2[h] = g[heads[h]];
      for (int r = 0; r < hd; ++r)
        for (int j = 0; j < 32; ++j) {
          q2[(h * hd + r) * 32 + j] = q[(heads[h] * hd + r) * 32 + j];
          o2[j * 32 + h * hd + r] = o[j * 32 + heads[h] * hd + r];
        }
    }
    for (int gi = 0; gi < 2; ++gi)
      for (int r = 0; r < hd; ++r)
        for (int j = 0; j < 32; ++j) {
          k2[(gi * hd + r) * 32 + j] = k[((1 - gi) * hd + r) * 32 + j];
          v2[(gi * hd + r) * 32 + j] = v[((1 - gi) * hd + r) * 32 + j];
        }
    for (auto& t : b.tensors) {
      if (t.name == "blocks.2.attn.c_q.weight") t = io::Tensor::FromFloat32(t.name, t.shape, q2);
      if (t.name == "blocks.2.attn.c_k.weight") t = io::Tensor::FromFloat32(t.name, t.shape, k2);
      if (t.name == "blocks.2.attn.c_v.weight") t = io::Tensor::FromFloat32(t.name, t.shape, v2);
      if (t.name == "blocks.2.attn.proj.weight") t = io::Tensor::FromFloat32(t.name, t.shape, o2);
      if (t.name == "blocks.2.attn.q_gain") t = io::Tensor::FromFloat32(t.name, t.shape, g2);
    }
  }
  // The reordered model is the same function ...
  EXPECT_LT((Logits(a) - Logits(b)).abs().max().item<float>(), 1e-4f);
  ASSERT_NE(T(a, "blocks.1.mlp.fc.weight").data, T(b, "blocks.1.mlp.fc.weight").data);
  // ... and both land on the same canonical bytes.
  ASSERT_TRUE(encode::Canonicalize(a).ok());
  ASSERT_TRUE(encode::Canonicalize(b).ok());
  for (size_t i = 0; i < a.tensors.size(); ++i) EXPECT_EQ(a.tensors[i].data, b.tensors[i].data) << a.tensors[i].name;
  // Canonicalising a canonical model moves nothing.
  auto again = encode::Canonicalize(a);
  ASSERT_TRUE(again.ok());
  for (const auto& g : again->groups) EXPECT_FALSE(g.moved) << g.tensor << " " << g.kind;
}

TEST(Symmetry, VoOrthonormalisesVAndKeepsTheFunction) {
  const GPTConfig c = Config();
  io::TensorFile f = RandomModel(c, 9);
  const io::TensorFile before = f;
  auto rep = encode::Canonicalize(f, {.vo = true});
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_TRUE(rep->vo_applied);
  EXPECT_LT((Logits(before) - Logits(f)).abs().max().item<float>(), 1e-4f);
  for (int l = 0; l < c.num_layers; ++l) {
    const auto v = *T(f, "blocks." + std::to_string(l) + ".attn.c_v.weight").ToFloat32();  // [16, 32]: 2 groups of 8 rows
    for (int g = 0; g < 2; ++g)
      for (int a = 0; a < 8; ++a)
        for (int b = 0; b < 8; ++b) {
          double dot = 0;
          for (int j = 0; j < 32; ++j) dot += double(v[(g * 8 + a) * 32 + j]) * v[(g * 8 + b) * 32 + j];
          EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-5) << "layer " << l << " group " << g << " rows " << a << "," << b;
        }
  }
  // The extra RMSNorm before attn.proj is not invariant under it: left alone.
  GPTConfig e = Config(/*extra_norm=*/true);
  io::TensorFile fe = RandomModel(e, 9), fp = fe;
  auto re = encode::Canonicalize(fe, {.vo = true});
  ASSERT_TRUE(re.ok());
  EXPECT_FALSE(re->vo_applied);
  ASSERT_TRUE(encode::Canonicalize(fp).ok());
  for (size_t i = 0; i < fe.tensors.size(); ++i) EXPECT_EQ(fe.tensors[i].data, fp.tensors[i].data) << fe.tensors[i].name;
}

TEST(Symmetry, HessiansFollowTheReorderingAndTheVoTransform) {
  const GPTConfig c = Config();
  io::TensorFile f = RandomModel(c, 4);
  auto rep = encode::Canonicalize(f, {.vo = true});
  ASSERT_TRUE(rep.ok());
  // Inputs X of layer 0's attn.proj (32 wide) and mlp.proj (64 wide), random.
  torch::manual_seed(5);
  const auto xa = torch::randn({200, 32}, torch::kFloat64), xm = torch::randn({200, 64}, torch::kFloat64);
  auto eig = [](const torch::Tensor& x) {
    Eigen::MatrixXd m(x.size(0), x.size(1));
    auto a = x.accessor<double, 2>();
    for (int64_t i = 0; i < x.size(0); ++i)
      for (int64_t j = 0; j < x.size(1); ++j) m(i, j) = a[i][j];
    return m;
  };
  const Eigen::MatrixXd Xa = eig(xa), Xm = eig(xm);
  std::map<std::string, Eigen::MatrixXd> sites{{"blocks.0.attn.proj_in", Xa.transpose() * Xa},
                                               {"blocks.0.mlp.proj_in", Xm.transpose() * Xm}};
  auto h = encode::Hessians::FromSites(sites, 200);
  auto h2 = encode::PermuteHessians(h, *rep);
  ASSERT_TRUE(h2.ok()) << h2.status().ToString();
  // Directly: the reordered model's inputs are the columns in the new order,
  // then each head block times T_h^T.
  const auto& pa = rep->site_perm.at("blocks.0.attn.proj_in");
  const auto& pm = rep->site_perm.at("blocks.0.mlp.proj_in");
  const auto& tb = rep->site_block_transform.at("blocks.0.attn.proj_in");
  Eigen::MatrixXd Xa2(200, 32), Xm2(200, 64);
  for (int j = 0; j < 32; ++j) Xa2.col(j) = Xa.col(Eigen::Index(pa[size_t(j)]));
  for (int j = 0; j < 64; ++j) Xm2.col(j) = Xm.col(Eigen::Index(pm[size_t(j)]));
  for (int hh = 0; hh < 4; ++hh) Xa2.middleCols(hh * 8, 8) = (Xa2.middleCols(hh * 8, 8) * tb[size_t(hh)].transpose()).eval();
  EXPECT_LT((*h2->ForSite("blocks.0.attn.proj_in") - Xa2.transpose() * Xa2).cwiseAbs().maxCoeff(), 1e-8);
  EXPECT_LT((*h2->ForSite("blocks.0.mlp.proj_in") - Xm2.transpose() * Xm2).cwiseAbs().maxCoeff(), 1e-8);
}

TEST(Symmetry, BadShapesAreNamed) {
  io::TensorFile f = RandomModel(Config(), 1);
  for (auto& t : f.tensors)
    if (t.name == "blocks.0.mlp.proj.weight") t = io::Tensor::FromFloat32(t.name, {32, 63}, std::vector<float>(32 * 63));
  auto r = encode::Canonicalize(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("blocks.0.mlp.proj.weight"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace golfpack::model
