// Fake quantization onto golfpack's entropy-coded grid, for training through
// the codec (QAT). The forward pass sees exactly the values encoding 7
// (`ans_grid`, codec/ans_grid.h) will store, bit for bit; the backward pass is
// the straight-through estimator.
//
// The rule mirrored, for a 2-D weight W [rows x cols] at step s:
//   scale[r] = f16(s * std(W[r]))          the codec's own AnsGridScales (f16, nearest)
//   code     = clip(round_half_even(W / scale), +-max_code)   in float64, as the codec
//   value    = f32(code) * f32(scale)      one float32 multiplication
// The scales come from the codec itself (one row each, cheap); the rounding
// runs in torch on the tensor's device.
#pragma once

#include <torch/torch.h>

#include "core/status.h"

namespace golfpack::train {

// The values the codec stores for `w` (2-D, float) at `step`, as a float32
// tensor on w's device, without gradient. InvalidArgument for a non-2-D or
// non-finite weight or a bad step (the codec's messages, naming `name`).
Result<torch::Tensor> AnsGridValues(const std::string& name, const torch::Tensor& w, double step,
                                    int max_code = 2047);

// Noise injection, the alternative: w + u * scale[r], u uniform in
// [-1/2, 1/2) per weight, with the grid's own scales (no gradient).
Result<torch::Tensor> AnsGridNoise(const std::string& name, const torch::Tensor& w, double step);

// w + (AnsGridValues(w) - w).detach(): the forward value is the codec's, the
// gradient reaches w unchanged (straight-through).
Result<torch::Tensor> FakeQuantSTE(const std::string& name, const torch::Tensor& w, double step, int max_code = 2047);

}  // namespace golfpack::train
