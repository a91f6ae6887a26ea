// The rate estimates of train/rate.h against direct formulas and against the
// entropy of the codes the codec would store, their gradients' directions,
// and Muon's singular value thresholding and spectra (train/muon.h).
#include "train/rate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "train/muon.h"

namespace golfpack::train {
namespace {

constexpr double kLn2 = 0.69314718055994530942;

// A small fixed matrix: a spread row, a row with an outlier, a constant row
// and a zero row.
torch::Tensor Fixed() {
  return torch::tensor({0.10, -0.20, 0.05, 0.30, -0.01, 0.00,  //
                        0.02, 0.01, -0.03, 0.00, 0.90, -0.02,  //
                        0.25, 0.25, 0.25, 0.25, 0.25, 0.25,    //
                        0.00, 0.00, 0.00, 0.00, 0.00, 0.00},
                       torch::kFloat32)
      .view({4, 6});
}

// step * unbiased row std; max |w| for a constant row; 1 for a zero row.
std::vector<double> HandRowSteps(const torch::Tensor& w, double step) {
  std::vector<double> d;
  for (int64_t r = 0; r < w.size(0); ++r) {
    double mean = 0, ss = 0, absmax = 0;
    for (int64_t c = 0; c < w.size(1); ++c) mean += w[r][c].item<double>();
    mean /= double(w.size(1));
    for (int64_t c = 0; c < w.size(1); ++c) {
      const double v = w[r][c].item<double>();
      ss += (v - mean) * (v - mean);
      absmax = std::max(absmax, std::fabs(v));
    }
    double sigma = std::sqrt(ss / double(w.size(1) - 1));
    if (sigma < 1e-9) sigma = absmax;  // the constant row's float std is ~1e-8, not 0
    d.push_back(sigma > 0 ? step * sigma : 1.0);
  }
  return d;
}

std::vector<double> HandX(const torch::Tensor& w, const std::vector<double>& d) {
  std::vector<double> x;
  for (int64_t r = 0; r < w.size(0); ++r)
    for (int64_t c = 0; c < w.size(1); ++c) x.push_back(w[r][c].item<double>() / d[r]);
  return x;
}

TEST(Rate, RowStepsFollowTheCodecsRowStd) {
  const torch::Tensor w = Fixed();
  const auto want = HandRowSteps(w, 0.5);
  const torch::Tensor got = RowSteps(w, 0.5);
  ASSERT_EQ(got.sizes().vec(), (std::vector<int64_t>{4, 1}));
  EXPECT_NEAR(got[0][0].item<double>(), want[0], 1e-7);
  EXPECT_NEAR(got[1][0].item<double>(), want[1], 1e-7);
  EXPECT_NEAR(got[2][0].item<double>(), 0.125, 1e-6) << "constant row: step x its max |w|";
  EXPECT_EQ(got[3][0].item<double>(), 1.0) << "zero row";
}

TEST(Rate, LaplaceAndCauchyMatchTheirFormulas) {
  const torch::Tensor w = Fixed();
  const torch::Tensor d = RowSteps(w, 0.5);
  std::vector<double> dd;
  for (int64_t r = 0; r < 4; ++r) dd.push_back(d[r][0].item<double>());
  const auto x = HandX(w, dd);
  const double n = double(x.size());
  double b = 0;
  for (double v : x) b += std::fabs(v);
  b /= n;
  double laplace = 0;
  for (double v : x) laplace += -std::log2(std::exp(-std::fabs(v) / b) / (2 * b));
  laplace /= n;
  // Cauchy at the lower median of |x| (24 values: the 12th smallest).
  std::vector<double> ax;
  for (double v : x) ax.push_back(std::fabs(v));
  std::sort(ax.begin(), ax.end());
  const double g = ax[11];
  ASSERT_GT(g, 0);
  double cauchy = 0;
  for (double v : x) cauchy += -std::log2(1.0 / (M_PI * g * (1 + (v / g) * (v / g))));
  cauchy /= n;
  EXPECT_NEAR(RateBits(w, d, RateKind::kLaplace).item<double>(), laplace, 1e-5);
  EXPECT_NEAR(RateBits(w, d, RateKind::kCauchy).item<double>(), cauchy, 1e-5);
  // A plain value: x = (1, -1) has b = 1, so bits = log2(2) + 1/ln 2 = 2.4427 each.
  EXPECT_NEAR(RateBits(torch::tensor({1.0f, -1.0f}).view({1, 2}), torch::ones({1, 1}), RateKind::kLaplace).item<double>(),
              1.0 + 1.0 / kLn2, 1e-6);
  // An all-zero tensor costs nothing.
  EXPECT_EQ(RateBits(torch::zeros({3, 3}), torch::ones({3, 1}), RateKind::kLaplace).item<double>(), 0.0);
}

TEST(Rate, EntropyOfTheSoftHistogramMatchesTheFormula) {
  const torch::Tensor w = Fixed();
  for (double step : {0.5, 0.1}) {
    const torch::Tensor d = RowSteps(w, step);
    std::vector<double> dd;
    for (int64_t r = 0; r < 4; ++r) dd.push_back(d[r][0].item<double>());
    const auto x = HandX(w, dd);
    // Every bin in a wide range, Gaussian kernel of width 0.5 bins.
    std::map<int, double> hist;
    for (double v : x) {
      std::map<int, double> a;
      double z = 0;
      for (int k = -60; k <= 60; ++k) z += a[k] = std::exp(-(v - k) * (v - k) / (2 * 0.25));
      for (auto& [k, ak] : a) hist[k] += ak / z / double(x.size());
    }
    double h = 0;
    for (auto& [k, q] : hist)
      if (q > 0) h -= q * std::log2(q);
    EXPECT_NEAR(RateBits(w, d, RateKind::kEntropy).item<double>(), h, 1e-4) << "step " << step;
  }
  // All weights on one integer: the soft histogram's own entropy, the same
  // for every integer (here x = 3 everywhere).
  double z = 0, h0 = 0;
  for (int k = -10; k <= 10; ++k) z += std::exp(-2.0 * k * k);
  for (int k = -10; k <= 10; ++k) {
    const double q = std::exp(-2.0 * k * k) / z;
    h0 -= q * std::log2(q);
  }
  EXPECT_NEAR(RateBits(torch::full({2, 5}, 3.0f), torch::ones({2, 1}), RateKind::kEntropy).item<double>(), h0, 1e-5);
}

// On weights drawn from a Laplace law, the estimates are close to the
// entropy of the codes round(w / d) the codec stores; on Gaussian weights the
// Laplace prior is a mismatched code, so it costs more than the codes' entropy.
TEST(Rate, EstimatesTrackTheEntropyOfTheRoundedCodes) {
  torch::manual_seed(3);
  const torch::Tensor u = torch::rand({256, 512}) - 0.5;
  const torch::Tensor lap = -torch::sign(u) * torch::log1p(-2 * u.abs()) * 0.02;
  const torch::Tensor gauss = torch::randn({256, 512}) * 0.02;
  for (const auto& [w, is_laplace] : {std::pair{lap, true}, std::pair{gauss, false}}) {
    for (double step : {0.25, 0.5}) {
      const torch::Tensor d = RowSteps(w, step);
      const torch::Tensor codes = torch::round(w / d).to(torch::kInt64).reshape({-1});
      const torch::Tensor counts = torch::bincount(codes - codes.min()).to(torch::kFloat64);
      const torch::Tensor q = counts.index({counts > 0}) / double(codes.numel());
      const double h = -(q * torch::log2(q)).sum().item<double>();
      const double laplace = RateBits(w, d, RateKind::kLaplace).item<double>();
      const double entropy = RateBits(w, d, RateKind::kEntropy).item<double>();
      SCOPED_TRACE(std::string(is_laplace ? "laplace" : "gauss") + " step " + std::to_string(step) + " codes " +
                   std::to_string(h) + " laplace " + std::to_string(laplace) + " entropy " + std::to_string(entropy));
      if (is_laplace) EXPECT_NEAR(laplace, h, 0.05);
      else EXPECT_GT(laplace, h + 0.05);
      // The soft histogram is the histogram smoothed by the kernel: a little above.
      EXPECT_GT(entropy, h);
      EXPECT_LT(entropy, h + 0.25);
    }
  }
}

TEST(Rate, GradientPullsTowardZeroAndTowardPopulatedBinCentres) {
  torch::manual_seed(5);
  const torch::Tensor w0 = torch::randn({8, 16}) * 0.03;
  for (RateKind kind : {RateKind::kLaplace, RateKind::kCauchy}) {
    torch::Tensor w = w0.clone().requires_grad_(true);
    RateBits(w, RowSteps(w, 0.5), kind).backward();
    // A descent step shrinks every weight: the gradient has the weight's sign.
    EXPECT_TRUE(torch::equal(torch::sign(w.grad()), torch::sign(w0))) << RateKindName(kind);
  }
  // Entropy, on a symmetric histogram (60 weights on bin 0, 20 on each of
  // -1 and +1) with symmetric probes: descent moves a probe near a bin
  // toward its centre; one far from both neighbours (0.8) toward the heavier,
  // cheaper bin (0), as an entropy should.
  std::vector<float> v(60, 0.0f);
  v.insert(v.end(), 20, 1.0f);
  v.insert(v.end(), 20, -1.0f);
  const std::vector<float> probes{0.3f, -0.3f, 0.15f, -0.15f, 1.25f, -1.25f, 0.8f, -0.8f};
  const std::vector<float> toward{0.0f, 0.0f, 0.0f, 0.0f, 1.0f, -1.0f, 0.0f, 0.0f};
  v.insert(v.end(), probes.begin(), probes.end());
  torch::Tensor w = torch::tensor(v).view({1, -1}).requires_grad_(true);
  RateBits(w, torch::ones({1, 1}), RateKind::kEntropy).backward();
  for (size_t i = 0; i < probes.size(); ++i) {
    const double g = w.grad()[0][100 + int64_t(i)].item<double>();
    // -g has the sign of (target - probe).
    EXPECT_GT(-g * (toward[i] - probes[i]), 0) << "probe " << probes[i] << " gradient " << g;
  }
  // A weight on the central bin of a symmetric histogram gets no push.
  EXPECT_LT(w.grad()[0][0].abs().item<double>(), 1e-6);
}

TEST(Rate, KindNames) {
  for (const char* name : {"laplace", "cauchy", "entropy"}) {
    auto k = ParseRateKind(name);
    ASSERT_TRUE(k.ok());
    EXPECT_STREQ(RateKindName(*k), name);
  }
  auto bad = ParseRateKind("gauss");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--rate-kind"), std::string::npos);
}

torch::Tensor Orthonormal(int64_t rows, int64_t cols) {
  return std::get<0>(torch::linalg::qr(torch::randn({rows, cols}, torch::kFloat64), "reduced"));
}

TEST(Muon, SvdSoftThresholdShrinksAKnownSpectrum) {
  torch::manual_seed(11);
  const torch::Tensor u = Orthonormal(7, 4), v = Orthonormal(5, 4);
  const torch::Tensor s = torch::tensor({5.0, 3.0, 1.0, 0.5}, torch::kFloat64);
  const torch::Tensor w = torch::matmul(u * s.unsqueeze(0), v.t());
  const torch::Tensor out = SvdSoftThreshold(w, 0.75);
  ASSERT_EQ(out.sizes().vec(), (std::vector<int64_t>{7, 5}));
  const torch::Tensor sv = torch::linalg::svdvals(out, c10::nullopt);
  const std::vector<double> want{4.25, 2.25, 0.25, 0.0, 0.0};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(sv[i].item<double>(), want[i], 1e-9) << i;
  // The singular vectors are kept: out = U diag(s - 0.75)+ V^T.
  const torch::Tensor expect = torch::matmul(u * (s - 0.75).clamp_min(0).unsqueeze(0), v.t());
  EXPECT_LT((out - expect).abs().max().item<double>(), 1e-9);
  EXPECT_EQ(SvdSoftThreshold(w, 6.0).abs().max().item<double>(), 0.0);
}

TEST(Muon, SpectrumOfAKnownMatrix) {
  torch::manual_seed(12);
  const torch::Tensor u = Orthonormal(6, 4), v = Orthonormal(4, 4);
  const torch::Tensor w = torch::matmul(u * torch::tensor({4.0, 2.0, 1.0, 1.0}, torch::kFloat64).unsqueeze(0), v.t());
  const Spectrum sp = SpectrumOf(w.to(torch::kFloat32));
  // p = (1/2, 1/4, 1/8, 1/8): entropy 1.75 bits; energy 16, 4, 1, 1 of 22: 2 values hold 90%.
  EXPECT_NEAR(sp.effective_rank, std::pow(2.0, 1.75), 1e-5);
  EXPECT_EQ(sp.rank90, 2);
  EXPECT_EQ(sp.min_dim, 4);
  EXPECT_NEAR(sp.top_sv, 4.0, 1e-5);
  const Spectrum zero = SpectrumOf(torch::zeros({3, 5}));
  EXPECT_EQ(zero.effective_rank, 0.0);
  EXPECT_EQ(zero.rank90, 0);
}

// The proximal step runs every rank_every-th step with the threshold
// lr * rank_decay * rank_every * RMS singular value.
TEST(Muon, RankDecayThresholdsEveryKthStep) {
  torch::manual_seed(13);
  torch::Tensor p = torch::randn({6, 8});
  Muon muon({p}, /*lr=*/0.05, /*momentum=*/0.9, /*backend_steps=*/5);
  muon.rank_decay = 2.0;
  muon.rank_every = 2;
  const torch::Tensor start = p.clone();
  p.mutable_grad() = torch::zeros_like(p);  // a zero gradient: the orthogonalised update is 0
  muon.step();
  EXPECT_TRUE(torch::equal(p, start)) << "step 1 of 2: no thresholding";
  muon.step();
  const double rms = start.norm().item<double>() / std::sqrt(6.0);
  const torch::Tensor want = SvdSoftThreshold(start, 0.05 * 2.0 * 2 * rms);
  EXPECT_LT((p - want).abs().max().item<double>(), 1e-5);
  const torch::Tensor before = torch::linalg::svdvals(start, c10::nullopt);
  const torch::Tensor after = torch::linalg::svdvals(p, c10::nullopt);
  EXPECT_NEAR((before - after)[0].item<double>(), 0.2 * rms, 1e-4);
}

}  // namespace
}  // namespace golfpack::train
