// Codebooks (encoding 8 through codec/codebook.h), the fit/encode/decode
// interface of TensorEncoder, and rules:... recipe factory strings.
#include "codec/codebook.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstring>
#include <random>

#include "codec/encoder.h"
#include "core/encodings.h"
#include "plan/pack.h"
#include "plan/rd.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::Gaussian;

CodebookSamples Samples(std::vector<float> u) {
  CodebookSamples s;
  s.cols = u.size();
  s.u = std::move(u);
  return s;
}

// Lloyd-Max quantizers of N(0, 1) (Max 1960): 1 bit +-sqrt(2/pi); 2 bits
// +-0.4528, +-1.5104. Known values, not golfpack's.
TEST(Codebook, FitsTheLloydMaxLevelsOfAGaussian) {
  const auto g = Gaussian(1 << 20, 1.0f, 7);
  CodebookSpec spec;
  spec.iters = 200;
  spec.bits = 1;
  const CodebookSamples s = Samples(g);
  auto one = FitCodebook({&s, 1}, spec);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 2u);
  EXPECT_NEAR((*one)[0], -std::sqrt(2.0 / M_PI), 0.005);
  EXPECT_NEAR((*one)[1], std::sqrt(2.0 / M_PI), 0.005);
  spec.bits = 2;
  auto two = FitCodebook({&s, 1}, spec);
  ASSERT_TRUE(two.ok());
  const double want[] = {-1.5104, -0.4528, 0.4528, 1.5104};
  for (int k = 0; k < 4; ++k) EXPECT_NEAR((*two)[k], want[k], 0.01) << k;
}

TEST(Codebook, WeightsPullTheLevels) {
  // Two clusters, {0} x3 and {1} x1, one level: the weighted mean. Column
  // weights 1 and 3 (samples alternate columns 0, 1) make it 0.75 instead.
  CodebookSpec spec;
  spec.bits = 1;
  CodebookSamples s = Samples({0, 0, 0, 1, 5, 5, 5, 5});  // 1 bit: {0,0,0,1} and {5,...}
  auto plain = FitCodebook({&s, 1}, spec);
  ASSERT_TRUE(plain.ok());
  EXPECT_FLOAT_EQ((*plain)[0], 0.25f);
  EXPECT_FLOAT_EQ((*plain)[1], 5.0f);
  s.cols = 2;
  s.weight = {1.0, 3.0};  // elements 1 and 3 (values 0 and 1) weigh 3
  auto weighted = FitCodebook({&s, 1}, spec);
  ASSERT_TRUE(weighted.ok());
  EXPECT_FLOAT_EQ((*weighted)[0], (0 + 0 * 3 + 0 + 1 * 3) / 8.0f);
  CodebookSamples none;
  EXPECT_FALSE(FitCodebook({&none, 1}, spec).ok());
}

TEST(Codebook, EncodeDecodeMatchesTheFormulaAndTheReferenceDecoder) {
  const std::vector<uint64_t> shape{16, 64};
  const auto w = Gaussian(16 * 64, 0.05f, 3);
  for (const char* spec : {"cb4:row", "cb3:g16", "cb2:row:sf32", "cb8:g32:sbf16", "cb1:row"}) {
    SCOPED_TRACE(spec);
    auto enc = MakeEncoder(spec);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    EXPECT_EQ((*enc)->spec(), spec);
    EXPECT_EQ((*enc)->fit_scope(), TensorEncoder::FitScope::kTensor);
    EXPECT_FALSE((*enc)->fitted());
    EXPECT_FALSE((*enc)->Encode("t", shape, w, nullptr).ok());  // not fitted
    const FitTensor one{"t", shape, w, nullptr};
    ASSERT_TRUE((*enc)->Fit({&one, 1}).ok());
    ASSERT_TRUE((*enc)->fitted());
    auto e = (*enc)->Encode("t", shape, w, nullptr);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->encoding, gpk::kCodebook);
    EXPECT_EQ(e->refs, std::vector<uint32_t>{0});
    auto dec = (*enc)->Decode(*e);
    ASSERT_TRUE(dec.ok()) << dec.status().ToString();
    // The reference decoder, fed the same object.
    const auto objs = (*enc)->objects();
    ASSERT_EQ(objs.size(), 1u);
    const gpk::ObjectView view{objs[0].kind, {}, objs[0].payload};
    std::vector<float> ref(w.size());
    ASSERT_TRUE(gpk::DecodeRef(gpk::kCodebook, {e->shape, w.size(), e->params, e->payload, {&view, 1}}, ref).ok());
    EXPECT_EQ(0, std::memcmp(ref.data(), dec->data(), 4 * ref.size()));
    // Every value is a level times a scale, and the nearest such value.
    const auto* cb = dynamic_cast<const CodebookEncoder*>(enc->get());
    ASSERT_NE(cb, nullptr);
    auto scales = CodebookScales("t", shape, w, CodebookSpec{});
    double err = 0, err_mid = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      err += ((*dec)[i] - w[i]) * ((*dec)[i] - w[i]);
      err_mid += w[i] * w[i];
    }
    EXPECT_LT(err, err_mid);  // better than all zeros
  }
}

TEST(Codebook, NearestLevelIsTheNearestDecodedValue) {
  const std::vector<uint64_t> shape{8, 32};
  const auto w = Gaussian(8 * 32, 1.0f, 11);
  CodebookSpec spec;
  spec.bits = 3;
  spec.scale_dtype = 1;
  const std::vector<float> levels{-2.0f, -1.1f, -0.5f, -0.1f, 0.2f, 0.6f, 1.3f, 2.4f};
  auto e = EncodeCodebook("t", shape, w, spec, levels, nullptr);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const auto obj = CodebookObject("levels", levels);
  const gpk::ObjectView view{obj.kind, {}, obj.payload};
  std::vector<float> out(w.size());
  ASSERT_TRUE(gpk::DecodeRef(gpk::kCodebook, {e->shape, w.size(), e->params, e->payload, {&view, 1}}, out).ok());
  auto scales = CodebookScales("t", shape, w, spec);
  ASSERT_TRUE(scales.ok());
  for (size_t i = 0; i < w.size(); ++i) {
    const float s = (*scales)[i / 32];
    double best = 1e30;
    for (float l : levels) best = std::min(best, std::fabs(double(l * s) - w[i]));
    EXPECT_NEAR(std::fabs(double(out[i]) - w[i]), best, 1e-6) << i;
  }
  std::vector<float> unsorted = levels;
  std::swap(unsorted[0], unsorted[1]);
  EXPECT_FALSE(EncodeCodebook("t", shape, w, spec, unsorted, nullptr).ok());
  EXPECT_FALSE(EncodeCodebook("t", shape, w, spec, std::vector<float>(4), nullptr).ok());
}

TEST(Codebook, GptqLowersTheHessianWeightedError) {
  const uint64_t rows = 32, cols = 64;
  const std::vector<uint64_t> shape{rows, cols};
  const auto w = Gaussian(rows * cols, 0.05f, 5);
  // Correlated inputs: X = Z A with a mixing A.
  const auto z = Gaussian(512 * cols, 1.0f, 6), a = Gaussian(cols * cols, 0.3f, 8);
  Eigen::MatrixXd Z(512, cols), A(cols, cols);
  for (uint64_t i = 0; i < 512 * cols; ++i) Z(Eigen::Index(i / cols), Eigen::Index(i % cols)) = z[i];
  for (uint64_t i = 0; i < cols * cols; ++i) A(Eigen::Index(i / cols), Eigen::Index(i % cols)) = a[i];
  A += Eigen::MatrixXd::Identity(cols, cols);
  const Eigen::MatrixXd X = Z * A, H = X.transpose() * X;
  auto plain = MakeEncoder("cb3:row"), gptq = MakeEncoder("gptq:cb3:row");
  ASSERT_TRUE(plain.ok() && gptq.ok());
  EXPECT_TRUE((*gptq)->needs_hessian());
  const FitTensor one{"t", shape, w, &H};
  ASSERT_TRUE((*plain)->Fit({&one, 1}).ok());
  ASSERT_TRUE((*gptq)->Fit({&one, 1}).ok());
  EXPECT_FALSE((*gptq)->Encode("t", shape, w, nullptr).ok());  // needs a Hessian
  auto ep = (*plain)->Encode("t", shape, w, &H), eg = (*gptq)->Encode("t", shape, w, &H);
  ASSERT_TRUE(ep.ok() && eg.ok());
  auto dp = (*plain)->Decode(*ep), dg = (*gptq)->Decode(*eg);
  ASSERT_TRUE(dp.ok() && dg.ok());
  const double errp = HessianWeightedError(w, *dp, rows, cols, H), errg = HessianWeightedError(w, *dg, rows, cols, H);
  EXPECT_LT(errg, 0.8 * errp) << errg << " vs " << errp;
}

TEST(Codebook, SpecStringsAndErrors) {
  auto shared = MakeEncoder("gptq:cb3:g64:shared:noact:it20");
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  EXPECT_EQ((*shared)->spec(), "gptq:cb3:g64:shared:it20:noact");
  EXPECT_EQ((*shared)->fit_scope(), TensorEncoder::FitScope::kFamily);
  for (const char* bad : {"cb0:row", "cb9:row", "cb4", "cb4:g0", "cb4:row:damp0.1", "cb4:row:it0", "cb4:row:zz"}) {
    auto e = MakeEncoder(bad);
    EXPECT_FALSE(e.ok()) << bad;
    if (!e.ok()) EXPECT_NE(e.status().message().find(bad), std::string::npos) << e.status().message();
  }
  // Grids have nothing to fit: Fit is a no-op and they are always fitted.
  auto grid = MakeEncoder("u6:row:none");
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ((*grid)->fit_scope(), TensorEncoder::FitScope::kNone);
  EXPECT_TRUE((*grid)->fitted());
  EXPECT_TRUE((*grid)->objects().empty());
}

io::TensorFile FamilyModel() {
  io::TensorFile f;
  f.tensors.push_back(io::Tensor::FromFloat32("tok_emb.weight", {128, 64}, Gaussian(128 * 64, 0.05f, 1)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn_scale", {64}, Gaussian(64, 1.0f, 2)));
  for (int l = 0; l < 3; ++l) {
    const std::string b = "blocks." + std::to_string(l);
    f.tensors.push_back(io::Tensor::FromFloat32(b + ".attn.c_q.weight", {64, 64}, Gaussian(64 * 64, 0.05f, 10 + l)));
    f.tensors.push_back(io::Tensor::FromFloat32(b + ".mlp.fc.weight", {128, 64}, Gaussian(128 * 64, 0.05f, 20 + l)));
  }
  return f;
}

TEST(RulesRecipe, SharedCodebooksAreOneObjectPerRuleAndDecodeAsTheEncoderSays) {
  const io::TensorFile model = FamilyModel();
  auto shared = FindRecipe("rules:attn=cb3:row:shared,mlp=cb4:row:shared,codec=brotli");
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  auto r = Pack(model, nullptr, *shared, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto art = gpk::Artifact::Parse(r->bytes, "mem.gpk");
  ASSERT_TRUE(art.ok()) << art.status().ToString();
  EXPECT_EQ(art->version(), 2);
  ASSERT_EQ(art->objects().size(), 2u);  // one codebook per rule, whatever the layers
  auto all = art->DecodeAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  // The same family, fitted through the interface by hand, decodes alike.
  auto mlp = MakeEncoder("cb4:row:shared");
  ASSERT_TRUE(mlp.ok());
  std::vector<std::vector<float>> vals;
  std::vector<std::vector<uint64_t>> shapes;
  std::vector<size_t> idx;
  for (size_t i = 0; i < model.tensors.size(); ++i)
    if (model.tensors[i].name.find(".mlp.") != std::string::npos) {
      vals.push_back(*model.tensors[i].ToFloat32());
      shapes.emplace_back(model.tensors[i].shape.begin(), model.tensors[i].shape.end());
      idx.push_back(i);
    }
  std::vector<FitTensor> fam;
  for (size_t k = 0; k < vals.size(); ++k) fam.push_back({model.tensors[idx[k]].name, shapes[k], vals[k], nullptr});
  ASSERT_TRUE((*mlp)->Fit(fam).ok());
  for (size_t k = 0; k < idx.size(); ++k) {
    EXPECT_EQ(art->tensors()[idx[k]].encoding, gpk::kCodebook);
    auto e = (*mlp)->Encode(fam[k].name, shapes[k], vals[k], nullptr);
    ASSERT_TRUE(e.ok());
    auto d = (*mlp)->Decode(*e);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, (*all)[idx[k]]) << fam[k].name;
  }
  // Unmatched tensors fall through to PG's passthrough: control f32, the rest f16.
  EXPECT_EQ(art->tensors()[0].encoding, gpk::kRawF16);
  EXPECT_EQ(art->tensors()[1].encoding, gpk::kRawF32);

  // Per tensor: one object per codebook tensor (6), each counted.
  auto own = FindRecipe("rules:attn=cb3:row,mlp=cb4:row,codec=brotli");
  ASSERT_TRUE(own.ok());
  auto r2 = Pack(model, nullptr, *own, {});
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  auto art2 = gpk::Artifact::Parse(r2->bytes, "mem.gpk");
  ASSERT_TRUE(art2.ok());
  EXPECT_EQ(art2->objects().size(), 6u);
}

TEST(RulesRecipe, EveryNamedRecipeRoundTripsThroughItsFactoryString) {
  const io::TensorFile model = FamilyModel();
  for (const std::string& name : {"pg-int8-zlib", "gptq-int6-brotli", "record-lqer", "record-lqer:int4"}) {
    SCOPED_TRACE(name);
    auto named = FindRecipe(name);
    ASSERT_TRUE(named.ok());
    const std::string str = RecipeFactoryString(*named);
    ASSERT_EQ(str.rfind("rules:", 0), 0u) << str;
    auto parsed = FindRecipe(str);
    ASSERT_TRUE(parsed.ok()) << str << ": " << parsed.status().ToString();
    ASSERT_EQ(parsed->rules.size(), named->rules.size());
    for (size_t i = 0; i < named->rules.size(); ++i) {
      EXPECT_EQ(parsed->rules[i].match, named->rules[i].match) << i;
      EXPECT_EQ(parsed->rules[i].encoder, named->rules[i].encoder) << i;
    }
    EXPECT_EQ(parsed->codec, named->codec);
    EXPECT_EQ(parsed->level, named->level);
    EXPECT_EQ(parsed->shuffle, named->shuffle);
    EXPECT_EQ(parsed->one_section, named->one_section);
    EXPECT_EQ(parsed->lqer_top_k, named->lqer_top_k);
    EXPECT_EQ(parsed->lqer, named->lqer);
    EXPECT_EQ(RecipeFactoryString(*parsed), str);
  }
  // Packed (no Hessian needed): the same tensors, bit for bit.
  auto named = FindRecipe("pg-int8-zlib");
  auto parsed = FindRecipe(RecipeFactoryString(*named));
  auto a = Pack(model, nullptr, *named, {}), b = Pack(model, nullptr, *parsed, {});
  ASSERT_TRUE(a.ok() && b.ok());
  auto aa = gpk::Artifact::Parse(a->bytes, "a"), ab = gpk::Artifact::Parse(b->bytes, "b");
  ASSERT_TRUE(aa.ok() && ab.ok());
  EXPECT_EQ(*aa->DecodeAll(), *ab->DecodeAll());
}

TEST(RulesRecipe, BadStringsNameTheirFault) {
  const std::pair<const char*, const char*> cases[] = {
      {"rules:", "is not KEY=VALUE"},
      {"rules:codec=brotli", "no rule"},
      {"rules:matrix=u9:row:none", "bits '9'"},
      {"rules:weights=f16", "unknown key 'weights'"},
      {"rules:matrix=f16,codec=lz4", "codec 'lz4'"},
      {"rules:matrix=f16,shuffle=1", "shuffle"},
      {"rules:matrix=f16,level=x", "level 'x'"},
      {"rules:matrix=f16,lqer=3", "K@SPEC"},
      {"rules:matrix=f16,sections=all", "sections"},
      {"rules:matrix", "is not KEY=VALUE"},
  };
  for (const auto& [s, want] : cases) {
    auto r = FindRecipe(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_NE(r.status().message().find(want), std::string::npos) << s << ": " << r.status().message();
  }
}

TEST(RulesRecipe, RdPresets) {
  auto plain = FindRecipe("rd");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->rd_paths, RdDefaultPaths());
  EXPECT_FALSE(plain->rd_paths_named);
  EXPECT_EQ(RecipeFactoryString(*plain), "rd");
  auto all = FindRecipe("rd:all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->rd_paths, RdPathNames());
  EXPECT_TRUE(all->rd_paths_named);
  EXPECT_EQ(RecipeFactoryString(*all), "rd:all");
  auto protect = FindRecipe("rd:protect");
  ASSERT_TRUE(protect.ok());
  EXPECT_EQ(protect->rd_paths.size() + 1, RdPathNames().size());
  EXPECT_EQ(std::count(protect->rd_paths.begin(), protect->rd_paths.end(), "tcq"), 0);
  EXPECT_EQ(RecipeFactoryString(*protect), "rd:protect");
  auto some = FindRecipe("rd:grid,lqer");
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(RecipeFactoryString(*some), "rd:grid,lqer");
}

}  // namespace
}  // namespace golfpack::encode
