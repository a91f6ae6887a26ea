// Trellis-coded grids (codec/tcq_grid.h, ans_grid models 2..8): both decoders
// return the encoder's values bit for bit; the rate gap to D(R) on Gaussian
// rows is the trellis's, not the scalar grid's; block-LDLQ's error accounting
// is exactly tr(E H E^T); damaged payloads are rejected by both decoders.
#include "codec/tcq_grid.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "codec/ans_grid.h"
#include "core/encodings.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::Gaussian;

// Decodes t with the counted decoder and the reference; both must agree bit for bit.
std::vector<float> DecodeBoth(const gpk::EncodedTensor& t, StatusCode* code = nullptr) {
  const gpk::EncodingTraits* e = gpk::FindEncoding(t.encoding);
  uint64_t numel = 1;
  for (uint64_t d : t.shape) numel *= d;
  gpk::TensorView view{t.shape, numel, t.params, t.payload};
  std::vector<float> fast(numel), ref(numel);
  Status a = e->decode(view, fast), b = gpk::DecodeRef(e->id, view, ref);
  EXPECT_EQ(a.code(), b.code()) << a.ToString() << " | " << b.ToString();
  if (code) *code = a.code();
  if (!a.ok() || !b.ok()) return {};
  for (size_t i = 0; i < numel; ++i) EXPECT_EQ(std::bit_cast<uint32_t>(fast[i]), std::bit_cast<uint32_t>(ref[i])) << i;
  return fast;
}

using T = gpk::EncodedTensor;

// Each damage, applied to a copy of t, must make both decoders report
// kCorrupt; truncating t and appending a byte are always among them.
void ExpectEachCorrupt(const T& t, std::vector<std::pair<const char*, std::function<void(T&)>>> damages) {
  damages.push_back({"truncated", [](T& b) { b.payload.pop_back(); }});
  damages.push_back({"a trailing byte", [](T& b) { b.payload.push_back(0); }});
  for (const auto& [what, damage] : damages) {
    T bad = t;
    damage(bad);
    StatusCode code = StatusCode::kOk;
    DecodeBoth(bad, &code);
    EXPECT_EQ(code, StatusCode::kCorrupt) << what;
  }
}

// rows x cols Gaussian rows of different scales.
std::vector<float> Rows(uint64_t rows, uint64_t cols, uint32_t seed) {
  std::vector<float> w = Gaussian(rows * cols, 1.0f, seed);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= 0.01f * float(1 + r % 5);
  return w;
}

// H = X^T X of 400 correlated inputs (each the sum of its own Gaussian and
// 0.7 of its left neighbour's).
Eigen::MatrixXd CorrelatedHessian(uint64_t cols, uint32_t seed) {
  const std::vector<float> x = Gaussian(400 * cols, 1.0f, seed);
  Eigen::MatrixXd X(400, cols);
  for (Eigen::Index i = 0; i < 400; ++i)
    for (Eigen::Index c = 0; c < Eigen::Index(cols); ++c)
      X(i, c) = x[size_t(i) * cols + size_t(c)] + (c ? 0.7 * x[size_t(i) * cols + size_t(c) - 1] : 0.0);
  return X.transpose() * X;
}

// All zeros: every row stays in state 0, so union 1 has no symbols and an empty stream.
TEST(TcqGrid, ZerosUseUnionZeroOnly) {
  const uint64_t shape[2] = {3, 7};
  const std::vector<float> w(21, 0.0f);
  TcqGridSpec spec;
  auto q = QuantizeTcqGrid("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  auto t = PackTcqGrid("w", shape, spec, *q);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->payload[3 * 2], 0);  // n1
  EXPECT_EQ(DecodeBoth(*t), w);
}

TEST(TcqGrid, BothDecodersReturnTheEncodersValues) {
  const uint64_t shape[2] = {12, 200};
  const std::vector<float> w = Rows(12, 200, 5);
  for (int sb : {2, 3, 8})
    for (double step : {0.05, 0.3, 2.0}) {
      TcqGridSpec spec;
      spec.step = step;
      spec.state_bits = sb;
      auto q = QuantizeTcqGrid("w", shape, w, spec);
      ASSERT_TRUE(q.ok()) << q.status().ToString();
      auto t = PackTcqGrid("w", shape, spec, *q);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      EXPECT_EQ(t->encoding, gpk::kAnsGrid);
      const std::vector<float> dec = DecodeBoth(*t);
      const std::vector<float> mine = DequantizeTcqGrid(*q);
      ASSERT_EQ(dec.size(), mine.size());
      for (size_t i = 0; i < dec.size(); ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(dec[i]), std::bit_cast<uint32_t>(mine[i])) << sb << " " << step << " " << i;
    }
}

// Rate gap bits - 0.5 log2(var / mse) on 64 rows of 1024 N(0, 1) samples at
// about 2.5 bits/sample, the whole payload counted (scales included): the
// trellis sits within 0.15 bit of D(R), the scalar grid more than 0.25 away
// (docs/results/gaussian_rd.md: 0.087 and 0.293 on one long row).
TEST(TcqGrid, RateGapIsTheTrellisOne) {
  const uint64_t rows = 64, cols = 1024, shape[2] = {rows, cols};
  const std::vector<float> w = Gaussian(rows * cols, 1.0f, 77);
  auto gap = [&](const gpk::EncodedTensor& t, const std::vector<float>& v) {
    double mse = 0, var = 0;
    for (size_t i = 0; i < w.size(); ++i) mse += (double(w[i]) - v[i]) * (double(w[i]) - v[i]), var += double(w[i]) * w[i];
    const double bits = 8.0 * double(t.payload.size()) / double(w.size());
    EXPECT_NEAR(bits, 2.5, 0.15);
    return bits - 0.5 * std::log2(var / mse);
  };
  AnsGridSpec a;
  a.step = 0.75;
  auto ar = EncodeAnsGrid("w", shape, w, a);
  ASSERT_TRUE(ar.ok());
  TcqGridSpec t;
  t.step = 0.36;
  auto q = QuantizeTcqGrid("w", shape, w, t);
  ASSERT_TRUE(q.ok());
  auto tt = PackTcqGrid("w", shape, t, *q);
  ASSERT_TRUE(tt.ok());
  const double g_scalar = gap(ar->encoded, DequantizeAnsGrid(ar->quant)), g_tcq = gap(*tt, DequantizeTcqGrid(*q));
  EXPECT_GT(g_scalar, 0.25);
  EXPECT_LT(g_tcq, 0.15);
}

TEST(TcqGrid, BlockLdlqAccountsExactlyAndBeatsPlainTcq) {
  const uint64_t rows = 16, cols = 96, shape[2] = {rows, cols};
  const std::vector<float> w = Rows(rows, cols, 11);
  const Eigen::MatrixXd h = CorrelatedHessian(cols, 12);
  GptqOptions opt;
  opt.act_order = true;
  auto with_act = GptqFactorize("w", h, opt);
  ASSERT_TRUE(with_act.ok());
  TcqGridSpec spec;
  spec.step = 0.2;
  auto refused = GptqTcqGridQuant("w", shape, w, *with_act, spec);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  opt.act_order = false;
  auto f = GptqFactorize("w", h, opt);
  ASSERT_TRUE(f.ok());
  GptqRunStats st;
  auto g = GptqTcqGridQuant("w", shape, w, *f, spec, &st);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const std::vector<float> v = DequantizeTcqGrid(*g);
  double e2 = 0;
  for (size_t i = 0; i < w.size(); ++i) e2 += (double(w[i]) - v[i]) * (double(w[i]) - v[i]);
  const double exact = HessianWeightedError(w, v, rows, cols, h);
  EXPECT_NEAR(st.err_damped - st.damp_used * e2, exact, 1e-6 * exact);
  auto plain = QuantizeTcqGrid("w", shape, w, spec);
  ASSERT_TRUE(plain.ok());
  EXPECT_LT(exact, 0.8 * HessianWeightedError(w, DequantizeTcqGrid(*plain), rows, cols, h));
  auto t = PackTcqGrid("w", shape, spec, *g);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(DecodeBoth(*t), v);
}

// The output-gain correction (ub): a coarse trellis shrinks (q_r H w_r^T <
// w_r H w_r^T); ub1 rescales each row so that its output error is
// uncorrelated with its output (up to the f16 scale's rounding), ub0.5 goes
// half way, the codes stay, the error accounting stays exact, and the
// identity-weighted plain variant makes <e_r, w_r> vanish instead.
TEST(TcqGrid, OutputGainCorrectionUnbiasesEachRow) {
  const uint64_t rows = 16, cols = 96, shape[2] = {rows, cols};
  const std::vector<float> w = Rows(rows, cols, 21);
  const Eigen::MatrixXd h = CorrelatedHessian(cols, 22);
  GptqOptions opt;
  opt.act_order = false;
  auto f = GptqFactorize("w", h, opt);
  ASSERT_TRUE(f.ok());
  // Per row: (q_r H w_r^T) / (w_r H w_r^T), or with H = I.
  auto ratios = [&](const std::vector<float>& v, bool identity) {
    std::vector<double> out(rows);
    for (uint64_t r = 0; r < rows; ++r) {
      Eigen::VectorXd wr(cols), qr(cols);
      for (uint64_t c = 0; c < cols; ++c) wr(Eigen::Index(c)) = w[r * cols + c], qr(Eigen::Index(c)) = v[r * cols + c];
      out[r] = identity ? qr.dot(wr) / wr.dot(wr) : qr.dot(h * wr) / wr.dot(h * wr);
    }
    return out;
  };
  TcqGridSpec spec;
  spec.step = 0.8;
  auto base = GptqTcqGridQuant("w", shape, w, *f, spec);
  ASSERT_TRUE(base.ok());
  const std::vector<double> r0 = ratios(DequantizeTcqGrid(*base), false);
  double mean0 = 0;
  for (double v : r0) mean0 += v / double(rows);
  EXPECT_LT(mean0, 0.97);  // it shrinks
  spec.debias = 1;
  auto refused = GptqTcqGridQuant("w", shape, w, *f, spec);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  GptqRunStats st;
  auto full = GptqTcqGridQuant("w", shape, w, *f, spec, &st, &h);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->codes, base->codes);
  const std::vector<float> v1 = DequantizeTcqGrid(*full);
  for (double v : ratios(v1, false)) EXPECT_NEAR(v, 1.0, 1e-3);
  double e2 = 0;
  for (size_t i = 0; i < w.size(); ++i) e2 += (double(w[i]) - v1[i]) * (double(w[i]) - v1[i]);
  const double exact = HessianWeightedError(w, v1, rows, cols, h);
  EXPECT_NEAR(st.err_damped - st.damp_used * e2, exact, 1e-6 * exact);
  EXPECT_GT(exact, HessianWeightedError(w, DequantizeTcqGrid(*base), rows, cols, h));  // it costs proxy
  spec.debias = 0.5;
  auto half = GptqTcqGridQuant("w", shape, w, *f, spec, nullptr, &h);
  ASSERT_TRUE(half.ok());
  for (uint64_t r = 0; r < rows; ++r) {
    const double g1 = double(full->scales[r]) / base->scales[r], gh = double(half->scales[r]) / base->scales[r];
    EXPECT_NEAR(gh - 1, 0.5 * (g1 - 1), 1e-3) << r;
  }
  auto t = PackTcqGrid("w", shape, spec, *half);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(DecodeBoth(*t), DequantizeTcqGrid(*half));
  // A row metric (row_hw: row r is H_r w_r^T with a Hessian of its own): the
  // gains make q_r H_r w_r^T = w_r H_r w_r^T instead; codes and the H-accounting unchanged.
  spec.debias = 1;
  std::vector<Eigen::MatrixXd> hr;
  std::vector<double> row_hw(rows * cols);
  for (uint64_t r = 0; r < rows; ++r) {
    std::mt19937 rng(100 + uint32_t(r));  // columns weighed 0.3x to 3x: a different metric per row
    std::uniform_real_distribution<double> u(0.3, 3.0);
    Eigen::VectorXd d(cols);
    for (uint64_t c = 0; c < cols; ++c) d(Eigen::Index(c)) = u(rng);
    hr.push_back(d.asDiagonal() * h * d.asDiagonal());
    Eigen::VectorXd wr(cols);
    for (uint64_t c = 0; c < cols; ++c) wr(Eigen::Index(c)) = w[r * cols + c];
    const Eigen::VectorXd v = hr.back() * wr;
    for (uint64_t c = 0; c < cols; ++c) row_hw[r * cols + c] = v(Eigen::Index(c));
  }
  GptqRunStats st_row;
  auto by_row = GptqTcqGridQuant("w", shape, w, *f, spec, &st_row, &h, row_hw);
  ASSERT_TRUE(by_row.ok()) << by_row.status().ToString();
  EXPECT_EQ(by_row->codes, base->codes);
  const std::vector<float> vr = DequantizeTcqGrid(*by_row);
  int differ = 0;
  for (uint64_t r = 0; r < rows; ++r) {
    Eigen::VectorXd wr(cols), qr(cols);
    for (uint64_t c = 0; c < cols; ++c) wr(Eigen::Index(c)) = w[r * cols + c], qr(Eigen::Index(c)) = vr[r * cols + c];
    EXPECT_NEAR(qr.dot(hr[r] * wr) / wr.dot(hr[r] * wr), 1.0, 1e-3) << r;
    differ += std::fabs(double(by_row->scales[r]) - full->scales[r]) > 1e-3 * std::fabs(full->scales[r]);
  }
  EXPECT_GT(differ, int(rows) / 2);  // not the H gains
  double e2r = 0;
  for (size_t i = 0; i < w.size(); ++i) e2r += (double(w[i]) - vr[i]) * (double(w[i]) - vr[i]);
  const double exact_r = HessianWeightedError(w, vr, rows, cols, h);
  EXPECT_NEAR(st_row.err_damped - st_row.damp_used * e2r, exact_r, 1e-6 * exact_r);
  row_hw.pop_back();
  EXPECT_EQ(GptqTcqGridQuant("w", shape, w, *f, spec, nullptr, &h, row_hw).status().code(),
            StatusCode::kInvalidArgument);
  // Plain Viterbi: the identity in place of H.
  auto plain = QuantizeTcqGrid("w", shape, w, spec);
  ASSERT_TRUE(plain.ok());
  for (double v : ratios(DequantizeTcqGrid(*plain), true)) EXPECT_NEAR(v, 1.0, 1e-3);
  spec.debias = 2.5;
  EXPECT_EQ(QuantizeTcqGrid("w", shape, w, spec).status().code(), StatusCode::kInvalidArgument);
}

TEST(TcqGrid, DamagedPayloadsAreRejected) {
  const uint64_t shape[2] = {4, 30};
  const std::vector<float> w = Rows(4, 30, 3);
  TcqGridSpec spec;
  spec.step = 0.3;
  auto q = QuantizeTcqGrid("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  auto t = PackTcqGrid("w", shape, spec, *q);
  ASSERT_TRUE(t.ok());
  const size_t head = 4 * 2;  // f16 scales, then varint n1 (one byte here), varint size0
  ASSERT_LT(t->payload[head], 128);
  ExpectEachCorrupt(*t, {{"n1 + 1", [&](T& b) { ++b.payload[head]; }},  // one more symbol claimed for union 1
                         {"n1 - 1", [&](T& b) { --b.payload[head]; }},
                         {"model 9", [](T& b) { b.params.back() = 9; }}});
}

// Columns of different spreads (an output projection's inputs): PackTcqGrid
// writes model state_bits + 8 with column classes (it keeps them only when
// they are smaller than the plain streams) and both decoders return the
// encoder's values; on i.i.d. columns it writes the plain model.
TEST(TcqGrid, ColumnClassesWhenColumnsDiffer) {
  const uint64_t rows = 64, cols = 256, shape[2] = {rows, cols};
  std::vector<float> w = Gaussian(rows * cols, 1.0f, 17);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= c % 4 == 0 ? 4.0f : c % 4 == 1 ? 0.25f : 1.0f;
  for (int sb : {2, 3, 8}) {
    TcqGridSpec spec;
    spec.step = 0.2;
    spec.state_bits = sb;
    auto q = QuantizeTcqGrid("w", shape, w, spec);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    auto t = PackTcqGrid("w", shape, spec, *q);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->params[5], sb + 8);
    const uint8_t k = t->payload[rows * 2];
    EXPECT_TRUE(k == 2 || k == 4 || k == 8 || k == 16) << int(k);
    const std::vector<float> dec = DecodeBoth(*t);
    const std::vector<float> mine = DequantizeTcqGrid(*q);
    ASSERT_EQ(dec.size(), mine.size());
    for (size_t i = 0; i < dec.size(); ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(dec[i]), std::bit_cast<uint32_t>(mine[i])) << sb << " " << i;
    // Alike columns (i.i.d.): the classes do not pay there, and the plain model is written.
    const std::vector<float> iid = Gaussian(rows * cols, 1.0f, 18);
    auto qi = QuantizeTcqGrid("w", shape, iid, spec);
    ASSERT_TRUE(qi.ok());
    auto ti = PackTcqGrid("w", shape, spec, *qi);
    ASSERT_TRUE(ti.ok());
    EXPECT_EQ(ti->params[5], sb) << "alike columns: classes must not pay";
    EXPECT_EQ(DecodeBoth(*ti).size(), rows * cols);
  }
}

// rate_classes = 4: the Viterbi prices each column with its class's code
// lengths. The codes change (the rate term is not the per-union one), both
// decoders still return the encoder's values, and the spec names it.
TEST(TcqGrid, RateClassesChangeThePathsAndStillDecode) {
  const uint64_t rows = 64, cols = 256, shape[2] = {rows, cols};
  std::vector<float> w = Gaussian(rows * cols, 1.0f, 17);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= c % 4 == 0 ? 4.0f : c % 4 == 1 ? 0.25f : 1.0f;
  TcqGridSpec spec;
  spec.step = 0.2;
  auto q1 = QuantizeTcqGrid("w", shape, w, spec);
  spec.rate_classes = 4;
  EXPECT_EQ(spec.ToString(), "tcq:s0.2:st3:rc4");
  auto q4 = QuantizeTcqGrid("w", shape, w, spec);
  ASSERT_TRUE(q1.ok() && q4.ok());
  EXPECT_NE(q1->codes, q4->codes);
  auto t = PackTcqGrid("w", shape, spec, *q4);
  ASSERT_TRUE(t.ok());
  const std::vector<float> dec = DecodeBoth(*t), mine = DequantizeTcqGrid(*q4);
  ASSERT_EQ(dec.size(), mine.size());
  for (size_t i = 0; i < dec.size(); ++i) ASSERT_EQ(std::bit_cast<uint32_t>(dec[i]), std::bit_cast<uint32_t>(mine[i]));
  spec.rate_classes = 17;
  EXPECT_FALSE(spec.Validate().ok());
}

// FORMAT.md's worked example of model 10, byte for byte, through both decoders.
TEST(TcqGrid, WorkedExampleFromFormatMd) {
  T t;
  t.name = "w";
  t.encoding = gpk::kAnsGrid;
  t.shape = {2, 2};
  t.params = {0, 0, 0, 0, 0, 10};
  t.payload = {0x00, 0x3c, 0x00, 0x3c, 0x02, 0x02, 0x00, 0x01, 0x1c,                    // scales, K, classes, n1_k, size0
               0x02, 0x0e, 0x03, 0x01, 0x03, 0x00, 0x00, 0x80, 0x40, 0x80, 0x40,        // stream0: model, table 0
               0x80, 0x80, 0x01, 0x00, 0x01,                                            // table 1
               0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00,  // three states
               0x02, 0x0e, 0x03, 0x01, 0x02, 0x00, 0x01, 0x80, 0x80, 0x01,              // stream1: model, table 1
               0x00, 0x00, 0x80, 0x00};                                                 // one state
  EXPECT_EQ(DecodeBoth(t), (std::vector<float>{2, 3, 0, -2}));
}

// Damaged column-class payloads are rejected by both decoders.
TEST(TcqGrid, DamagedColumnClassPayloadsAreRejected) {
  const uint64_t rows = 16, cols = 64, shape[2] = {rows, cols};
  std::vector<float> w = Gaussian(rows * cols, 1.0f, 23);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= c % 2 ? 6.0f : 0.2f;
  TcqGridSpec spec;
  spec.step = 0.2;
  auto q = QuantizeTcqGrid("w", shape, w, spec);
  ASSERT_TRUE(q.ok());
  auto t = PackTcqGrid("w", shape, spec, *q);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->params[5], 11);
  const size_t at_k = rows * 2, k = t->payload[at_k];
  ASSERT_EQ(k, 2u) << "two spreads, two classes";
  const size_t at_n1 = at_k + 1 + (cols + 7) / 8;  // after K and the classes (1 bit per column)
  ASSERT_LT(t->payload[at_n1] & 0x7f, 0x7f);  // so that ++ adds 1 to the varint n1_0
  ExpectEachCorrupt(*t, {{"K = 3", [&](T& b) { b.payload[at_k] = 3; }},
                         {"K = 1", [&](T& b) { b.payload[at_k] = 1; }},
                         {"n1_0 + 1", [&](T& b) { ++b.payload[at_n1]; }},
                         {"model 17", [](T& b) { b.params[5] = 17; }},
                         {"the classed payload read as model 3", [](T& b) { b.params[5] = 3; }}});
}

}  // namespace
}  // namespace golfpack::encode
