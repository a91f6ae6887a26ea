#include "core/file_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include "common/scratch.h"

namespace golfpack {
namespace {

namespace fs = std::filesystem;

fs::path TempDir() {
  fs::path d = golfpack::testing::ScratchDir("gp_file_util_");
  fs::create_directories(d);
  return d;
}

TEST(FileUtil, AtomicWriteThenRead) {
  fs::path p = TempDir() / "a.bin";
  std::vector<uint8_t> data = {1, 2, 3, 250};
  ASSERT_TRUE(WriteFileAtomic(p.string(), data).ok());
  auto back = ReadFileBytes(p.string());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_EQ(*FileSize(p.string()), 4u);
}

TEST(FileUtil, AbortedWriterLeavesNothing) {
  fs::path dir = TempDir() / "abort";
  fs::create_directories(dir);
  fs::path p = dir / "out.bin";
  {
    AtomicFileWriter w;
    ASSERT_TRUE(w.Open(p.string()).ok());
    uint8_t b[3] = {9, 9, 9};
    ASSERT_TRUE(w.Append(b, 3).ok());
    // destroyed without Commit: simulates an interrupted write
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(fs::is_empty(dir)) << "temp file left behind";
}

TEST(FileUtil, MissingFileIsNotFound) {
  auto r = ReadFileBytes("/nonexistent/golfpack/x.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/golfpack/x.bin"), std::string::npos);
}

}  // namespace
}  // namespace golfpack
