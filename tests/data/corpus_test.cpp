#include "data/corpus.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.h"

namespace golfpack::data {
namespace {

using testing_data::FreshTempDir;
using testing_data::WriteTextFile;
namespace fs = std::filesystem;

TEST(Corpus, CleanLikeParameterGolf) {
  EXPECT_EQ(CleanDocumentText("  hello world \n"), "hello world");
  EXPECT_EQ(CleanDocumentText(std::string("a\0b", 3)), "a b");
  // NULs at the ends become spaces first, then are stripped
  EXPECT_EQ(CleanDocumentText(std::string("\0x\0", 3)), "x");
  // Python str.strip() also removes Unicode whitespace (NBSP, ideographic space)
  EXPECT_EQ(CleanDocumentText("\xC2\xA0 hi \xE3\x80\x80"), "hi");
  // ... but not other non-ASCII characters
  EXPECT_EQ(CleanDocumentText("\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(CleanDocumentText(" \t\r\n"), "");
  // inner whitespace is kept as is
  EXPECT_EQ(CleanDocumentText("a  \n b"), "a  \n b");
}

TEST(Corpus, LoadDirectorySortedCleanedSkipsEmpty) {
  fs::path dir = FreshTempDir("corpus_dir");
  WriteTextFile(dir / "b_second.txt", "Second document.\n");
  WriteTextFile(dir / "a_first.txt", std::string("  First\0document. \n", 19));
  WriteTextFile(dir / "c_blank.txt", " \n\t\n");
  WriteTextFile(dir / "d_notes.md", "not a .txt file");
  fs::create_directories(dir / "sub.txt");  // a directory, ignored
  auto docs = LoadCorpus(dir.string());
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].name, "a_first");
  EXPECT_EQ((*docs)[0].text, "First document.");
  EXPECT_EQ((*docs)[1].name, "b_second");
  EXPECT_EQ((*docs)[1].text, "Second document.");
}

TEST(Corpus, LoadJsonl) {
  fs::path dir = FreshTempDir("corpus_jsonl");
  fs::path file = dir / "docs_selected.jsonl";
  WriteTextFile(file,
                "{\"text\": \"  one\\u0000two  \"}\n"
                "\n"
                "{\"text\": \"   \"}\n"
                "{\"id\": 7, \"text\": \"caf\\u00e9 \\\"quoted\\\"\\nnext line\"}\n");
  auto docs = LoadCorpus(file.string());
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].text, "one two");
  EXPECT_EQ((*docs)[0].name, "docs_selected.jsonl:1");
  EXPECT_EQ((*docs)[1].text, "caf\xC3\xA9 \"quoted\"\nnext line");
  EXPECT_EQ((*docs)[1].name, "docs_selected.jsonl:4");
}

TEST(Corpus, JsonlErrorsNameFileAndLine) {
  fs::path dir = FreshTempDir("corpus_jsonl_bad");
  fs::path file = dir / "bad.jsonl";
  WriteTextFile(file, "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
  auto docs = LoadCorpus(file.string());
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(docs.status().message().find("bad.jsonl:2"), std::string::npos) << docs.status().message();

  fs::path file2 = dir / "notext.jsonl";
  WriteTextFile(file2, "{\"body\": \"x\"}\n");
  auto docs2 = LoadCorpus(file2.string());
  ASSERT_FALSE(docs2.ok());
  EXPECT_NE(docs2.status().message().find("\"text\""), std::string::npos) << docs2.status().message();
}

TEST(Corpus, MissingAndUnusablePaths) {
  fs::path dir = FreshTempDir("corpus_missing");
  const std::string missing = (dir / "nope").string();
  auto docs = LoadCorpus(missing);
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kNotFound);
  EXPECT_NE(docs.status().message().find(missing), std::string::npos);

  auto empty = LoadCorpus(dir.string());  // exists but holds no .txt
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);

  WriteTextFile(dir / "x.csv", "a,b\n");
  auto wrong = LoadCorpus((dir / "x.csv").string());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
}

TEST(Corpus, DefaultCorpusDirHonoursEnv) {
  const char* old = std::getenv("GOLFPACK_CORPUS");
  const std::string saved = old ? old : "";
  ::setenv("GOLFPACK_CORPUS", "/some/where", 1);
  EXPECT_EQ(DefaultCorpusDir(), "/some/where");
  ::unsetenv("GOLFPACK_CORPUS");
  const std::string builtin = DefaultCorpusDir();
  EXPECT_NE(builtin.find("datasets-sotu/data"), std::string::npos) << builtin;
  if (old) ::setenv("GOLFPACK_CORPUS", saved.c_str(), 1);
}

TEST(Corpus, ValSplitDeterministicAndFivePercent) {
  // default: every 20th document, starting at index 10
  size_t val = 0;
  for (size_t i = 0; i < 1000; ++i) {
    const bool v = IsValDocument(i);
    EXPECT_EQ(v, IsValDocument(i, 20));
    EXPECT_EQ(v, i % 20 == 10) << i;
    val += v;
  }
  EXPECT_EQ(val, 50u);  // exactly 5%
  // the default corpus size: 233 docs -> 12 validation docs (10, 30, ..., 230)
  size_t v233 = 0;
  for (size_t i = 0; i < 233; ++i) v233 += IsValDocument(i);
  EXPECT_EQ(v233, 12u);
  EXPECT_FALSE(IsValDocument(0));
  EXPECT_TRUE(IsValDocument(230));
  // other rates
  EXPECT_TRUE(IsValDocument(2, 4));
  EXPECT_TRUE(IsValDocument(6, 4));
  EXPECT_FALSE(IsValDocument(3, 4));
  EXPECT_TRUE(IsValDocument(0, 1));  // val_every 1: everything
  for (size_t i = 0; i < 10; ++i) EXPECT_FALSE(IsValDocument(i, 0));
}

TEST(Corpus, DefaultCorpusLoads) {
  auto docs = testing_data::LoadDefaultCorpusOrEmpty();
  if (docs.empty()) GTEST_SKIP() << testing_data::SkipMessage();
  EXPECT_GE(docs.size(), 200u);
  EXPECT_EQ(docs.front().name, "1790_george_washington_n");
  for (size_t i = 1; i < docs.size(); ++i) EXPECT_LT(docs[i - 1].name, docs[i].name);
  for (const Document& d : docs) {
    ASSERT_FALSE(d.text.empty());
    EXPECT_EQ(d.text, CleanDocumentText(d.text)) << d.name;
  }
}

}  // namespace
}  // namespace golfpack::data
