// Shared helpers for the encode tests: random tensors and decoding through
// core's encoding registry.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "core/artifact.h"
#include "core/encodings.h"

namespace golfpack::encode::testing {

inline std::vector<float> Gaussian(size_t n, float sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// Decodes with core's registry (fast decoder, and the reference decoder when
// `ref` is set), after checking the payload size rule.
inline std::vector<float> DecodeWithCore(const gpk::EncodedTensor& t, bool ref = false) {
  const gpk::EncodingTraits* e = gpk::FindEncoding(t.encoding);
  EXPECT_NE(e, nullptr) << "encoding " << t.encoding;
  if (!e) return {};
  uint64_t numel = 1;
  for (uint64_t d : t.shape) numel *= d;
  auto size = e->payload_size(t.shape, numel, t.params);
  EXPECT_TRUE(size.ok()) << size.status().ToString();
  if (!size.ok()) return {};
  EXPECT_EQ(*size, t.payload.size()) << "payload size rule of " << e->name;
  std::vector<float> out(numel);
  gpk::TensorView view{t.shape, numel, t.params, t.payload};
  Status st = ref ? gpk::DecodeRef(t.encoding, view, out) : e->decode(view, out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

inline bool BitEqual(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

}  // namespace golfpack::encode::testing
