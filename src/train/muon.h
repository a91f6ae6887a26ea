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

// Singular value soft-thresholding, the proximal step of tau * nuclear norm:
// U max(S - tau, 0) V^T for w = U S V^T (2-D).
torch::Tensor SvdSoftThreshold(const torch::Tensor& w, double tau);

// A matrix's spectrum in two numbers, from its singular values s:
// effective_rank = exp(-sum p_i ln p_i) with p = s / sum(s) (Roy & Vetterli),
// rank90 = the fewest singular values holding 90% of sum(s^2). Both 0 for a
// zero matrix.
struct Spectrum {
  double effective_rank = 0;
  int64_t rank90 = 0;
  int64_t min_dim = 0;
  double top_sv = 0;
};
Spectrum SpectrumOf(const torch::Tensor& w);

class Muon {
 public:
  Muon(std::vector<torch::Tensor> params, double lr, double momentum, int backend_steps, bool nesterov = true);
  void step();
  void zero_grad();
  double lr = 0.04;
  double momentum = 0.95;
  // Low-rank pressure (in the manner of NuMuon): every rank_every-th step,
  // after the orthogonalised update, a decoupled nuclear-norm proximal step
  //   W <- SvdSoftThreshold(W, lr * rank_decay * rank_every * rms_sv(W)),
  // rms_sv(W) = ||W||_F / sqrt(min(rows, cols)), the RMS singular value.
  // Measured against the RMS singular value, rank_decay is dimensionless and
  // comparable to decoupled weight decay (which shrinks each singular value
  // by lr * wd times itself); this shrinks them all by the same amount, so
  // the small ones reach zero. The interval factor keeps the pressure per
  // step independent of rank_every (an SVD per matrix per step is slow on
  // CPU). 0 = off.
  double rank_decay = 0;
  int rank_every = 10;
  const std::vector<torch::Tensor>& params() const { return params_; }
  const std::vector<torch::Tensor>& buffers() const { return buffers_; }

 private:
  std::vector<torch::Tensor> params_, buffers_;
  int backend_steps_;
  bool nesterov_;
  int64_t steps_ = 0;
};

}  // namespace golfpack::train
