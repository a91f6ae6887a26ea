#include "data/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <chrono>
#include <optional>

#include "test_util.h"

namespace golfpack::data {
namespace {

using testing_data::FreshTempDir;
using testing_data::WriteTextFile;
namespace fs = std::filesystem;

// One model trained with TrainTokenizer on ~30 documents of the real corpus
// (every 8th address, so all eras are represented), shared by the tests below.
class TrainedTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto all = testing_data::LoadDefaultCorpusOrEmpty();
    if (all.empty()) return;
    std::vector<Document> slice;
    for (size_t i = 0; i < all.size(); i += 8) slice.push_back(all[i]);
    model_path_ = new std::string((FreshTempDir("tokenizer") / "slice.model").string());
    TokenizerTrainOptions opt;
    opt.vocab_size = 1024;
    opt.num_threads = 2;
    const auto t0 = std::chrono::steady_clock::now();
    train_status_ = new Status(TrainTokenizer(slice, *model_path_, opt));
    train_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_docs_ = slice.size();
  }
  static void TearDownTestSuite() {
    delete model_path_;
    delete train_status_;
    model_path_ = nullptr;
    train_status_ = nullptr;
  }
  void SetUp() override {
    if (train_status_ == nullptr) GTEST_SKIP() << testing_data::SkipMessage();
    ASSERT_TRUE(train_status_->ok()) << train_status_->ToString();
    auto t = Tokenizer::Load(*model_path_);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tok_.emplace(std::move(t).value());
  }

  static std::string* model_path_;
  static Status* train_status_;
  static double train_seconds_;
  static size_t train_docs_;
  std::optional<Tokenizer> tok_;
};
std::string* TrainedTokenizer::model_path_ = nullptr;
Status* TrainedTokenizer::train_status_ = nullptr;
double TrainedTokenizer::train_seconds_ = 0;
size_t TrainedTokenizer::train_docs_ = 0;

TEST_F(TrainedTokenizer, SettingsReadBackEqualParameterGolf) {
  RecordProperty("train_docs", std::to_string(train_docs_));
  RecordProperty("train_seconds", std::to_string(train_seconds_));
  const TokenizerSettings& s = tok_->settings();
  EXPECT_EQ(s.model_type, "bpe");
  EXPECT_EQ(s.vocab_size, 1024);
  EXPECT_TRUE(s.byte_fallback);
  EXPECT_TRUE(s.split_digits);
  EXPECT_EQ(s.normalization_rule_name, "nmt_nfkc");
  EXPECT_FALSE(s.add_dummy_prefix);
  EXPECT_FLOAT_EQ(s.character_coverage, 0.999f);
  EXPECT_FALSE(s.hard_vocab_limit);
  EXPECT_EQ(s.pad_id, 0);
  EXPECT_EQ(s.bos_id, 1);
  EXPECT_EQ(s.eos_id, 2);
  EXPECT_EQ(s.unk_id, 3);
  EXPECT_TRUE(s.DiffFromParameterGolf().empty());
  // the processor agrees with the parsed proto
  EXPECT_EQ(tok_->vocab_size(), 1024);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->pad_id(), 0);
  EXPECT_EQ(tok_->unk_id(), 3);
}

TEST(TokenizerSettings, DiffNamesEveryMismatch) {
  TokenizerSettings s = TokenizerSettings::ParameterGolf(1024);
  EXPECT_TRUE(s.DiffFromParameterGolf().empty());
  s.model_type = "unigram";
  s.add_dummy_prefix = true;
  s.unk_id = 0;
  const auto diffs = s.DiffFromParameterGolf();
  ASSERT_EQ(diffs.size(), 3u);
  EXPECT_EQ(diffs[0], "model_type: got unigram, want bpe");
  EXPECT_EQ(diffs[1], "add_dummy_prefix: got true, want false");
  EXPECT_EQ(diffs[2], "unk_id: got 0, want 3");
}

TEST_F(TrainedTokenizer, SpecialAndBytePieces) {
  const auto& pieces = tok_->Pieces();
  ASSERT_EQ(pieces.size(), 1024u);
  EXPECT_EQ(pieces[0].piece, "<pad>");
  EXPECT_EQ(pieces[0].kind, PieceKind::kControl);
  EXPECT_EQ(pieces[1].piece, "<s>");
  EXPECT_EQ(pieces[1].kind, PieceKind::kControl);
  EXPECT_EQ(pieces[2].piece, "</s>");
  EXPECT_EQ(pieces[2].kind, PieceKind::kControl);
  EXPECT_EQ(pieces[3].piece, "<unk>");
  EXPECT_EQ(pieces[3].kind, PieceKind::kUnknown);
  int bytes = 0;
  for (const PieceInfo& p : pieces) bytes += p.kind == PieceKind::kByte;
  EXPECT_EQ(bytes, 256);
  // byte pieces follow the specials in order <0x00>..<0xFF>
  char want[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(want, sizeof want, "<0x%02X>", b);
    EXPECT_EQ(pieces[4 + b].piece, want);
    EXPECT_EQ(pieces[4 + b].kind, PieceKind::kByte);
  }
  for (size_t i = 260; i < pieces.size(); ++i) EXPECT_EQ(pieces[i].kind, PieceKind::kNormal) << i;
  EXPECT_EQ(tok_->IdToPiece(1), "<s>");
  EXPECT_EQ(tok_->Scores().size(), pieces.size());
}

TEST_F(TrainedTokenizer, RoundTripAndSplitDigits) {
  const std::string text = "In 1790 the 13 states counted 3,929,214 people; by 2020 it was 331 million.";
  const std::vector<int> ids = tok_->Encode(text);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(tok_->Decode(ids), text);
  for (int id : ids) {
    EXPECT_GE(id, 4);  // no control/unknown pieces from Encode
    EXPECT_LT(id, tok_->vocab_size());
  }
  // every digit is its own piece: no piece holds more than one digit or a digit
  // together with a letter
  int digits_seen = 0;
  for (const std::string& p : tok_->EncodeAsPieces(text)) {
    int d = 0, alpha = 0;
    for (char c : p) {
      d += std::isdigit(static_cast<unsigned char>(c)) != 0;
      alpha += std::isalpha(static_cast<unsigned char>(c)) != 0;
    }
    if (d > 0) {
      EXPECT_EQ(d, 1) << "piece '" << p << "'";
      EXPECT_EQ(alpha, 0) << "piece '" << p << "'";
      EXPECT_EQ(p.size(), 1u) << "piece '" << p << "'";
    }
    digits_seen += d;
  }
  EXPECT_EQ(digits_seen, 20);
  // no dummy prefix: the first word has no leading "▁"
  EXPECT_NE(tok_->EncodeAsPieces("Washington")[0].substr(0, 3), std::string(kSpaceMarker));
  // (leading whitespace is removed by the normalizer; inner words keep their "▁")
  std::string joined;
  for (const std::string& p : tok_->EncodeAsPieces("  the Washington")) joined += p;
  EXPECT_EQ(joined, "the" + std::string(kSpaceMarker) + "Washington");
}

TEST_F(TrainedTokenizer, ByteFallbackForUnseenCharacters) {
  const std::string text = "snow \xE2\x98\x83 and \xF0\x9F\x98\x80!";  // U+2603, U+1F600
  const std::vector<int> ids = tok_->Encode(text);
  EXPECT_EQ(tok_->Decode(ids), text);
  int byte_pieces = 0;
  for (int id : ids) {
    EXPECT_NE(id, tok_->unk_id());
    byte_pieces += tok_->Pieces()[static_cast<size_t>(id)].kind == PieceKind::kByte;
  }
  EXPECT_GE(byte_pieces, 7);  // 3 + 4 UTF-8 bytes
}

TEST_F(TrainedTokenizer, ByteLutCountsTheTextBytes) {
  // For ASCII text with single spaces (unchanged by nmt_nfkc), the val_bpb byte
  // count of [BOS, ids...] is exactly the text's byte length.
  const std::string text = "Fellow-Citizens of the Senate and House of Representatives: 42 years, 7 months.";
  std::vector<uint16_t> stream = {static_cast<uint16_t>(tok_->bos_id())};
  for (int id : tok_->Encode(text)) stream.push_back(static_cast<uint16_t>(id));
  const ByteLut lut = tok_->MakeByteLut(1024);
  ASSERT_EQ(lut.size(), 1024u);
  EXPECT_EQ(CountStreamBytes(lut, stream), text.size());
  // non-ASCII via byte fallback as well
  const std::string text2 = "Caf\xC3\xA9 \xE2\x98\x83 tax";
  std::vector<uint16_t> stream2 = {static_cast<uint16_t>(tok_->bos_id())};
  for (int id : tok_->Encode(text2)) stream2.push_back(static_cast<uint16_t>(id));
  EXPECT_EQ(CountStreamBytes(lut, stream2), text2.size());
  EXPECT_EQ(tok_->MakeByteLut(2048).size(), 2048u);
}

TEST_F(TrainedTokenizer, SerializedModelAndVocabText) {
  auto again = Tokenizer::FromSerialized(tok_->serialized_model(), "copy");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->vocab_size(), tok_->vocab_size());
  const std::string vocab = tok_->VocabText();
  EXPECT_EQ(vocab.substr(0, 8), "<pad>\t0\n");
  EXPECT_EQ(static_cast<int>(std::count(vocab.begin(), vocab.end(), '\n')), tok_->vocab_size());
}

TEST(Tokenizer, TrainingTextSplitsLongLines) {
  std::string line;
  for (int i = 0; i < 3000; ++i) line += "word" + std::to_string(i) + " ";
  const std::string text = "first paragraph\n\n  \n" + line + "\r\nlast";
  const auto pieces = SplitTrainingText(text);
  ASSERT_GE(pieces.size(), 5u);
  EXPECT_EQ(pieces.front(), "first paragraph");
  EXPECT_EQ(pieces.back(), "last");
  std::string rejoined;
  for (size_t i = 1; i + 1 < pieces.size(); ++i) {
    EXPECT_LE(pieces[i].size(), kMaxTrainingPieceBytes);
    EXPECT_LT(pieces[i].size(), 4192u);  // sentencepiece's max_sentence_length
    EXPECT_NE(pieces[i].front(), ' ');
    EXPECT_NE(pieces[i].back(), ' ');
    rejoined += std::string(pieces[i]) + " ";
  }
  EXPECT_EQ(rejoined, line);  // cut only at spaces, nothing lost

  // no whitespace at all: cut at UTF-8 character boundaries
  std::string accents;
  for (int i = 0; i < 3000; ++i) accents += "\xC3\xA9";
  const auto cut = SplitTrainingText(accents, 1001);
  std::string joined;
  for (std::string_view p : cut) {
    EXPECT_LE(p.size(), 1001u);
    EXPECT_NE(static_cast<unsigned char>(p.front()) & 0xC0, 0x80u);
    EXPECT_EQ(p.size() % 2, 0u);
    joined += p;
  }
  EXPECT_EQ(joined, accents);
  EXPECT_TRUE(SplitTrainingText(" \n\t\n").empty());
}

TEST(Tokenizer, LoadErrors) {
  fs::path dir = FreshTempDir("tokenizer_errors");
  const std::string missing = (dir / "missing.model").string();
  auto a = Tokenizer::Load(missing);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kNotFound);
  EXPECT_NE(a.status().message().find(missing), std::string::npos);

  const std::string garbage = (dir / "garbage.model").string();
  WriteTextFile(garbage, "hello, this is not a sentencepiece model at all\n");
  auto b = Tokenizer::Load(garbage);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(b.status().message().find(garbage), std::string::npos);

  const std::string empty = (dir / "empty.model").string();
  WriteTextFile(empty, "");
  auto c = Tokenizer::Load(empty);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kCorrupt);
}

TEST(Tokenizer, TrainErrors) {
  fs::path dir = FreshTempDir("tokenizer_train_errors");
  const std::string path = (dir / "x.model").string();
  EXPECT_EQ(TrainTokenizer(std::vector<Document>{}, path).code(), StatusCode::kInvalidArgument);
  TokenizerTrainOptions big;
  big.vocab_size = 70000;
  EXPECT_EQ(TrainTokenizer({{"d", "some text"}}, path, big).code(), StatusCode::kInvalidArgument);
  // a vocabulary too small for the 256 byte pieces: sentencepiece refuses
  TokenizerTrainOptions tiny;
  tiny.vocab_size = 100;
  Status s = TrainTokenizer({{"d", "some text here"}}, path, tiny);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace golfpack::data
