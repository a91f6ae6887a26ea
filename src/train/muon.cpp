#include "train/muon.h"

#include <algorithm>
#include <cmath>

namespace golfpack::train {

torch::Tensor NewtonSchulz5(const torch::Tensor& g, int steps, double eps) {
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  auto x = g / (g.norm() + eps);
  const bool transposed = g.size(0) > g.size(1);
  if (transposed) x = x.t();
  for (int i = 0; i < steps; ++i) {
    auto A = torch::matmul(x, x.t());
    auto B = b * A + c * torch::matmul(A, A);
    x = a * x + torch::matmul(B, x);
  }
  return transposed ? x.t() : x;
}

torch::Tensor SvdSoftThreshold(const torch::Tensor& w, double tau) {
  torch::NoGradGuard no_grad;
  const auto [u, s, vh] = torch::linalg::svd(w.detach(), /*full_matrices=*/false, c10::nullopt);
  return torch::matmul(u * (s - tau).clamp_min(0).unsqueeze(0), vh).to(w.dtype());
}

Spectrum SpectrumOf(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  Spectrum out;
  out.min_dim = std::min(w.size(0), w.size(1));
  const torch::Tensor s = torch::linalg::svdvals(w.detach().to(torch::kFloat64), c10::nullopt);  // descending
  const double sum = s.sum().item<double>();
  if (!(sum > 0)) return out;
  out.top_sv = s[0].item<double>();
  const torch::Tensor p = s / sum;
  out.effective_rank = std::exp(-torch::xlogy(p, p).sum().item<double>());
  const torch::Tensor energy = torch::cumsum(s.square(), 0);
  const double total = energy[-1].item<double>();
  out.rank90 = std::min<int64_t>(s.numel(), (energy < 0.9 * total).sum().item<int64_t>() + 1);
  return out;
}

Muon::Muon(std::vector<torch::Tensor> params, double lr_, double momentum_, int backend_steps, bool nesterov)
    : lr(lr_), momentum(momentum_), params_(std::move(params)), backend_steps_(backend_steps), nesterov_(nesterov) {
  for (auto& p : params_) buffers_.push_back(torch::zeros_like(p));
}

void Muon::step() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    auto& buf = buffers_[i];
    buf.mul_(momentum).add_(p.grad());
    auto g = nesterov_ ? p.grad().add(buf, momentum) : buf;
    auto update = NewtonSchulz5(g, backend_steps_);
    // Scale so tall matrices get the same RMS update as wide ones.
    const double scale = std::sqrt(std::max(1.0, static_cast<double>(p.size(0)) / static_cast<double>(p.size(1))));
    p.add_(update, -lr * scale);
  }
  ++steps_;
  if (rank_decay > 0 && rank_every > 0 && steps_ % rank_every == 0) {
    for (auto& p : params_) {
      const double rms_sv = p.norm().item<double>() / std::sqrt(static_cast<double>(std::min(p.size(0), p.size(1))));
      if (rms_sv > 0) p.copy_(SvdSoftThreshold(p, lr * rank_decay * rank_every * rms_sv));
    }
  }
}

void Muon::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

}  // namespace golfpack::train
