// Entropy-coded scalar quantization (encode/ans_grid.h, encoding 7): exact
// sizes, decoding through core's registry, the rate/distortion claims against
// the fixed-bit uniform grid, RDO, dead zone, GPTQ on the ans grid, and the
// spec strings.
#include "codec/ans_grid.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/rans.h"
#include "codec/codecs.h"
#include "codec/encoder.h"
#include "codec/half.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::BitEqual;

// Laplacian weights with per-row scales spread over a factor 4 (like a trained
// linear layer: heavy-ish tails, uneven rows).
std::vector<float> LaplaceWeights(uint64_t rows, uint64_t cols, uint32_t seed, double base = 0.02) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> ex(1.0);
  std::uniform_real_distribution<double> u(std::log(0.5), std::log(2.0));
  std::bernoulli_distribution sign(0.5);
  std::vector<float> w(rows * cols);
  for (uint64_t r = 0; r < rows; ++r) {
    const double b = base * std::exp(u(rng));
    for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] = static_cast<float>((sign(rng) ? b : -b) * ex(rng));
  }
  return w;
}

// H = X^T X for X with AR(1)-correlated columns and per-column gains.
Eigen::MatrixXd Ar1Hessian(Eigen::Index cols, Eigen::Index n, double rho, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Eigen::MatrixXd X(n, cols);
  const double innov = std::sqrt(1.0 - rho * rho);
  for (Eigen::Index r = 0; r < n; ++r) {
    double x = nd(rng);
    for (Eigen::Index j = 0; j < cols; ++j) {
      X(r, j) = x;
      x = rho * x + innov * nd(rng);
    }
  }
  for (Eigen::Index j = 0; j < cols; ++j) X.col(j) *= std::pow(10.0, static_cast<double>(j % 5) / 4.0 - 0.5);
  return X.transpose() * X;
}

// Rank-k signal plus a little noise: strongly correlated inputs (GPTQ's best case).
Eigen::MatrixXd CorrelatedHessian(Eigen::Index cols, Eigen::Index n, Eigen::Index k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Eigen::MatrixXd Z(n, k), M(k, cols), N(n, cols);
  for (Eigen::Index i = 0; i < Z.size(); ++i) Z.data()[i] = nd(rng);
  for (Eigen::Index i = 0; i < M.size(); ++i) M.data()[i] = nd(rng);
  for (Eigen::Index i = 0; i < N.size(); ++i) N.data()[i] = nd(rng);
  const Eigen::MatrixXd X = Z * M + 0.1 * N;
  return X.transpose() * X;
}

// Decodes through core's registry (fast and reference) and checks both give
// DequantizeAnsGrid bit for bit, and that the payload honours the minimum.
void ExpectDecodesToQuant(const AnsGridResult& r) {
  const gpk::EncodedTensor& t = r.encoded;
  ASSERT_EQ(t.encoding, gpk::kAnsGrid);
  ASSERT_EQ(t.payload.size(), r.payload_bytes);
  const gpk::EncodingTraits* e = gpk::FindEncoding(t.encoding);
  ASSERT_NE(e, nullptr);
  uint64_t numel = 1;
  for (uint64_t d : t.shape) numel *= d;
  auto min = e->payload_size(t.shape, numel, t.params);
  ASSERT_TRUE(min.ok()) << min.status().ToString();
  EXPECT_LE(*min, t.payload.size());
  gpk::TensorView view{t.shape, numel, t.params, t.payload};
  std::vector<float> fast(numel), ref(numel);
  Status a = e->decode(view, fast), b = gpk::DecodeRef(e->id, view, ref);
  ASSERT_TRUE(a.ok()) << a.ToString();
  ASSERT_TRUE(b.ok()) << b.ToString();
  const std::vector<float> mine = DequantizeAnsGrid(r.quant);
  ASSERT_EQ(mine.size(), numel);
  for (size_t i = 0; i < numel; ++i) {
    ASSERT_TRUE(BitEqual(fast[i], mine[i])) << i << ": " << fast[i] << " vs " << mine[i];
    ASSERT_TRUE(BitEqual(ref[i], mine[i])) << i;
  }
}

// ---------------------------------------------------------------- exact size, decoding

TEST(AnsGrid, ExactSizeAndDecodeForEveryConfiguration) {
  std::mt19937_64 rng(1);
  int cases = 0;
  for (uint8_t model : {0, 1, 9}) {
    for (uint8_t dtype : {0, 1, 2}) {
      for (uint32_t group : {0u, 16u}) {
        for (double step : {0.05, 0.3, 1.5}) {
          const uint64_t rows = 1 + rng() % 9, cols = 16 * (1 + rng() % 6);
          std::vector<float> w = LaplaceWeights(rows, cols, static_cast<uint32_t>(rng()));
          AnsGridSpec spec;
          spec.step = step;
          spec.model = model;
          spec.scale_dtype = dtype;
          spec.group_size = group;
          spec.contexts = 1 + static_cast<int>(rng() % 6);
          spec.dead_zone = (rng() % 2) ? 0.0 : 0.15;
          spec.rdo_lambda = (rng() % 2) ? 0.0 : 0.05;
          std::vector<uint64_t> shape{rows, cols};
          auto r = EncodeAnsGrid("w", shape, w, spec);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          auto bytes = AnsGridPayloadBytes(spec, r->quant);
          ASSERT_TRUE(bytes.ok());
          EXPECT_EQ(*bytes, r->payload_bytes);
          ExpectDecodesToQuant(*r);
          // Scales are exactly representable in their dtype.
          for (float s : r->quant.scales) {
            ASSERT_GT(s, 0.0f);
            if (dtype == 0) {
              ASSERT_TRUE(BitEqual(s, F16ToF32(F32ToF16(s))));
            } else if (dtype == 2) {
              ASSERT_TRUE(BitEqual(s, BF16ToF32(F32ToBF16(s))));
            }
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 54);
}

// Model 9 (spec "cc"): columns whose weights have different spreads (the input
// channels of an output projection) get their own tables when that pays, and
// the stream falls back to order-0 (model 0) when it does not.
TEST(AnsGrid, ColumnClassesPayOnUnevenColumnsAndFallBackOtherwise) {
  const uint64_t rows = 256, cols = 64;
  std::vector<float> w = LaplaceWeights(rows, cols, 7);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= static_cast<float>(std::pow(2.0, double(c % 4) - 1.5));
  std::vector<uint64_t> shape{rows, cols};
  AnsGridSpec plain, cc;
  plain.step = cc.step = 0.3;
  cc.model = 9;
  auto a = EncodeAnsGrid("w", shape, w, plain), b = EncodeAnsGrid("w", shape, w, cc);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->quant.codes, b->quant.codes);  // the model changes the coding, never the codes
  auto pa = gpk::AnsGridParams::Parse(a->encoded.params), pb = gpk::AnsGridParams::Parse(b->encoded.params);
  EXPECT_EQ(pa->model, 0);
  EXPECT_EQ(pb->model, 9);
  EXPECT_LT(double(b->payload_bytes), 0.95 * double(a->payload_bytes)) << b->payload_bytes << " vs " << a->payload_bytes;
  ExpectDecodesToQuant(*b);
  // i.i.d. columns: nothing to gain, so the cc spec writes model 0, byte for byte the plain stream.
  std::vector<float> iid = LaplaceWeights(rows, cols, 8);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) iid[r * cols + c] = LaplaceWeights(1, 1, uint32_t(r * cols + c))[0];
  auto c0 = EncodeAnsGrid("w", shape, iid, plain), c9 = EncodeAnsGrid("w", shape, iid, cc);
  ASSERT_TRUE(c0.ok() && c9.ok());
  EXPECT_EQ(gpk::AnsGridParams::Parse(c9->encoded.params)->model, 0);
  EXPECT_EQ(c9->encoded.payload, c0->encoded.payload);
}

TEST(AnsGrid, CodesUseTheStoredScaleAndPlainRounding) {
  std::vector<float> w = LaplaceWeights(4, 64, 9);
  AnsGridSpec spec;
  spec.step = 0.37;
  std::vector<uint64_t> shape{4, 64};
  auto q = QuantizeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  for (uint64_t r = 0; r < 4; ++r) {
    double mean = 0, ss = 0;
    for (uint64_t c = 0; c < 64; ++c) mean += w[r * 64 + c];
    mean /= 64;
    for (uint64_t c = 0; c < 64; ++c) ss += (w[r * 64 + c] - mean) * (w[r * 64 + c] - mean);
    const float want = F16ToF32(F32ToF16(static_cast<float>(0.37 * std::sqrt(ss / 63))));
    EXPECT_TRUE(BitEqual(q->scales[r], want)) << q->scales[r] << " vs " << want;
    for (uint64_t c = 0; c < 64; ++c) {
      const double x = static_cast<double>(w[r * 64 + c]) / q->scales[r];
      EXPECT_EQ(q->codes[r * 64 + c], static_cast<int>(std::nearbyint(x)));
    }
  }
}

TEST(AnsGrid, RowStepsMultiplyEachRowsScale) {
  std::vector<float> w = LaplaceWeights(4, 64, 9);
  std::vector<uint64_t> shape{4, 64};
  AnsGridSpec spec;
  spec.step = 0.37;
  auto plain = AnsGridScales("w", shape, w, spec);
  spec.row_step = {1.0, 2.0, 0.5, 3.0};
  auto q = QuantizeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(plain.ok() && q.ok());
  for (uint64_t r = 0; r < 4; ++r) {
    double mean = 0, ss = 0;
    for (uint64_t c = 0; c < 64; ++c) mean += w[r * 64 + c];
    mean /= 64;
    for (uint64_t c = 0; c < 64; ++c) ss += (w[r * 64 + c] - mean) * (w[r * 64 + c] - mean);
    const float want = F16ToF32(F32ToF16(static_cast<float>(0.37 * spec.row_step[r] * std::sqrt(ss / 63))));
    EXPECT_TRUE(BitEqual(q->scales[r], want)) << r;
  }
  EXPECT_TRUE(BitEqual(q->scales[0], plain->scales[0]));
  // A coarser row costs fewer bytes; GPTQ takes the same scales.
  const Eigen::MatrixXd H = CorrelatedHessian(64, 400, 10, 7);
  auto g = GptqAnsGrid("w", shape, w, H, spec);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  for (uint64_t r = 0; r < 4; ++r) EXPECT_TRUE(BitEqual(g->quant.scales[r], q->scales[r]));
  ExpectDecodesToQuant(*g);
  // One multiplier per row, each finite and positive.
  spec.row_step = {1.0, 2.0};
  EXPECT_FALSE(QuantizeAnsGrid("w", shape, w, spec).ok());
  spec.row_step = {1.0, 2.0, 0.0, 1.0};
  EXPECT_FALSE(QuantizeAnsGrid("w", shape, w, spec).ok());
}

TEST(AnsGrid, ZeroAndConstantRowsAndAnEmptyTensor) {
  std::vector<uint64_t> shape{3, 8};
  std::vector<float> w(24, 0.0f);
  for (int c = 0; c < 8; ++c) w[16 + c] = -0.75f;  // constant row: sigma falls back to max|w|
  AnsGridSpec spec;
  spec.step = 0.25;
  auto r = EncodeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->quant.scales[0], F16ToF32(1));  // smallest positive f16
  for (int c = 0; c < 8; ++c) EXPECT_EQ(r->quant.codes[16 + c], -4);
  EXPECT_EQ(r->mse, 0.0);
  ExpectDecodesToQuant(*r);

  std::vector<float> zeros(64, 0.0f);
  std::vector<uint64_t> s2{4, 16};
  for (uint8_t model : {0, 1}) {
    spec.model = model;
    auto z = EncodeAnsGrid("z", s2, zeros, spec);
    ASSERT_TRUE(z.ok());
    EXPECT_EQ(z->entropy_bits, 0.0);
    // Alphabet 1: 8 scale bytes + header + 16 state bytes, nothing per element.
    EXPECT_LE(z->payload_bytes, 8u + 5u + 16u + 3u);
    ExpectDecodesToQuant(*z);
  }
  std::vector<uint64_t> s3{0, 16};
  auto e = EncodeAnsGrid("e", s3, std::span<const float>(), spec);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ExpectDecodesToQuant(*e);
}

TEST(AnsGrid, OutliersClipAtMaxAlphabet) {
  std::vector<float> w = LaplaceWeights(2, 256, 4, 0.01);
  w[3] = 1000.0f;
  w[300] = -1000.0f;
  std::vector<uint64_t> shape{2, 256};
  AnsGridSpec spec;
  spec.step = 1e-4;  // the outlier inflates the std to ~62: scale ~0.006, code ~160000
  spec.scale_dtype = 1;
  auto r = EncodeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->quant.codes[3], 2047);
  EXPECT_EQ(r->quant.codes[300], -2047);
  EXPECT_GE(r->quant.clipped, 2u);
  ExpectDecodesToQuant(*r);
  spec.max_alphabet = 255;
  spec.model = 1;
  r = EncodeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(r.ok());
  for (int16_t c : r->quant.codes) ASSERT_LE(std::abs(c), 127);
  EXPECT_EQ(r->quant.codes[3], 127);
  ExpectDecodesToQuant(*r);
  spec.max_alphabet = 1;  // everything is 0
  r = EncodeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(r.ok());
  for (int16_t c : r->quant.codes) ASSERT_EQ(c, 0);
  ExpectDecodesToQuant(*r);
}

TEST(AnsGrid, ContainerRoundTripHasExactSizes) {
  std::vector<gpk::EncodedTensor> ts;
  uint64_t sum = 0;
  const char* specs[] = {"ans:s0.3:row", "ans:s0.3:g64:ctx4:dz0.1:rdo0.05:sf16", "ans:s0.8:g32:sbf16"};
  for (int i = 0; i < 3; ++i) {
    auto enc = MakeEncoder(specs[i]);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    std::vector<float> w = LaplaceWeights(32, 128, 20 + i);
    std::vector<uint64_t> shape{32, 128};
    std::string name = "t";
    name += std::to_string(i);
    auto t = (*enc)->Encode(name, shape, w, nullptr);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    sum += t->payload.size();
    ts.push_back(std::move(*t));
  }
  auto file = gpk::BuildArtifact(ts, {});
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto art = gpk::Artifact::Parse(*file, "mem");
  ASSERT_TRUE(art.ok()) << art.status().ToString();
  EXPECT_EQ(art->file_size(), gpk::kContainerOverhead + art->manifest_size() + sum);
  for (size_t i = 0; i < ts.size(); ++i) {
    EXPECT_EQ(art->tensors()[i].length, ts[i].payload.size());
    auto d = art->DecodeTensor(i);
    auto dr = gpk::DecodeTensorRef(*art, i);
    ASSERT_TRUE(d.ok() && dr.ok());
    const gpk::EncodingTraits* e = gpk::FindEncoding(gpk::kAnsGrid);
    std::vector<float> direct(d->size());
    ASSERT_TRUE(e->decode(gpk::TensorView{ts[i].shape, direct.size(), ts[i].params, ts[i].payload}, direct).ok());
    for (size_t k = 0; k < d->size(); ++k) ASSERT_TRUE(BitEqual((*d)[k], (*dr)[k]) && BitEqual((*d)[k], direct[k]));
  }
}

// ---------------------------------------------------------------- rate

// The rANS stream is within 1% of the order-0 entropy bound plus what the
// table and scales cost.
TEST(AnsGrid, SizeIsWithinOnePercentOfTheEntropy) {
  const uint64_t rows = 512, cols = 512;
  std::vector<float> w = LaplaceWeights(rows, cols, 77);
  std::vector<uint64_t> shape{rows, cols};
  for (double step : {0.1, 0.3, 1.0}) {
    AnsGridSpec spec;
    spec.step = step;
    auto r = EncodeAnsGrid("w", shape, w, spec);
    ASSERT_TRUE(r.ok());
    ByteReader reader(std::span<const uint8_t>(r->encoded.payload).subspan(r->scale_bytes));
    auto table = FrequencyTable::Parse(reader);
    ASSERT_TRUE(table.ok());
    const double n = static_cast<double>(rows * cols);
    const double ideal = n * r->entropy_bits / 8 + static_cast<double>(reader.position() + r->scale_bytes + 16);
    const double actual = static_cast<double>(r->payload_bytes);
    EXPECT_LT(std::fabs(actual - ideal), 0.01 * ideal) << "step " << step << ": " << actual << " vs " << ideal;
    EXPECT_GE(actual, ideal - 8);  // cannot beat the entropy by more than rounding
  }
}

// The headline claim: at the same bytes, the entropy-coded grid has a lower
// Hessian-weighted error than the fixed-bit uniform grid (bit-packed: the
// fairest fixed-rate baseline; and int6 bytes + brotli, today's export).
TEST(AnsGrid, BeatsTheFixedBitGridAtEqualBytes) {
  RegisterAllCodecs();
  const uint64_t rows = 256, cols = 512;
  std::vector<float> w = LaplaceWeights(rows, cols, 5);
  std::vector<uint64_t> shape{rows, cols};
  const Eigen::MatrixXd H = Ar1Hessian(static_cast<Eigen::Index>(cols), 2048, 0.8, 6);
  struct Case {
    const char* spec;
    bool brotli;
  };
  for (const Case& c : {Case{"u6:row:none:packed", false}, Case{"u6:row:none", true}, Case{"u4:row:none:packed", false},
                        Case{"u6:row:sd12.85:nocap", true}, Case{"u3:row:sd3:packed", false}}) {
    auto enc = MakeEncoder(c.spec);
    ASSERT_TRUE(enc.ok());
    auto t = (*enc)->Encode("w", shape, w, nullptr);
    ASSERT_TRUE(t.ok());
    uint64_t bytes = t->payload.size();
    if (c.brotli) {
      auto z = Compress(gpk::Codec::kBrotli, t->payload);
      ASSERT_TRUE(z.ok());
      bytes = z->size();
    }
    const std::vector<float> deq = testing::DecodeWithCore(*t);
    const double err_u = HessianWeightedError(w, deq, rows, cols, H);
    AnsGridSpec spec;
    auto a = EncodeAnsGridToBytes("w", shape, w, spec, bytes, &H);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_LE(a->payload_bytes, bytes);
    ASSERT_TRUE(a->err_hessian.has_value());
    std::printf("[ headline ] %-24s %s%7llu B (%.3f bits/param): err %.4g | ans s%.4f %7llu B: err %.4g (x%.3f)\n",
                c.spec, c.brotli ? "+brotli " : "", static_cast<unsigned long long>(bytes),
                8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols), err_u, a->step,
                static_cast<unsigned long long>(a->payload_bytes), *a->err_hessian, *a->err_hessian / err_u);
    EXPECT_LT(*a->err_hessian, err_u) << c.spec;
    ExpectDecodesToQuant(*a);
  }
}

TEST(AnsGrid, RdoLowersBytesAtASmallDistortionCost) {
  const uint64_t rows = 256, cols = 256;
  std::vector<float> w = LaplaceWeights(rows, cols, 12);
  std::vector<uint64_t> shape{rows, cols};
  for (double step : {0.2, 0.5}) {
    AnsGridSpec plain;
    plain.step = step;
    AnsGridSpec rdo = plain;
    rdo.rdo_lambda = 0.05;
    auto p = EncodeAnsGrid("w", shape, w, plain);
    auto r = EncodeAnsGrid("w", shape, w, rdo);
    ASSERT_TRUE(p.ok() && r.ok());
    std::printf("[ rdo ] step %.2f: %llu -> %llu bytes (%.2f%%), mse x%.3f\n", step,
                static_cast<unsigned long long>(p->payload_bytes), static_cast<unsigned long long>(r->payload_bytes),
                100.0 * (1.0 - static_cast<double>(r->payload_bytes) / static_cast<double>(p->payload_bytes)),
                r->mse / p->mse);
    EXPECT_LT(r->payload_bytes, p->payload_bytes);
    EXPECT_LT(r->mse, 1.25 * p->mse);
    ExpectDecodesToQuant(*r);
    // With the Hessian, its diagonal weights the choice: still fewer bytes.
    const Eigen::MatrixXd H = Ar1Hessian(static_cast<Eigen::Index>(cols), 512, 0.5, 3);
    auto rh = EncodeAnsGrid("w", shape, w, rdo, &H);
    ASSERT_TRUE(rh.ok());
    EXPECT_LT(rh->payload_bytes, p->payload_bytes);
  }
}

TEST(AnsGrid, DeadZoneIncreasesZeros) {
  std::vector<float> w = LaplaceWeights(64, 256, 13);
  std::vector<uint64_t> shape{64, 256};
  AnsGridSpec spec;
  spec.step = 0.5;
  auto count_zeros = [](const AnsGridQuant& q) {
    uint64_t z = 0;
    for (int16_t c : q.codes) z += c == 0;
    return z;
  };
  auto a = EncodeAnsGrid("w", shape, w, spec);
  spec.dead_zone = 0.2;
  auto b = EncodeAnsGrid("w", shape, w, spec);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(count_zeros(b->quant), count_zeros(a->quant));
  EXPECT_LT(b->payload_bytes, a->payload_bytes);
  // Exactly the rule |w / scale| < 0.5 + dead_zone -> 0.
  for (uint64_t i = 0; i < w.size(); ++i) {
    const double x = w[i] / b->quant.scales[i / 256];
    if (std::fabs(x) < 0.7) ASSERT_EQ(b->quant.codes[i], 0);
    else ASSERT_EQ(b->quant.codes[i], static_cast<int>(std::nearbyint(x)));
  }
}

// ---------------------------------------------------------------- GPTQ

TEST(AnsGrid, GptqLowersHessianErrorVersusRounding) {
  const uint64_t rows = 64, cols = 128;
  std::vector<float> w = LaplaceWeights(rows, cols, 21);
  std::vector<uint64_t> shape{rows, cols};
  const Eigen::MatrixXd H = CorrelatedHessian(static_cast<Eigen::Index>(cols), 800, 10, 7);
  for (const char* s : {"gptq:ans:s0.3:row", "gptq:ans:s1:g32:ctx3", "gptq:ans:s0.5:row:noact:dz0.1"}) {
    auto enc = MakeEncoder(s);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    auto* g = dynamic_cast<const GptqAnsGridEncoder*>(enc->get());
    ASSERT_NE(g, nullptr);
    auto r = g->EncodeWithStats("w", shape, w, H);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->err_hessian && r->err_rtn);
    std::printf("[ gptq ] %-32s err %.4g vs rtn %.4g (x%.3f), %llu vs bytes\n", s, *r->err_hessian, *r->err_rtn,
                *r->err_hessian / *r->err_rtn, static_cast<unsigned long long>(r->payload_bytes));
    EXPECT_LT(*r->err_hessian, 0.8 * *r->err_rtn) << s;
    ExpectDecodesToQuant(*r);
    auto again = (*enc)->Encode("w", shape, w, &H);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->payload, r->encoded.payload);  // deterministic
  }
  // RDO inside GPTQ: fewer bytes than GPTQ without it.
  AnsGridSpec spec;
  spec.step = 0.3;
  auto plain = GptqAnsGrid("w", shape, w, H, spec);
  spec.rdo_lambda = 0.05;
  auto rdo = GptqAnsGrid("w", shape, w, H, spec);
  ASSERT_TRUE(plain.ok() && rdo.ok());
  EXPECT_LT(rdo->payload_bytes, plain->payload_bytes);
  ExpectDecodesToQuant(*rdo);
}

TEST(AnsGrid, GptqNeedsAHessianOfTheRightShape) {
  std::vector<float> w = LaplaceWeights(4, 16, 2);
  std::vector<uint64_t> shape{4, 16};
  auto enc = MakeEncoder("gptq:ans:s0.3:row");
  ASSERT_TRUE(enc.ok());
  EXPECT_TRUE((*enc)->needs_hessian());
  auto r = (*enc)->Encode("w", shape, w, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("needs a Hessian"), std::string::npos);
  EXPECT_NE(r.status().message().find("'ans:s0.3:row'"), std::string::npos);
  const Eigen::MatrixXd wrong = Eigen::MatrixXd::Identity(5, 5);
  r = (*enc)->Encode("w", shape, w, &wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  auto plain = MakeEncoder("ans:s0.3:row:rdo0.1");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->needs_hessian());
  EXPECT_FALSE((*plain)->Encode("w", shape, w, &wrong).ok());
}

TEST(AnsGrid, StepForBytesFitsTheBudget) {
  std::vector<float> w = LaplaceWeights(64, 256, 31);
  std::vector<uint64_t> shape{64, 256};
  for (uint64_t budget : {uint64_t{1500}, uint64_t{4000}, uint64_t{9000}}) {
    auto r = EncodeAnsGridToBytes("w", shape, w, AnsGridSpec{}, budget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_LE(r->payload_bytes, budget);
    EXPECT_GT(r->payload_bytes, budget * 97 / 100);  // and uses it
  }
  auto none = EncodeAnsGridToBytes("w", shape, w, AnsGridSpec{}, 100);  // scales alone are 128 bytes
  EXPECT_FALSE(none.ok());
}

// ---------------------------------------------------------------- spec strings

TEST(AnsGrid, SpecStringsRoundTrip) {
  const std::pair<const char*, const char*> cases[] = {
      {"ans:s0.3:row", "ans:s0.3:row"},
      {"ans:s0.3:g64:ctx4:dz0.1:rdo0.05:sf16", "ans:s0.3:g64:ctx4:dz0.1:rdo0.05"},
      {"gptq:ans:s0.3:row", "gptq:ans:s0.3:row"},
      {"ans:s1e-2:row:o0:sf32:amax255", "ans:s0.01:row:sf32:amax255"},
      {"gptq:ans:s0.25:g32:ctx1:sbf16:noact:damp0.05:block64", "gptq:ans:s0.25:g32:ctx1:sbf16:noact:damp0.05:block64"},
      {"ans:s2:row:ctx4:o0", "ans:s2:row"},
      {"ans:s0.3:row:dz0:rdo0", "ans:s0.3:row"},
      {"gptq:ans:s0.3:row:cc", "gptq:ans:s0.3:row:cc"},
      {"ans:s0.3:row:cc:o0", "ans:s0.3:row"},
  };
  for (const auto& [in, canonical] : cases) {
    auto e = MakeEncoder(in);
    ASSERT_TRUE(e.ok()) << in << ": " << e.status().ToString();
    EXPECT_EQ((*e)->spec(), canonical) << in;
    auto again = MakeEncoder((*e)->spec());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)->spec(), (*e)->spec());
  }
  auto e = MakeEncoder("ans:s0.3:g64:ctx4:dz0.1:rdo0.05:sf16");
  auto* a = dynamic_cast<const AnsGridEncoder*>(e->get());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->grid().step, 0.3);
  EXPECT_EQ(a->grid().group_size, 64u);
  EXPECT_EQ(a->grid().model, 1);
  EXPECT_EQ(a->grid().contexts, 4);
  EXPECT_EQ(a->grid().dead_zone, 0.1);
  EXPECT_EQ(a->grid().rdo_lambda, 0.05);
  EXPECT_EQ(a->grid().scale_dtype, 0);
}

TEST(AnsGrid, SpecStringErrors) {
  const std::pair<const char*, const char*> bad[] = {
      {"ans", "missing step"},
      {"ans:row", "missing step"},
      {"ans:sf16:row", "missing step"},
      {"ans:s0:row", "step 's0'"},
      {"ans:s-1:row", "step 's-1'"},
      {"ans:sabc:row", "step 'sabc'"},
      {"ans:sinf:row", "step 'sinf'"},
      {"ans:s0.3", "missing scope"},
      {"ans:s0.3:col", "scope 'col'"},
      {"ans:s0.3:g0", "group size '0'"},
      {"ans:s0.3:row:ctx0", "contexts 'ctx0'"},
      {"ans:s0.3:row:ctx65", "contexts 'ctx65'"},
      {"ans:s0.3:row:dz-1", "dead zone 'dz-1'"},
      {"ans:s0.3:row:rdox", "RDO lambda 'rdox'"},
      {"ans:s0.3:row:amax4096", "max alphabet 'amax4096'"},
      {"ans:s0.3:row:amax4", "max alphabet 'amax4'"},
      {"ans:s0.3:row:noact", "only applies to gptq"},
      {"ans:s0.3:row:damp0.1", "only applies to gptq"},
      {"ans:s0.3:row:packed", "unknown option 'packed'"},
      {"gptq:ans:s0.3:row:block0", "block size 'block0'"},
      {"gptq:ans:s0.3:row:dampx", "damping 'dampx'"},
      {"ansx:s0.3:row", "unknown encoder 'ansx'"},
  };
  for (const auto& [spec, part] : bad) {
    auto e = MakeEncoder(spec);
    ASSERT_FALSE(e.ok()) << "accepted '" << spec << "'";
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(e.status().message().find(part), std::string::npos) << spec << ": " << e.status().message();
  }
}

}  // namespace
}  // namespace golfpack::encode
