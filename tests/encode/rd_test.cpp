#include "plan/bits_back.h"
#include "plan/rd.h"
#include "plan/symmetry.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "codec/encoder.h"
#include "core/encodings.h"
#include <map>
#include <numeric>
#include "io/safetensors.h"
#include "plan/distortion.h"
#include "test_helpers.h"
#include "common/scratch.h"

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
  const auto path = (golfpack::testing::ScratchDir("gp_rd_") / "calib.safetensors").string();
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
  o.paths = {"grid", "lqer"};  // the patch paths can spend 45000 bytes (f16 rows, 8-bit columns)
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

// A Parameter Golf-named model (tied embedding, GQA when kv_heads < heads)
// with random weights, and H = X^T X of random correlated activations per
// input site, with varied sensitivities.
struct PgShape {
  int layers, dim, heads, kv_heads, mlp_mult, vocab;
};

io::TensorFile PgModel(const PgShape& s, uint32_t seed) {
  io::TensorFile f;
  const int64_t d = s.dim, kv = s.dim / s.heads * s.kv_heads, hidden = s.dim * s.mlp_mult;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float sd) {
    int64_t n = 1;
    for (int64_t x : shape) n *= x;
    f.tensors.push_back(io::Tensor::FromFloat32(name, shape, Gaussian(static_cast<size_t>(n), sd, seed++)));
  };
  add("tok_emb.weight", {s.vocab, d}, 0.05f);
  for (int l = 0; l < s.layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    add(b + "attn.c_q.weight", {d, d}, 0.04f);
    add(b + "attn.c_k.weight", {kv, d}, 0.04f);
    add(b + "attn.c_v.weight", {kv, d}, 0.03f);
    add(b + "attn.proj.weight", {d, d}, 0.03f);
    add(b + "attn.q_gain", {s.heads}, 1.0f);
    add(b + "mlp.fc.weight", {hidden, d}, 0.04f);
    add(b + "mlp.proj.weight", {d, hidden}, 0.02f);
    add(b + "attn_scale", {d}, 1.0f);
    add(b + "mlp_scale", {d}, 1.0f);
    add(b + "resid_mix", {2, d}, 1.0f);
  }
  add("skip_weights", {s.layers / 2, d}, 1.0f);
  return f;
}

Hessians PgCalib(const PgShape& s, uint32_t seed) {
  io::TensorFile cal;
  const int tokens = 256;
  auto site = [&](const std::string& name, int dim) {
    // X = G * M, M mixing columns with decaying scales: a correlated H.
    const auto g = Gaussian(static_cast<size_t>(tokens) * dim, 1.0f, seed++);
    const auto m = Gaussian(static_cast<size_t>(dim) * dim, 0.1f, seed++);
    Eigen::MatrixXd G(tokens, dim), M(dim, dim);
    for (int i = 0; i < tokens; ++i)
      for (int j = 0; j < dim; ++j) G(i, j) = g[static_cast<size_t>(i) * dim + j];
    for (int i = 0; i < dim; ++i)
      for (int j = 0; j < dim; ++j) M(i, j) = m[static_cast<size_t>(i) * dim + j] + (i == j ? 1.0 : 0.0);
    for (int j = 0; j < dim; ++j) M.col(j) *= 1.0 / std::sqrt(1.0 + j);
    const Eigen::MatrixXd X = G * M, H = X.transpose() * X;
    std::vector<float> v(static_cast<size_t>(dim) * dim);
    for (int i = 0; i < dim; ++i)
      for (int j = 0; j < dim; ++j) v[static_cast<size_t>(i) * dim + j] = static_cast<float>(H(i, j));
    cal.tensors.push_back(io::Tensor::FromFloat32(name, {dim, dim}, v));
  };
  site("head_in", s.dim);
  for (int l = 0; l < s.layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    site(b + "attn_in", s.dim);
    site(b + "attn.proj_in", s.dim);
    site(b + "mlp_in", s.dim);
    site(b + "mlp.proj_in", s.dim * s.mlp_mult);
    cal.metadata["golfpack.sensitivity." + b + "attn.c_k.weight"] = std::to_string(0.5 + 0.25 * l);
    cal.metadata["golfpack.sensitivity." + b + "mlp.proj.weight"] = std::to_string(2.0 - 0.3 * l);
  }
  cal.metadata["golfpack.calibration"] = "hessian-v1";
  cal.metadata["golfpack.tokens"] = std::to_string(tokens);
  cal.metadata["golfpack.seq_len"] = "128";
  const auto path = (golfpack::testing::ScratchDir("gp_rd_") / ("pgcalib_" + std::to_string(seed)))
                        .string();
  EXPECT_TRUE(io::WriteSafetensors(path, cal).ok());
  auto h = Hessians::Load(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return *h;
}

// Item 5 of the architecture issue: `pack -r rd --code-bytes 0 --budget
// 1050888` on a 4 x 256 GQA model failed ("allocation did not converge")
// while 1,050,000 and 1,100,000 worked. Every budget from the smallest
// artifact to the largest must succeed, never over, at most 0.1% under; only
// budgets the finest candidates cannot fill may be underfilled.
void SweepBudgets(const PgShape& shape, uint32_t seed, int n_budgets, std::vector<uint64_t> budgets = {}) {
  const auto model = PgModel(shape, seed);
  const auto h = PgCalib(shape, seed + 1000);
  RdOptions o;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  // Grids and corrections: the patch paths (each a ladder of GPTQ re-runs for
  // OWQ) have their own budget tests (RdPatch.*), which keeps this sweep of
  // 100 budgets within the test suite's time.
  o.paths = {"grid", "lqer"};
  auto planner = RdPlanner::Create(model, h, o);
  ASSERT_TRUE(planner.ok()) << planner.status().ToString();
  const uint64_t lo = planner->min_counted_bytes();
  // The largest artifact: what an unbounded budget gets.
  auto top = planner->Pack(4 * planner->max_plain_counted_bytes());
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  const uint64_t hi = top->pack.counted_bytes;
  ASSERT_LT(lo, hi);
  EXPECT_FALSE(planner->Pack(lo - 1).ok());
  for (uint64_t b : {lo, lo + 1, hi - 1, hi}) budgets.push_back(b);
  for (int i = 1; i < n_budgets; ++i) budgets.push_back(lo + (hi - lo) * static_cast<uint64_t>(i) / static_cast<uint64_t>(n_budgets));
  for (uint64_t extra : {1ull, 7ull, 333ull, 888ull}) budgets.push_back(lo + (hi - lo) / 2 + extra);  // odd ones
  int underfilled = 0;
  for (uint64_t budget : budgets) {
    auto r = planner->Pack(budget);
    ASSERT_TRUE(r.ok()) << "budget " << budget << ": " << r.status().ToString();
    EXPECT_LE(r->pack.counted_bytes, budget);
    EXPECT_EQ(r->pack.counted_bytes, r->pack.bytes.size());
    if (r->underfilled) {
      ++underfilled;
      // Only where the finest candidates cannot fill it: the top end.
      EXPECT_GT(budget, hi - hi / 100) << "underfilled at " << budget << " of [" << lo << ", " << hi << "]";
    } else {
      EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << "more than 0.1% under " << budget;
    }
    auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
  }
  EXPECT_LE(underfilled, 2);
  // The planner is PackRd in two parts: the same bytes for the reported budget.
  o.budget = 1050888;
  if (o.budget > lo && o.budget < hi) {
    auto direct = PackRd(model, h, o);
    ASSERT_TRUE(direct.ok()) << direct.status().ToString();
    auto planned = planner->Pack(o.budget);
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(direct->pack.bytes, planned->pack.bytes);
  }
}

TEST(Rd, EveryFeasibleBudgetSucceedsWithinATenthOfAPercent) {
  // The shape from the report: 4 layers x 256, 4 query / 2 KV heads (K/V are
  // 128 x 256), MLP 2x, vocab 1024 tied: 2.1M parameters.
  // The extra budgets all failed before the fix on this very model: the first
  // three with "allocator: budget ... is below the minimum needed" (GPTQ-only
  // candidates cost more than the smallest artifact), 476923 with "allocation
  // did not converge under the budget"; 1050888 is the one from the report.
  SweepBudgets({4, 256, 4, 2, 2, 1024}, 11, 50, {280769, 346153, 411538, 476923, 1050888});
  // A smaller one with other row counts: 2 layers x 192, 6 / 2 heads (K/V 64 x 192).
  SweepBudgets({2, 192, 6, 2, 2, 512}, 77, 50);
}


// Issue 11's lqer path: low-rank corrections of the GPTQ error, priced in the
// same allocator. The budget rules hold with it on, every chosen correction is
// an encoding-9 tensor that decodes to its grid plus the factors, and
// `paths = {grid}` gives an artifact without any.
// Trained weights carry low-rank structure that a coarse grid rounds away (at
// ~2 bits/param most weights round to 0); Gaussian weights do not, and there
// a correction never pays. So each block matrix here gets a rank-2 part three
// times as large as its noise.
io::TensorFile WithLowRankParts(io::TensorFile f, uint32_t seed) {
  for (auto& t : f.tensors) {
    if (t.shape.size() != 2 || t.name.find("blocks.") != 0) continue;
    const auto rows = t.shape[0], cols = t.shape[1];
    auto w = *t.ToFloat32();
    double sd = 0;
    for (float x : w) sd += double(x) * x;
    sd = std::sqrt(sd / double(w.size()));
    const auto u = Gaussian(size_t(rows) * 2, 1.0f, seed++), v = Gaussian(size_t(cols) * 2, 1.0f, seed++);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        w[size_t(r * cols + c)] += float(3 * sd / std::sqrt(2.0)) * (u[size_t(r) * 2] * v[size_t(c) * 2] + u[size_t(r) * 2 + 1] * v[size_t(c) * 2 + 1]);
    t = io::Tensor::FromFloat32(t.name, {int64_t(rows), int64_t(cols)}, w);
  }
  return f;
}

TEST(RdLqer, BudgetRulesHoldAndPicksAreLowRankTensors) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = WithLowRankParts(PgModel(shape, 5), 500);
  const auto h = PgCalib(shape, 905);
  RdOptions all, grid;
  all.code_bytes = grid.code_bytes = 0;
  all.code_bytes_set = grid.code_bytes_set = true;
  grid.paths = {"grid"};
  all.paths = {"grid", "lqer"};
  auto pa = RdPlanner::Create(model, h, all);
  auto pg = RdPlanner::Create(model, h, grid);
  ASSERT_TRUE(pa.ok()) << pa.status().ToString();
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  const uint64_t lo = pa->min_counted_bytes(), hi = pa->max_plain_counted_bytes();
  int lqer_picks = 0;
  for (int i = 1; i < 12; ++i) {
    const uint64_t budget = lo + (hi - lo) * uint64_t(i) / 24;  // the low half, where protection pays
    auto ra = pa->Pack(budget);
    auto rg = pg->Pack(budget);
    ASSERT_TRUE(ra.ok()) << budget << ": " << ra.status().ToString();
    ASSERT_TRUE(rg.ok()) << budget << ": " << rg.status().ToString();
    for (const RdResult* r : {&*ra, &*rg}) {
      EXPECT_LE(r->pack.counted_bytes, budget);
      EXPECT_FALSE(r->underfilled) << budget;
      EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << budget;
    }
    ASSERT_EQ(rg->paths.size(), 1u);
    EXPECT_EQ(rg->paths[0].path, "grid");
    ASSERT_EQ(ra->paths.size(), 2u);
    EXPECT_EQ(ra->paths[1].path, "lqer");
    auto art = gpk::Artifact::Parse(ra->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    auto art_g = gpk::Artifact::Parse(rg->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art_g.ok());
    for (const auto& t : art_g->tensors()) EXPECT_NE(t.encoding, gpk::kLowRank) << t.name;
    int picks = 0;
    uint64_t lqer_bytes = 0;
    for (const auto& t : ra->tensors) {
      const RdCandidate& c = t.candidates[t.chosen];
      size_t idx = 0;
      while (art->tensors()[idx].name != t.name) ++idx;
      EXPECT_EQ(art->tensors()[idx].encoding == gpk::kLowRank, c.path == "lqer") << t.name;
      if (c.path != "lqer") continue;
      ++picks;
      EXPECT_GT(c.rank, 0);
      EXPECT_NE(c.spec.find("+lr"), std::string::npos) << c.spec;
      ASSERT_TRUE(art->DecodeTensor(idx).ok());
      // The correction's grid candidate is in the report, with fewer bytes and more loss.
      const std::string base_spec = c.spec.substr(0, c.spec.find("+lr"));
      bool found = false;
      for (const auto& b : t.candidates)
        if (b.spec == base_spec && b.path == "grid") {
          found = true;
          EXPECT_LT(b.bytes, c.bytes);
          EXPECT_GT(b.predicted, c.predicted);
          lqer_bytes += c.bytes - b.bytes;
        }
      EXPECT_TRUE(found) << c.spec;
    }
    EXPECT_EQ(ra->paths[1].units, picks);
    EXPECT_GE(ra->paths[1].bytes, lqer_bytes);  // plus the manifest varints that grow with the payload
    lqer_picks += picks;
    // The grid-only allocation is one the all-paths allocator could also make,
    // so its prediction is about as good at worst. Not exactly: a tensor that
    // takes a correction keeps its grid rung, where the fine fill could have
    // moved it between rungs; on these Gaussian weights, whose GPTQ error has
    // no low-rank structure to correct, that costs up to about 2%.
    EXPECT_LE(ra->predicted_loss, rg->predicted_loss * 1.03) << budget;
  }
  EXPECT_GT(lqer_picks, 0) << "no budget took a low-rank correction";
}

// The patch paths (encoding 10): on weights with a few large salient
// entries, columns and rows, every budget still lands within 0.1% under,
// every patch pick is an encoding-10 tensor over a grid candidate of the
// report, the artifact decodes, and the per-path report adds up.
TEST(RdPatch, BudgetRulesHoldAndPicksArePatchTensors) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = PgModel(shape, 6);
  const auto h = PgCalib(shape, 906);
  RdOptions o;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  o.paths = {"grid", "sparse", "blocks", "columns", "rows"};
  auto planner = RdPlanner::Create(model, h, o);
  ASSERT_TRUE(planner.ok()) << planner.status().ToString();
  const uint64_t lo = planner->min_counted_bytes(), hi = planner->max_plain_counted_bytes();
  std::map<std::string, int> picks_by_path;
  for (int i = 1; i < 8; ++i) {
    const uint64_t budget = lo + (hi - lo) * uint64_t(i) / 16;
    auto r = planner->Pack(budget);
    ASSERT_TRUE(r.ok()) << budget << ": " << r.status().ToString();
    EXPECT_LE(r->pack.counted_bytes, budget);
    EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << budget;
    ASSERT_EQ(r->paths.size(), 5u);
    EXPECT_EQ(r->paths[1].path, "sparse");
    EXPECT_EQ(r->paths[4].path, "rows");
    auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    std::map<std::string, int> units;
    for (const auto& t : r->tensors) {
      const RdCandidate& c = t.candidates[t.chosen];
      size_t idx = 0;
      while (art->tensors()[idx].name != t.name) ++idx;
      const bool patched = c.path != "grid";
      EXPECT_EQ(art->tensors()[idx].encoding == gpk::kPatch, patched) << t.name << " " << c.spec;
      if (!patched) continue;
      ++units[c.path];
      ++picks_by_path[c.path];
      auto dec = art->DecodeTensor(idx);
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      auto ref = gpk::DecodeTensorRef(*art, idx);
      ASSERT_TRUE(ref.ok()) << ref.status().ToString();
      EXPECT_EQ(*dec, *ref);
      const std::string base_spec = c.spec.substr(0, c.spec.find('+'));
      bool found = false;
      for (const auto& b : t.candidates)
        if (b.spec == base_spec && b.path == "grid") {
          found = true;
          if (c.path == "columns") {
            // OWQ re-runs GPTQ with the kept columns at code 0, so it can be
            // cheaper than its base as well as better: never dominated by it.
            EXPECT_TRUE(c.bytes < b.bytes || c.predicted < b.predicted) << c.spec;
          } else {
            EXPECT_LT(b.bytes, c.bytes);
            EXPECT_GT(b.predicted, c.predicted);
          }
        }
      EXPECT_TRUE(found) << c.spec;
    }
    for (size_t p = 1; p < r->paths.size(); ++p) EXPECT_EQ(r->paths[p].units, units[r->paths[p].path]) << r->paths[p].path;
  }
  int total = 0;
  for (const auto& [path, n] : picks_by_path) total += n;
  EXPECT_GT(total, 0) << "no budget took a patch";
}

// A step per row (the rowstep path) with token-frequency row weights on the
// tied embedding: the budget rules hold, rowstep picks decode (fast decoder
// and oracle agree), the frequent tokens' rows get finer scales than the rare
// ones, and the plan never predicts more loss than grids alone.
TEST(RdRowStep, FrequentTokenRowsGetFinerStepsAndBudgetsHold) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = PgModel(shape, 8);
  auto h = PgCalib(shape, 908);
  std::vector<double> counts(256, 0.0);
  for (size_t i = 0; i < 32; ++i) counts[i] = 4000.0;  // 32 frequent tokens; 224 rare or unseen
  for (size_t i = 32; i < 64; ++i) counts[i] = 3.0;
  h.set_token_counts(counts);
  const std::vector<double> rw = h.RowWeights("tok_emb.weight", 256, kTokenRowFloor);
  ASSERT_EQ(rw.size(), 256u);
  EXPECT_GT(rw[0], 5.0);
  EXPECT_NEAR(rw[200], rw[100], 1e-12);
  EXPECT_GE(rw[200], kTokenRowFloor * 0.5);
  EXPECT_TRUE(h.RowWeights("blocks.0.mlp.fc.weight", 256, kTokenRowFloor).empty());
  EXPECT_TRUE(h.RowWeights("tok_emb.weight", 256, -1).empty());
  RdOptions o;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  o.paths = {"grid", "rowstep"};
  auto planner = RdPlanner::Create(model, h, o);
  RdOptions g = o;
  g.paths = {"grid"};
  auto grid = RdPlanner::Create(model, h, g);
  ASSERT_TRUE(planner.ok() && grid.ok()) << planner.status().ToString();
  const uint64_t lo = planner->min_counted_bytes(), hi = planner->max_plain_counted_bytes();
  int emb_rowstep = 0;
  for (int i = 1; i < 6; ++i) {
    const uint64_t budget = lo + (hi - lo) * uint64_t(i) / 12;
    auto r = planner->Pack(budget);
    auto rg = grid->Pack(budget);
    ASSERT_TRUE(r.ok() && rg.ok()) << budget << ": " << r.status().ToString();
    EXPECT_LE(r->pack.counted_bytes, budget);
    EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << budget;
    EXPECT_LE(r->predicted_loss, rg->predicted_loss * (1 + 1e-9)) << budget;
    ASSERT_EQ(r->paths.size(), 2u);
    EXPECT_EQ(r->paths[1].path, "rowstep");
    EXPECT_EQ(r->paths[1].bytes, 0u);  // a grid of its own: no protection bytes
    auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    for (const auto& t : r->tensors) {
      const RdCandidate& c = t.candidates[t.chosen];
      if (c.path != "rowstep") continue;
      size_t idx = 0;
      while (art->tensors()[idx].name != t.name) ++idx;
      EXPECT_EQ(art->tensors()[idx].encoding, gpk::kAnsGrid);
      auto dec = art->DecodeTensor(idx);
      auto ref = gpk::DecodeTensorRef(*art, idx);
      ASSERT_TRUE(dec.ok() && ref.ok());
      EXPECT_EQ(*dec, *ref);
      if (t.name != "tok_emb.weight") continue;
      ++emb_rowstep;
      // Frequent rows are reproduced more finely (mean |error| per weight).
      const auto* w = model.Find("tok_emb.weight");
      auto v = w->ToFloat32();
      ASSERT_TRUE(v.ok());
      double frequent = 0, rare = 0;
      for (size_t row = 0; row < 256; ++row)
        for (size_t col = 0; col < 128; ++col) {
          const double e = std::fabs((*v)[row * 128 + col] - (*dec)[row * 128 + col]);
          if (row < 32) frequent += e;
          else if (row >= 64) rare += e;
        }
      EXPECT_LT(frequent / 32, 0.7 * rare / 192) << c.spec;
    }
  }
  EXPECT_GT(emb_rowstep, 0) << "no budget gave the embedding a step per row";
}

// Rows as allocation units (the rowalloc path): each row takes its own step
// from the GPTQ window. Rows are independent under GPTQ, so the candidate's
// proxy, summed from per-row shares, equals the full product on what a
// decoder gets; the budget rules hold; the plan never predicts more loss than
// grids alone; the rows of a picked matrix use more than one step, and the
// embedding's frequent token rows end up finer than its rare ones.
TEST(RdRowAlloc, RowsPickTheirStepsProxiesAreExactAndBudgetsHold) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = PgModel(shape, 8);
  auto h = PgCalib(shape, 908);
  std::vector<double> counts(256, 0.0);
  for (size_t i = 0; i < 32; ++i) counts[i] = 4000.0;
  for (size_t i = 32; i < 64; ++i) counts[i] = 3.0;
  h.set_token_counts(counts);
  RdOptions o;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  o.paths = {"grid", "rowalloc"};
  auto planner = RdPlanner::Create(model, h, o);
  RdOptions g = o;
  g.paths = {"grid"};
  auto grid = RdPlanner::Create(model, h, g);
  ASSERT_TRUE(planner.ok() && grid.ok()) << planner.status().ToString();
  const uint64_t lo = planner->min_counted_bytes(), hi = planner->max_plain_counted_bytes();
  int picks = 0, emb_picks = 0;
  for (int i = 1; i < 6; ++i) {
    const uint64_t budget = lo + (hi - lo) * uint64_t(i) / 12;
    auto r = planner->Pack(budget);
    auto rg = grid->Pack(budget);
    ASSERT_TRUE(r.ok() && rg.ok()) << budget << ": " << r.status().ToString();
    EXPECT_LE(r->pack.counted_bytes, budget);
    EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << budget;
    EXPECT_LE(r->predicted_loss, rg->predicted_loss * (1 + 1e-9)) << budget;
    ASSERT_EQ(r->paths.size(), 2u);
    EXPECT_EQ(r->paths[1].path, "rowalloc");
    EXPECT_EQ(r->paths[1].bytes, 0u);
    auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    for (const auto& t : r->tensors) {
      const RdCandidate& c = t.candidates[t.chosen];
      if (c.path != "rowalloc") continue;
      ++picks;
      size_t idx = 0;
      while (art->tensors()[idx].name != t.name) ++idx;
      EXPECT_EQ(art->tensors()[idx].encoding, gpk::kAnsGrid);
      auto dec = art->DecodeTensor(idx);
      auto ref = gpk::DecodeTensorRef(*art, idx);
      ASSERT_TRUE(dec.ok() && ref.ok());
      EXPECT_EQ(*dec, *ref);
      const auto* w = model.Find(t.name);
      auto v = w->ToFloat32();
      ASSERT_TRUE(v.ok());
      const uint64_t rows = w->shape[0], cols = w->shape[1];
      const std::vector<double> rw = h.RowWeights(t.name, rows, kTokenRowFloor);
      const double full = HessianProxy(*v, *dec, rows, cols, *h.ForWeight(t.name), h.tokens(), rw);
      EXPECT_NEAR(c.proxy, full, 1e-6 * full) << t.name << " " << c.spec;
      // Rows at different steps: the ratio of a row's mean |code step| to its std varies.
      std::vector<double> ratio(rows);
      for (uint64_t row = 0; row < rows; ++row) {
        double m = 0, ss = 0, q = 0;
        for (uint64_t col = 0; col < cols; ++col) m += (*v)[row * cols + col];
        m /= double(cols);
        for (uint64_t col = 0; col < cols; ++col) {
          ss += ((*v)[row * cols + col] - m) * ((*v)[row * cols + col] - m);
          q += std::fabs((*v)[row * cols + col] - (*dec)[row * cols + col]);
        }
        ratio[row] = q / std::sqrt(ss);
      }
      EXPECT_GT(*std::max_element(ratio.begin(), ratio.end()), 1.3 * *std::min_element(ratio.begin(), ratio.end()))
          << t.name;
      if (t.name != "tok_emb.weight") continue;
      ++emb_picks;
      EXPECT_LT(std::accumulate(ratio.begin(), ratio.begin() + 32, 0.0) / 32,
                std::accumulate(ratio.begin() + 64, ratio.end(), 0.0) / 192);
    }
  }
  EXPECT_GT(picks, 0) << "no budget picked a step per row";
  EXPECT_GT(emb_picks, 0) << "no budget gave the embedding rows their own steps";
}

// Every path at once on weights with low-rank parts: patches also go over
// the cheapest corrections (patch over lowrank over the grid); whatever is
// picked decodes with the fast decoder and the oracle alike, and the budget
// rules hold.
TEST(RdPatch, PatchesOverCorrectionsPackAndDecode) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = WithLowRankParts(PgModel(shape, 7), 700);
  const auto h = PgCalib(shape, 907);
  RdOptions o;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  auto planner = RdPlanner::Create(model, h, o);
  ASSERT_TRUE(planner.ok()) << planner.status().ToString();
  const uint64_t lo = planner->min_counted_bytes(), hi = planner->max_plain_counted_bytes();
  bool offered = false, tcq_chosen = false, over_tcq = false;
  for (int i = 1; i < 6; ++i) {
    const uint64_t budget = lo + (hi - lo) * uint64_t(i) / 12;
    auto r = planner->Pack(budget);
    ASSERT_TRUE(r.ok()) << budget << ": " << r.status().ToString();
    EXPECT_LE(r->pack.counted_bytes, budget);
    EXPECT_GE(r->pack.counted_bytes, budget - budget / 1000) << budget;
    ASSERT_EQ(r->paths.size(), RdPathNames().size());
    for (size_t p = 0; p < r->paths.size(); ++p) EXPECT_EQ(r->paths[p].path, RdPathNames()[p]);
    auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    for (size_t i = 0; i < art->tensors().size(); ++i) {
      auto dec = art->DecodeTensor(i);
      auto ref = gpk::DecodeTensorRef(*art, i);
      ASSERT_TRUE(dec.ok() && ref.ok()) << art->tensors()[i].name;
      EXPECT_EQ(*dec, *ref) << art->tensors()[i].name;
    }
    for (const auto& t : r->tensors) {
      for (const auto& c : t.candidates) {
        offered |= c.spec.find("+lr") != std::string::npos && c.spec.find("+sparse") != std::string::npos;
        over_tcq |= c.spec.rfind("gptq:tcq", 0) == 0 && c.path != "tcq";  // a correction over a trellis grid
      }
      const RdCandidate& c = t.candidates[t.chosen];
      size_t idx = 0;
      while (art->tensors()[idx].name != t.name) ++idx;
      const uint32_t enc = art->tensors()[idx].encoding;
      if (c.path == "lqer") {
        EXPECT_EQ(enc, gpk::kLowRank) << c.spec;
      }
      if (c.path == "rowstep" || c.path == "rowalloc" || c.path == "tcq") {
        EXPECT_EQ(enc, gpk::kAnsGrid) << c.spec;
        auto p = gpk::AnsGridParams::Parse(art->tensors()[idx].params);
        ASSERT_TRUE(p.ok());
        // The trellis: 2^3 states by default (model 3, or 11 with column classes); else order-0 or
        // column classes (the default family's cc).
        EXPECT_TRUE(c.path == "tcq" ? p->model == 3 || p->model == 11 : p->model == 0 || p->model == 9)
            << c.spec << " " << int(p->model);
        tcq_chosen |= c.path == "tcq";
      }
      if (c.path != "grid" && c.path != "lqer" && c.path != "rowstep" && c.path != "rowalloc" && c.path != "tcq") {
        EXPECT_EQ(enc, gpk::kPatch) << c.spec;
        auto p = gpk::PatchParams::Parse(art->tensors()[idx].params);
        ASSERT_TRUE(p.ok());
        EXPECT_EQ(p->inner == gpk::kLowRank, c.spec.find("+lr") != std::string::npos) << c.spec;
      }
    }
  }
  EXPECT_TRUE(offered) << "no patch over a correction was offered";
  EXPECT_TRUE(tcq_chosen) << "no trellis grid was chosen at any budget";
  EXPECT_TRUE(over_tcq) << "no correction over a trellis grid was offered";
}

// 20,000 bytes, no decoder bytes counted, one thread.
RdOptions SmallOneThread() {
  RdOptions o;
  o.budget = 20000;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  o.threads = 1;
  return o;
}

// RdOptions::tcq_sensitivity prices every candidate on a trellis grid (the
// trellis itself and the corrections over it) with its own sensitivity, and
// every other candidate with the calibration's.
TEST(Rd, TcqSensitivityPricesTheTrellisCandidates) {
  const auto model = Model();
  const auto h = Calib({});
  RdOptions o = SmallOneThread();
  o.paths = {"grid", "lqer", "tcq"};
  for (const auto& t : model.tensors) o.tcq_sensitivity[t.name] = 0.5 * h.Sensitivity(t.name).value_or(1.0);
  auto r = PackRd(model, h, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int trellis = 0, over = 0, other = 0;
  for (const auto& t : r->tensors)
    for (const auto& c : t.candidates) {
      if (!(c.proxy > 0)) continue;
      const bool tcq = c.spec.rfind("gptq:tcq:", 0) == 0;
      EXPECT_NEAR(c.predicted / (t.sensitivity * c.proxy), tcq ? 0.5 : 1.0, 1e-9) << t.name << " " << c.spec;
      trellis += tcq && c.path == "tcq";
      over += tcq && c.path != "tcq";
      other += !tcq;
    }
  EXPECT_GT(trellis, 0);
  EXPECT_GT(over, 0);  // an LQER correction over a trellis grid
  EXPECT_GT(other, 0);
  // The same from a calibration that carries trellis-probe sensitivities.
  auto h2 = h;
  h2.set_tcq_sensitivity(o.tcq_sensitivity);
  o.tcq_sensitivity.clear();
  auto r2 = PackRd(model, h2, o);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  ASSERT_EQ(r2->tensors.size(), r->tensors.size());
  for (size_t i = 0; i < r->tensors.size(); ++i) EXPECT_EQ(r2->tensors[i].predicted_loss, r->tensors[i].predicted_loss);
}

// --tcq-debias: every tcq candidate but those of q and k (RMS-normalised
// per head: --tcq-debias-skip) carries ":ub<X>" and the same codes as
// without it (the same bytes but for its scales), its proxy is exactly the
// H-weighted error of what it decodes to, and each decoded trellis row's
// output error is uncorrelated with the row's output under the (shrunk)
// Hessian: (q_r H w_r^T) / (w_r H w_r^T) = 1 up to the f16 scale.
TEST(Rd, TcqDebiasUnbiasesTheTrellisCandidates) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = PgModel(shape, 8);
  const auto h = PgCalib(shape, 908);
  RdOptions o;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  o.threads = 1;
  o.paths = {"grid", "tcq"};
  o.hessian_shrink = 0.1;
  EXPECT_EQ(o.tcq_debias, 0.5);  // the default
  o.tcq_debias = 0;
  auto plain_planner = RdPlanner::Create(model, h, o);
  o.tcq_debias = 1;
  auto planner = RdPlanner::Create(model, h, o);
  ASSERT_TRUE(planner.ok() && plain_planner.ok()) << planner.status().ToString();
  const uint64_t lo = planner->min_counted_bytes(), hi = planner->max_plain_counted_bytes();
  auto r = planner->Pack(lo + (hi - lo) / 3);
  auto p = plain_planner->Pack(lo + (hi - lo) / 3);
  ASSERT_TRUE(r.ok() && p.ok()) << r.status().ToString();
  ASSERT_EQ(r->tensors.size(), p->tensors.size());
  int trellis = 0, skipped = 0, picks = 0;
  for (size_t i = 0; i < r->tensors.size(); ++i) {
    const auto& a = r->tensors[i].candidates;
    const auto& b = p->tensors[i].candidates;
    ASSERT_EQ(a.size(), b.size()) << r->tensors[i].name;
    for (size_t c = 0; c < a.size(); ++c) {
      if (a[c].path != "tcq") {
        EXPECT_EQ(a[c].proxy, b[c].proxy) << a[c].spec;
        continue;
      }
      const std::string& name = r->tensors[i].name;
      const bool skip = name.find(".attn.c_q.") != std::string::npos || name.find(".attn.c_k.") != std::string::npos;
      skipped += skip;
      trellis += !skip;
      EXPECT_EQ(a[c].spec.find(":ub1") != std::string::npos, !skip) << a[c].spec;
      EXPECT_EQ(b[c].spec.find(":ub"), std::string::npos) << b[c].spec;
      EXPECT_NEAR(double(a[c].bytes), double(b[c].bytes), 0.02 * double(b[c].bytes)) << a[c].spec;
      if (skip) EXPECT_EQ(a[c].proxy, b[c].proxy) << a[c].spec;
      else EXPECT_NE(a[c].proxy, b[c].proxy) << a[c].spec;
    }
  }
  EXPECT_GT(trellis, 0);
  EXPECT_GT(skipped, 0);
  auto art = gpk::Artifact::Parse(r->pack.bytes, "rd.gpk");
  ASSERT_TRUE(art.ok()) << art.status().ToString();
  for (const auto& t : r->tensors) {
    const RdCandidate& c = t.candidates[t.chosen];
    if (c.path != "tcq" || c.spec.find(":ub1") == std::string::npos) continue;
    ++picks;
    size_t idx = 0;
    while (art->tensors()[idx].name != t.name) ++idx;
    auto dec = art->DecodeTensor(idx);
    ASSERT_TRUE(dec.ok());
    const auto* w = model.Find(t.name);
    auto v = w->ToFloat32();
    ASSERT_TRUE(v.ok());
    const uint64_t rows = w->shape[0], cols = w->shape[1];
    Eigen::MatrixXd H = *h.ForWeight(t.name);
    H.diagonal().array() += 0.1 * H.diagonal().mean();
    const std::vector<double> rw = h.RowWeights(t.name, rows, kTokenRowFloor);
    const double full = HessianProxy(*v, *dec, rows, cols, H, h.tokens(), rw);
    EXPECT_NEAR(c.proxy, full, 1e-6 * full) << t.name << " " << c.spec;
    for (uint64_t row = 0; row < rows; ++row) {
      Eigen::VectorXd wr(cols), qr(cols);
      for (uint64_t col = 0; col < cols; ++col) {
        wr(Eigen::Index(col)) = (*v)[row * cols + col];
        qr(Eigen::Index(col)) = (*dec)[row * cols + col];
      }
      EXPECT_NEAR(qr.dot(H * wr) / wr.dot(H * wr), 1.0, 2e-3) << t.name << " row " << row;
    }
  }
  EXPECT_GT(picks, 0) << "no tensor picked a trellis grid";

  // With each row's own metric in the calibration (row_hw, here W D H D with
  // column weights D per tensor) the gains are measured in it instead (the
  // tied embedding, which has none, keeps H's).
  Hessians hr = h;
  std::map<std::string, Hessians::RowMajorMatrix> row_hw;
  for (const auto& t : model.tensors) {
    const Eigen::MatrixXd* ht = t.shape.size() == 2 ? h.ForWeight(t.name) : nullptr;
    if (!ht || t.name.find("blocks.") != 0) continue;
    auto v = t.ToFloat32();
    ASSERT_TRUE(v.ok());
    const auto rows = Eigen::Index(t.shape[0]), cols = Eigen::Index(t.shape[1]);
    Eigen::VectorXd d(cols);
    for (Eigen::Index c = 0; c < cols; ++c) d(c) = 0.3 + 2.7 * double((c * 37 + rows) % 17) / 16.0;
    const Eigen::MatrixXd m = d.asDiagonal() * *ht * d.asDiagonal();
    Hessians::RowMajorMatrix wm(rows, cols);
    for (Eigen::Index i = 0; i < rows * cols; ++i) wm.data()[i] = (*v)[size_t(i)];
    row_hw.emplace(t.name, wm * m);
  }
  hr.set_row_hw(row_hw);
  EXPECT_TRUE(o.tcq_debias_row_metric);  // the default
  auto row_planner = RdPlanner::Create(model, hr, o);
  ASSERT_TRUE(row_planner.ok()) << row_planner.status().ToString();
  auto rr = row_planner->Pack(lo + (hi - lo) / 3);
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  EXPECT_NE(rr->pack.bytes, r->pack.bytes);
  auto art_r = gpk::Artifact::Parse(rr->pack.bytes, "rd_row.gpk");
  ASSERT_TRUE(art_r.ok()) << art_r.status().ToString();
  int row_picks = 0;
  for (const auto& t : rr->tensors) {
    const RdCandidate& c = t.candidates[t.chosen];
    if (c.path != "tcq" || c.spec.find(":ub1") == std::string::npos || !row_hw.count(t.name)) continue;
    ++row_picks;
    size_t idx = 0;
    while (art_r->tensors()[idx].name != t.name) ++idx;
    auto dec = art_r->DecodeTensor(idx);
    ASSERT_TRUE(dec.ok());
    auto v = model.Find(t.name)->ToFloat32();
    ASSERT_TRUE(v.ok());
    const Hessians::RowMajorMatrix& m = row_hw.at(t.name);
    for (Eigen::Index row = 0; row < m.rows(); ++row) {
      double qv = 0, wv = 0;
      for (Eigen::Index col = 0; col < m.cols(); ++col) {
        qv += (*dec)[size_t(row * m.cols() + col)] * m(row, col);
        wv += (*v)[size_t(row * m.cols() + col)] * m(row, col);
      }
      EXPECT_NEAR(qv / wv, 1.0, 2e-3) << t.name << " row " << row;
    }
  }
  EXPECT_GT(row_picks, 0) << "no tensor picked a trellis grid with the row metric";
}

// GPTQ's own options in the family (damping, act-order) reach the GPTQ
// candidates; the plain-rounding ladder drops them; the tcq path takes its
// own damping, state count, rate weight and tensor filter, and a bad state count is one
// clear line.
TEST(Rd, GptqOptionsInTheFamilyAndTcqOptions) {
  const auto model = Model();
  const auto h = Calib({});
  RdOptions o = SmallOneThread();
  o.family = "gptq:ans:s{s}:row:noact:damp0.1";
  o.paths = {"grid", "tcq"};
  o.tcq_damp = 0.2;
  o.tcq_state_bits = 2;
  o.tcq_lambda = 0.2;
  auto r = PackRd(model, h, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  bool damped = false, trellis = false;
  for (const auto& t : r->tensors)
    for (const auto& c : t.candidates) {
      damped |= c.gptq && c.path == "grid" && c.spec.find(":noact:damp0.1") != std::string::npos;
      trellis |= c.path == "tcq" && c.spec.find(":st2:l0.2") != std::string::npos;
      if (!c.gptq) EXPECT_EQ(c.spec.find("damp"), std::string::npos) << c.spec;
    }
  EXPECT_TRUE(damped);
  EXPECT_TRUE(trellis);
  // --tcq-only: trellis candidates only for the tensors named.
  o.tcq_only = {".mlp."};
  r = PackRd(model, h, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int mlp_trellis = 0;
  for (const auto& t : r->tensors)
    for (const auto& c : t.candidates)
      if (c.path == "tcq") {
        EXPECT_NE(t.name.find(".mlp."), std::string::npos) << t.name;
        ++mlp_trellis;
      }
  EXPECT_GT(mlp_trellis, 0);
  o.tcq_only.clear();
  o.tcq_state_bits = 9;
  r = PackRd(model, h, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tcq state bits must be 2..8"), std::string::npos) << r.status().ToString();
}

// --hessian-shrink A is H + A x mean(diag H) x I before anything uses it:
// packing with it equals packing, without it, a calibration whose Hessians
// were shrunk by hand (integer Hessians and A = 0.5, so both are exact), bit
// for bit, candidates and proxies included; and a bad A is one clear line.
TEST(Rd, HessianShrinkIsTheShrunkCalibration) {
  const auto model = Model();
  auto calib = [](double shrink) {
    io::TensorFile cal;
    int site_no = 0;
    for (const char* site : {"head_in", "blocks.0.attn_in", "blocks.0.mlp_in"}) {
      Eigen::MatrixXd b(64, 8);
      for (int i = 0; i < 64; ++i)
        for (int j = 0; j < 8; ++j) b(i, j) = double((i * 7 + j * 3 + site_no * 5) % 5) - 2.0;  // in -2..2
      Eigen::MatrixXd h = b * b.transpose();
      h.diagonal().array() += 4.0;
      h.diagonal().array() += shrink * h.diagonal().mean();
      std::vector<float> v(64 * 64);
      for (int i = 0; i < 64; ++i)
        for (int j = 0; j < 64; ++j) v[size_t(i * 64 + j)] = float(h(i, j));
      cal.tensors.push_back(io::Tensor::FromFloat32(site, {64, 64}, v));
      ++site_no;
    }
    cal.metadata = {{"golfpack.calibration", "hessian-v1"}, {"golfpack.tokens", "1000"}, {"golfpack.seq_len", "100"}};
    const auto path = (golfpack::testing::ScratchDir("gp_rd_") / ("shrink_" + std::to_string(shrink))).string();
    EXPECT_TRUE(io::WriteSafetensors(path, cal).ok());
    auto h = Hessians::Load(path);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    std::filesystem::remove(path);
    return *h;
  };
  RdOptions o;
  o.budget = 22000;
  o.code_bytes = 0;
  o.code_bytes_set = true;
  o.threads = 1;
  o.paths = {"grid", "lqer", "sparse", "tcq"};
  o.hessian_shrink = 0.5;
  auto shrunk_here = PackRd(model, calib(0.0), o);
  o.hessian_shrink = 0;
  auto shrunk_before = PackRd(model, calib(0.5), o);
  auto plain = PackRd(model, calib(0.0), o);
  ASSERT_TRUE(shrunk_here.ok() && shrunk_before.ok() && plain.ok()) << shrunk_here.status().ToString();
  EXPECT_EQ(shrunk_here->pack.bytes, shrunk_before->pack.bytes);
  EXPECT_NE(shrunk_here->pack.bytes, plain->pack.bytes) << "the shrinkage changed nothing";
  ASSERT_EQ(shrunk_here->tensors.size(), shrunk_before->tensors.size());
  for (size_t t = 0; t < shrunk_here->tensors.size(); ++t) {
    const auto& a = shrunk_here->tensors[t].candidates;
    const auto& b = shrunk_before->tensors[t].candidates;
    ASSERT_EQ(a.size(), b.size());
    for (size_t c = 0; c < a.size(); ++c) {
      EXPECT_EQ(a[c].spec, b[c].spec);
      EXPECT_EQ(a[c].proxy, b[c].proxy) << a[c].spec;
    }
  }
  o.hessian_shrink = -0.1;
  auto bad = PackRd(model, calib(0.0), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("hessian shrink must be in [0, 10]"), std::string::npos)
      << bad.status().ToString();
}

TEST(RdLqer, PathsAreCheckedWithOneClearLine) {
  const auto model = Model();
  const auto h = Calib({});
  RdOptions o;
  o.budget = 30000;
  o.paths = {"grid", "sprase"};
  auto r = PackRd(model, h, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown path 'sprase'"), std::string::npos) << r.status().ToString();
  o.paths = {"lqer"};
  r = PackRd(model, h, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("must include grid"), std::string::npos) << r.status().ToString();
  o.paths = {"grid", "lqer"};
  o.family = "ans:s{s}:row";
  r = PackRd(model, h, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("needs a GPTQ family"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace golfpack::encode

namespace golfpack::encode {
namespace {

// Rows of a row-major rows x cols matrix, each followed by column r of a
// cols2-wide second matrix: one MLP unit's fc row and proj column together.
std::vector<std::vector<float>> Units(const std::vector<float>& fc, const std::vector<float>& proj, size_t hidden) {
  const size_t dim = fc.size() / hidden;
  std::vector<std::vector<float>> u(hidden);
  for (size_t r = 0; r < hidden; ++r) {
    u[r].assign(fc.begin() + static_cast<std::ptrdiff_t>(r * dim), fc.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
    for (size_t d = 0; d < dim; ++d) u[r].push_back(proj[d * hidden + r]);
  }
  return u;
}

// pack --bits-back: every MLP's unit order carries floor(log2(256!) / 8) =
// 210 bytes of its fc scales, the budget holds, and the artifact decodes to
// the plain rd artifact at the budget plus those bytes with the units
// reordered (the same function), by both C++ decoders.
TEST(RdBitsBack, UnitOrdersCarryTheirScalesAndDecodeToTheReorderedPlainArtifact) {
  const PgShape shape{2, 128, 4, 2, 2, 256};
  const auto model = PgModel(shape, 31);
  const auto h = PgCalib(shape, 931);
  for (const std::vector<std::string>& paths : {std::vector<std::string>{"grid"}, std::vector<std::string>{"grid", "lqer"}}) {
    RdOptions o;
    o.code_bytes = 0;
    o.code_bytes_set = true;
    o.paths = paths;
    auto planner = RdPlanner::Create(model, h, o);
    ASSERT_TRUE(planner.ok()) << planner.status().ToString();
    o.budget = (planner->min_counted_bytes() + planner->max_plain_counted_bytes()) / 3;
    BitsBackReport rep;
    auto r = PackRdBitsBack(model, h, o, &rep);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_LE(r->pack.counted_bytes, o.budget);
    ASSERT_EQ(rep.layers.size(), 2u);
    EXPECT_FALSE(rep.fell_back);
    for (const auto& l : rep.layers) EXPECT_EQ(l.bytes, 210u) << l.tensor << ": " << l.note;
    EXPECT_EQ(rep.carried, 2u * (210u - 2u));
    RdOptions plain_o = o;
    plain_o.budget = o.budget + rep.planned;
    auto plain = PackRd(model, h, plain_o);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    EXPECT_EQ(plain->pack.file_bytes, r->pack.file_bytes + rep.carried);
    auto a = gpk::Artifact::Parse(r->pack.bytes, "bits-back");
    auto b = gpk::Artifact::Parse(plain->pack.bytes, "plain");
    ASSERT_TRUE(a.ok() && b.ok());
    auto va = a->DecodeAll();
    auto vb = b->DecodeAll();
    ASSERT_TRUE(va.ok() && vb.ok());
    std::map<std::string, size_t> idx;
    for (size_t i = 0; i < b->tensors().size(); ++i) idx[b->tensors()[i].name] = i;
    for (size_t i = 0; i < a->tensors().size(); ++i) {
      const std::string& name = a->tensors()[i].name;
      if (name.find(".mlp.") == std::string::npos) {
        EXPECT_EQ((*va)[i], (*vb)[idx[name]]) << name;
        continue;
      }
      if (name.find("mlp.fc.") == std::string::npos) continue;
      auto ref = gpk::DecodeTensorRef(*a, i);
      ASSERT_TRUE(ref.ok()) << ref.status().ToString();
      EXPECT_EQ(*ref, (*va)[i]) << name;
      const std::string proj = name.substr(0, name.size() - std::string("fc.weight").size()) + "proj.weight";
      size_t pa = 0;
      for (size_t k = 0; k < a->tensors().size(); ++k)
        if (a->tensors()[k].name == proj) pa = k;
      auto ua = Units((*va)[i], (*va)[pa], 256), ub = Units((*vb)[idx[name]], (*vb)[idx[proj]], 256);
      EXPECT_NE(ua, ub) << name << ": the units were not reordered";
      std::sort(ua.begin(), ua.end());
      std::sort(ub.begin(), ub.end());
      EXPECT_EQ(ua, ub) << name << ": not the same units";
    }
  }
}

TEST(RdBitsBack, ReorderingMovesTheRowFisherWithTheUnits) {
  const PgShape shape{1, 64, 4, 2, 2, 128};
  auto model = PgModel(shape, 3);
  auto h = PgCalib(shape, 303);
  std::vector<double> f(128);
  for (size_t i = 0; i < f.size(); ++i) f[i] = double(i) + 1;
  h.set_row_fisher({{"blocks.0.mlp.fc.weight", f}, {"blocks.0.attn.c_q.weight", std::vector<double>(64, 1.0)}});
  std::vector<uint64_t> perm(128);
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = (i * 37) % 128;
  auto rep = PermuteMlpUnits(model, {{"blocks.0.mlp.fc.weight", perm}});
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  auto h2 = PermuteHessians(h, *rep);
  ASSERT_TRUE(h2.ok()) << h2.status().ToString();
  const auto& got = h2->row_fisher().at("blocks.0.mlp.fc.weight");
  for (size_t i = 0; i < perm.size(); ++i) EXPECT_EQ(got[i], f[perm[i]]);
  EXPECT_EQ(h2->row_fisher().at("blocks.0.attn.c_q.weight"), std::vector<double>(64, 1.0));
  perm[0] = perm[1];
  io::TensorFile again = PgModel(shape, 3);
  EXPECT_FALSE(PermuteMlpUnits(again, {{"blocks.0.mlp.fc.weight", perm}}).ok());
}

}  // namespace
}  // namespace golfpack::encode
