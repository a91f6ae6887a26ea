#include "encode/rd.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "encode/encoder.h"
#include "io/safetensors.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::Gaussian;

io::TensorFile Model() {
  io::TensorFile f;
  f.tensors.push_back(io::Tensor::FromFloat32("tok_emb.weight", {200, 64}, Gaussian(200 * 64, 0.05f, 1)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn_scale", {64}, Gaussian(64, 1.0f, 2)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.attn.c_q.weight", {64, 64}, Gaussian(64 * 64, 0.05f, 3)));
  f.tensors.push_back(io::Tensor::FromFloat32("blocks.0.mlp.fc.weight", {128, 64}, Gaussian(128 * 64, 0.05f, 4)));
  return f;
}

// A calibration file with diagonal Hessians and the given sensitivities.
Hessians Calib(const std::map<std::string, std::string>& sens) {
  io::TensorFile cal;
  for (const char* site : {"head_in", "blocks.0.attn_in", "blocks.0.mlp_in"}) {
    std::vector<float> v(64 * 64, 0.f);
    for (int i = 0; i < 64; ++i) v[i * 64 + i] = 1000.f;
    cal.tensors.push_back(io::Tensor::FromFloat32(site, {64, 64}, v));
  }
  cal.metadata = {{"golfpack.calibration", "hessian-v1"}, {"golfpack.tokens", "1000"}, {"golfpack.seq_len", "100"}};
  for (const auto& [k, v] : sens) cal.metadata["golfpack.sensitivity." + k] = v;
  const auto path = (std::filesystem::temp_directory_path() / ("gp_rd_calib_" + std::to_string(::getpid()))).string();
  EXPECT_TRUE(io::WriteSafetensors(path, cal).ok());
  auto h = Hessians::Load(path);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return *h;
}

TEST(Rd, FillsEveryBudgetExactlyAndNeverOver) {
  const auto model = Model();
  const auto h = Calib({});
  RdOptions o;
  o.code_bytes = 5000;
  o.code_bytes_set = true;
  o.threads = 1;
  for (uint64_t budget : {14000ull, 20000ull, 30000ull, 45000ull}) {
    o.budget = budget;
    auto r = PackRd(model, h, o);
    ASSERT_TRUE(r.ok()) << budget << ": " << r.status().ToString();
    EXPECT_EQ(r->pack.counted_bytes, r->pack.file_bytes + 5000);
    EXPECT_LE(r->pack.counted_bytes, budget);
    if (budget < 40000) {  // below what the finest candidates use: must fill to within 0.1%
      EXPECT_FALSE(r->underfilled);
      EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << "more than 0.1% under " << budget;
    } else {
      EXPECT_TRUE(r->underfilled) << "45000 bytes is more than even the finest candidates use";
    }
    auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    EXPECT_EQ(art->tensors()[1].encoding, gpk::kRawF32);  // control tensor kept exact
    for (size_t i = 0; i < art->tensors().size(); ++i) ASSERT_TRUE(art->DecodeTensor(i).ok());
    ASSERT_EQ(r->tensors.size(), 3u);  // the three 2-D tensors with a Hessian were allocated
  }
}

TEST(Rd, MoreBudgetNeverPredictsMoreLoss) {
  const auto model = Model();
  const auto h = Calib({});
  RdOptions o;
  o.code_bytes_set = true;
  double last = 1e300;
  for (uint64_t budget : {14000ull, 18000ull, 26000ull, 40000ull}) {
    o.budget = budget;
    auto r = PackRd(model, h, o);
    ASSERT_TRUE(r.ok());
    EXPECT_LE(r->predicted_loss, last + 1e-15);
    last = r->predicted_loss;
  }
}

TEST(Rd, SensitivityMovesBytesToTheSensitiveTensor) {
  const auto model = Model();
  RdOptions o;
  o.code_bytes_set = true;
  o.budget = 20000;
  auto bits_of = [&](const Hessians& h, const std::string& name) {
    auto r = PackRd(model, h, o);
    EXPECT_TRUE(r.ok());
    for (const auto& t : r->tensors)
      if (t.name == name) return 8.0 * double(t.bytes) / double(t.numel);
    return -1.0;
  };
  const double plain = bits_of(Calib({}), "blocks.0.mlp.fc.weight");
  const double favoured = bits_of(Calib({{"blocks.0.mlp.fc.weight", "100"},
                                         {"blocks.0.attn.c_q.weight", "1"},
                                         {"tok_emb.weight", "1"}}),
                                  "blocks.0.mlp.fc.weight");
  EXPECT_GT(favoured, plain + 0.5);
}

TEST(Rd, RefusesBudgetsBelowTheSmallestArtifact) {
  RdOptions o;
  o.budget = 3000;
  o.code_bytes = 2500;
  o.code_bytes_set = true;
  auto r = PackRd(Model(), Calib({}), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("below the smallest possible artifact"), std::string::npos) << r.status().message();
  o.budget = 0;
  EXPECT_NE(PackRd(Model(), Calib({}), o).status().message().find("--budget"), std::string::npos);
}

TEST(Rd, ReportIsJsonWithEveryAllocatedTensor) {
  RdOptions o;
  o.code_bytes_set = true;
  o.budget = 20000;
  auto r = PackRd(Model(), Calib({}), o);
  ASSERT_TRUE(r.ok());
  const std::string j = RdReportJson(*r);
  for (const char* key : {"\"marginal_loss_per_kb\"", "\"loss_bought\"", "\"tok_emb.weight\"", "\"counted_bytes\": "})
    EXPECT_NE(j.find(key), std::string::npos) << key;
}

}  // namespace
}  // namespace golfpack::encode
