// Muon: momentum SGD whose update for each 2-D matrix is orthogonalised by a
// quintic Newton-Schulz iteration (Keller Jordan / modded-nanogpt; used by
// train_gpt.py). Float32 here: bfloat16 matmuls are slow on CPU.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace golfpack::train {

// Approximately U V^T for G = U S V^T, 5-step quintic iteration with the
// (3.4445, -4.7750, 2.0315) coefficients, on the smaller Gram side.
torch::Tensor NewtonSchulz5(const torch::Tensor& g, int steps = 5, double eps = 1e-7);

class Muon {
 public:
  Muon(std::vector<torch::Tensor> params, double lr, double momentum, int backend_steps, bool nesterov = true);
  void step();
  void zero_grad();
  double lr = 0.04;
  double momentum = 0.95;
  const std::vector<torch::Tensor>& params() const { return params_; }
  const std::vector<torch::Tensor>& buffers() const { return buffers_; }

 private:
  std::vector<torch::Tensor> params_, buffers_;
  int backend_steps_;
  bool nesterov_;
};

}  // namespace golfpack::train
