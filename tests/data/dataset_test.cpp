#include "data/dataset.h"

#include <gtest/gtest.h>

#include "core/file_util.h"
#include "io/shards.h"
#include "test_util.h"

namespace golfpack::data {
namespace {

using testing_data::FreshTempDir;
using testing_data::WriteTextFile;
namespace fs = std::filesystem;

// What nmt_nfkc + remove_extra_whitespaces does to ASCII text: whitespace runs
// become one space, leading/trailing whitespace disappears.
std::string NormalizeAscii(const std::string& s) {
  std::string out;
  bool pending_space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// Splits a token stream into documents at BOS tokens (BOS is only ever a prefix).
std::vector<std::vector<int>> SplitDocs(const std::vector<uint16_t>& stream, int bos) {
  std::vector<std::vector<int>> docs;
  for (uint16_t t : stream) {
    if (t == bos) {
      docs.emplace_back();
    } else {
      EXPECT_FALSE(docs.empty()) << "stream does not start with BOS";
      if (docs.empty()) docs.emplace_back();
      docs.back().push_back(t);
    }
  }
  return docs;
}

// A dozen ASCII-only addresses from the real corpus, cut to ~12 KB each at a
// space (plus one paragraph with newlines and doubled spaces), written as .txt.
class SmallCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto all = testing_data::LoadDefaultCorpusOrEmpty();
    if (all.empty()) return;
    dir_ = new fs::path(FreshTempDir("small_corpus"));
    docs_ = new std::vector<Document>();
    for (size_t i = 0; i < all.size() && docs_->size() < 12; i += 17) {
      if (!testing_data::IsAscii(all[i].text)) continue;
      std::string text = all[i].text.substr(0, 12000);
      text = text.substr(0, text.rfind(' '));
      if (docs_->size() == 3) text = "  Opening line.\n\nSecond  paragraph,\twith tabs.\n" + text + "\n";
      WriteTextFile(*dir_ / (all[i].name + ".txt"), text);
      docs_->push_back({all[i].name, CleanDocumentText(text)});
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete docs_;
    dir_ = nullptr;
    docs_ = nullptr;
  }
  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << testing_data::SkipMessage();
    ASSERT_EQ(docs_->size(), 12u);
  }

  static DataOptions Options(const fs::path& out) {
    DataOptions o;
    o.corpus = dir_->string();
    o.out_dir = out.string();
    o.vocab_size = 1024;
    o.val_every = 4;  // docs 2, 6, 10 are validation
    o.shard_tokens = 10000;
    o.num_threads = 2;
    return o;
  }

  static fs::path* dir_;
  static std::vector<Document>* docs_;
};
fs::path* SmallCorpus::dir_ = nullptr;
std::vector<Document>* SmallCorpus::docs_ = nullptr;

TEST_F(SmallCorpus, BuildDatasetEndToEnd) {
  const fs::path out = FreshTempDir("build1");
  // a leftover shard from an earlier, larger build must disappear
  ASSERT_TRUE(io::WriteShard(io::ShardPath(out.string(), "train", 99), std::vector<uint16_t>{1, 5}).ok());
  std::vector<Progress> events;
  auto r = BuildDataset(Options(out), [&](const Progress& p) { events.push_back(p); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const DataSummary& s = *r;
  RecordProperty("seconds_tokenizer", std::to_string(s.seconds_tokenizer));
  RecordProperty("seconds_encode", std::to_string(s.seconds_encode));

  EXPECT_EQ(s.docs_val, 3u);
  EXPECT_EQ(s.docs_train, 9u);
  EXPECT_GT(s.vocab_size, 260);
  EXPECT_LE(s.vocab_size, 1024);
  EXPECT_EQ(s.tokenizer_path, (out / "tokenizer.model").string());
  EXPECT_TRUE(fs::exists(out / "tokenizer.model"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.vocab"));
  EXPECT_FALSE(fs::exists(io::ShardPath(out.string(), "train", 99)));

  // Parameter Golf names, val shards first, each shard full except the last of a split
  ASSERT_GE(s.files.size(), 3u);
  EXPECT_EQ(s.files[0], (out / "fineweb_val_000000.bin").string());
  size_t n_val = 0;
  while (n_val < s.files.size() && s.files[n_val].find("fineweb_val_") != std::string::npos) ++n_val;
  ASSERT_GE(n_val, 1u);
  ASSERT_LT(n_val, s.files.size());
  for (size_t i = 0; i < n_val; ++i) EXPECT_EQ(s.files[i], io::ShardPath(out.string(), "val", static_cast<int>(i)));
  for (size_t i = n_val; i < s.files.size(); ++i) {
    EXPECT_EQ(s.files[i], io::ShardPath(out.string(), "train", static_cast<int>(i - n_val)));
  }
  EXPECT_GE(s.files.size() - n_val, 2u) << "train split should span several 10k-token shards";
  for (size_t i = 0; i < s.files.size(); ++i) {
    auto size = FileSize(s.files[i]);
    ASSERT_TRUE(size.ok()) << s.files[i];
    const bool last_of_split = i + 1 == n_val || i + 1 == s.files.size();
    if (!last_of_split) {
      EXPECT_EQ(*size, 1024u + 2u * 10000u) << s.files[i];
    }
  }

  auto tok = Tokenizer::Load(s.tokenizer_path);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_TRUE(tok->settings().DiffFromParameterGolf().empty());
  auto val = io::ReadShards((out / "fineweb_val_*.bin").string());
  auto train = io::ReadShards((out / "fineweb_train_*.bin").string());
  ASSERT_TRUE(val.ok()) << val.status().ToString();
  ASSERT_TRUE(train.ok()) << train.status().ToString();
  EXPECT_EQ(val->size(), s.tokens_val);
  EXPECT_EQ(train->size(), s.tokens_train);
  ASSERT_FALSE(val->empty());
  EXPECT_EQ((*val)[0], 1);
  EXPECT_EQ((*train)[0], 1);
  for (uint16_t t : *val) ASSERT_LT(t, tok->vocab_size());
  for (uint16_t t : *train) ASSERT_LT(t, tok->vocab_size());

  // every document decodes back to its (normalized) text, val docs in the val split
  const auto val_docs = SplitDocs(*val, 1);
  const auto train_docs = SplitDocs(*train, 1);
  ASSERT_EQ(val_docs.size(), 3u);
  ASSERT_EQ(train_docs.size(), 9u);
  size_t vi = 0, ti = 0;
  uint64_t bytes_val = 0;
  for (size_t i = 0; i < docs_->size(); ++i) {
    const Document& d = (*docs_)[i];
    const bool is_val = IsValDocument(i, 4);
    const std::vector<int>& ids = is_val ? val_docs[vi++] : train_docs[ti++];
    EXPECT_EQ(tok->Decode(ids), NormalizeAscii(d.text)) << d.name;
    if (is_val) bytes_val += d.text.size();
  }
  EXPECT_EQ(s.bytes_val, bytes_val);
  // for single-spaced ASCII docs the val_bpb byte count equals the normalized text
  uint64_t normalized_val_bytes = 0;
  for (size_t i = 0; i < docs_->size(); ++i) {
    if (IsValDocument(i, 4)) normalized_val_bytes += NormalizeAscii((*docs_)[i].text).size();
  }
  EXPECT_EQ(s.scored_bytes_val, normalized_val_bytes);
  EXPECT_EQ(s.scored_bytes_val, CountStreamBytes(tok->MakeByteLut(1024), *val));

  // progress reached the end of the shards stage
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().stage, "shards");
  EXPECT_EQ(events.back().done, 12u);
  EXPECT_EQ(events.back().total, 12u);

  // the shards pass InspectDataset (directory and prefix forms)
  auto info = InspectDataset(out.string(), *tok);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->tokens_val, s.tokens_val);
  EXPECT_EQ(info->tokens_train, s.tokens_train);
  EXPECT_EQ(info->docs_val, 3u);
  EXPECT_EQ(info->docs_train, 9u);
  EXPECT_EQ(info->val_files.size(), n_val);
  EXPECT_LT(info->max_token_id, tok->vocab_size());
  auto info2 = InspectDataset((out / "fineweb_").string(), *tok);
  ASSERT_TRUE(info2.ok()) << info2.status().ToString();
  EXPECT_EQ(info2->tokens_train, s.tokens_train);

  // --- reusing the tokenizer gives byte-identical shards
  const fs::path out2 = FreshTempDir("build2");
  DataOptions o2 = Options(out2);
  o2.tokenizer_model = s.tokenizer_path;
  o2.vocab_size = tok->vocab_size();
  auto r2 = BuildDataset(o2);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  ASSERT_EQ(r2->files.size(), s.files.size());
  for (size_t i = 0; i < s.files.size(); ++i) {
    EXPECT_EQ(fs::path(r2->files[i]).filename(), fs::path(s.files[i]).filename());
    auto a = ReadFileBytes(s.files[i]);
    auto b = ReadFileBytes(r2->files[i]);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(*a == *b) << r2->files[i] << " differs";
  }
  auto m1 = ReadFileBytes(s.tokenizer_path);
  auto m2 = ReadFileBytes(r2->tokenizer_path);
  ASSERT_TRUE(m1.ok() && m2.ok());
  EXPECT_TRUE(*m1 == *m2);
  // reusing the model in place (out_dir/tokenizer.model) works too
  DataOptions o3 = Options(out2);
  o3.tokenizer_model = r2->tokenizer_path;
  o3.vocab_size = 0;  // accept whatever the model has
  auto r3 = BuildDataset(o3);
  ASSERT_TRUE(r3.ok()) << r3.status().ToString();
  EXPECT_EQ(r3->tokens_train, s.tokens_train);

  // --- a tokenizer whose vocabulary differs from vocab_size is refused
  DataOptions bad = Options(FreshTempDir("build_bad"));
  bad.tokenizer_model = s.tokenizer_path;
  bad.vocab_size = tok->vocab_size() - 1;
  auto rb = BuildDataset(bad);
  ASSERT_FALSE(rb.ok());
  EXPECT_EQ(rb.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rb.status().message().find(s.tokenizer_path), std::string::npos) << rb.status().message();

  // --- InspectDataset refuses ids beyond a smaller tokenizer's vocabulary
  const fs::path out3 = FreshTempDir("inspect_bad");
  ASSERT_TRUE(io::WriteShard(io::ShardPath(out3.string(), "val", 0), std::vector<uint16_t>{1, 7}).ok());
  ASSERT_TRUE(io::WriteShard(io::ShardPath(out3.string(), "train", 0),
                             std::vector<uint16_t>{1, static_cast<uint16_t>(tok->vocab_size())})
                  .ok());
  auto bad_info = InspectDataset(out3.string(), *tok);
  ASSERT_FALSE(bad_info.ok());
  EXPECT_NE(bad_info.status().message().find("fineweb_train_000000.bin"), std::string::npos)
      << bad_info.status().message();
}

TEST(Dataset, OptionErrors) {
  const fs::path out = FreshTempDir("opt_errors");
  DataOptions o;
  o.out_dir = out.string();
  o.corpus = (out / "no_such_corpus").string();
  o.vocab_size = 70000;
  auto big = BuildDataset(o);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("65536"), std::string::npos);

  o.vocab_size = 1024;
  auto missing = BuildDataset(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  o.val_every = 1;
  EXPECT_EQ(BuildDataset(o).status().code(), StatusCode::kInvalidArgument);
  o.val_every = 20;
  o.shard_tokens = 0;
  EXPECT_EQ(BuildDataset(o).status().code(), StatusCode::kInvalidArgument);

  // too few documents for a validation document
  const fs::path corpus = FreshTempDir("opt_errors_corpus");
  for (int i = 0; i < 5; ++i) WriteTextFile(corpus / ("d" + std::to_string(i) + ".txt"), "text " + std::to_string(i));
  DataOptions few;
  few.corpus = corpus.string();
  few.out_dir = out.string();
  auto r = BuildDataset(few);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("validation"), std::string::npos) << r.status().message();

  // a garbage tokenizer model
  WriteTextFile(out / "junk.model", "junk junk junk");
  few.val_every = 2;
  few.tokenizer_model = (out / "junk.model").string();
  auto junk = BuildDataset(few);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), StatusCode::kCorrupt);
}

TEST(Dataset, InspectMissingShards) {
  const fs::path dir = FreshTempDir("inspect_missing");
  auto t = Tokenizer::FromSerialized("", "none");
  ASSERT_FALSE(t.ok());  // (an empty model is refused; InspectDataset needs a real one)
  ASSERT_TRUE(io::WriteShard(io::ShardPath(dir.string(), "train", 0), std::vector<uint16_t>{1, 2}).ok());
  auto all = testing_data::LoadDefaultCorpusOrEmpty();
  if (all.empty()) GTEST_SKIP() << testing_data::SkipMessage();
  std::vector<Document> few(all.begin(), all.begin() + 4);
  const std::string model = (dir / "t.model").string();
  TokenizerTrainOptions opt;
  opt.vocab_size = 400;
  Status st = TrainTokenizer(few, model, opt);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto tok = Tokenizer::Load(model);
  ASSERT_TRUE(tok.ok());
  auto info = InspectDataset(dir.string(), *tok);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
  EXPECT_NE(info.status().message().find("val"), std::string::npos) << info.status().message();
}

}  // namespace
}  // namespace golfpack::data
