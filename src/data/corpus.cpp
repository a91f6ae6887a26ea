#include "data/corpus.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/file_util.h"

#ifndef GOLFPACK_DEFAULT_CORPUS_DIR
#define GOLFPACK_DEFAULT_CORPUS_DIR ""
#endif

namespace golfpack::data {
namespace {

namespace fs = std::filesystem;

// Python's str.isspace() code points (what str.strip() removes).
bool IsPyWhitespace(uint32_t c) {
  if (c >= 0x09 && c <= 0x0D) return true;
  if (c >= 0x1C && c <= 0x20) return true;
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

// Decodes the code point starting at s[i]; sets len. Invalid bytes decode as
// themselves with len 1 (never whitespace beyond ASCII).
uint32_t DecodeAt(std::string_view s, size_t i, size_t* len) {
  const auto b = static_cast<uint8_t>(s[i]);
  auto cont = [&](size_t k) {
    return i + k < s.size() && (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80;
  };
  if (b < 0x80) { *len = 1; return b; }
  if ((b & 0xE0) == 0xC0 && cont(1)) {
    *len = 2;
    return ((b & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
  }
  if ((b & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    *len = 3;
    return ((b & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<uint8_t>(s[i + 2]) & 0x3Fu);
  }
  if ((b & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    *len = 4;
    return ((b & 0x07u) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<uint8_t>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[i + 3]) & 0x3Fu);
  }
  *len = 1;
  return 0xFFFFFFFFu;
}

Result<std::vector<Document>> LoadDirectory(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() == ".txt" && it->is_regular_file(ec)) files.push_back(p);
  }
  if (ec) return IoError(dir.string() + ": cannot list directory: " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  std::vector<Document> docs;
  docs.reserve(files.size());
  for (const fs::path& p : files) {
    GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(p.string()));
    std::string text = CleanDocumentText(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    if (text.empty()) continue;
    docs.push_back(Document{p.stem().string(), std::move(text)});
  }
  if (docs.empty()) {
    return InvalidArgument(dir.string() + ": corpus directory has no non-empty .txt documents");
  }
  return docs;
}

Result<std::vector<Document>> LoadJsonl(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return IoError(file.string() + ": cannot open");
  const std::string base = file.filename().string();
  std::vector<Document> docs;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    const std::string where = file.string() + ":" + std::to_string(line_no);
    nlohmann::json obj = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) return Corrupt(where + ": invalid JSON");
    if (!obj.is_object()) return Corrupt(where + ": expected a JSON object");
    auto it = obj.find("text");
    if (it == obj.end() || !it->is_string()) return Corrupt(where + ": missing string field \"text\"");
    std::string text = CleanDocumentText(it->get_ref<const std::string&>());
    if (text.empty()) continue;
    docs.push_back(Document{base + ":" + std::to_string(line_no), std::move(text)});
  }
  if (in.bad()) return IoError(file.string() + ": read error");
  if (docs.empty()) return InvalidArgument(file.string() + ": corpus file has no non-empty documents");
  return docs;
}

}  // namespace

std::string CleanDocumentText(std::string_view text) {
  // Parameter Golf: text.replace("\x00", " ").strip()
  std::string s(text);
  std::replace(s.begin(), s.end(), '\0', ' ');
  std::string_view v = s;
  size_t begin = 0;
  while (begin < v.size()) {
    size_t len = 0;
    uint32_t c = DecodeAt(v, begin, &len);
    if (!IsPyWhitespace(c)) break;
    begin += len;
  }
  size_t end = v.size();
  while (end > begin) {
    // find the start of the last code point in [begin, end)
    size_t start = end - 1;
    while (start > begin && (static_cast<uint8_t>(v[start]) & 0xC0) == 0x80 && end - start < 4) --start;
    size_t len = 0;
    uint32_t c = DecodeAt(v, start, &len);
    if (start + len != end) {  // malformed tail: treat the last byte alone
      start = end - 1;
      c = static_cast<uint8_t>(v[start]) < 0x80 ? static_cast<uint8_t>(v[start]) : 0xFFFFFFFFu;
    }
    if (!IsPyWhitespace(c)) break;
    end = start;
  }
  return std::string(v.substr(begin, end - begin));
}

Result<std::vector<Document>> LoadCorpus(const std::string& path) {
  if (path.empty()) return InvalidArgument("corpus path is empty");
  std::error_code ec;
  const fs::path p(path);
  const fs::file_status st = fs::status(p, ec);
  if (ec || !fs::exists(st)) return NotFound(path + ": corpus not found");
  if (fs::is_directory(st)) return LoadDirectory(p);
  if (p.extension() == ".jsonl") return LoadJsonl(p);
  return InvalidArgument(path + ": corpus must be a directory of .txt files or a .jsonl file");
}

std::string DefaultCorpusDir() {
  const char* env = std::getenv("GOLFPACK_CORPUS");
  if (env != nullptr && env[0] != '\0') return env;
  return GOLFPACK_DEFAULT_CORPUS_DIR;
}

bool IsValDocument(size_t index, int val_every) {
  if (val_every <= 0) return false;
  const auto k = static_cast<size_t>(val_every);
  return index % k == k / 2;
}

}  // namespace golfpack::data
