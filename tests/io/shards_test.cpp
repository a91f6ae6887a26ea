#include "io/shards.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "common/scratch.h"

namespace golfpack::io {
namespace {

namespace fs = std::filesystem;

// A fresh, empty directory per test.
fs::path TempDir(const std::string& name) {
  fs::path d = golfpack::testing::ScratchDir("gp_io_shards_") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void PutI32(std::vector<uint8_t>& b, size_t at, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(u >> (8 * i));
}

// Raw shard bytes with an arbitrary header, for the rejection tests.
std::vector<uint8_t> RawShard(int32_t magic, int32_t version, int32_t count, size_t actual_tokens) {
  std::vector<uint8_t> b(kShardHeaderBytes + 2 * actual_tokens, 0);
  PutI32(b, 0, magic);
  PutI32(b, 4, version);
  PutI32(b, 8, count);
  return b;
}

void ExpectCorrupt(const fs::path& p, const std::vector<std::string>& needles) {
  auto r = ReadShard(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
  const std::string& m = r.status().message();
  EXPECT_NE(m.find(p.filename().string()), std::string::npos) << m;
  for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "missing '" << n << "' in: " << m;
}

TEST(Shards, WriteReadRoundTripAndLayout) {
  const fs::path dir = TempDir("roundtrip");
  std::vector<uint16_t> tokens = {1, 2, 1023, 0, 65535, 256, 1};
  const std::string p = ShardPath(dir.string(), "train", 0);
  ASSERT_TRUE(WriteShard(p, tokens).ok());

  auto bytes = ReadFileBytes(p);
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(bytes->size(), 1024u + 2 * tokens.size());
  // Header [20240520, 1, 7, 0...] little-endian; 20240520 = 0x0134D888.
  EXPECT_EQ((*bytes)[0], 0x88);
  EXPECT_EQ((*bytes)[1], 0xD8);
  EXPECT_EQ((*bytes)[2], 0x34);
  EXPECT_EQ((*bytes)[3], 0x01);
  EXPECT_EQ((*bytes)[4], 1);
  EXPECT_EQ((*bytes)[8], 7);
  for (size_t i = 12; i < 1024; ++i) ASSERT_EQ((*bytes)[i], 0) << i;
  // Token 1023 = 0x03FF at byte 1024 + 4.
  EXPECT_EQ((*bytes)[1028], 0xFF);
  EXPECT_EQ((*bytes)[1029], 0x03);

  auto back = ReadShard(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, tokens);

  // Empty shard is valid.
  const std::string e = (dir / "empty.bin").string();
  ASSERT_TRUE(WriteShard(e, {}).ok());
  auto eb = ReadShard(e);
  ASSERT_TRUE(eb.ok());
  EXPECT_TRUE(eb->empty());
}

TEST(Shards, LargeShardCrossesChunks) {
  const fs::path dir = TempDir("large");
  std::vector<uint16_t> tokens(3 * 1000 * 1000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint16_t>(i * 2654435761u >> 7);
  const std::string p = (dir / "big.bin").string();
  ASSERT_TRUE(WriteShard(p, tokens).ok());
  auto back = ReadShard(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, tokens);
}

TEST(Shards, RejectsBadMagic) {
  const fs::path p = TempDir("magic") / "bad_magic.bin";
  ASSERT_TRUE(WriteFileAtomic(p.string(), RawShard(20240521, 1, 2, 2)).ok());
  ExpectCorrupt(p, {"magic", "20240521"});
}

TEST(Shards, RejectsBadVersion) {
  const fs::path p = TempDir("version") / "bad_version.bin";
  ASSERT_TRUE(WriteFileAtomic(p.string(), RawShard(kShardMagic, 2, 2, 2)).ok());
  ExpectCorrupt(p, {"version", "2"});
}

TEST(Shards, RejectsNegativeCount) {
  const fs::path p = TempDir("negative") / "negative.bin";
  ASSERT_TRUE(WriteFileAtomic(p.string(), RawShard(kShardMagic, 1, -5, 0)).ok());
  ExpectCorrupt(p, {"-5", "negative"});
}

TEST(Shards, RejectsSizeDisagreeingWithHeader) {
  const fs::path dir = TempDir("size");
  const fs::path longer = dir / "longer.bin";
  ASSERT_TRUE(WriteFileAtomic(longer.string(), RawShard(kShardMagic, 1, 3, 4)).ok());
  ExpectCorrupt(longer, {"1032 bytes", "3", "1030 bytes"});
  const fs::path shorter = dir / "shorter.bin";
  ASSERT_TRUE(WriteFileAtomic(shorter.string(), RawShard(kShardMagic, 1, 100, 10)).ok());
  ExpectCorrupt(shorter, {"1044 bytes", "100", "1224 bytes"});
  // Shorter than the header itself.
  const fs::path tiny = dir / "tiny.bin";
  std::vector<uint8_t> t = RawShard(kShardMagic, 1, 0, 0);
  t.resize(100);
  ASSERT_TRUE(WriteFileAtomic(tiny.string(), t).ok());
  ExpectCorrupt(tiny, {"100 bytes", "header"});
  // Missing file is NotFound, not Corrupt.
  EXPECT_EQ(ReadShard((dir / "absent.bin").string()).status().code(), StatusCode::kNotFound);
}

TEST(Shards, ShardPathFormat) {
  EXPECT_EQ(ShardPath("data/fineweb10B_sp1024", "train", 3), "data/fineweb10B_sp1024/fineweb_train_000003.bin");
  EXPECT_EQ(ShardPath("d/", "val", 0), "d/fineweb_val_000000.bin");
  EXPECT_EQ(ShardPath("d", "train", 1234567), "d/fineweb_train_1234567.bin");
}

TEST(Shards, GlobShardsSortedAndFiltered) {
  const fs::path dir = TempDir("glob");
  // Written out of order; plus files that must not match.
  for (int i : {10, 2, 0, 1}) ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "train", i), std::vector<uint16_t>{1}).ok());
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "val", 0), std::vector<uint16_t>{1}).ok());
  ASSERT_TRUE(WriteShard((dir / "fineweb_train_000003.bin.bak").string(), std::vector<uint16_t>{1}).ok());
  ASSERT_TRUE(WriteShard((dir / ".fineweb_train_hidden.bin").string(), std::vector<uint16_t>{1}).ok());
  fs::create_directories(dir / "fineweb_train_dir.bin");

  auto files = GlobShards((dir / "fineweb_train_*.bin").string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const std::vector<std::string> expect = {
      ShardPath(dir.string(), "train", 0), ShardPath(dir.string(), "train", 1),
      ShardPath(dir.string(), "train", 2), ShardPath(dir.string(), "train", 10)};
  EXPECT_EQ(*files, expect);

  auto all = GlobShards((dir / "*").string());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);  // 5 shards + .bak; not the hidden file nor the directory

  auto one = GlobShards(ShardPath(dir.string(), "val", 0));  // no wildcard: exact name
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);

  auto multi = GlobShards((dir / "fineweb_*_00000*.bin").string());
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ(multi->size(), 4u);  // train 0,1,2 and val 0

  auto none = GlobShards((dir / "fineweb_test_*.bin").string());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  auto no_dir = GlobShards((dir / "nope" / "*.bin").string());
  EXPECT_EQ(no_dir.status().code(), StatusCode::kNotFound);
  auto star_dir = GlobShards((dir / "*" / "x.bin").string());
  EXPECT_EQ(star_dir.status().code(), StatusCode::kInvalidArgument);

  auto concat = ReadShards((dir / "fineweb_train_*.bin").string());
  ASSERT_TRUE(concat.ok());
  EXPECT_EQ(concat->size(), 4u);
}

TEST(Shards, ReadShardsConcatenatesInSortedOrder) {
  const fs::path dir = TempDir("concat");
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "val", 1), std::vector<uint16_t>{4, 5}).ok());
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "val", 0), std::vector<uint16_t>{1, 2, 3}).ok());
  auto all = ReadShards((dir / "fineweb_val_*.bin").string());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<uint16_t>{1, 2, 3, 4, 5}));
  // A corrupt shard fails the whole read.
  ASSERT_TRUE(WriteFileAtomic(ShardPath(dir.string(), "val", 2), RawShard(1, 1, 0, 0)).ok());
  EXPECT_EQ(ReadShards((dir / "fineweb_val_*.bin").string()).status().code(), StatusCode::kCorrupt);
}

TEST(TokenStream, WrapsAroundAcrossTwoShards) {
  const fs::path dir = TempDir("stream");
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "train", 0), std::vector<uint16_t>{10, 11, 12}).ok());
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "train", 1), std::vector<uint16_t>{20, 21}).ok());
  auto s = TokenStream::Open((dir / "fineweb_train_*.bin").string());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s->Take(2), (std::vector<uint16_t>{10, 11}));
  EXPECT_EQ(*s->Take(2), (std::vector<uint16_t>{12, 20}));        // crosses shard 0 -> 1
  EXPECT_EQ(*s->Take(4), (std::vector<uint16_t>{21, 10, 11, 12}));  // wraps 1 -> 0
  EXPECT_EQ(*s->Take(0), std::vector<uint16_t>{});
  EXPECT_EQ(*s->Take(11), (std::vector<uint16_t>{20, 21, 10, 11, 12, 20, 21, 10, 11, 12, 20}));  // several laps
  EXPECT_EQ(*s->Take(1), (std::vector<uint16_t>{21}));
}

TEST(TokenStream, SkipsEmptyShardsAndFailsWhenAllEmpty) {
  const fs::path dir = TempDir("stream_empty");
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "train", 0), {}).ok());
  ASSERT_TRUE(WriteShard(ShardPath(dir.string(), "train", 1), std::vector<uint16_t>{7}).ok());
  auto s = TokenStream::Open((dir / "fineweb_train_*.bin").string());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->Take(3), (std::vector<uint16_t>{7, 7, 7}));

  const fs::path dir2 = TempDir("stream_all_empty");
  ASSERT_TRUE(WriteShard(ShardPath(dir2.string(), "train", 0), {}).ok());
  ASSERT_TRUE(WriteShard(ShardPath(dir2.string(), "train", 1), {}).ok());
  auto e = TokenStream::Open((dir2 / "fineweb_train_*.bin").string());
  ASSERT_TRUE(e.ok());
  auto r = e->Take(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
}

TEST(TokenStream, OpenErrors) {
  const fs::path dir = TempDir("stream_err");
  EXPECT_EQ(TokenStream::Open((dir / "fineweb_train_*.bin").string()).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(ShardPath(dir.string(), "train", 0), RawShard(kShardMagic, 7, 0, 0)).ok());
  EXPECT_EQ(TokenStream::Open((dir / "fineweb_train_*.bin").string()).status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace golfpack::io
