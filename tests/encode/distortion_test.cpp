#include "plan/distortion.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "plan/calibration.h"

namespace golfpack::encode {
namespace {

// Small random W, Q and a symmetric positive definite H, with the proxy
// computed by the definition, entry by entry.
struct Case {
  uint64_t rows = 5, cols = 7;
  std::vector<float> w, q;
  Eigen::MatrixXd h;
  Case() {
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0.f, 1.f);
    for (uint64_t i = 0; i < rows * cols; ++i) {
      w.push_back(n(rng));
      q.push_back(w.back() + 0.1f * n(rng));
    }
    Eigen::MatrixXd x(20, cols);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = n(rng);
    h = x.transpose() * x;
  }
  double Brute(int64_t tokens, bool diagonal_only) const {
    double s = 0;
    for (uint64_t i = 0; i < rows; ++i)
      for (uint64_t a = 0; a < cols; ++a)
        for (uint64_t b = 0; b < cols; ++b) {
          if (diagonal_only && a != b) continue;
          s += (double(w[i * cols + a]) - q[i * cols + a]) * h(Eigen::Index(a), Eigen::Index(b)) *
               (double(w[i * cols + b]) - q[i * cols + b]);
        }
    return s / double(tokens);
  }
};

TEST(Distortion, FullAndDiagonalProxiesMatchTheirDefinitions) {
  Case c;
  EXPECT_NEAR(HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10), c.Brute(10, false), 1e-12);
  EXPECT_NEAR(DiagHessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10), c.Brute(10, true), 1e-12);
  EXPECT_NE(HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10), DiagHessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10));
  // tokens <= 0 counts as 1; identical weights cost nothing.
  EXPECT_NEAR(HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 0), c.Brute(1, false), 1e-12);
  EXPECT_EQ(HessianProxy(c.w, c.w, c.rows, c.cols, c.h, 10), 0.0);
}

TEST(Distortion, CorrectedProxyEqualsTheProxyOfTheCorrectedError) {
  Case c;
  const auto r = Eigen::Index(c.rows), k = Eigen::Index(c.cols);
  Eigen::MatrixXd e(r, k);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < k; ++j) e(i, j) = double(c.w[size_t(i * k + j)]) - c.q[size_t(i * k + j)];
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(r, 2) * 0.05, b = Eigen::MatrixXd::Random(2, k);
  const double base = (e * c.h).cwiseProduct(e).sum();
  const Eigen::MatrixXd ec = e - a * b;
  const double direct = (ec * c.h).cwiseProduct(ec).sum() / 4.0;
  EXPECT_NEAR(CorrectedHessianProxy(base, e, a, b, c.h, 4), direct, 1e-9 * direct);
  // A correction equal to the whole error leaves nothing.
  Eigen::MatrixXd id = Eigen::MatrixXd::Identity(k, k);
  EXPECT_NEAR(CorrectedHessianProxy(base, e, e, id, c.h, 4), 0.0, 1e-9 * base);
}

TEST(Distortion, RowWeightsScaleEachRowsTerm) {
  Case c;
  std::vector<double> rw(c.rows);
  for (uint64_t i = 0; i < c.rows; ++i) rw[i] = 0.25 + double(i);
  double full = 0, diag = 0;
  for (uint64_t i = 0; i < c.rows; ++i)
    for (uint64_t a = 0; a < c.cols; ++a)
      for (uint64_t b = 0; b < c.cols; ++b) {
        const double t = rw[i] * (double(c.w[i * c.cols + a]) - c.q[i * c.cols + a]) *
                         c.h(Eigen::Index(a), Eigen::Index(b)) * (double(c.w[i * c.cols + b]) - c.q[i * c.cols + b]);
        full += t;
        if (a == b) diag += t;
      }
  EXPECT_NEAR(HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10, rw), full / 10, 1e-12);
  EXPECT_NEAR(DiagHessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10, rw), diag / 10, 1e-12);
  // Weights of 1 are no weights.
  const std::vector<double> ones(c.rows, 1.0);
  EXPECT_NEAR(HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 10, ones), c.Brute(10, false), 1e-12);
}

TEST(Distortion, SparseCorrectedProxyEqualsTheProxyOfThePatchedError) {
  Case c;
  std::vector<float> e(c.rows * c.cols);
  for (size_t i = 0; i < e.size(); ++i) e[i] = c.w[i] - c.q[i];
  std::vector<double> rw(c.rows);
  for (uint64_t i = 0; i < c.rows; ++i) rw[i] = 0.5 + double(i);
  // Several nonzeros in row 0, one in row 2, a run in the last row.
  const std::vector<uint64_t> pos = {0, 3, 6, 15, 29, 30, 34};
  const std::vector<float> s = {0.3f, -0.2f, 0.05f, 0.4f, -0.1f, 0.2f, 0.15f};
  std::vector<float> q2 = c.q;  // Q + S, so that W - Q2 = E - S
  for (size_t i = 0; i < pos.size(); ++i) q2[pos[i]] += s[i];
  for (const bool weighted : {false, true}) {
    const std::span<const double> r = weighted ? std::span<const double>(rw) : std::span<const double>();
    const double base = HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 1, r);
    const double direct = HessianProxy(c.w, q2, c.rows, c.cols, c.h, 4, r);
    EXPECT_NEAR(SparseCorrectedHessianProxy(base, e, c.cols, pos, s, c.h, 4, r), direct, 1e-5 * direct);
    EXPECT_NE(direct, base / 4);
    // No change: the base trace per token.
    EXPECT_NEAR(SparseCorrectedHessianProxy(base, e, c.cols, {}, {}, c.h, 4, r), base / 4, 1e-12);
  }
  // Patching the whole error of the rows it touches removes those rows' terms.
  std::vector<uint64_t> all;
  std::vector<float> whole;
  for (uint64_t j = 0; j < c.cols; ++j) {
    all.push_back(c.cols + j);
    whole.push_back(e[c.cols + j]);
  }
  std::vector<float> q3 = c.q;
  for (uint64_t j = 0; j < c.cols; ++j) q3[c.cols + j] = c.w[c.cols + j];
  const double base = HessianProxy(c.w, c.q, c.rows, c.cols, c.h, 1);
  EXPECT_NEAR(SparseCorrectedHessianProxy(base, e, c.cols, all, whole, c.h, 1), HessianProxy(c.w, q3, c.rows, c.cols, c.h, 1),
              1e-5 * base);
}

}  // namespace
}  // namespace golfpack::encode

namespace golfpack::encode {
namespace {

// Row Fisher weights: proportional to f above the floor, the floor below it,
// then scaled to mean 1; the embedding keeps its token weights; a negative
// floor, a missing or mis-sized entry, or an all-zero f gives none.
TEST(Distortion, FisherRowWeightsAreFlooredAndMeanOne) {
  const std::vector<double> f = {0, 1, 2, 5};  // mean 2: ratios 0, 0.5, 1, 2.5
  const std::vector<double> r = FisherRowWeights(f, 0.25);
  ASSERT_EQ(r.size(), 4u);
  const double sum = 0.25 + 0.5 + 1 + 2.5;
  EXPECT_DOUBLE_EQ(r[0], 0.25 * 4 / sum);
  EXPECT_DOUBLE_EQ(r[1], 0.5 * 4 / sum);
  EXPECT_DOUBLE_EQ(r[3], 2.5 * 4 / sum);
  EXPECT_NEAR(r[0] + r[1] + r[2] + r[3], 4.0, 1e-12);
  EXPECT_TRUE(FisherRowWeights({0, 0}, 0.1).empty());
  EXPECT_TRUE(FisherRowWeights({}, 0.1).empty());

  const std::map<std::string, std::vector<double>> fisher = {{"blocks.0.mlp.fc.weight", f},
                                                             {"tok_emb.weight", {1, 1, 1}}};
  const std::vector<double> counts = {3, 0, 9};
  EXPECT_EQ(RowWeightsFor("blocks.0.mlp.fc.weight", 4, counts, 0.3, fisher, 0.25), r);
  EXPECT_TRUE(RowWeightsFor("blocks.0.mlp.fc.weight", 4, counts, 0.3, fisher, -1).empty());
  EXPECT_TRUE(RowWeightsFor("blocks.0.mlp.fc.weight", 5, counts, 0.3, fisher, 0.25).empty());
  EXPECT_TRUE(RowWeightsFor("blocks.1.mlp.fc.weight", 4, counts, 0.3, fisher, 0.25).empty());
  EXPECT_EQ(RowWeightsFor("tok_emb.weight", 3, counts, 0.3, fisher, 0.25), TokenRowWeights(counts, 0.3));
}

}  // namespace
}  // namespace golfpack::encode
