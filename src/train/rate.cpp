#include "train/rate.h"

#include <cmath>

namespace golfpack::train {

namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kPi = 3.14159265358979323846;

}  // namespace

Result<RateKind> ParseRateKind(const std::string& name) {
  if (name == "laplace") return RateKind::kLaplace;
  if (name == "cauchy") return RateKind::kCauchy;
  if (name == "entropy") return RateKind::kEntropy;
  return InvalidArgument("train: --rate-kind must be laplace, cauchy or entropy (got '" + name + "')");
}

const char* RateKindName(RateKind kind) {
  switch (kind) {
    case RateKind::kLaplace: return "laplace";
    case RateKind::kCauchy: return "cauchy";
    case RateKind::kEntropy: return "entropy";
  }
  return "?";
}

torch::Tensor RowSteps(const torch::Tensor& w, double step) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = w.detach().to(torch::kFloat32);
  torch::Tensor sigma = x.size(1) > 1 ? torch::std(x, {1}, /*unbiased=*/true, /*keepdim=*/true)
                                      : torch::zeros({x.size(0), 1}, x.options());
  sigma = torch::where(sigma > 0, sigma, x.abs().amax({1}, /*keepdim=*/true));  // constant row: its max |w|, as the codec
  const torch::Tensor d = sigma * step;
  return torch::where(d > 0, d, torch::ones_like(d));
}

torch::Tensor RateBits(const torch::Tensor& w, const torch::Tensor& row_steps, RateKind kind, double temperature) {
  const torch::Tensor x = (w.to(torch::kFloat32) / row_steps.to(torch::kFloat32)).reshape({-1});
  const torch::Tensor zero = (x * 0).sum();  // keeps the graph for a tensor that costs nothing
  if (x.numel() == 0) return zero;
  const torch::Tensor ax = x.detach().abs();
  switch (kind) {
    case RateKind::kLaplace: {
      const double b = ax.mean().item<double>();
      if (!(b > 0)) return zero;
      return ((x.abs() / b).mean() + std::log(2 * b)) / kLn2;
    }
    case RateKind::kCauchy: {
      double g = ax.median().item<double>();  // the lower median for an even count
      if (!(g > 0)) g = ax.mean().item<double>();
      if (!(g > 0)) return zero;
      return (torch::log1p((x / g).square()).mean() + std::log(kPi * g)) / kLn2;
    }
    case RateKind::kEntropy: {
      // Soft assignment of each x to its 6 nearest integer bins (the kernel
      // beyond them is < 1e-5 at t = 0.5), accumulated into a histogram.
      const torch::Tensor base = torch::floor(x.detach()).to(torch::kInt64) - 2;
      const torch::Tensor k = base.unsqueeze(1) + torch::arange(6, base.options()).unsqueeze(0);  // [N, 6]
      const torch::Tensor diff = x.unsqueeze(1) - k.to(torch::kFloat32);
      const torch::Tensor a = torch::softmax(diff.square() * (-0.5 / (temperature * temperature)), 1);
      const int64_t kmin = base.min().item<int64_t>();
      const int64_t bins = base.max().item<int64_t>() + 6 - kmin;
      const torch::Tensor hist =
          torch::zeros({bins}, x.options()).index_add(0, (k - kmin).reshape({-1}), a.reshape({-1})) /
          static_cast<double>(x.numel());
      return -(hist * torch::log2(hist.clamp_min(1e-30))).sum();
    }
  }
  return zero;
}

torch::Tensor MeanRateBits(const std::vector<RateTensor>& tensors, RateKind kind) {
  torch::Tensor total;
  double count = 0;
  for (const auto& t : tensors) {
    const double n = static_cast<double>(t.w.numel());
    const torch::Tensor bits = RateBits(t.w, RowSteps(t.w, t.step), kind) * n;
    total = total.defined() ? total + bits : bits;
    count += n;
  }
  if (!total.defined() || count == 0) return torch::zeros({});
  return total / count;
}

}  // namespace golfpack::train
