// The torch mirror of the entropy-coded grid (train/fake_quant.h) against the
// codec itself: the same values bit for bit, and a straight-through gradient.
#include "train/fake_quant.h"

#include <gtest/gtest.h>

#include <cstring>

#include "codec/ans_grid.h"

namespace golfpack::train {
namespace {

torch::Tensor Weights() {
  torch::manual_seed(7);
  torch::Tensor w = torch::randn({12, 40}) * 0.05;
  w[3].zero_();                 // an all-zero row
  w[5].fill_(0.25);             // a constant row
  w[7][11] = 3.0;               // an outlier
  w[8] = torch::randn({40}) * 1e-6;  // a tiny row
  return w;
}

TEST(FakeQuant, ValuesEqualTheCodecsBitForBit) {
  const torch::Tensor w = Weights();
  const std::vector<uint64_t> shape{12, 40};
  for (double step : {0.01, 0.05, 0.3, 1.0, 2.8}) {
    for (int max_code : {2047, 7}) {
      auto v = AnsGridValues("w", w, step, max_code);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      encode::AnsGridSpec spec;
      spec.step = step;
      spec.max_alphabet = 2 * max_code + 1;
      auto q = encode::QuantizeAnsGrid("w", shape, {w.data_ptr<float>(), size_t(w.numel())}, spec);
      ASSERT_TRUE(q.ok()) << q.status().ToString();
      const std::vector<float> want = encode::DequantizeAnsGrid(*q);
      const torch::Tensor got = v->contiguous();
      ASSERT_EQ(got.numel(), int64_t(want.size()));
      EXPECT_EQ(std::memcmp(got.data_ptr<float>(), want.data(), want.size() * sizeof(float)), 0)
          << "step " << step << " max_code " << max_code;
      if (max_code == 7 && step <= 0.3) {
        EXPECT_GT(q->clipped, 0u);  // the clip is exercised
      }
    }
  }
}

TEST(FakeQuant, StraightThroughGradientAndErrors) {
  torch::Tensor w = Weights().requires_grad_(true);
  auto y = FakeQuantSTE("w", w, 0.3);
  ASSERT_TRUE(y.ok());
  auto v = AnsGridValues("w", w, 0.3);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(torch::equal(y->detach(), *v));  // forward: the codec's values
  (*y * 2.0).sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), torch::full_like(w, 2.0)));  // backward: straight through
  EXPECT_FALSE(AnsGridValues("v", torch::ones({4}), 0.3).ok());
  auto bad = AnsGridValues("w", torch::ones({2, 2}), 0.0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace golfpack::train
