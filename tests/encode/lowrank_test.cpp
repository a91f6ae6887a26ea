// Encoding 9 `lowrank` from the writer's side (codec/lowrank.h and the
// "+lr" encoder specs): the factor fit against Eigen's JacobiSVD, weighting,
// fit-once-and-slice, quantization as the decoder sees it, exact byte prices,
// and the encoder's error reduction and spec errors.
#include "codec/lowrank.h"

#include <gtest/gtest.h>

#include <Eigen/SVD>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "codec/encoder.h"
#include "codec/half.h"
#include "core/byte_reader.h"
#include "core/encodings.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::DecodeWithCore;
using testing::Gaussian;

Eigen::MatrixXf RandomMatrix(Eigen::Index rows, Eigen::Index cols, uint32_t seed, float sd = 1.0f) {
  const std::vector<float> v = Gaussian(static_cast<size_t>(rows * cols), sd, seed);
  return Eigen::Map<const Eigen::MatrixXf>(v.data(), rows, cols);
}

// U diag(s) V^T with random orthonormal U, V: a known, decaying spectrum.
Eigen::MatrixXf WithSpectrum(Eigen::Index rows, Eigen::Index cols, const std::vector<double>& s, uint32_t seed) {
  const Eigen::Index k = static_cast<Eigen::Index>(s.size());
  Eigen::HouseholderQR<Eigen::MatrixXd> qu(RandomMatrix(rows, k, seed).cast<double>());
  Eigen::HouseholderQR<Eigen::MatrixXd> qv(RandomMatrix(cols, k, seed + 1).cast<double>());
  const Eigen::MatrixXd u = qu.householderQ() * Eigen::MatrixXd::Identity(rows, k);
  const Eigen::MatrixXd v = qv.householderQ() * Eigen::MatrixXd::Identity(cols, k);
  const Eigen::VectorXd sv = Eigen::Map<const Eigen::VectorXd>(s.data(), k);
  return (u * sv.asDiagonal() * v.transpose()).cast<float>();
}

// sum_j w_j sum_i (E - A B)_ij^2 (w empty: ones).
double Objective(const Eigen::MatrixXf& e, const LowRankFactors& f, const std::vector<double>& w) {
  const Eigen::MatrixXd r = e.cast<double>() - f.a.cast<double>() * f.b.cast<double>();
  double sum = 0.0;
  for (Eigen::Index j = 0; j < r.cols(); ++j) sum += (w.empty() ? 1.0 : w[static_cast<size_t>(j)]) * r.col(j).squaredNorm();
  return sum;
}

// The exact best rank-r approximation of e (Eckart-Young) by JacobiSVD.
Eigen::MatrixXd JacobiBest(const Eigen::MatrixXf& e, int r) {
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(e.cast<double>(), Eigen::ComputeThinU | Eigen::ComputeThinV);
  return svd.matrixU().leftCols(r) * svd.singularValues().head(r).asDiagonal() * svd.matrixV().leftCols(r).transpose();
}

double RelDiff(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) { return (x - y).norm() / std::max(y.norm(), 1e-30); }

TEST(FitLowRank, MatchesJacobiSvdOnSmallAndLargeMatrices) {
  // 12 x 20 takes the exact-SVD path, 150 x 100 the subspace iteration.
  for (auto [rows, cols] : {std::pair<int, int>{12, 20}, {150, 100}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    std::vector<double> s;
    for (int k = 0; k < std::min(rows, cols); ++k) s.push_back(10.0 * std::pow(0.7, k));
    const Eigen::MatrixXf e = WithSpectrum(rows, cols, s, 3);
    for (int r : {1, 3, 5}) {
      auto f = FitLowRank(e, {}, r);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      ASSERT_EQ(f->a.rows(), rows);
      ASSERT_EQ(f->a.cols(), r);
      ASSERT_EQ(f->b.rows(), r);
      ASSERT_EQ(f->b.cols(), cols);
      EXPECT_LT(RelDiff(f->a.cast<double>() * f->b.cast<double>(), JacobiBest(e, r)), 1e-4) << r;
      // A = U S: its column norms are the singular values, in decreasing order.
      for (int k = 0; k < r; ++k) EXPECT_NEAR(f->a.col(k).norm(), s[static_cast<size_t>(k)], 1e-4 * s[0]) << k;
      // The objective is the optimum sum_{k >= r} s_k^2.
      double tail = 0.0;
      for (size_t k = static_cast<size_t>(r); k < s.size(); ++k) tail += s[k] * s[k];
      EXPECT_NEAR(Objective(e, *f, {}), tail, 1e-4 * s[0] * s[0]);
    }
  }
}

TEST(FitLowRank, NoiseMatrixCapturesNearlyTheOptimalEnergy) {
  // A flat spectrum is the subspace iteration's worst case; what matters is the objective.
  const Eigen::MatrixXf e = RandomMatrix(256, 512, 9);
  for (int r : {4, 16}) {
    auto f = FitLowRank(e, {}, r);
    ASSERT_TRUE(f.ok());
    Eigen::BDCSVD<Eigen::MatrixXd> svd(e.cast<double>());
    const double best = svd.singularValues().tail(svd.singularValues().size() - r).squaredNorm();
    const double total = e.cast<double>().squaredNorm();
    const double got = Objective(e, *f, {});
    EXPECT_GE(got, best * (1 - 1e-9));
    EXPECT_LE(total - got, total - best);
    EXPECT_GE(total - got, 0.97 * (total - best)) << "rank " << r << ": captured " << (total - got) << " of "
                                                  << (total - best);
  }
}

TEST(FitLowRank, WeightedFitIsTheWeightedOptimum) {
  for (auto [rows, cols] : {std::pair<int, int>{20, 30}, {120, 90}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    std::vector<double> s;
    for (int k = 0; k < std::min(rows, cols); ++k) s.push_back(std::pow(0.8, k));
    const Eigen::MatrixXf e = WithSpectrum(rows, cols, s, 17) + 0.01f * RandomMatrix(rows, cols, 18);
    std::vector<double> w(static_cast<size_t>(cols));
    std::mt19937 rng(5);
    for (auto& x : w) x = std::exp(std::uniform_real_distribution<double>(-4.0, 4.0)(rng));
    const int r = 4;
    auto weighted = FitLowRank(e, w, r);
    auto plain = FitLowRank(e, {}, r);
    ASSERT_TRUE(weighted.ok() && plain.ok());
    const double ow = Objective(e, *weighted, w), op = Objective(e, *plain, w);
    EXPECT_LT(ow, op) << "the weighted fit must be better under the weighted norm";
    EXPECT_LT(Objective(e, *plain, {}), Objective(e, *weighted, {})) << "and worse under the plain one";
    // Exactly the optimum: the best rank-r fit of E D, unscaled.
    Eigen::VectorXd d(cols);
    for (int j = 0; j < cols; ++j) d(j) = std::sqrt(w[static_cast<size_t>(j)]);
    const Eigen::MatrixXd best = JacobiBest((e.cast<double>() * d.asDiagonal()).cast<float>(), r) * d.cwiseInverse().asDiagonal();
    EXPECT_LT(RelDiff(weighted->a.cast<double>() * weighted->b.cast<double>(), best), 1e-3);
    // Scaling every weight changes nothing.
    std::vector<double> w10 = w;
    for (auto& x : w10) x *= 1000.0;
    auto scaled = FitLowRank(e, w10, r);
    ASSERT_TRUE(scaled.ok());
    EXPECT_LT(RelDiff(scaled->a.cast<double>() * scaled->b.cast<double>(),
                      weighted->a.cast<double>() * weighted->b.cast<double>()), 1e-5);
  }
}

TEST(FitLowRank, ZeroWeightColumnsGetFiniteLeastSquaresCoefficients) {
  const Eigen::MatrixXf e = WithSpectrum(16, 24, {5, 3, 1, 0.5}, 41);
  std::vector<double> w(24, 1.0);
  w[0] = w[7] = 0.0;
  auto f = FitLowRank(e, w, 2);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->a.allFinite() && f->b.allFinite());
  // Column 0's coefficients are its projection onto span(A).
  const Eigen::MatrixXd a = f->a.cast<double>();
  const Eigen::VectorXd ls = a.colPivHouseholderQr().solve(e.col(0).cast<double>());
  EXPECT_LT((a * ls - a * f->b.col(0).cast<double>()).norm(), 1e-4 * e.col(0).norm());
  // All-zero weights: unweighted.
  auto zero = FitLowRank(e, std::vector<double>(24, 0.0), 2);
  auto plain = FitLowRank(e, {}, 2);
  ASSERT_TRUE(zero.ok() && plain.ok());
  EXPECT_LT(RelDiff(zero->a.cast<double>() * zero->b.cast<double>(), plain->a.cast<double>() * plain->b.cast<double>()), 1e-6);
}

TEST(FitLowRank, FitOnceAtTheLargestRankAndSlice) {
  for (auto [rows, cols] : {std::pair<int, int>{30, 40}, {200, 160}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    std::vector<double> s;
    for (int k = 0; k < 40; ++k) s.push_back(std::pow(0.75, k));
    const Eigen::MatrixXf e = WithSpectrum(rows, cols, s, 23);
    auto big = FitLowRank(e, {}, 12);
    ASSERT_TRUE(big.ok());
    for (int r : {1, 3, 6}) {
      auto direct = FitLowRank(e, {}, r);
      ASSERT_TRUE(direct.ok());
      const Eigen::MatrixXd sliced = big->a.leftCols(r).cast<double>() * big->b.topRows(r).cast<double>();
      EXPECT_LT(RelDiff(sliced, direct->a.cast<double>() * direct->b.cast<double>()), 1e-4) << r;
    }
  }
}

TEST(FitLowRank, EdgeCasesAndErrors) {
  // Rank above min(rows, cols) is clipped; a rank-deficient matrix leaves zero components.
  const Eigen::MatrixXf e = WithSpectrum(5, 9, {2, 1}, 7);
  auto f = FitLowRank(e, {}, 8);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->a.cols(), 5);
  EXPECT_LT(RelDiff(f->a.cast<double>() * f->b.cast<double>(), e.cast<double>()), 1e-5);
  EXPECT_EQ(f->a.col(4).norm(), 0.0f);
  EXPECT_EQ(f->b.row(4).norm(), 0.0f);
  auto zero = FitLowRank(Eigen::MatrixXf::Zero(4, 6), {}, 2);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->a.norm() + zero->b.norm(), 0.0f);
  auto empty = FitLowRank(Eigen::MatrixXf(0, 6), {}, 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->a.cols(), 0);
  EXPECT_EQ(empty->b.cols(), 6);
  // Deterministic.
  const Eigen::MatrixXf big = RandomMatrix(100, 80, 2);
  auto x = FitLowRank(big, {}, 3), y = FitLowRank(big, {}, 3);
  EXPECT_TRUE(x->a == y->a && x->b == y->b);
  // Errors.
  EXPECT_FALSE(FitLowRank(e, {}, 0).ok());
  EXPECT_NE(FitLowRank(e, std::vector<double>(3, 1.0), 2).status().message().find("3 column weights for 9 columns"),
            std::string::npos);
  std::vector<double> neg(9, 1.0);
  neg[2] = -1.0;
  EXPECT_EQ(FitLowRank(e, neg, 2).status().code(), StatusCode::kInvalidArgument);
  Eigen::MatrixXf nan = e;
  nan(1, 1) = NAN;
  EXPECT_NE(FitLowRank(nan, {}, 2).status().message().find("non-finite"), std::string::npos);
}

gpk::EncodedTensor RawInner(const Eigen::MatrixXf& w) {
  gpk::EncodedTensor t;
  t.name = std::string(1, 'w');  // not = "w": GCC 12 -Wrestrict false positive
  t.shape = {static_cast<uint64_t>(w.rows()), static_cast<uint64_t>(w.cols())};
  t.encoding = gpk::kRawF32;
  ByteWriter bw;
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) bw.F32(w(i, j));
  t.payload = std::move(bw).Take();
  return t;
}

TEST(EncodeLowRank, BytesAreExactlyPricedAndDecodeAsQuantizeFactorsSays) {
  const LowRankSpec specs[] = {{4, 4, 64}, {3, 2, 0}, {2, 8, 5}, {5, 16, 0}, {5, 16, 64}, {1, 3, 1},
                               {7, 6, 7},  {12, 4, 64}, {255, 5, 0}};
  for (auto [rows, cols] : {std::pair<int, int>{8, 70}, {33, 6}, {1, 1}}) {
    const Eigen::MatrixXf w = RandomMatrix(rows, cols, 77, 0.1f);
    const Eigen::MatrixXf e = RandomMatrix(rows, cols, 78, 0.01f);
    auto f = FitLowRank(e, {}, 12);
    ASSERT_TRUE(f.ok());
    const gpk::EncodedTensor inner = RawInner(w);
    for (const LowRankSpec& spec : specs) {
      SCOPED_TRACE(spec.ToString() + " on " + std::to_string(rows) + "x" + std::to_string(cols));
      auto t = EncodeLowRank(inner, *f, spec);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      EXPECT_EQ(t->encoding, gpk::kLowRank);
      EXPECT_EQ(t->params, LowRankParams(gpk::kRawF32, {}, inner.payload.size(), spec));
      EXPECT_EQ(t->payload.size(), inner.payload.size() + LowRankFactorBytes(rows, cols, spec));
      EXPECT_EQ(t->payload.size() + t->params.size(),
                LowRankEncodedBytes(inner.payload.size(), 0, gpk::kRawF32, rows, cols, spec));
      // decode == float(double(inner) + sum_k double(Aq) double(Bq)) with QuantizeFactors' factors.
      const LowRankFactors q = QuantizeFactors(*f, spec);
      ASSERT_EQ(q.a.cols(), spec.rank);
      const std::vector<float> fast = DecodeWithCore(*t), ref = DecodeWithCore(*t, true);
      ASSERT_EQ(fast.size(), static_cast<size_t>(rows * cols));
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) {
          double x = w(i, j);
          for (int k = 0; k < spec.rank; ++k) x += static_cast<double>(q.a(i, k)) * static_cast<double>(q.b(k, j));
          ASSERT_EQ(fast[static_cast<size_t>(i * cols + j)], static_cast<float>(x)) << i << "," << j;
          ASSERT_EQ(ref[static_cast<size_t>(i * cols + j)], static_cast<float>(x));
        }
      // The quantized factors are close to the fitted ones (where the fit has them).
      const Eigen::Index k = std::min<Eigen::Index>(spec.rank, f->a.cols());
      const double step = spec.bits == 16 ? 1e-3 : 1.0 / ((1 << (spec.bits - 1)) - 1);
      EXPECT_LE((q.a.leftCols(k) - f->a.leftCols(k)).cwiseAbs().maxCoeff(), step * f->a.cwiseAbs().maxCoeff() + 1e-7);
    }
  }
}

TEST(EncodeLowRank, GroupScalesFollowTheFormat) {
  // A = [0.875] (bits 4, maxc 7: scale 0.125, code 7, exact). B's one row
  // [0.7, -0.35, 0, 0, 0.1] in groups of 2: scales f16(0.7 / 7), 0 (an all-zero
  // group), f16(0.1 / 7); codes round(x / scale), halves away from zero
  // (-0.35 / f16(0.1) = -3.5008 -> -4), clamped to +-7.
  LowRankFactors f;
  f.a = Eigen::MatrixXf::Constant(1, 1, 0.875f);
  f.b.resize(1, 5);
  f.b << 0.7f, -0.35f, 0.0f, 0.0f, 0.1f;
  gpk::EncodedTensor inner = RawInner(Eigen::MatrixXf::Zero(1, 5));
  auto t = EncodeLowRank(inner, f, {1, 4, 2});
  ASSERT_TRUE(t.ok());
  const std::vector<float> out = DecodeWithCore(*t);
  const float s0 = F16ToF32(F32ToF16(0.7f / 7)), s2 = F16ToF32(F32ToF16(0.1f / 7));
  const float bq[5] = {7 * s0, -4 * s0, 0.0f, 0.0f, std::min(std::round(0.1f / s2), 7.0f) * s2};
  for (int j = 0; j < 5; ++j) EXPECT_EQ(out[static_cast<size_t>(j)], static_cast<float>(0.875 * bq[j])) << j;
  EXPECT_NEAR(out[4], 0.0875f, 1e-4f);
  // Payload: 20 inner bytes, A (1 scale + 1 byte), B (3 scales + 3 bytes).
  EXPECT_EQ(t->payload.size(), 20u + 3 + 9);
  EXPECT_EQ(t->payload[22], 7 + 7);  // A's code 7 stored as 7 + maxc, low nibble
}

TEST(EncodeLowRank, RejectsWhatTheFormatCannotHold) {
  const gpk::EncodedTensor inner = RawInner(RandomMatrix(4, 6, 1));
  auto f = FitLowRank(RandomMatrix(4, 6, 2), {}, 2);
  ASSERT_TRUE(f.ok());
  auto err = [&](const gpk::EncodedTensor& in, const LowRankFactors& ff, LowRankSpec spec) {
    auto t = EncodeLowRank(in, ff, spec);
    EXPECT_FALSE(t.ok());
    return t.status().message();
  };
  EXPECT_NE(err(inner, *f, {0, 4, 64}).find("rank 0"), std::string::npos);
  EXPECT_NE(err(inner, *f, {256, 4, 64}).find("rank 256"), std::string::npos);
  EXPECT_NE(err(inner, *f, {2, 9, 64}).find("bits 9"), std::string::npos);
  EXPECT_NE(err(inner, *f, {2, 4, -1}).find("group -1"), std::string::npos);
  gpk::EncodedTensor three = inner;
  three.shape = {2, 2, 6};
  EXPECT_NE(err(three, *f, {}).find("2-D"), std::string::npos);
  gpk::EncodedTensor book = inner;
  book.encoding = gpk::kCodebook;
  EXPECT_NE(err(book, *f, {}).find("inner encoding 8"), std::string::npos);
  gpk::EncodedTensor nested = inner;
  nested.encoding = gpk::kLowRank;
  EXPECT_NE(err(nested, *f, {}).find("inner encoding 9"), std::string::npos);
  gpk::EncodedTensor short_payload = inner;
  short_payload.payload.pop_back();
  EXPECT_NE(err(short_payload, *f, {}).find("inner payload is 95 bytes, raw_f32 needs 96"), std::string::npos);
  LowRankFactors wrong = *f;
  wrong.b = Eigen::MatrixXf::Zero(2, 5);
  EXPECT_NE(err(inner, wrong, {}).find("factors are 4x2 and 2x5 for a 4x6 tensor"), std::string::npos);
}

TEST(LowRankSpec, ParseAndToString) {
  auto s = LowRankSpec::Parse("g32:r8:b3");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->ToString(), "r8:b3:g32");
  EXPECT_EQ(LowRankSpec::Parse("r4")->ToString(), "r4:b4:g64");
  EXPECT_EQ(LowRankSpec::Parse("r4:b16")->ToString(), "r4:b16:g0");
  EXPECT_EQ(LowRankSpec::Parse("r4:b16")->group, 0);
  EXPECT_NE(LowRankSpec::Parse("b4").status().message().find("missing low-rank rank"), std::string::npos);
  EXPECT_NE(LowRankSpec::Parse("r4:b16:g8").status().message().find("bad low-rank spec 'r4:b16:g8'"), std::string::npos);
}

// ---------------------------------------------------------------- the "+lr" encoder

TEST(LowRankEncoder, SpecsParseToTheirCanonicalForm) {
  const std::pair<const char*, const char*> specs[] = {
      {"gptq:u6:row:sd12.85+lr4:b4:g64", "gptq:u6:row:sd12.85+lr4"},
      {"ans:s0.3:row+lr2", "ans:s0.3:row+lr2"},
      {"u4:row:none+lr8:g0", "u4:row:none+lr8:g0"},
      {"u4:row:none+lr8:b16", "u4:row:none+lr8:b16"},
      {"u4:row:none+lr8:g16:b3", "u4:row:none+lr8:b3:g16"},
      {"f16+lr255:b8:g128", "f16+lr255:b8:g128"},
  };
  for (const auto& [in, canonical] : specs) {
    auto e = MakeEncoder(in);
    ASSERT_TRUE(e.ok()) << in << ": " << e.status().ToString();
    EXPECT_EQ((*e)->spec(), canonical);
    auto again = MakeEncoder((*e)->spec());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)->spec(), canonical);
  }
  EXPECT_TRUE((*MakeEncoder("gptq:u6:row:sd12.85+lr4"))->needs_hessian());
  EXPECT_FALSE((*MakeEncoder("ans:s0.3:row+lr2"))->needs_hessian());
  auto lr = MakeEncoder("u4:row:none+lr8:b3:g16");
  const auto& enc = static_cast<const LowRankEncoder&>(**lr);
  EXPECT_EQ(enc.inner().spec(), "u4:row:none");
  EXPECT_EQ(enc.lowrank().rank, 8);
  EXPECT_EQ(enc.lowrank().bits, 3);
  EXPECT_EQ(enc.lowrank().group, 16);
}

TEST(LowRankEncoder, BadSpecsNameTheSpecAndTheBadPart) {
  const std::pair<const char*, const char*> bad[] = {
      {"+lr4", "missing inner spec before '+'"},
      {"u4:row:none+", "expected lr<rank> after '+'"},
      {"u4:row:none+r4", "expected lr<rank> after '+'"},
      {"u4:row:none+lr0", "rank 'lr0' must be lr1..lr255"},
      {"u4:row:none+lr256", "rank 'lr256' must be lr1..lr255"},
      {"u4:row:none+lrx", "rank 'lrx'"},
      {"u4:row:none+lr4:b9", "low-rank bits 'b9' must be b2..b8 or b16"},
      {"u4:row:none+lr4:b1", "low-rank bits 'b1'"},
      {"u4:row:none+lr4:gx", "low-rank group 'gx'"},
      {"u4:row:none+lr4:b16:g64", "low-rank group 'g64' needs b2..b8"},
      {"u4:row:none+lr4:q3", "unknown low-rank option 'q3'"},
      {"u4:row:none+lr4:b4:b5", "duplicate bits 'b5'"},
      {"u4:row:none+lr4+lr2", "only one '+lr...' suffix"},
      {"u9:row:none+lr4", "bits '9' must be 2..8"},
  };
  for (const auto& [spec, part] : bad) {
    auto e = MakeEncoder(spec);
    ASSERT_FALSE(e.ok()) << "accepted '" << spec << "'";
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = e.status().message();
    EXPECT_NE(m.find("bad encoder spec '"), std::string::npos) << m;
    EXPECT_NE(m.find(part), std::string::npos) << spec << " -> " << m;
  }
}

double SquaredError(std::span<const float> w, std::span<const float> d, const std::vector<double>& col_weight = {}) {
  double sum = 0.0;
  const size_t cols = col_weight.size();
  for (size_t i = 0; i < w.size(); ++i) {
    const double e = static_cast<double>(w[i]) - d[i];
    sum += (cols ? col_weight[i % cols] : 1.0) * e * e;
  }
  return sum;
}

TEST(LowRankEncoder, ReducesTheErrorOfTheInnerEncoding) {
  // Low rank plus noise, 96 x 160.
  const int rows = 96, cols = 160;
  const Eigen::MatrixXf m = WithSpectrum(rows, cols, {6, 4, 3, 2}, 61) + RandomMatrix(rows, cols, 62, 0.01f);
  std::vector<float> w(rows * cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) w[static_cast<size_t>(i * cols + j)] = m(i, j);
  const std::vector<uint64_t> shape{rows, cols};
  for (const char* inner : {"u3:row:none", "ans:s1.0:row"}) {
    SCOPED_TRACE(inner);
    auto plain = MakeEncoder(inner);
    auto corrected = MakeEncoder(std::string(inner) + "+lr4");
    ASSERT_TRUE(plain.ok() && corrected.ok());
    auto tp = (*plain)->Encode("w", shape, w, nullptr);
    auto tc = (*corrected)->Encode("w", shape, w, nullptr);
    ASSERT_TRUE(tp.ok() && tc.ok()) << tc.status().ToString();
    EXPECT_EQ(tc->encoding, gpk::kLowRank);
    // The inner payload is embedded unchanged.
    ASSERT_GE(tc->payload.size(), tp->payload.size());
    EXPECT_TRUE(std::equal(tp->payload.begin(), tp->payload.end(), tc->payload.begin()));
    std::vector<float> dp(w.size());  // DecodeWithCore wants fixed-rate sizes; ans_grid is variable-rate
    ASSERT_TRUE(gpk::FindEncoding(tp->encoding)->decode(gpk::TensorView{shape, w.size(), tp->params, tp->payload}, dp).ok());
    const double ep = SquaredError(w, dp), ec = SquaredError(w, DecodeWithCore(*tc));
    EXPECT_LT(ec, 0.9 * ep) << "plain " << ep << ", +lr4 " << ec;
    EXPECT_EQ(tc->payload.size() + tc->params.size(),
              LowRankEncodedBytes(tp->payload.size(), tp->params.size(), tp->encoding, rows, cols, {4, 4, 64}));
  }
}

TEST(LowRankEncoder, HessianWeightsTheFitAndGptqNeedsOne) {
  const int rows = 64, cols = 96;
  const std::vector<float> w = Gaussian(rows * cols, 0.05f, 12);
  const std::vector<uint64_t> shape{rows, cols};
  // A diagonal Hessian with very unequal columns: the weighted fit spends its rank there.
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(cols, cols);
  std::vector<double> diag(cols);
  for (int j = 0; j < cols; ++j) h(j, j) = diag[static_cast<size_t>(j)] = j < 8 ? 100.0 : 0.01;
  auto enc = MakeEncoder("u3:row:none+lr4");
  ASSERT_TRUE(enc.ok());
  auto weighted = (*enc)->Encode("w", shape, w, &h);
  auto plain = (*enc)->Encode("w", shape, w, nullptr);
  ASSERT_TRUE(weighted.ok() && plain.ok());
  EXPECT_LT(SquaredError(w, DecodeWithCore(*weighted), diag), SquaredError(w, DecodeWithCore(*plain), diag));
  // gptq inner: needs the Hessian, and says so.
  auto g = MakeEncoder("gptq:u3:row:none+lr4");
  ASSERT_TRUE(g.ok());
  auto missing = (*g)->Encode("w", shape, w, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("needs a Hessian"), std::string::npos);
  Eigen::MatrixXd full = h + Eigen::MatrixXd::Identity(cols, cols);
  EXPECT_TRUE((*g)->Encode("w", shape, w, &full).ok());
  // Shape and Hessian errors.
  auto one_d = (*enc)->Encode("v", std::vector<uint64_t>{rows * cols}, w, nullptr);
  ASSERT_FALSE(one_d.ok());
  EXPECT_NE(one_d.status().message().find("needs a 2-D tensor, got ndim 1"), std::string::npos);
  Eigen::MatrixXd small = Eigen::MatrixXd::Identity(4, 4);
  auto bad_h = (*enc)->Encode("w", shape, w, &small);
  ASSERT_FALSE(bad_h.ok());
  EXPECT_NE(bad_h.status().message().find("Hessian is 4x4, expected 96x96"), std::string::npos);
}

}  // namespace
}  // namespace golfpack::encode
