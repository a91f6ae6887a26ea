#include "core/rans.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <vector>

namespace golfpack {
namespace {

std::vector<uint16_t> Uniform(size_t n, uint16_t alphabet, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, alphabet - 1);
  std::vector<uint16_t> v(n);
  for (auto& s : v) s = static_cast<uint16_t>(d(rng));
  return v;
}

// Rounded Laplacian around `zero`, clamped to the alphabet: what quantized
// model weights look like.
std::vector<uint16_t> Laplacian(size_t n, uint16_t alphabet, uint16_t zero, double scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> e(1.0 / scale);
  std::bernoulli_distribution sign(0.5);
  std::vector<uint16_t> v(n);
  for (auto& s : v) {
    double x = e(rng) * (sign(rng) ? 1 : -1);
    long q = std::lround(x) + zero;
    s = static_cast<uint16_t>(std::clamp<long>(q, 0, alphabet - 1));
  }
  return v;
}

std::vector<uint16_t> Geometric(size_t n, uint16_t alphabet, double p, uint32_t seed) {
  std::mt19937 rng(seed);
  std::geometric_distribution<int> g(p);
  std::vector<uint16_t> v(n);
  for (auto& s : v) s = static_cast<uint16_t>(std::min(g(rng), alphabet - 1));
  return v;
}

std::vector<uint64_t> Counts(const std::vector<uint16_t>& v, size_t alphabet) {
  std::vector<uint64_t> c(alphabet, 0);
  for (uint16_t s : v) ++c[s];
  return c;
}

double EntropyBits(const std::vector<uint64_t>& counts) {
  double n = 0, h = 0;
  for (uint64_t c : counts) n += static_cast<double>(c);
  for (uint64_t c : counts)
    if (c) h -= static_cast<double>(c) * std::log2(static_cast<double>(c) / n);
  return h;  // total bits
}

// Encodes, checks the exact-size promise, decodes with both decoders.
void ExpectRoundTrip(const std::vector<uint16_t>& symbols, const FrequencyTable& table) {
  auto enc = RansEncode(symbols, table);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto size = RansEncodedSize(symbols, table);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, enc->size());
  std::vector<uint16_t> fast(symbols.size() + 3, 0xffff), ref(symbols.size(), 0xffff);
  Status s1 = RansDecode(*enc, table, symbols.size(), fast);
  ASSERT_TRUE(s1.ok()) << s1.ToString();
  Status s2 = RansDecodeRef(*enc, table, symbols.size(), ref);
  ASSERT_TRUE(s2.ok()) << s2.ToString();
  EXPECT_TRUE(std::equal(symbols.begin(), symbols.end(), fast.begin()));
  EXPECT_EQ(ref, symbols);
  EXPECT_EQ(fast[symbols.size()], 0xffff);  // nothing written past num_symbols
}

FrequencyTable TableOf(const std::vector<uint16_t>& v, size_t alphabet, int scale_bits = 14) {
  auto t = FrequencyTable::FromCounts(Counts(v, alphabet), scale_bits);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TEST(Rans, RoundTripUniform) {
  auto v = Uniform(100003, 256, 1);
  ExpectRoundTrip(v, TableOf(v, 256));
}

TEST(Rans, RoundTripSkewed) {
  auto lap = Laplacian(200001, 256, 128, 1.5, 2);
  ExpectRoundTrip(lap, TableOf(lap, 256));
  auto geo = Geometric(50000, 4096, 0.05, 3);
  ExpectRoundTrip(geo, TableOf(geo, 4096, 15));
  auto very = Laplacian(50000, 16, 8, 0.1, 4);  // ~all zero point
  ExpectRoundTrip(very, TableOf(very, 16, 10));
}

TEST(Rans, RoundTripEveryScaleBits) {
  auto v = Laplacian(30001, 64, 32, 3.0, 5);
  for (int m = kRansMinScaleBits; m <= kRansMaxScaleBits; ++m) ExpectRoundTrip(v, TableOf(v, 64, m));
}

TEST(Rans, SingleSymbolAndAlphabetOfOne) {
  std::vector<uint16_t> v(1001, 5);
  FrequencyTable t = TableOf(v, 16);
  EXPECT_EQ(t.freq(5), 1u << 14);
  ExpectRoundTrip(v, t);
  EXPECT_EQ(RansEncode(v, t)->size(), 16u);  // just the 4 states: 0 bits/symbol

  std::vector<uint16_t> ones(77, 0);
  FrequencyTable one = TableOf(ones, 1, 15);
  EXPECT_EQ(one.alphabet_size(), 1u);
  ExpectRoundTrip(ones, one);
}

TEST(Rans, ShortAndOddLengths) {
  auto base = Laplacian(64, 32, 16, 2.0, 6);
  FrequencyTable t = TableOf(base, 32);
  for (size_t n = 0; n <= 19; ++n) {
    std::vector<uint16_t> v(base.begin(), base.begin() + static_cast<long>(n));
    ExpectRoundTrip(v, t);
    EXPECT_GE(RansEncode(v, t)->size(), 4 * std::min<size_t>(n, kRansInterleave));
  }
  EXPECT_TRUE(RansEncode({}, t)->empty());  // length 0: empty payload
  std::vector<uint16_t> out;
  EXPECT_TRUE(RansDecode({}, t, 0, out).ok());
}

TEST(Rans, MaxAlphabetAndRandomTables) {
  // 4096 symbols in 4096 slots: every freq is 1.
  auto v = Uniform(20000, 4096, 7);
  for (int s = 0; s < 4096; ++s) v.push_back(static_cast<uint16_t>(s));  // all present
  FrequencyTable t12 = TableOf(v, 4096, 12);
  for (size_t s = 0; s < 4096; ++s) ASSERT_EQ(t12.freq(s), 1u);
  ExpectRoundTrip(v, t12);

  // Random frequency tables exercise the reciprocal division for many freqs.
  std::mt19937 rng(8);
  for (int trial = 0; trial < 60; ++trial) {
    int m = kRansMinScaleBits + trial % 6;
    size_t a = 1 + rng() % 300;
    std::vector<uint64_t> counts(a);
    for (auto& c : counts) c = (rng() % 4 == 0) ? 0 : (rng() % 1000) * (rng() % 1000);
    counts[rng() % a] += 1;
    auto t = FrequencyTable::FromCounts(counts, m);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    std::vector<uint16_t> present;
    for (size_t s = 0; s < a; ++s)
      if (t->freq(s)) present.push_back(static_cast<uint16_t>(s));
    std::vector<uint16_t> syms(1 + rng() % 5000);
    for (auto& s : syms) s = present[rng() % present.size()];
    ExpectRoundTrip(syms, *t);
  }
}

TEST(Rans, CodedSizeWithinOnePercentOfEntropy) {
  const size_t n = 1000000;
  auto v = Laplacian(n, 64, 32, 1.5, 9);
  auto counts = Counts(v, 64);
  FrequencyTable t = TableOf(v, 64);
  auto payload = RansEncodedSize(v, t);
  ASSERT_TRUE(payload.ok());
  const double ideal = EntropyBits(counts) / 8 + static_cast<double>(t.SerializedSize());
  const double actual = static_cast<double>(*payload + t.SerializedSize());
  EXPECT_LT(actual, ideal * 1.01) << "ideal " << ideal << " actual " << actual;
  EXPECT_GT(actual, ideal * 0.999);
  // The quantised table's ideal cost is close to the real stream size too.
  EXPECT_NEAR(t.CostBits(counts) / 8, static_cast<double>(*payload), 64.0);
  auto compressed = RansCompressedSize(v, 64);
  ASSERT_TRUE(compressed.ok());
  EXPECT_EQ(*compressed, static_cast<size_t>(actual));
}

TEST(FrequencyTable, QuantisationIsExactAndLocallyOptimal) {
  std::mt19937 rng(10);
  for (int trial = 0; trial < 40; ++trial) {
    int m = kRansMinScaleBits + trial % 6;
    size_t a = 1 + rng() % 1000;
    std::vector<uint64_t> counts(a);
    for (auto& c : counts) {
      int kind = static_cast<int>(rng() % 3);
      c = kind == 0 ? 0 : kind == 1 ? rng() % 3 : uint64_t{rng()} * (rng() % 5000);
    }
    counts[0] = 1;
    size_t present = static_cast<size_t>(std::count_if(counts.begin(), counts.end(), [](uint64_t c) { return c > 0; }));
    auto t = FrequencyTable::FromCounts(counts, m);
    if (present > (1u << m)) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    uint64_t sum = 0;
    std::vector<uint32_t> f(a);
    for (size_t s = 0; s < a; ++s) {
      f[s] = t->freq(s);
      sum += f[s];
      EXPECT_EQ(f[s] > 0, counts[s] > 0) << s;
    }
    EXPECT_EQ(sum, 1u << m);
    // No single +1/-1 exchange lowers the cost.
    double best_gain = 0, best_loss = 1e300;
    for (size_t s = 0; s < a; ++s) {
      if (!counts[s]) continue;
      double c = static_cast<double>(counts[s]);
      best_gain = std::max(best_gain, c * std::log2((f[s] + 1.0) / f[s]));
      if (f[s] > 1) best_loss = std::min(best_loss, c * std::log2(f[s] / (f[s] - 1.0)));
    }
    EXPECT_LE(best_gain, best_loss * (1 + 1e-9) + 1e-6);
  }
}

TEST(FrequencyTable, FromCountsRejectsBadInput) {
  EXPECT_EQ(FrequencyTable::FromCounts(std::vector<uint64_t>{0, 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(FrequencyTable::FromCounts(std::vector<uint64_t>{}).ok());
  EXPECT_FALSE(FrequencyTable::FromCounts(std::vector<uint64_t>(4097, 1), 15).ok());
  EXPECT_FALSE(FrequencyTable::FromCounts(std::vector<uint64_t>(2000, 1), 10).ok());  // 2000 > 1024 slots
  EXPECT_FALSE(FrequencyTable::FromCounts(std::vector<uint64_t>{1}, 9).ok());
  EXPECT_FALSE(FrequencyTable::FromCounts(std::vector<uint64_t>{1}, 16).ok());
  EXPECT_FALSE(FrequencyTable::FromCounts(std::vector<uint64_t>{UINT64_MAX, 1}).ok());
  EXPECT_FALSE(FrequencyTable::FromFreqs(std::vector<uint32_t>{1000, 23}, 10).ok());  // sum 1023
  EXPECT_TRUE(FrequencyTable::FromFreqs(std::vector<uint32_t>{1000, 24}, 10).ok());
}

TEST(FrequencyTable, SerializeParseRoundTrip) {
  auto v = Laplacian(10000, 300, 150, 4.0, 11);
  v.push_back(299);
  FrequencyTable t = TableOf(v, 300);
  std::vector<uint8_t> bytes = t.Serialize();
  EXPECT_EQ(bytes.size(), t.SerializedSize());
  ByteReader r(bytes);
  auto p = FrequencyTable::Parse(r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(p->scale_bits(), 14);
  EXPECT_TRUE(std::equal(p->freqs().begin(), p->freqs().end(), t.freqs().begin(), t.freqs().end()));
  // Long zero runs cost a couple of bytes: symbol 0 and 4095 only.
  std::vector<uint64_t> counts(4096, 0);
  counts[0] = 3;
  counts[4095] = 1;
  auto sparse = FrequencyTable::FromCounts(counts);
  ASSERT_TRUE(sparse.ok());
  EXPECT_LE(sparse->SerializedSize(), 10u);
  EXPECT_EQ(sparse->Serialize().size(), sparse->SerializedSize());
}

Status ParseBytes(const std::vector<uint8_t>& b) {
  ByteReader r(b);
  return FrequencyTable::Parse(r).status();
}

TEST(FrequencyTable, ParserRejectsBadTables) {
  // scale_bits 10, alphabet 2, freqs 1000 + 23 = 1023 != 1024.
  ByteWriter w;
  w.U8(10);
  w.Varint(2);
  w.Varint(1000);
  w.Varint(23);
  Status s = ParseBytes(w.bytes());
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("sum to 1023, expected 2^10 = 1024"), std::string::npos) << s.message();

  auto table = [](uint8_t m, uint64_t a, std::vector<uint64_t> vals) {
    ByteWriter w;
    w.U8(m);
    w.Varint(a);
    for (uint64_t v : vals) w.Varint(v);
    return std::move(w).Take();
  };
  EXPECT_TRUE(ParseBytes(table(10, 2, {1000, 24})).ok());
  EXPECT_FALSE(ParseBytes(table(10, 2, {1000, 25})).ok());        // sum too big
  EXPECT_FALSE(ParseBytes(table(10, 2, {2000, 0, 0})).ok());      // freq > 2^M
  EXPECT_FALSE(ParseBytes(table(9, 1, {512})).ok());              // scale_bits low
  EXPECT_FALSE(ParseBytes(table(16, 1, {65536})).ok());           // scale_bits high
  EXPECT_FALSE(ParseBytes(table(10, 0, {})).ok());                // empty alphabet
  EXPECT_FALSE(ParseBytes(table(10, 4097, {1024, 0, 4095})).ok());  // alphabet too big
  EXPECT_TRUE(ParseBytes(table(10, 3, {0, 1, 1024})).ok());       // zero run of 2, then 1024
  EXPECT_FALSE(ParseBytes(table(10, 3, {0, 3, 1024})).ok());      // run overruns alphabet
  EXPECT_FALSE(ParseBytes(table(10, 4, {0, 0, 0, 1, 1024})).ok());  // non-maximal runs
  EXPECT_FALSE(ParseBytes(table(10, 3, {0, 2})).ok());            // all zero: sum 0
  EXPECT_FALSE(ParseBytes(table(10, 2, {UINT64_MAX, 1})).ok());   // huge freq, no overflow

  // Every truncation of a valid table is rejected.
  auto good = FrequencyTable::FromCounts(std::vector<uint64_t>{5, 0, 0, 9, 1000, 3});
  ASSERT_TRUE(good.ok());
  auto bytes = good->Serialize();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<uint8_t> b(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT_EQ(ParseBytes(b).code(), StatusCode::kCorrupt) << cut;
  }
}

TEST(Rans, EncodeRejectsUncodableSymbols) {
  FrequencyTable t = TableOf({0, 1, 1, 3}, 4);
  EXPECT_EQ(RansEncode(std::vector<uint16_t>{0, 2}, t).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RansEncode(std::vector<uint16_t>{4}, t).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(RansEncodedSize(std::vector<uint16_t>{9}, t).ok());
  std::vector<uint16_t> out(1);
  EXPECT_EQ(RansDecode({}, t, 2, out).code(), StatusCode::kInvalidArgument);  // out too small
  EXPECT_EQ(RansDecode({}, FrequencyTable(), 0, out).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(RansCompress(std::vector<uint16_t>{5}, 5).ok());
}

// Both decoders must agree exactly, in output and in error.
void ExpectDecodersAgree(std::span<const uint8_t> stream, const FrequencyTable& t, size_t n,
                         bool* ok = nullptr) {
  std::vector<uint16_t> a(n, 0), b(n, 0);
  Status sa = RansDecode(stream, t, n, a);
  Status sb = RansDecodeRef(stream, t, n, b);
  EXPECT_EQ(sa.code(), sb.code());
  EXPECT_EQ(sa.message(), sb.message());
  if (sa.ok()) {
    EXPECT_EQ(a, b);
  }
  if (ok) *ok = sa.ok();
}

TEST(Rans, CorruptStreamsRejectedWithoutCrash) {
  auto v = Laplacian(10000, 64, 32, 2.0, 12);
  FrequencyTable t = TableOf(v, 64);
  std::vector<uint8_t> enc = *RansEncode(v, t);

  // Every truncation and every extension is rejected as corrupt.
  for (size_t cut = 0; cut < enc.size(); cut += (cut < 64 || cut + 64 > enc.size()) ? 1 : 97) {
    std::vector<uint8_t> b(enc.begin(), enc.begin() + static_cast<long>(cut));
    bool ok = true;
    ExpectDecodersAgree(b, t, v.size(), &ok);
    EXPECT_FALSE(ok) << "cut at " << cut;
  }
  for (uint8_t extra : {0, 1, 255}) {
    auto b = enc;
    b.push_back(extra);
    bool ok = true;
    ExpectDecodersAgree(b, t, v.size(), &ok);
    EXPECT_FALSE(ok);
  }
  // Byte flips: detected (final states must return to L), never a crash.
  std::mt19937 rng(13);
  int detected = 0, trials = 0;
  for (size_t pos = 0; pos < enc.size(); pos += 1 + rng() % 7, ++trials) {
    auto b = enc;
    b[pos] ^= static_cast<uint8_t>(1 + rng() % 255);
    bool ok = true;
    ExpectDecodersAgree(b, t, v.size(), &ok);
    detected += !ok;
  }
  EXPECT_GE(detected, trials * 99 / 100) << detected << "/" << trials;
  // Wrong symbol count is rejected too.
  bool ok = true;
  ExpectDecodersAgree(enc, t, v.size() - 1, &ok);
  EXPECT_FALSE(ok);
  ExpectDecodersAgree(enc, t, v.size() + 1, &ok);
  EXPECT_FALSE(ok);
}

TEST(Rans, FastDecoderMatchesRefOnGarbage) {
  std::mt19937 rng(14);
  auto v = Laplacian(1000, 32, 16, 2.0, 15);
  FrequencyTable t = TableOf(v, 32, 12);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> b(rng() % 200);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 16 && trial % 2) {  // plausible states so decoding proceeds
      for (int k = 0; k < 4; ++k) b[4 * k + 3] = static_cast<uint8_t>(1 + rng() % 0x7f);
    }
    ExpectDecodersAgree(b, t, rng() % 300, nullptr);
  }
}

TEST(Rans, CompressDecompressSelfContained) {
  auto v = Laplacian(12345, 100, 50, 2.5, 16);
  auto c = RansCompress(v, 100);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), *RansCompressedSize(v, 100));
  std::vector<uint16_t> out(v.size());
  ASSERT_TRUE(RansDecompress(*c, v.size(), out).ok());
  EXPECT_EQ(out, v);
  auto empty = RansCompress({}, 3);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(RansDecompress(*empty, 0, out).ok());
  EXPECT_EQ(empty->size(), *RansCompressedSize({}, 3));
}

// Markov source: after a large-magnitude symbol another large one is likely.
std::vector<uint16_t> MarkovWeights(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> narrow(1 / 0.5), wide(1 / 8.0);
  std::bernoulli_distribution sign(0.5);
  const int zero = 32;
  std::vector<uint16_t> v(n);
  int prev = zero;
  for (auto& s : v) {
    double x = (std::abs(prev - zero) >= 2 ? wide(rng) : narrow(rng)) * (sign(rng) ? 1 : -1);
    prev = std::clamp<int>(static_cast<int>(std::lround(x)) + zero, 0, 63);
    s = static_cast<uint16_t>(prev);
  }
  return v;
}

TEST(ContextRans, BeatsOrder0OnMarkovSourceAndRoundTrips) {
  auto v = MarkovWeights(300001, 17);
  auto order0 = RansCompressedSize(v, 64);
  ASSERT_TRUE(order0.ok());
  auto ctx_size = ContextRansCompressedSize(v, 64, 32, 4);
  ASSERT_TRUE(ctx_size.ok());
  EXPECT_LT(static_cast<double>(*ctx_size), 0.9 * static_cast<double>(*order0))
      << *ctx_size << " vs order-0 " << *order0;
  std::cout << "[ context ] ContextRans " << *ctx_size << " bytes vs order-0 " << *order0 << "\n";

  auto c = ContextRansCompress(v, 64, 32, 4);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), *ctx_size);
  std::vector<uint16_t> out(v.size());
  ASSERT_TRUE(ContextRansDecompress(*c, v.size(), out).ok());
  EXPECT_EQ(out, v);

  auto model = ContextRansModel::Build(v, 64, 32, 4);
  ASSERT_TRUE(model.ok());
  ByteWriter w;
  model->Serialize(w);
  EXPECT_EQ(w.size(), model->SerializedSize());
  auto payload = ContextRansEncode(v, *model);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload->size(), *ContextRansEncodedSize(v, *model));
  std::vector<uint16_t> ref(v.size());
  ASSERT_TRUE(ContextRansDecodeRef(*payload, *model, v.size(), ref).ok());
  EXPECT_EQ(ref, v);
}

TEST(ContextRans, EdgeCases) {
  for (size_t n : {0, 1, 2, 3, 5, 8, 9}) {
    auto v = MarkovWeights(n, 18);
    for (int k : {1, 2, 64}) {
      auto c = ContextRansCompress(v, 64, 32, k);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_EQ(c->size(), *ContextRansCompressedSize(v, 64, 32, k));
      std::vector<uint16_t> out(n);
      ASSERT_TRUE(ContextRansDecompress(*c, n, out).ok());
      EXPECT_EQ(out, v);
    }
  }
  // With one context the payload equals order-0 coding under the same table.
  auto v = MarkovWeights(5000, 19);
  auto m1 = ContextRansModel::Build(v, 64, 32, 1);
  ASSERT_TRUE(m1.ok());
  auto t = FrequencyTable::FromCounts(Counts(v, 64));
  EXPECT_EQ(*ContextRansEncode(v, *m1), *RansEncode(v, *t));

  EXPECT_FALSE(ContextRansModel::Build(v, 64, 64, 4).ok());  // zero point outside alphabet
  EXPECT_FALSE(ContextRansModel::Build(v, 64, 32, 0).ok());
  EXPECT_FALSE(ContextRansModel::Build(v, 64, 32, 65).ok());
  EXPECT_FALSE(ContextRansModel::Build(v, 10, 5, 4).ok());  // symbols outside alphabet
  // A symbol never seen in its context cannot be encoded.
  auto m = ContextRansModel::Build(std::vector<uint16_t>{32, 32, 40}, 64, 32, 4);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ContextRansEncode(std::vector<uint16_t>{40, 40}, *m).status().code(), StatusCode::kInvalidArgument);
}

TEST(ContextRans, CorruptStreamsRejected) {
  auto v = MarkovWeights(5000, 20);
  std::vector<uint8_t> c = *ContextRansCompress(v, 64, 32, 4);
  std::vector<uint16_t> out(v.size());
  for (size_t cut = 0; cut < c.size(); cut += 1 + cut / 8) {
    std::vector<uint8_t> b(c.begin(), c.begin() + static_cast<long>(cut));
    EXPECT_EQ(ContextRansDecompress(b, v.size(), out).code(), StatusCode::kCorrupt) << cut;
  }
  std::mt19937 rng(21);
  int detected = 0, trials = 0;
  for (size_t pos = 0; pos < c.size(); pos += 1 + rng() % 5, ++trials) {
    auto b = c;
    b[pos] ^= static_cast<uint8_t>(1 + rng() % 255);
    detected += !ContextRansDecompress(b, v.size(), out).ok();
  }
  EXPECT_GE(detected, trials * 98 / 100) << detected << "/" << trials;

  // Fast and ref context decoders agree on garbage payloads, including
  // payloads that steer into a context without a table.
  auto m = ContextRansModel::Build(std::vector<uint16_t>{32, 33, 32, 31, 32, 60}, 64, 32, 8);
  ASSERT_TRUE(m.ok());
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> b(rng() % 64);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 16)
      for (int k = 0; k < 4; ++k) b[4 * k + 3] = static_cast<uint8_t>(1 + rng() % 0x7f);
    size_t n = rng() % 40;
    std::vector<uint16_t> x(n), y(n);
    Status sx = ContextRansDecode(b, *m, n, x);
    Status sy = ContextRansDecodeRef(b, *m, n, y);
    ASSERT_EQ(sx.message(), sy.message());
    if (sx.ok()) {
      EXPECT_EQ(x, y);
    }
  }
}

// ---- Column classes (ans_grid model 9) ------------------------------------------------

// rows x cols codes where column c is Laplacian with scale 0.4 * 2^(c % 4) and, for c % 8 >= 4, a
// shift of +2 (a sign bias): four spreads and two means, so 8 column classes fit exactly.
std::vector<uint16_t> ColumnWeights(size_t rows, size_t cols, uint32_t seed) {
  std::vector<uint16_t> v(rows * cols);
  for (size_t c = 0; c < cols; ++c) {
    auto col = Laplacian(rows, 64, static_cast<uint16_t>(c % 8 >= 4 ? 34 : 32), 0.4 * (1 << (c % 4)),
                         seed + static_cast<uint32_t>(c));
    for (size_t r = 0; r < rows; ++r) v[r * cols + c] = col[r];
  }
  return v;
}

TEST(ColumnRans, TablesPerColumnClassBeatOrder0AndRoundTrip) {
  const size_t rows = 2000, cols = 16;
  auto v = ColumnWeights(rows, cols, 40);
  std::vector<uint8_t> cls(cols);
  for (size_t c = 0; c < cols; ++c) cls[c] = static_cast<uint8_t>(c % 8);
  auto order0 = RansCompressedSize(v, 64);
  ASSERT_TRUE(order0.ok());
  auto size = ColumnRansCompressedSize(v, 64, 32, 8, cls);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  // The ideal cost: the entropy of each class's pooled codes.
  double ideal = 0;
  for (int k = 0; k < 8; ++k) {
    std::vector<uint64_t> counts(64, 0);
    for (size_t i = 0; i < v.size(); ++i)
      if (cls[i % cols] == k) ++counts[v[i]];
    ideal += EntropyBits(counts) / 8;
  }
  EXPECT_LT(static_cast<double>(*size), 0.85 * static_cast<double>(*order0)) << *size << " vs " << *order0;
  EXPECT_LT(static_cast<double>(*size), 1.01 * ideal + 300) << *size << " vs ideal " << ideal;
  EXPECT_GT(static_cast<double>(*size), ideal);
  auto c = ColumnRansCompress(v, 64, 32, 8, cls);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), *size);
  for (bool reference : {false, true}) {
    std::vector<uint16_t> out(v.size());
    const Status st = ColumnRansDecompress(*c, cols, v.size(), out, reference);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(out, v);
  }
  // Classes are packed 3 bits per column, LSB-first, right after the model.
  auto model = ContextRansModel::BuildByColumn(v, 64, 32, 8, cls);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(ColumnClassBytes(cols, 8), 6u);
  const uint8_t* packed = c->data() + model->SerializedSize();
  for (size_t col = 0; col < cols; ++col) {
    int got = 0;
    for (int b = 0; b < 3; ++b) got |= ((packed[(3 * col + b) / 8] >> ((3 * col + b) % 8)) & 1) << b;
    EXPECT_EQ(got, cls[col]) << col;
  }
  // One class: the payload is order-0 coding under the same table.
  auto one = ContextRansModel::BuildByColumn(v, 64, 32, 1, std::vector<uint8_t>(cols, 0));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*ColumnRansEncode(v, *one, std::vector<uint8_t>(cols, 0)), *RansEncode(v, TableOf(v, 64)));
}

TEST(ColumnRans, BadInputAndCorruptStreamsAreRejected) {
  const size_t cols = 12;
  auto v = ColumnWeights(300, cols, 41);
  std::vector<uint8_t> cls(cols);
  for (size_t c = 0; c < cols; ++c) cls[c] = static_cast<uint8_t>(c % 3);
  EXPECT_FALSE(ColumnRansCompress(v, 64, 32, 3, cls).ok());  // K must be a power of two
  EXPECT_FALSE(ColumnRansCompress(v, 64, 32, 32, cls).ok());
  EXPECT_FALSE(ColumnRansCompress(v, 64, 32, 2, cls).ok());   // class 2 >= K
  EXPECT_FALSE(ColumnRansCompress(std::vector<uint16_t>(v.begin(), v.end() - 1), 64, 32, 4, cls).ok());  // not whole rows
  auto c = ColumnRansCompress(v, 64, 32, 4, cls);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<uint16_t> out(v.size()), ref(v.size());
  for (size_t cut = 0; cut < c->size(); cut += 1 + cut / 8) {
    std::vector<uint8_t> b(c->begin(), c->begin() + static_cast<long>(cut));
    EXPECT_EQ(ColumnRansDecompress(b, cols, v.size(), out).code(), StatusCode::kCorrupt) << cut;
  }
  std::mt19937 rng(42);
  int detected = 0, trials = 0;
  for (size_t pos = 0; pos < c->size(); pos += 1 + rng() % 5, ++trials) {
    auto b = *c;
    b[pos] ^= static_cast<uint8_t>(1 + rng() % 255);
    const Status fast = ColumnRansDecompress(b, cols, v.size(), out);
    const Status slow = ColumnRansDecompress(b, cols, v.size(), ref, true);
    ASSERT_EQ(fast.message(), slow.message()) << pos;
    if (fast.ok()) {
      EXPECT_EQ(out, ref);
    }
    detected += !fast.ok();
  }
  EXPECT_GE(detected, trials * 95 / 100) << detected << "/" << trials;
  // Class 3 has no column, so no table: a class map that names it is rejected, not decoded.
  auto model = ContextRansModel::BuildByColumn(v, 64, 32, 4, cls);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->table(3), nullptr);
  auto payload = ColumnRansEncode(v, *model, cls);
  ASSERT_TRUE(payload.ok());
  std::vector<uint8_t> bad = cls;
  bad[5] = 3;
  for (bool reference : {false, true}) {
    const Status st = reference ? ColumnRansDecodeRef(*payload, *model, bad, v.size(), out)
                                : ColumnRansDecode(*payload, *model, bad, v.size(), out);
    EXPECT_EQ(st.code(), StatusCode::kCorrupt);
    EXPECT_NE(st.message().find("context 3, which has no table"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace golfpack
