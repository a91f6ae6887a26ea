#include "codec/gptq.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::BitEqual;
using testing::DecodeWithCore;
using testing::Gaussian;

// X [n x cols] with strongly correlated columns: a rank-`k` signal plus a
// little independent noise, per-column gains spread over two decades.
Eigen::MatrixXd CorrelatedHessian(Eigen::Index cols, Eigen::Index n, Eigen::Index k, uint32_t seed,
                                  const std::vector<Eigen::Index>& dead = {}) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Eigen::MatrixXd Z(n, k), M(k, cols), N(n, cols);
  for (Eigen::Index i = 0; i < Z.size(); ++i) Z.data()[i] = nd(rng);
  for (Eigen::Index i = 0; i < M.size(); ++i) M.data()[i] = nd(rng);
  for (Eigen::Index i = 0; i < N.size(); ++i) N.data()[i] = nd(rng);
  Eigen::MatrixXd X = Z * M + 0.1 * N;
  for (Eigen::Index j = 0; j < cols; ++j) X.col(j) *= std::pow(10.0, 2.0 * static_cast<double>(j % 7) / 6.0 - 1.0);
  for (Eigen::Index d : dead) X.col(d).setZero();
  return X.transpose() * X;
}

// X [n x cols] whose columns follow an AR(1) process along the column index
// (corr(x_i, x_j) = rho^|i-j|): full rank but strongly correlated, like
// neighbouring features of a real activation.
Eigen::MatrixXd Ar1Hessian(Eigen::Index cols, Eigen::Index n, double rho, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Eigen::MatrixXd X(n, cols);
  const double innov = std::sqrt(1.0 - rho * rho);
  for (Eigen::Index r = 0; r < n; ++r) {
    double x = nd(rng);
    for (Eigen::Index j = 0; j < cols; ++j) {
      X(r, j) = x;
      x = rho * x + innov * nd(rng);
    }
  }
  return X.transpose() * X;
}

void ExpectValid(const GptqResult& r, std::span<const float> w, const UniformSpec& spec, const Eigen::MatrixXd& H) {
  const int mc = spec.max_code();
  for (int8_t c : r.quant.codes) {
    ASSERT_GE(c, -mc);
    ASSERT_LE(c, mc);
  }
  // The stored tensor decodes to exactly the codes * scales GPTQ reports.
  const std::vector<float> dec = DecodeWithCore(r.encoded);
  const std::vector<float> mine = DequantizeUniform(r.quant);
  ASSERT_EQ(dec.size(), mine.size());
  for (size_t i = 0; i < dec.size(); ++i) ASSERT_TRUE(BitEqual(dec[i], mine[i])) << i;
  // err_gptq is the Hessian-weighted error of what is stored.
  const double err = HessianWeightedError(w, dec, r.quant.rows, r.quant.cols, H);
  EXPECT_NEAR(err, r.err_gptq, 1e-9 * std::max(1.0, err));
  EXPECT_GT(r.err_rtn, 0.0);
}

TEST(Gptq, BeatsRoundToNearestOnCorrelatedInputs) {
  const Eigen::Index rows = 96, cols = 256;
  const Eigen::MatrixXd H = CorrelatedHessian(cols, 2048, 16, 1);
  const std::vector<float> w = Gaussian(static_cast<size_t>(rows * cols), 0.02f, 2);
  const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  for (bool act : {true, false}) {
    for (uint32_t group : {0u, 64u}) {
      UniformSpec spec;
      spec.bits = 4;
      spec.group_size = group;
      GptqOptions opt;
      opt.act_order = act;
      auto r = GptqQuantize("w", shape, w, H, spec, opt);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      SCOPED_TRACE(std::string(act ? "act" : "noact") + " g" + std::to_string(group));
      ExpectValid(*r, w, spec, H);
      const double ratio = r->err_gptq / r->err_rtn;
      std::printf("[gptq] 4-bit %s group %u: err_rtn %.4g err_gptq %.4g ratio %.3f\n", act ? "act-order" : "natural",
                  group, r->err_rtn, r->err_gptq, ratio);
      EXPECT_LT(ratio, 0.7);
    }
  }
}

TEST(Gptq, BeatsRoundToNearestOnFullRankAr1Inputs) {
  const Eigen::Index rows = 96, cols = 256;
  const std::vector<float> w = Gaussian(static_cast<size_t>(rows * cols), 0.02f, 2);
  const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  for (double rho : {0.9, 0.99}) {
    const Eigen::MatrixXd H = Ar1Hessian(cols, 4096, rho, 3);
    for (int bits : {3, 4, 6}) {
      UniformSpec spec;
      spec.bits = bits;
      auto r = GptqQuantize("w", shape, w, H, spec);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ExpectValid(*r, w, spec, H);
      const double ratio = r->err_gptq / r->err_rtn;
      std::printf("[gptq] AR(1) rho %.2f, %d-bit row absmax: ratio %.3f\n", rho, bits, ratio);
      EXPECT_LT(ratio, 0.7);
    }
  }
}

TEST(Gptq, IdentityHessianReducesToRoundToNearest) {
  // With uncorrelated inputs there is nothing to compensate: GPTQ == RTN.
  const std::vector<uint64_t> shape = {16, 48};
  const std::vector<float> w = Gaussian(16 * 48, 1.0f, 4);
  Eigen::VectorXd d(48);
  for (int i = 0; i < 48; ++i) d(i) = 0.5 + i;
  UniformSpec spec;
  spec.bits = 4;
  spec.group_size = 16;
  auto r = GptqQuantize("w", shape, w, Eigen::MatrixXd(d.asDiagonal()), spec);
  ASSERT_TRUE(r.ok());
  auto rtn = QuantizeUniform("w", shape, w, spec);
  ASSERT_TRUE(rtn.ok());
  EXPECT_EQ(r->quant.codes, rtn->codes);
  EXPECT_EQ(r->quant.scales, rtn->scales);
  EXPECT_NEAR(r->err_gptq, r->err_rtn, 1e-12 * r->err_rtn);
}

TEST(Gptq, SixBitSdClipAndFloatHessian) {
  const Eigen::Index rows = 64, cols = 128;
  const Eigen::MatrixXd H = CorrelatedHessian(cols, 1024, 8, 3);
  const std::vector<float> w = Gaussian(static_cast<size_t>(rows * cols), 0.02f, 4);
  const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  UniformSpec spec;
  spec.bits = 6;
  spec.clip = UniformSpec::kStd;
  spec.clip_value = 12.85;
  spec.cap_at_absmax = false;
  auto r = GptqQuantize("w", shape, w, Eigen::MatrixXf(H.cast<float>()), spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectValid(*r, w, spec, Eigen::MatrixXd(H.cast<float>().cast<double>()));
  std::printf("[gptq] 6-bit sd12.85 nocap: ratio %.3f\n", r->err_gptq / r->err_rtn);
  EXPECT_LT(r->err_gptq, r->err_rtn);
}

TEST(Gptq, DeadColumnsAndSmallBlocks) {
  const Eigen::Index rows = 32, cols = 100;
  const std::vector<Eigen::Index> dead = {0, 17, 99};
  const Eigen::MatrixXd H = CorrelatedHessian(cols, 512, 6, 5, dead);
  const std::vector<float> w = Gaussian(static_cast<size_t>(rows * cols), 1.0f, 6);
  const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  UniformSpec spec;
  spec.bits = 3;
  for (int block : {1, 7, 128}) {
    GptqOptions opt;
    opt.block_size = block;
    auto r = GptqQuantize("w", shape, w, H, spec, opt);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->dead_columns, 3u);
    ExpectValid(*r, w, spec, H);
    for (Eigen::Index d : dead) {
      for (Eigen::Index row = 0; row < rows; ++row) EXPECT_EQ(r->quant.codes[row * cols + d], 0);
    }
    EXPECT_LT(r->err_gptq, r->err_rtn);
  }
  // All-dead Hessian (no inputs at all) still works: everything rounds to 0.
  const Eigen::MatrixXd Z = Eigen::MatrixXd::Zero(cols, cols);
  auto z = GptqQuantize("w", shape, w, Z, spec);
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ(z->dead_columns, static_cast<uint64_t>(cols));
}

TEST(Gptq, BlockSizeDoesNotChangeTheResultMuch) {
  const Eigen::Index rows = 16, cols = 200;
  const Eigen::MatrixXd H = CorrelatedHessian(cols, 800, 10, 7);
  const std::vector<float> w = Gaussian(static_cast<size_t>(rows * cols), 1.0f, 8);
  const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  UniformSpec spec;
  spec.bits = 4;
  GptqOptions a, b;
  a.block_size = 1;
  b.block_size = 128;
  auto ra = GptqQuantize("w", shape, w, H, spec, a);
  auto rb = GptqQuantize("w", shape, w, H, spec, b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  // Lazy batching is an exact reordering of the same updates.
  size_t diff = 0;
  for (size_t i = 0; i < ra->quant.codes.size(); ++i) diff += ra->quant.codes[i] != rb->quant.codes[i];
  EXPECT_LE(diff, ra->quant.codes.size() / 100);
  EXPECT_NEAR(ra->err_gptq, rb->err_gptq, 0.02 * ra->err_gptq);
}

TEST(Gptq, RejectsBadInputs) {
  const std::vector<uint64_t> shape = {4, 8};
  const std::vector<float> w = Gaussian(32, 1.0f, 1);
  UniformSpec spec;
  auto wrong = GptqQuantize("layer", shape, w, Eigen::MatrixXd(Eigen::MatrixXd::Identity(7, 7)), spec);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("layer"), std::string::npos);
  Eigen::MatrixXd nan = Eigen::MatrixXd::Identity(8, 8);
  nan(2, 3) = std::nan("");
  EXPECT_FALSE(GptqQuantize("layer", shape, w, nan, spec).ok());
  // Not a Gram matrix: negative diagonal.
  Eigen::MatrixXd neg = -Eigen::MatrixXd::Identity(8, 8);
  neg(0, 0) = 1.0;
  auto r = GptqQuantize("layer", shape, w, neg, spec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("negative diagonal"), std::string::npos);
  // Singular but PSD (rank 1) with zero damping: escalated damping makes it work.
  Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(8, 1.0, 2.0);
  GptqOptions nodamp;
  nodamp.percdamp = 0.0;
  auto s = GptqQuantize("layer", shape, w, Eigen::MatrixXd(v * v.transpose()), spec, nodamp);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GT(s->damp_used, 0.0);
  // Indefinite with a positive diagonal: rejected after the damping retries.
  Eigen::MatrixXd ind = Eigen::MatrixXd::Identity(8, 8);
  ind(0, 1) = ind(1, 0) = 50.0;
  auto t = GptqQuantize("layer", shape, w, ind, spec);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("positive definite"), std::string::npos);
}

// A PG-sized matrix end to end (its timing belongs to bench/, not here).
TEST(Gptq, Handles1024x512) {
  const Eigen::Index rows = 1024, cols = 512;
  const Eigen::MatrixXd H = CorrelatedHessian(cols, 1024, 32, 9);
  const std::vector<float> w = Gaussian(static_cast<size_t>(rows * cols), 0.02f, 10);
  const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  UniformSpec spec;
  spec.bits = 6;
  auto r = GptqQuantize("w", shape, w, H, spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LT(r->err_gptq, 0.9 * r->err_rtn);
}

// The factorisation is computed once per Hessian and reused: GptqRun with it
// gives exactly what GptqRun with the Hessian gives, and err_damped is the
// damped Hessian-weighted error, so the undamped one follows without another
// rows x cols x cols product.
TEST(Gptq, FactorisationIsReusableAndErrDampedIsTheDampedError) {
  const Eigen::Index rows = 48, cols = 96;
  const Eigen::MatrixXd H = CorrelatedHessian(cols, 400, 12, 91);
  GptqOptions opt;
  opt.block_size = 32;
  auto f = GptqFactorize("t", H, opt);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->cols, static_cast<uint64_t>(cols));
  EXPECT_EQ(f->dead_columns, 0u);
  // U^T U = (H_perm + damp I)^-1.
  Eigen::MatrixXd Hp(cols, cols);
  for (Eigen::Index i = 0; i < cols; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) Hp(i, j) = H(f->perm[size_t(i)], f->perm[size_t(j)]);
  Hp.diagonal().array() += f->damp_used;
  const Eigen::MatrixXd should_be_identity = f->U.transpose() * f->U * Hp;
  EXPECT_LT((should_be_identity - Eigen::MatrixXd::Identity(cols, cols)).cwiseAbs().maxCoeff(), 1e-6);
  EXPECT_EQ(f->U.triangularView<Eigen::StrictlyLower>().toDenseMatrix().cwiseAbs().maxCoeff(), 0.0);

  for (uint32_t seed : {1u, 2u}) {
    const auto w = Gaussian(size_t(rows * cols), 0.05f, seed);
    // Round to a 0.01 grid.
    auto run = [&](auto&& how, std::vector<float>& q) {
      q.assign(w.size(), 0.f);
      auto hook = [&](uint64_t col, double, std::span<const double> v, std::span<double> out) {
        for (size_t r = 0; r < v.size(); ++r) {
          const float x = static_cast<float>(std::nearbyint(v[r] / 0.01) * 0.01);
          q[r * size_t(cols) + col] = x;
          out[r] = x;
        }
      };
      return how(hook);
    };
    std::vector<float> qa, qb;
    auto a = run([&](auto& hook) { return GptqRun("t", rows, cols, w, H, opt, hook); }, qa);
    auto b = run([&](auto& hook) { return GptqRun("t", rows, cols, w, *f, opt, hook); }, qb);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(qa, qb);
    EXPECT_EQ(a->err_damped, b->err_damped);
    EXPECT_EQ(a->damp_used, f->damp_used);
    double sq = 0;
    for (size_t i = 0; i < w.size(); ++i) sq += (double(w[i]) - qa[i]) * (double(w[i]) - qa[i]);
    const double exact = HessianWeightedError(w, qa, rows, cols, H);
    EXPECT_GT(exact, 0.0);
    EXPECT_NEAR(b->err_damped - b->damp_used * sq, exact, 1e-9 * exact);
  }
  // A factor for other options or another width is refused.
  GptqOptions other = opt;
  other.percdamp = 0.05;
  auto hook = [](uint64_t, double, std::span<const double> v, std::span<double> out) {
    for (size_t r = 0; r < v.size(); ++r) out[r] = 0;
  };
  const auto w = Gaussian(size_t(rows * cols), 0.05f, 3);
  EXPECT_FALSE(GptqRun("t", rows, cols, w, *f, other, hook).ok());
  EXPECT_FALSE(GptqRun("t", rows * 2, cols / 2, w, *f, opt, hook).ok());
}

}  // namespace
}  // namespace golfpack::encode
