// ans_grid's row-order carry (FORMAT.md "ans_grid row-order carry (bits
// back)"): the worked example by hand through both C++ decoders, the rank
// arithmetic against brute force and known capacities, the writer's round
// trip (PackAnsGrid, reorder, WithRowCarry) decoded exactly, and rejection of
// every malformed case the spec lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "codec/ans_grid.h"
#include "codec/row_carry.h"
#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/rans.h"

namespace golfpack::encode {
namespace {

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// One tensor in a file; decoded by the counted decoder and by the reference.
struct Decoded {
  Status status, status_ref;
  std::vector<float> values, values_ref;
};
Decoded DecodeBoth(const gpk::EncodedTensor& t) {
  Decoded d;
  auto bytes = gpk::BuildArtifact({t}, {});
  if (!bytes.ok()) {
    d.status = d.status_ref = bytes.status();
    return d;
  }
  auto art = gpk::Artifact::Parse(*bytes, "carry test");
  if (!art.ok()) {
    d.status = d.status_ref = art.status();
    return d;
  }
  auto v = art->DecodeTensor(0);
  auto r = gpk::DecodeTensorRef(*art, 0);
  d.status = v.status();
  d.status_ref = r.status();
  if (v.ok()) d.values = *v;
  if (r.ok()) d.values_ref = *r;
  return d;
}

// FORMAT.md's worked example: 6 x 1, f16 scales, model 0, carry 1.
gpk::EncodedTensor Worked(const std::vector<int>& codes) {
  gpk::EncodedTensor t;
  t.name = "w";
  t.shape = {6, 1};
  t.encoding = gpk::kAnsGrid;
  t.params = {0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00};
  t.payload = {0x3c, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44, 0x00, 0x45, 0x00, 0x46};
  std::vector<uint16_t> sym;
  for (int c : codes) sym.push_back(uint16_t(c + 5));
  const auto stream = RansCompress(sym, 11);
  EXPECT_TRUE(stream.ok());
  t.payload.insert(t.payload.end(), stream->begin(), stream->end());
  return t;
}

TEST(AnsGridCarry, WorkedExampleFromFormatMd) {
  gpk::AnsGridParams p;
  p.carry = 1;
  EXPECT_EQ(p.Serialize(), (std::vector<uint8_t>{0, 0, 0, 0, 0, 0x80, 1, 0}));
  const Decoded d = DecodeBoth(Worked({0, 2, -1, 1, 3, 5}));
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_TRUE(d.status_ref.ok()) << d.status_ref.ToString();
  const std::vector<float> want = {0.0f, 8.0f, -1.1640625f, 3.0f, 15.0f, 30.0f};
  EXPECT_EQ(d.values, want);
  EXPECT_EQ(d.values_ref, want);
  // X = 389 does not fit one byte: rejected by both.
  const Decoded bad = DecodeBoth(Worked({2, 0, -1, 5, 3, 1}));
  EXPECT_TRUE(Contains(bad.status.message(), "row order over carry")) << bad.status.ToString();
  EXPECT_TRUE(Contains(bad.status_ref.message(), "row order over carry")) << bad.status_ref.ToString();
}

TEST(AnsGridCarry, CapacityIsFloorLog2FactorialOver8) {
  EXPECT_EQ(RowCarryBytes(1, 100), 0u);
  EXPECT_EQ(RowCarryBytes(2, 100), 0u);   // 1 bit
  EXPECT_EQ(RowCarryBytes(6, 100), 1u);   // 720: 9.49 bits
  EXPECT_EQ(RowCarryBytes(512, 1024), 484u);
  EXPECT_EQ(RowCarryBytes(1024, 2048), 1096u);
  EXPECT_EQ(RowCarryBytes(1024, 1000), 1000u);  // capped at the scale bytes
  EXPECT_EQ(RowCarryBytes(8193, 1 << 20), 0u);
  for (uint64_t n : {3u, 10u, 100u, 1000u, 8192u}) {
    double lg = 0;
    for (uint64_t k = 2; k <= n; ++k) lg += std::log2(double(k));
    const double b = lg / 8;
    if (std::abs(b - std::round(b)) > 1e-6) EXPECT_EQ(RowCarryBytes(n, 1 << 20), uint64_t(std::floor(b))) << n;
  }
}

TEST(AnsGridCarry, RankAndUnrankAreInverse) {
  // Brute force on 5 rows: the 120 orders get the ranks 0..119, in order of
  // their Lehmer codes.
  std::vector<uint64_t> perm = {0, 1, 2, 3, 4};
  uint64_t expect = 0;
  do {
    const auto x = OrderRank(perm, 1);
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ((*x)[0], expect);
    auto back = OrderOfRank(*x, 5);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, perm);
    ++expect;
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_FALSE(OrderOfRank(std::vector<uint8_t>{120}, 5).ok());  // 120 = 5!
  std::mt19937_64 rng(7);
  for (uint64_t n : {7u, 100u, 1024u, 3000u}) {
    const uint64_t b = RowCarryBytes(n, 1 << 20);
    std::vector<uint8_t> x(b);
    for (auto& v : x) v = uint8_t(rng());
    auto pos = OrderOfRank(x, n);
    ASSERT_TRUE(pos.ok()) << n;
    std::vector<uint64_t> sorted = *pos;
    std::sort(sorted.begin(), sorted.end());
    for (uint64_t k = 0; k < n; ++k) ASSERT_EQ(sorted[k], k);
    const auto back = OrderRank(*pos, b);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, x) << n;
    EXPECT_FALSE(OrderRank(*pos, 0).has_value() && std::any_of(x.begin(), x.end(), [](uint8_t v) { return v; }));
  }
}

// A random tensor packed in the order whose rank carries its sorted scales.
struct Carried {
  gpk::EncodedTensor plain, carried;
  std::vector<float> want;
  AnsGridSpec spec;
  AnsGridQuant quant;  // in the stored order
};
Carried MakeCarried(uint64_t rows, uint64_t cols, uint8_t model, uint8_t scale_dtype, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> w(rows * cols);
  for (auto& v : w) v = g(rng) * (1.0f + float(rng() % 7));
  AnsGridSpec spec;
  spec.step = 0.4;
  spec.model = model;
  spec.scale_dtype = scale_dtype;
  const std::vector<uint64_t> shape = {rows, cols};
  auto q = QuantizeAnsGrid("w", shape, w, spec);
  EXPECT_TRUE(q.ok());
  auto packed = PackAnsGrid("w", shape, spec, *q);
  EXPECT_TRUE(packed.ok());
  std::string why;
  auto sorted = SortRowsForCarry(*packed, &why);
  EXPECT_TRUE(sorted.ok() && sorted->has_value()) << why;
  const SortedScales& s = **sorted;
  std::vector<uint64_t> order(rows);  // sorted position -> row
  for (uint64_t r = 0; r < rows; ++r) order[s.rank[r]] = r;
  auto pos = OrderOfRank(std::span<const uint8_t>(s.scales.data(), s.carry), rows);
  EXPECT_TRUE(pos.ok());
  AnsGridQuant re = *q;
  for (uint64_t r = 0; r < rows; ++r) {
    const uint64_t from = order[(*pos)[r]];
    std::copy_n(&q->codes[from * cols], cols, &re.codes[r * cols]);
    re.scales[r] = q->scales[from];
  }
  Carried c;
  c.plain = *PackAnsGrid("w", shape, spec, re);
  auto with = WithRowCarry(c.plain, &why);
  EXPECT_TRUE(with.ok() && with->has_value()) << why;
  c.carried = **with;
  c.want = DequantizeAnsGrid(re);
  c.spec = spec;
  c.quant = re;
  return c;
}

TEST(AnsGridCarry, WriterRoundTripDecodesExactly) {
  for (uint8_t model : {0, 1}) {
    for (uint8_t dtype : {0, 1, 2}) {
      const Carried c = MakeCarried(300, 24, model, dtype, 11 + model * 3 + dtype);
      const uint64_t b = RowCarryBytes(300, 300 * gpk::ScaleBytes(dtype));
      EXPECT_EQ(c.carried.payload.size() + b, c.plain.payload.size());
      EXPECT_EQ(c.carried.params.size(), 8u);
      const Decoded d = DecodeBoth(c.carried);
      ASSERT_TRUE(d.status.ok()) << d.status.ToString();
      ASSERT_TRUE(d.status_ref.ok()) << d.status_ref.ToString();
      EXPECT_EQ(d.values, c.want);
      EXPECT_EQ(d.values_ref, c.want);
    }
  }
}

TEST(AnsGridCarry, WriterDeclinesOrdersThatDoNotCarry) {
  const Carried c = MakeCarried(64, 8, 0, 0, 3);
  const std::vector<uint64_t> shape = {64, 8};
  // Swapping two stored rows changes the rank: that order no longer spells the scales.
  AnsGridQuant re = c.quant;
  std::swap_ranges(re.codes.begin(), re.codes.begin() + 8, re.codes.begin() + 8);
  std::swap(re.scales[0], re.scales[1]);
  std::string why;
  auto p = PackAnsGrid("w", shape, c.spec, re);
  ASSERT_TRUE(p.ok());
  auto with = WithRowCarry(*p, &why);
  ASSERT_TRUE(with.ok());
  EXPECT_FALSE(with->has_value());
  EXPECT_EQ(why, "the row order does not spell its scales");
  // Two equal rows: no carry.
  std::copy_n(re.codes.begin(), 8, re.codes.begin() + 16);
  p = PackAnsGrid("w", shape, c.spec, re);
  ASSERT_TRUE(p.ok());
  with = WithRowCarry(*p, &why);
  ASSERT_TRUE(with.ok());
  EXPECT_FALSE(with->has_value());
  EXPECT_EQ(why, "two rows have equal codes");
}

TEST(AnsGridCarry, MalformedCarriesAreRejected) {
  const Carried c = MakeCarried(40, 4, 0, 0, 5);
  auto expect_bad = [&](gpk::EncodedTensor t, const std::string& what) {
    const Decoded d = DecodeBoth(t);
    EXPECT_FALSE(d.status.ok()) << what;
    EXPECT_TRUE(Contains(d.status.message(), what)) << d.status.ToString();
  };
  gpk::EncodedTensor t = c.carried;
  t.params[5] &= 127;  // 8 bytes without the flag
  expect_bad(t, "params_size 8, expected 6");
  t = c.carried;
  t.params[6] = t.params[7] = 0;  // carry 0
  expect_bad(t, "bad carry");
  t = c.carried;
  t.params[1] = 2;  // group_size 2
  expect_bad(t, "bad carry");
  t = c.carried;
  t.params[6] = 81, t.params[7] = 0;  // 81 > 40 rows * 2 bytes
  expect_bad(t, "bad carry 81");
  t = c.carried;
  t.params[5] = 0x80 | 17;  // unknown model
  expect_bad(t, "unknown model 17");
  // A carry of one byte fewer than the order spells: X no longer fits.
  t = c.carried;
  const uint64_t b = RowCarryBytes(40, 80);
  t.params[6] = uint8_t(b - 1);
  t.payload.insert(t.payload.begin(), 0);
  const Decoded d = DecodeBoth(t);
  if (!d.status.ok()) EXPECT_TRUE(Contains(d.status.message(), "row order over carry")) << d.status.ToString();
  EXPECT_EQ(d.status.ok(), d.status_ref.ok());
  // 8193 rows are over the bound.
  gpk::EncodedTensor big;
  big.name = "w";
  big.shape = {8193, 1};
  big.encoding = gpk::kAnsGrid;
  big.params = {0, 0, 0, 0, 0, 0x80, 1, 0};
  big.payload.assign(8193 * 2 + 16, 0);
  expect_bad(big, "bad carry 1");
}

}  // namespace
}  // namespace golfpack::encode
