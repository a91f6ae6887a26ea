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
}

void Muon::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

}  // namespace golfpack::train
