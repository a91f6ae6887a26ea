// File helpers shared by every layer. Writes are atomic: data goes to a
// temporary file in the same directory, is flushed, then renamed over the
// target, so an interrupted write never leaves a partial file behind.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack {

// Reads the whole file. NotFound if it does not exist, IoError otherwise.
Result<std::vector<uint8_t>> ReadFileBytes(const std::string& path);

// Size in bytes of a regular file, or NotFound / IoError.
Result<uint64_t> FileSize(const std::string& path);

// Atomically replaces `path` with `data` (temp file + fsync + rename).
Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data);

// Streaming variant for large outputs: write pieces with Append, then Commit.
// If the object is destroyed without Commit the temp file is removed.
class AtomicFileWriter {
 public:
  AtomicFileWriter() = default;
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Status Open(const std::string& path);
  Status Append(std::span<const uint8_t> data);
  Status Append(const void* data, size_t size) {
    return Append(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  }
  uint64_t bytes_written() const { return written_; }
  Status Commit();  // fsync + rename; after this the writer is closed
  void Abort();     // removes the temp file

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

}  // namespace golfpack
