// Parameter Golf token shards: 256 little-endian int32 header
// [20240520, 1, ntokens, 0 ...] followed by ntokens little-endian uint16 ids.
// File size must be exactly 1024 + 2 * ntokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::io {

inline constexpr int32_t kShardMagic = 20240520;
inline constexpr int32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderInts = 256;
inline constexpr size_t kShardHeaderBytes = kShardHeaderInts * 4;

// Reads and validates one shard (magic, version, size vs header).
Result<std::vector<uint16_t>> ReadShard(const std::string& path);
// Writes one shard atomically.
Status WriteShard(const std::string& path, std::span<const uint16_t> tokens);

// Sorted list of files matching e.g. "dir/fineweb_train_*.bin" (only '*' wildcards
// in the file-name part). NotFound if nothing matches.
Result<std::vector<std::string>> GlobShards(const std::string& pattern);
// Concatenation of every shard matching the pattern, in sorted order.
Result<std::vector<uint16_t>> ReadShards(const std::string& pattern);

// Shard file names as Parameter Golf writes them: <dir>/fineweb_{train,val}_%06d.bin
std::string ShardPath(const std::string& dir, const std::string& split, int index);

// Endless reader over the train shards (wraps around), as train_gpt.py's TokenStream.
class TokenStream {
 public:
  static Result<TokenStream> Open(const std::string& pattern);
  // Next n tokens, crossing shard boundaries and wrapping at the end.
  Result<std::vector<uint16_t>> Take(size_t n);

 private:
  std::vector<std::string> files_;
  size_t file_idx_ = 0;
  std::vector<uint16_t> tokens_;
  size_t pos_ = 0;
};

}  // namespace golfpack::io
