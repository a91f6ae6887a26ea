#include "train/fake_quant.h"

#include <vector>

#include "codec/ans_grid.h"

namespace golfpack::train {

namespace {

// The codec's stored scale per row, as a [rows, 1] float32 tensor on w's device.
Result<torch::Tensor> Scales(const std::string& name, const torch::Tensor& w, double step, int max_code) {
  if (w.dim() != 2) return InvalidArgument("fake quant: '" + name + "' is not a matrix");
  if (max_code < 0 || max_code > 2047) return InvalidArgument("fake quant: max_code must be in [0, 2047]");
  torch::NoGradGuard no_grad;
  const torch::Tensor cpu = w.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  encode::AnsGridSpec spec;
  spec.step = step;
  spec.max_alphabet = 2 * max_code + 1;
  const std::vector<uint64_t> shape{uint64_t(w.size(0)), uint64_t(w.size(1))};
  GP_ASSIGN_OR_RETURN(encode::AnsGridQuant q,
                      encode::AnsGridScales(name, shape, {cpu.data_ptr<float>(), size_t(cpu.numel())}, spec));
  return torch::from_blob(q.scales.data(), {int64_t(q.scales.size()), 1}, torch::kFloat32).clone().to(w.device());
}

}  // namespace

Result<torch::Tensor> AnsGridValues(const std::string& name, const torch::Tensor& w, double step, int max_code) {
  GP_ASSIGN_OR_RETURN(torch::Tensor scale, Scales(name, w, step, max_code));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = w.detach().to(torch::kFloat64) / scale.to(torch::kFloat64);
  const torch::Tensor code = torch::round(x).clamp(-max_code, max_code);  // round: half to even, as nearbyint
  return code.to(torch::kInt16).to(torch::kFloat32) * scale;  // via int16: -0 becomes +0, as the codec's codes
}

Result<torch::Tensor> AnsGridNoise(const std::string& name, const torch::Tensor& w, double step) {
  GP_ASSIGN_OR_RETURN(torch::Tensor scale, Scales(name, w, step, 2047));
  torch::NoGradGuard no_grad;
  return w.detach() + (torch::rand_like(w) - 0.5) * scale.to(w.dtype());
}

Result<torch::Tensor> FakeQuantSTE(const std::string& name, const torch::Tensor& w, double step, int max_code) {
  GP_ASSIGN_OR_RETURN(torch::Tensor q, AnsGridValues(name, w, step, max_code));
  return w + (q.to(w.dtype()) - w).detach();
}

}  // namespace golfpack::train
