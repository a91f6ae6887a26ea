#include "core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace golfpack {
namespace {

std::string ErrnoText(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

}  // namespace

Result<std::vector<uint8_t>> ReadFileBytes(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return IoError(ErrnoText("cannot open", path));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return IoError(path + ": not a regular file");
  }
  std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return IoError(ErrnoText("short read", path));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return IoError(ErrnoText("cannot stat", path));
  }
  if (!S_ISREG(st.st_mode)) return IoError(path + ": not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data) {
  AtomicFileWriter w;
  GP_RETURN_IF_ERROR(w.Open(path));
  GP_RETURN_IF_ERROR(w.Append(data));
  return w.Commit();
}

AtomicFileWriter::~AtomicFileWriter() { Abort(); }

Status AtomicFileWriter::Open(const std::string& path) {
  Abort();
  static std::atomic<unsigned> counter{0};
  path_ = path;
  tmp_path_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    Status s = IoError(ErrnoText("cannot create", tmp_path_));
    tmp_path_.clear();
    return s;
  }
  written_ = 0;
  return Status::Ok();
}

Status AtomicFileWriter::Append(std::span<const uint8_t> data) {
  if (fd_ < 0) return Internal("AtomicFileWriter::Append before Open");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(ErrnoText("write failed", tmp_path_));
    done += static_cast<size_t>(n);
  }
  written_ += data.size();
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return Internal("AtomicFileWriter::Commit before Open");
  if (::fsync(fd_) != 0) return IoError(ErrnoText("fsync failed", tmp_path_));
  if (::close(fd_) != 0) {
    fd_ = -1;
    return IoError(ErrnoText("close failed", tmp_path_));
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) return IoError(ErrnoText("rename failed", path_));
  tmp_path_.clear();
  return Status::Ok();
}

void AtomicFileWriter::Abort() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  tmp_path_.clear();
}

}  // namespace golfpack
