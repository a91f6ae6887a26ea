#include "eval/bpb.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace golfpack::eval {
namespace {

// A hand-made tokenizer: 4 control pieces, 8 byte pieces, and normal pieces
// with and without the leading "▁".
data::ByteLut HandLut(int vocab) {
  std::vector<data::PieceInfo> pieces = {{"<pad>", data::PieceKind::kControl}, {"<s>", data::PieceKind::kControl},
                                         {"</s>", data::PieceKind::kControl}, {"<unk>", data::PieceKind::kUnknown}};
  for (int i = 0; i < 8; ++i) pieces.push_back({"<0x4" + std::to_string(i) + ">", data::PieceKind::kByte});
  const char* words[] = {"the", "\xE2\x96\x81the", "\xE2\x96\x81", "ab", "\xE2\x96\x81" "caf\xC3\xA9"};
  for (int i = 0; static_cast<int>(pieces.size()) < vocab; ++i) pieces.push_back({words[i % 5], data::PieceKind::kNormal});
  return data::BuildByteLut(pieces, vocab);
}

model::GPTConfig TinyConfig(int vocab) {
  model::GPTConfig c;
  c.vocab_size = vocab;
  c.num_layers = 2;
  c.model_dim = 16;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  return c;
}

std::vector<uint16_t> RandomTokens(size_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, vocab - 1);
  std::vector<uint16_t> t(n);
  for (auto& x : t) x = static_cast<uint16_t>(d(rng));
  t[0] = 1;  // BOS
  return t;
}

TEST(Bpb, ZeroOutputModelScoresLog2VocabPerToken) {
  const int vocab = 64;
  model::GPT m(TinyConfig(vocab));
  {
    torch::NoGradGuard g;
    m->tok_emb->weight.zero_();  // tied: all logits are exactly 0
  }
  auto lut = HandLut(vocab);
  auto tokens = RandomTokens(1000, vocab, 7);
  EvalOptions o;
  o.seq_len = 64;
  auto r = EvaluateBpb(m, tokens, lut, o, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // PG truncation: ((1000 - 1) // 64) * 64 = 960 scored targets.
  EXPECT_EQ(r->tokens, 960u);
  const std::span<const uint16_t> all(tokens);
  EXPECT_EQ(r->bytes, data::CountTargetBytes(lut, all.first(960), all.subspan(1, 960)));
  const double expected = std::log2(double(vocab)) * double(r->tokens) / double(r->bytes);
  EXPECT_NEAR(r->val_bpb, expected, 1e-6 * expected);
  EXPECT_NEAR(r->val_loss, std::log(double(vocab)), 1e-6);
}

TEST(Bpb, MaxTokensAndBatchingDoNotChangeTheSums) {
  const int vocab = 64;
  torch::manual_seed(5);
  model::GPT m(TinyConfig(vocab));
  {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.normal_(0, 0.2);
  }
  auto lut = HandLut(vocab);
  auto tokens = RandomTokens(777, vocab, 9);
  EvalOptions a;
  a.seq_len = 32;
  a.batch_seqs = 1;
  EvalOptions b = a;
  b.batch_seqs = 5;
  auto ra = EvaluateBpb(m, tokens, lut, a, {});
  auto rb = EvaluateBpb(m, tokens, lut, b, {});
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->tokens, 768u);
  EXPECT_EQ(ra->bytes, rb->bytes);
  EXPECT_NEAR(ra->loss_sum, rb->loss_sum, 1e-6 * ra->loss_sum);
  EvalOptions c = a;
  c.max_tokens = 100;  // rounded down to whole sequences
  auto rc = EvaluateBpb(m, tokens, lut, c, {});
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(rc->tokens, 96u);
}

TEST(Bpb, FormulaMatchesDefinition) {
  auto r = MakeEvalResult(/*loss_sum=*/2000.0, /*tokens=*/1000, /*bytes=*/2500);
  EXPECT_DOUBLE_EQ(r.val_loss, 2.0);
  EXPECT_DOUBLE_EQ(r.val_bpb, 2.0 / std::log(2.0) * 1000.0 / 2500.0);
}

TEST(Bpb, RejectsVocabMismatchAndShortStreams) {
  model::GPT m(TinyConfig(64));
  auto lut = HandLut(32);
  auto tokens = RandomTokens(200, 32, 1);
  auto r = EvaluateBpb(m, tokens, lut, {}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("vocab"), std::string::npos);
  auto lut64 = HandLut(64);
  EvalOptions o;
  o.seq_len = 1024;
  r = EvaluateBpb(m, RandomTokens(500, 64, 2), lut64, o, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too short"), std::string::npos);
  std::vector<uint16_t> bad = RandomTokens(200, 64, 3);
  bad[50] = 64;
  o.seq_len = 64;
  r = EvaluateBpb(m, bad, lut64, o, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token id 64 at position 50"), std::string::npos);
}

TEST(Unigram, CrossEntropyOfKnownDistribution) {
  // train: 3 of token 0, 1 of token 1, vocab 2, add-one: p0 = 4/6, p1 = 2/6.
  std::vector<uint16_t> train = {0, 0, 0, 1};
  std::vector<uint16_t> val = {1, 0, 1};  // targets: 0, 1
  const double expected = -(std::log(4.0 / 6.0) + std::log(2.0 / 6.0)) / 2.0;
  EXPECT_DOUBLE_EQ(UnigramCrossEntropy(train, val, 2), expected);
}

}  // namespace
}  // namespace golfpack::eval
