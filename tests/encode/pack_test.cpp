#include "plan/pack.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/encodings.h"
#include "core/file_util.h"
#include "codec/codecs.h"
#include "codec/quantize.h"
#include "io/safetensors.h"
#include "test_helpers.h"
#include "common/scratch.h"

namespace golfpack::encode {
namespace {

using testing::Gaussian;

// A miniature PG-named model: one tensor per recipe rule.
io::TensorFile TinyModel() {
  io::TensorFile f;
  f.tensors.push_back(io::Tensor::FromFloat32("tok_emb.weight", {300, 256}, Gaussian(300 * 256, 0.05f, 1)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn_scale", {256}, Gaussian(256, 1.0f, 2)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn.c_k.weight", {128, 256}, Gaussian(128 * 256, 0.05f, 3)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.mlp.fc.weight", {512, 256}, Gaussian(512 * 256, 0.05f, 4)));
  return f;
}

TEST(PackRecipes, PgInt8ZlibAssignsPgRulesAndDecodesByTheFormula) {
  io::TensorFile model = TinyModel();
  auto recipe = FindRecipe("pg-int8-zlib");
  ASSERT_TRUE(recipe.ok());
  auto r = Pack(model, nullptr, *recipe, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto art = gpk::Artifact::Parse(r->bytes, "mem.gpk");
  ASSERT_TRUE(art.ok()) << art.status().ToString();
  ASSERT_EQ(art->sections().size(), 1u);
  EXPECT_EQ(art->sections()[0].codec, gpk::Codec::kZlib);
  EXPECT_EQ(art->metadata().at("golfpack.recipe"), "pg-int8-zlib");
  const auto& t = art->tensors();
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].encoding, gpk::kPgInt8Row);  // 76,800 elements > 65,536
  EXPECT_EQ(t[1].encoding, gpk::kRawF32);     // control tensor
  EXPECT_EQ(t[2].encoding, gpk::kRawF16);     // 32,768 elements: PG keeps it as fp16
  EXPECT_EQ(t[3].encoding, gpk::kPgInt8Row);

  // Control tensor: exact. Small tensor: one fp16 rounding.
  auto control = art->DecodeTensor(1);
  ASSERT_TRUE(control.ok());
  auto orig = *model.tensors[1].ToFloat32();
  EXPECT_EQ(0, std::memcmp(control->data(), orig.data(), orig.size() * 4));
  auto small = art->DecodeTensor(2);
  ASSERT_TRUE(small.ok());
  auto small_orig = *model.tensors[2].ToFloat32();
  for (size_t i = 0; i < small->size(); ++i)
    ASSERT_EQ((*small)[i], io::HalfToFloat(io::FloatToHalf(small_orig[i]))) << i;

  // Matrix: value[r, c] == f32(q[r, c]) * f32(fp16 scale[r]) exactly, read
  // straight from the payload bytes (FORMAT.md, encoding 3), and within half
  // a step of the original weight.
  auto section = art->SectionBytes(0);
  ASSERT_TRUE(section.ok());
  auto emb = art->DecodeTensor(0);
  ASSERT_TRUE(emb.ok());
  const uint8_t* p = section->data() + t[0].offset;
  auto w = *model.tensors[0].ToFloat32();
  for (int row = 0; row < 300; ++row) {
    uint16_t hbits = static_cast<uint16_t>(p[2 * row] | (p[2 * row + 1] << 8));
    const float scale = io::HalfToFloat(hbits);
    for (int c = 0; c < 256; ++c) {
      const int8_t q = static_cast<int8_t>(p[600 + row * 256 + c]);
      ASSERT_EQ((*emb)[row * 256 + c], static_cast<float>(q) * scale);
      ASSERT_LE(std::abs(q), 127);
      ASSERT_NEAR((*emb)[row * 256 + c], w[row * 256 + c], 0.5f * scale * 1.01f + 1e-7f);
    }
  }
  // Fast and reference decoders agree on every tensor.
  for (size_t i = 0; i < t.size(); ++i) {
    auto a = art->DecodeTensor(i), b = gpk::DecodeTensorRef(*art, i);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << t[i].name;
  }
  EXPECT_EQ(r->file_bytes, r->bytes.size());
  EXPECT_EQ(r->counted_bytes, r->file_bytes + DecoderCodeBytes());
  EXPECT_GT(DecoderCodeBytes(), 10000u);  // the decoder sources were measured
}

TEST(PackRecipes, RdFactoryStringNamesItsPaths) {
  auto all = FindRecipe("rd");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->rd_paths, RdDefaultPaths());
  auto some = FindRecipe("rd:grid,rowalloc,lqer");
  ASSERT_TRUE(some.ok()) << some.status().ToString();
  EXPECT_EQ(some->name, "rd");
  EXPECT_EQ(some->rd_paths, (std::vector<std::string>{"grid", "rowalloc", "lqer"}));
  EXPECT_TRUE(some->rules.empty());
  for (const char* bad : {"rd:", "rd:grid,,lqer", "rd:grid,"}) {
    auto r = FindRecipe(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("empty path name"), std::string::npos) << r.status().ToString();
  }
}

TEST(PackRecipes, BudgetIsCheckedAgainstFilePlusCode) {
  io::TensorFile model = TinyModel();
  auto recipe = FindRecipe("pg-int8-zlib");
  PackOptions o;
  o.code_bytes = 1000;
  o.code_bytes_set = true;
  auto fits = Pack(model, nullptr, *recipe, o);
  ASSERT_TRUE(fits.ok());
  o.budget = fits->counted_bytes;  // exactly at the cap: accepted
  ASSERT_TRUE(Pack(model, nullptr, *recipe, o).ok());
  o.budget = fits->counted_bytes - 1;
  auto over = Pack(model, nullptr, *recipe, o);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("over --budget " + std::to_string(o.budget) + " by 1 bytes"), std::string::npos)
      << over.status().message();
}

TEST(PackRecipes, GptqRecipeNeedsCalibrationAndUsesIt) {
  io::TensorFile model = TinyModel();
  auto recipe = FindRecipe("gptq-int6-brotli");
  ASSERT_TRUE(recipe.ok());
  auto no_calib = Pack(model, nullptr, *recipe, {});
  ASSERT_FALSE(no_calib.ok());
  EXPECT_NE(no_calib.status().message().find("golfpack calibrate"), std::string::npos);

  // A calibration file as `golfpack calibrate` writes it (sites + metadata).
  io::TensorFile cal;
  auto eye = [](const std::string& site, int n) {
    std::vector<float> v(n * n, 0.f);
    for (int i = 0; i < n; ++i) v[i * n + i] = 100.f + i;
    return io::Tensor::FromFloat32(site, {n, n}, v);
  };
  cal.tensors = {eye("blocks.0.attn_in", 256), eye("blocks.0.mlp_in", 256), eye("head_in", 256)};
  cal.metadata = {{"golfpack.calibration", "hessian-v1"}, {"golfpack.tokens", "4096"}, {"golfpack.seq_len", "64"}};
  const auto path = (golfpack::testing::ScratchDir("gp_pack_") / "calib.safetensors").string();
  ASSERT_TRUE(io::WriteSafetensors(path, cal).ok());
  auto h = Hessians::Load(path);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->tokens(), 4096);
  EXPECT_NE(h->ForWeight("blocks.0.attn.c_k.weight"), nullptr);
  EXPECT_EQ(h->ForWeight("blocks.0.attn.proj.weight"), nullptr);

  auto r = Pack(model, &*h, *recipe, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto art = gpk::Artifact::Parse(r->bytes, "mem.gpk");
  ASSERT_TRUE(art.ok());
  EXPECT_EQ(art->sections()[0].codec, gpk::Codec::kBrotli);
  EXPECT_EQ(art->sections()[0].shuffle, 0);  // no shuffle, no objects: still version 1
  EXPECT_EQ(art->version(), 1);
  const auto& t = art->tensors();
  auto bits = [&](size_t i) { return gpk::UniformParams::Parse(t[i].params)->bits; };
  EXPECT_EQ(t[0].encoding, gpk::kUniform);
  EXPECT_EQ(bits(0), 8);  // embedding: int8 SD-Clip
  EXPECT_EQ(t[1].encoding, gpk::kRawF32);
  EXPECT_EQ(t[2].encoding, gpk::kUniform);  // every matrix, even a small one, gets GPTQ int6
  EXPECT_EQ(bits(2), 6);
  EXPECT_EQ(bits(3), 6);
  EXPECT_LT(r->file_bytes, Pack(model, nullptr, *FindRecipe("pg-int8-zlib"), {})->file_bytes);
}

// record-lqer: the records' export, with the matrix bit width as a parameter.
TEST(PackRecipes, RecordLqerCorrectsTheWorstMatricesAndTakesTheBitWidth) {
  io::TensorFile model = TinyModel();
  // Two more matrices, so that the top 3 by error is a real choice of 3 out of 4.
  model.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn.proj.weight", {256, 256}, Gaussian(256 * 256, 0.01f, 5)));
  model.tensors.push_back(io::Tensor::FromFloat32("blocks.0.mlp.proj.weight", {256, 512}, Gaussian(256 * 512, 0.08f, 6)));
  io::TensorFile cal;
  auto eye = [](const std::string& site, int n) {
    std::vector<float> v(n * n, 0.f);
    for (int i = 0; i < n; ++i) v[i * n + i] = 100.f + i;
    return io::Tensor::FromFloat32(site, {n, n}, v);
  };
  cal.tensors = {eye("blocks.0.attn_in", 256), eye("blocks.0.attn.proj_in", 256), eye("blocks.0.mlp_in", 256),
                 eye("blocks.0.mlp.proj_in", 512), eye("head_in", 256)};
  cal.metadata = {{"golfpack.calibration", "hessian-v1"}, {"golfpack.tokens", "4096"}, {"golfpack.seq_len", "64"}};
  const auto path = (golfpack::testing::ScratchDir("gp_pack_") / "lqer.safetensors").string();
  ASSERT_TRUE(io::WriteSafetensors(path, cal).ok());
  auto h = Hessians::Load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(h.ok()) << h.status().ToString();

  auto bad = FindRecipe("record-lqer:int9");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("int4..int8"), std::string::npos);
  uint64_t prev = UINT64_MAX;
  for (int bits : {6, 5, 4}) {
    auto recipe = FindRecipe(bits == 6 ? "record-lqer" : "record-lqer:int" + std::to_string(bits));
    ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
    auto r = Pack(model, &*h, *recipe, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_LT(r->file_bytes, prev) << "fewer matrix bits, fewer bytes";
    prev = r->file_bytes;
    auto art = gpk::Artifact::Parse(r->bytes, "mem.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    // The records' stride-2 byte shuffle before brotli: one shuffled section, version 3.
    EXPECT_EQ(art->version(), 3);
    ASSERT_EQ(art->sections().size(), 1u);
    EXPECT_EQ(art->sections()[0].codec, gpk::Codec::kBrotli);
    EXPECT_EQ(art->sections()[0].shuffle, 2);
    const auto& t = art->tensors();
    ASSERT_EQ(t.size(), 6u);
    EXPECT_EQ(t[0].encoding, gpk::kUniform);  // the embedding: int7, never corrected
    EXPECT_EQ(gpk::UniformParams::Parse(t[0].params)->bits, 7);
    EXPECT_EQ(t[1].encoding, gpk::kRawF32);
    // The smallest-error matrix (proj, std 0.01) is the one left uncorrected.
    EXPECT_EQ(t[2].encoding, gpk::kLowRank);
    EXPECT_EQ(t[3].encoding, gpk::kLowRank);
    EXPECT_EQ(t[4].encoding, gpk::kUniform) << t[4].name;
    EXPECT_EQ(t[5].encoding, gpk::kLowRank);
    EXPECT_EQ(r->tensors[2].encoder, "gptq:u" + std::to_string(bits) + ":row:sd13:nocap+lr4");
    EXPECT_EQ(r->tensors[3].encoder, "gptq:u" + std::to_string(bits) + ":row:sd12:nocap+lr4");
    // The correction lowers the error of what it corrects: the same recipe without LQER.
    Recipe plain = *recipe;
    plain.lqer_top_k = 0;
    auto rp = Pack(model, &*h, plain, {});
    ASSERT_TRUE(rp.ok());
    auto art_p = gpk::Artifact::Parse(rp->bytes, "plain.gpk");
    ASSERT_TRUE(art_p.ok());
    for (size_t i : {2, 3, 5}) {
      auto d = art->DecodeTensor(i);
      auto dp = art_p->DecodeTensor(i);
      ASSERT_TRUE(d.ok() && dp.ok());
      const auto w = *model.tensors[i].ToFloat32();
      double err = 0, err_p = 0;
      for (size_t j = 0; j < w.size(); ++j) {
        err += (w[j] - (*d)[j]) * (w[j] - (*d)[j]);
        err_p += (w[j] - (*dp)[j]) * (w[j] - (*dp)[j]);
      }
      EXPECT_LT(err, err_p) << t[i].name;
    }
  }
}

// The one calibration reader and writer (plan/calibration.h).
TEST(Calibration, SaveThenLoadGivesTheSameHessiansMetadataAndFile) {
  // Not symmetric, so a transposed read would show; float-exact values, so
  // float32 storage loses nothing.
  auto matrix = [](int n, int seed) {
    Eigen::MatrixXd m(n, n);
    const auto g = Gaussian(static_cast<size_t>(n * n), 10.f, static_cast<uint32_t>(seed));
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < n; ++c) m(r, c) = g[static_cast<size_t>(r * n + c)];
    return m;
  };
  std::map<std::string, Eigen::MatrixXd> sites{{"blocks.0.attn_in", matrix(8, 1)},
                                               {"blocks.0.mlp.proj_in", matrix(16, 2)},
                                               {"head_in", matrix(8, 3)}};
  auto h = Hessians::FromSites(sites, 4096, {{"blocks.0.attn.c_q.weight", 3.5e-5}, {"tok_emb.weight", 0.125}}, 64,
                               {{"golfpack.sensitivity_spearman_raw", "0.3185"}});
  h.set_token_counts({0, 3, 4000, 17});
  h.set_tcq_sensitivity({{"blocks.0.attn.c_q.weight", 7.25e-5}});
  const auto path = (golfpack::testing::ScratchDir("gp_pack_") / "calib_rt.safetensors").string();
  ASSERT_TRUE(h.Save(path).ok());
  auto back = Hessians::Load(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tokens(), 4096);
  EXPECT_EQ(back->seq_len(), 64);
  ASSERT_EQ(back->sites().size(), sites.size());
  for (const auto& [site, m] : sites) {
    ASSERT_NE(back->ForSite(site), nullptr) << site;
    EXPECT_EQ(*back->ForSite(site), m) << site;
  }
  EXPECT_EQ(back->ForWeight("blocks.0.attn.c_v.weight"), back->ForSite("blocks.0.attn_in"));
  EXPECT_EQ(back->sensitivity(), h.sensitivity());
  EXPECT_EQ(back->Sensitivity("tok_emb.weight"), 0.125);
  EXPECT_EQ(back->tcq_sensitivity(), h.tcq_sensitivity());
  EXPECT_EQ(back->TcqSensitivity("blocks.0.attn.c_q.weight"), 7.25e-5);
  EXPECT_FALSE(back->TcqSensitivity("tok_emb.weight").has_value());
  EXPECT_EQ(back->notes(), h.notes());
  EXPECT_EQ(back->token_counts(), h.token_counts());
  // Row weights: (c + 1/2) / mean(c + 1/2) = {0.5, 3.5, 4000.5, 17.5} / 1005.5, floored at 0.1, then scaled to mean 1.
  const std::vector<double> rw = back->RowWeights("tok_emb.weight", 4, 0.1);
  ASSERT_EQ(rw.size(), 4u);
  const double sum = 0.1 + 0.1 + 4000.5 / 1005.5 + 0.1;
  EXPECT_NEAR(rw[0], 0.4 / sum, 1e-12);
  EXPECT_NEAR(rw[2], 4 * 4000.5 / 1005.5 / sum, 1e-12);
  EXPECT_NEAR(rw[0] + rw[1] + rw[2] + rw[3], 4.0, 1e-12);
  EXPECT_TRUE(back->RowWeights("tok_emb.weight", 5, 0.1).empty());  // counts of another vocab
  // Saving what was loaded writes the same bytes.
  const auto again = path + ".again";
  ASSERT_TRUE(back->Save(again).ok());
  EXPECT_EQ(*ReadFileBytes(again), *ReadFileBytes(path));
  std::filesystem::remove(again);
  std::filesystem::remove(path);
}

TEST(Calibration, LoadRejectsOtherFilesWithOneErrorNamingTheFile) {
  const auto path = (golfpack::testing::ScratchDir("gp_pack_") / "calib_bad.safetensors").string();
  auto expect_error = [&](const io::TensorFile& f, const std::string& what) {
    ASSERT_TRUE(io::WriteSafetensors(path, f).ok());
    auto r = Hessians::Load(path);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << what;
    EXPECT_EQ(r.status().message().rfind(path + ": ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  const std::map<std::string, std::string> good = {
      {"golfpack.calibration", "hessian-v1"}, {"golfpack.tokens", "100"}, {"golfpack.seq_len", "10"}};
  io::TensorFile model = TinyModel();  // a model, not a calibration file
  expect_error(model, "not a golfpack calibration file (metadata golfpack.calibration != hessian-v1)");
  model.metadata = {{"golfpack.calibration", "hessian-v2"}};
  expect_error(model, "not a golfpack calibration file");

  io::TensorFile cal;
  cal.tensors.push_back(io::Tensor::FromFloat32("head_in", {4, 4}, std::vector<float>(16, 1.f)));
  cal.tensors.push_back(io::Tensor::FromFloat32("blocks.0.mlp_in", {4, 8}, std::vector<float>(32, 1.f)));
  cal.metadata = good;
  expect_error(cal, "calibration tensor 'blocks.0.mlp_in' is not square");
  cal.tensors.pop_back();
  cal.metadata["golfpack.tokens"] = "12x";
  expect_error(cal, "golfpack.tokens = '12x' is not a count");
  cal.metadata = good;
  cal.metadata.erase("golfpack.seq_len");
  expect_error(cal, "golfpack.seq_len missing");
  cal.metadata = good;
  cal.metadata["golfpack.sensitivity.tok_emb.weight"] = "nan";
  expect_error(cal, "golfpack.sensitivity.tok_emb.weight = 'nan' is not a number");
  cal.metadata = good;
  cal.tensors.push_back(io::Tensor::FromFloat32("token_counts", {2}, std::vector<float>{1.f, -1.f}));
  expect_error(cal, "'token_counts' holds a negative or non-finite count");
  cal.tensors.back() = io::Tensor::FromFloat32("token_counts", {1, 2}, std::vector<float>{1.f, 1.f});
  expect_error(cal, "'token_counts' is not a vector");
  cal.tensors.pop_back();
  ASSERT_TRUE(io::WriteSafetensors(path, cal).ok());
  EXPECT_TRUE(Hessians::Load(path).ok());
  std::filesystem::remove(path);

  // The writer refuses what the reader would reject.
  auto non_square = Hessians::FromSites({{"head_in", Eigen::MatrixXd::Zero(4, 8)}}, 10);
  Status s = non_square.Save(path);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'head_in' is 4 x 8, not square"), std::string::npos) << s.message();
  auto reserved = Hessians::FromSites({{"head_in", Eigen::MatrixXd::Zero(4, 4)}}, 10, {}, 1, {{"golfpack.tokens", "7"}});
  EXPECT_EQ(reserved.Save(path).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(PackRecipes, UnknownRecipeListsTheKnownOnes) {
  auto r = FindRecipe("int3-magic");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pg-int8-zlib"), std::string::npos);
}

TEST(Unpack, RestoresOriginalDtypes) {
  io::TensorFile model = TinyModel();
  model.tensors[2] = io::Tensor::FromFloat32("blocks.0.attn.c_k.weight", {128, 256}, Gaussian(128 * 256, 0.05f, 3),
                                             io::DType::kBF16);
  auto r = Pack(model, nullptr, *FindRecipe("pg-int8-zlib"), {});
  ASSERT_TRUE(r.ok());
  auto art = gpk::Artifact::Parse(r->bytes, "mem.gpk");
  ASSERT_TRUE(art.ok());
  auto back = UnpackToTensors(*art, true);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->tensors[2].dtype, io::DType::kBF16);
  EXPECT_EQ(back->tensors[1].dtype, io::DType::kF32);
  auto f32 = UnpackToTensors(*art, false);
  EXPECT_EQ(f32->tensors[2].dtype, io::DType::kF32);
}

TEST(CodeEntropy, FourEquiprobableCodesAreTwoBits) {
  // uniform 4-bit, one scale per row: codes cycle -2, -1, 1, 2.
  std::vector<float> w(8 * 64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::array<float, 4>{-2.f, -1.f, 1.f, 2.f}[i % 4];
  UniformSpec spec;
  spec.bits = 4;
  std::vector<uint64_t> shape = {8, 64};
  auto e = EncodeUniform("w", shape, w, spec);
  ASSERT_TRUE(e.ok());
  gpk::TensorInfo info;
  info.shape = shape;
  info.numel = w.size();
  info.encoding = e->encoding;
  info.params = e->params;
  auto h = CodeEntropyBits(info, e->payload);
  ASSERT_TRUE(h.has_value());
  EXPECT_NEAR(*h, 2.0, 1e-12);
  spec.packing = 1;
  auto packed = EncodeUniform("w", shape, w, spec);
  info.params = packed->params;
  EXPECT_NEAR(*CodeEntropyBits(info, packed->payload), 2.0, 1e-12);
  info.encoding = gpk::kRawF32;
  EXPECT_FALSE(CodeEntropyBits(info, e->payload).has_value());
}

}  // namespace
}  // namespace golfpack::encode
