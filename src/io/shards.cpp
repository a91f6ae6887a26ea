// Parameter Golf token shards (see shards.h for the layout).
#include "io/shards.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>
#include <utility>

#include "core/file_util.h"

namespace golfpack::io {
namespace {

namespace fs = std::filesystem;

int32_t LoadLEI32(const uint8_t* p) {
  const uint32_t u = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                     (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
  return static_cast<int32_t>(u);
}

void StoreLEI32(uint8_t* p, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(u >> (8 * i));
}

// '*' matches any run of characters (including none); everything else is literal.
// As Python's glob, a leading '*' does not match a leading '.'.
bool WildcardMatch(const std::string& pat, const std::string& name) {
  if (!name.empty() && name[0] == '.' && (pat.empty() || pat[0] != '.')) return false;
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pat.size() && pat[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

}  // namespace

Result<std::vector<uint16_t>> ReadShard(const std::string& path) {
  GP_ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
  if (size < kShardHeaderBytes)
    return Corrupt(path + ": file is " + std::to_string(size) + " bytes, shorter than the " +
                   std::to_string(kShardHeaderBytes) + "-byte shard header");
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path + ": cannot open for reading");
  uint8_t header[kShardHeaderBytes];
  if (!in.read(reinterpret_cast<char*>(header), sizeof(header))) return IoError(path + ": cannot read the shard header");
  const int32_t magic = LoadLEI32(header);
  const int32_t version = LoadLEI32(header + 4);
  const int32_t ntokens = LoadLEI32(header + 8);
  if (magic != kShardMagic)
    return Corrupt(path + ": header magic " + std::to_string(magic) + " is not " + std::to_string(kShardMagic));
  if (version != kShardVersion)
    return Corrupt(path + ": header version " + std::to_string(version) + " is not " + std::to_string(kShardVersion));
  if (ntokens < 0) return Corrupt(path + ": header token count " + std::to_string(ntokens) + " is negative");
  const uint64_t expected = kShardHeaderBytes + 2 * static_cast<uint64_t>(ntokens);
  if (size != expected)
    return Corrupt(path + ": file is " + std::to_string(size) + " bytes but header token count " +
                   std::to_string(ntokens) + " needs " + std::to_string(expected) + " bytes");
  std::vector<uint16_t> tokens(static_cast<size_t>(ntokens));
  std::vector<uint8_t> buf;
  constexpr size_t kChunkTokens = 1 << 20;
  buf.resize(std::min<size_t>(tokens.size(), kChunkTokens) * 2);
  for (size_t done = 0; done < tokens.size();) {
    const size_t k = std::min(kChunkTokens, tokens.size() - done);
    if (!in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(2 * k)))
      return IoError(path + ": short read of token data");
    for (size_t i = 0; i < k; ++i)
      tokens[done + i] = static_cast<uint16_t>(buf[2 * i] | (buf[2 * i + 1] << 8));
    done += k;
  }
  return tokens;
}

Status WriteShard(const std::string& path, std::span<const uint16_t> tokens) {
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    return InvalidArgument(path + ": " + std::to_string(tokens.size()) + " tokens exceed the int32 header count");
  uint8_t header[kShardHeaderBytes] = {};
  StoreLEI32(header, kShardMagic);
  StoreLEI32(header + 4, kShardVersion);
  StoreLEI32(header + 8, static_cast<int32_t>(tokens.size()));
  AtomicFileWriter w;
  GP_RETURN_IF_ERROR(w.Open(path));
  GP_RETURN_IF_ERROR(w.Append(header, sizeof(header)));
  constexpr size_t kChunkTokens = 1 << 20;
  std::vector<uint8_t> buf(std::min(tokens.size(), kChunkTokens) * 2);
  for (size_t done = 0; done < tokens.size();) {
    const size_t k = std::min(kChunkTokens, tokens.size() - done);
    for (size_t i = 0; i < k; ++i) {
      buf[2 * i] = static_cast<uint8_t>(tokens[done + i]);
      buf[2 * i + 1] = static_cast<uint8_t>(tokens[done + i] >> 8);
    }
    GP_RETURN_IF_ERROR(w.Append(buf.data(), 2 * k));
    done += k;
  }
  return w.Commit();
}

Result<std::vector<std::string>> GlobShards(const std::string& pattern) {
  const size_t slash = pattern.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : pattern.substr(0, slash + 1);
  const std::string name_pat = slash == std::string::npos ? pattern : pattern.substr(slash + 1);
  if (dir.find('*') != std::string::npos)
    return InvalidArgument(pattern + ": '*' is only supported in the file-name part of a shard pattern");
  if (name_pat.empty()) return InvalidArgument(pattern + ": shard pattern has no file-name part");
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path dir_path = dir.empty() ? fs::path(".") : fs::path(dir);
  if (fs::is_directory(dir_path, ec)) {
    fs::directory_iterator it(dir_path, ec);
    if (ec) return IoError(pattern + ": cannot list directory " + dir_path.string() + ": " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) return IoError(pattern + ": cannot list directory " + dir_path.string() + ": " + ec.message());
      const std::string name = it->path().filename().string();
      if (!WildcardMatch(name_pat, name)) continue;
      std::error_code fec;
      if (!it->is_regular_file(fec)) continue;
      out.push_back(dir + name);
    }
    if (ec) return IoError(pattern + ": cannot list directory " + dir_path.string() + ": " + ec.message());
  }
  if (out.empty()) return NotFound(pattern + ": no shard files match");
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<uint16_t>> ReadShards(const std::string& pattern) {
  GP_ASSIGN_OR_RETURN(std::vector<std::string> files, GlobShards(pattern));
  std::vector<uint16_t> all;
  for (const std::string& f : files) {
    GP_ASSIGN_OR_RETURN(std::vector<uint16_t> t, ReadShard(f));
    if (all.empty()) {
      all = std::move(t);
    } else {
      all.insert(all.end(), t.begin(), t.end());
    }
  }
  return all;
}

std::string ShardPath(const std::string& dir, const std::string& split, int index) {
  char num[32];
  std::snprintf(num, sizeof(num), "%06d", index);
  std::string out = dir;
  if (!out.empty() && out.back() != '/') out += '/';
  return out + "fineweb_" + split + "_" + num + ".bin";
}

Result<TokenStream> TokenStream::Open(const std::string& pattern) {
  TokenStream s;
  GP_ASSIGN_OR_RETURN(s.files_, GlobShards(pattern));
  GP_ASSIGN_OR_RETURN(s.tokens_, ReadShard(s.files_[0]));
  s.file_idx_ = 0;
  s.pos_ = 0;
  return s;
}

Result<std::vector<uint16_t>> TokenStream::Take(size_t n) {
  if (files_.empty()) return InvalidArgument("TokenStream: not opened");
  std::vector<uint16_t> out;
  out.reserve(n);
  size_t empty_advances = 0;  // guards against spinning forever when every shard is empty
  while (out.size() < n) {
    if (pos_ >= tokens_.size()) {
      if (++empty_advances > files_.size())
        return Corrupt(files_[file_idx_] + ": every shard matched by the stream is empty");
      const size_t next = (file_idx_ + 1) % files_.size();
      GP_ASSIGN_OR_RETURN(tokens_, ReadShard(files_[next]));
      file_idx_ = next;
      pos_ = 0;
      continue;
    }
    empty_advances = 0;
    const size_t k = std::min(n - out.size(), tokens_.size() - pos_);
    out.insert(out.end(), tokens_.begin() + static_cast<std::ptrdiff_t>(pos_),
               tokens_.begin() + static_cast<std::ptrdiff_t>(pos_ + k));
    pos_ += k;
  }
  return out;
}

}  // namespace golfpack::io
