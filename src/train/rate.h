// Differentiable estimates of the coded size of a weight matrix, for
// rate-penalised training (in the manner of BackSlash, rate-distortion
// optimised training: loss + lambda * R(W)).
//
// The grid is the codec's (train/fake_quant.h, codec/ans_grid.h): row r of a
// matrix W is coded as round(W[r] / d_r) with d_r = step * std(W[r]) (the
// unbiased row std; a constant row uses its max |w|), so `step` is relative,
// as --qat-step. With x = W / d (per row, d detached) the estimates are, in
// bits per element:
//
//   laplace   mean_i -log2 p(x_i),  p(x) = exp(-|x| / b) / (2b),   b = mean |x|
//   cauchy    mean_i -log2 p(x_i),  p(x) = 1 / (pi g (1 + (x/g)^2)), g = median |x|
//   entropy   -sum_k q_k log2 q_k of the soft histogram q_k = mean_i a_ik,
//             a_ik proportional to exp(-(x_i - k)^2 / (2 t^2)) over integer
//             bins k (t = 0.5 bins; the 6 bins nearest x_i)
//
// The prior's scale (b, g) is fitted per tensor and detached, so the laplace
// gradient is an L1 pull toward zero and the cauchy one a log pull; the
// entropy gradient pulls weights toward well-populated bin centres. -log2 p is
// the density approximation of a bin's probability (bin width 1 in x), good
// while the weights spread over several bins; an all-zero tensor costs 0.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::train {

enum class RateKind { kLaplace, kCauchy, kEntropy };

// "laplace", "cauchy", "entropy"; InvalidArgument naming --rate-kind otherwise.
Result<RateKind> ParseRateKind(const std::string& name);
const char* RateKindName(RateKind kind);

// The grid step of each row of `w` (2-D) at relative `step`: [rows, 1],
// detached, > 0 (a zero row gets 1: its weights sit on code 0 anyway).
torch::Tensor RowSteps(const torch::Tensor& w, double step);

// Estimated bits per element of coding `w` on the grid with per-row steps
// `row_steps` ([rows, 1]); a scalar tensor, differentiable in w.
torch::Tensor RateBits(const torch::Tensor& w, const torch::Tensor& row_steps, RateKind kind,
                       double temperature = 0.5);

// One matrix the codec quantizes, at its relative grid step.
struct RateTensor {
  std::string name;
  torch::Tensor w;
  double step = 0.5;
};

// sum_t numel_t * bits_t / sum_t numel_t: bits per parameter over the tensors
// (a scalar tensor, differentiable; 0 for none).
torch::Tensor MeanRateBits(const std::vector<RateTensor>& tensors, RateKind kind);

}  // namespace golfpack::train
