// safetensors reader/writer. The reader trusts nothing in the file: every
// field is checked before it is used, and no allocation exceeds what the file
// size justifies (the JSON DOM is proportional to the header, tensor data is
// copied from byte ranges already proven to lie inside the buffer).
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/half.h"

namespace golfpack::io {
namespace {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Nesting deeper than this cannot be a valid header (max legit depth is 3).
constexpr int kMaxJsonDepth = 16;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

uint16_t LoadLE16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t LoadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t LoadLE64(const uint8_t* p) {
  return static_cast<uint64_t>(LoadLE32(p)) | (static_cast<uint64_t>(LoadLE32(p + 4)) << 32);
}
void StoreLE16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void StoreLE32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void StoreLE64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// double -> float without relying on out-of-range conversion behaviour.
float DoubleToFloat(double d) {
  constexpr double kMax = static_cast<double>(std::numeric_limits<float>::max());
  if (std::isfinite(d) && std::fabs(d) > kMax) {
    // Halfway between FLT_MAX and 2^128; ties go to the even neighbour (inf).
    const double threshold = std::ldexp(1.0, 128) - std::ldexp(1.0, 103);
    const float mag = std::fabs(d) >= threshold ? std::numeric_limits<float>::infinity()
                                                : std::numeric_limits<float>::max();
    return std::signbit(d) ? -mag : mag;
  }
  return static_cast<float>(d);
}

// numel of a shape: -1 if a dimension is negative or the product overflows int64.
int64_t ShapeNumel(const std::vector<int64_t>& shape) {
  for (int64_t d : shape)
    if (d < 0) return -1;
  for (int64_t d : shape)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

// Byte size of numel * dtype, or nullopt-equivalent (-1) on overflow.
int64_t ByteSize(int64_t numel, DType dtype) {
  const auto sz = static_cast<int64_t>(DTypeSize(dtype));
  if (numel < 0 || numel > std::numeric_limits<int64_t>::max() / sz) return -1;
  return numel * sz;
}

// Thrown from the parser callback to abort parsing; never escapes this file.
struct HeaderError {
  std::string message;
};

// Parses the header, rejecting duplicate keys in any object (JSON allows them,
// nlohmann silently keeps the last) and absurd nesting.
Result<json> ParseHeaderJson(std::string_view text, const std::string& origin) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::vector<bool> is_object;              // open containers
  std::string parent_key;                   // key of the most recent top-level entry
  auto cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (is_object.size() >= static_cast<size_t>(kMaxJsonDepth)) throw HeaderError{"header JSON nested deeper than " + std::to_string(kMaxJsonDepth)};
        is_object.push_back(event == json::parse_event_t::object_start);
        if (is_object.back()) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!is_object.empty()) {
          if (is_object.back() && !keys.empty()) keys.pop_back();
          is_object.pop_back();
        }
        break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (!keys.empty() && !keys.back().insert(k).second) {
          if (keys.size() == 1) throw HeaderError{"duplicate tensor name " + Quote(k)};
          throw HeaderError{"entry " + Quote(parent_key) + ": duplicate field " + Quote(k)};
        }
        if (keys.size() == 1) parent_key = k;
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const HeaderError& e) {
    return Corrupt(origin + ": header: " + e.message);
  } catch (const json::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    return Corrupt(origin + ": header is not valid JSON: " + what);
  } catch (const std::bad_alloc&) {
    return Corrupt(origin + ": header JSON too large to parse");
  }
}

// Reads a non-negative JSON integer; false if the value is anything else.
bool GetUnsigned(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const auto s = v.get<int64_t>();
    if (s < 0) return false;
    *out = static_cast<uint64_t>(s);
    return true;
  }
  return false;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Result<Entry> ParseEntry(const std::string& origin, const std::string& name, const json& v,
                         uint64_t buffer_size) {
  const std::string where = origin + ": tensor " + Quote(name) + ": ";
  if (!v.is_object()) return Corrupt(where + "entry is not a JSON object");
  Entry e;
  e.name = name;

  auto dt = v.find("dtype");
  if (dt == v.end()) return Corrupt(where + "missing field 'dtype'");
  if (!dt->is_string()) return Corrupt(where + "field 'dtype' is not a string");
  auto parsed_dtype = ParseDType(dt->get<std::string>());
  if (!parsed_dtype.ok()) return Corrupt(where + "field 'dtype': " + parsed_dtype.status().message());
  e.dtype = *parsed_dtype;

  auto sh = v.find("shape");
  if (sh == v.end()) return Corrupt(where + "missing field 'shape'");
  if (!sh->is_array()) return Corrupt(where + "field 'shape' is not an array");
  for (const json& d : *sh) {
    uint64_t dim = 0;
    if (!GetUnsigned(d, &dim)) return Corrupt(where + "field 'shape' " + sh->dump() + " has a dimension that is not a non-negative integer");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Corrupt(where + "field 'shape' " + sh->dump() + " has a dimension that overflows int64");
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  const int64_t numel = ShapeNumel(e.shape);
  const int64_t nbytes = ByteSize(numel, e.dtype);
  if (numel < 0 || nbytes < 0)
    return Corrupt(where + "field 'shape' " + ShapeText(e.shape) + " x " + DTypeName(e.dtype) + " overflows int64");

  auto off = v.find("data_offsets");
  if (off == v.end()) return Corrupt(where + "missing field 'data_offsets'");
  if (!off->is_array() || off->size() != 2)
    return Corrupt(where + "field 'data_offsets' is not an array of two integers");
  if (!GetUnsigned((*off)[0], &e.begin) || !GetUnsigned((*off)[1], &e.end))
    return Corrupt(where + "field 'data_offsets' " + off->dump() + " is not two non-negative integers");
  const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) return Corrupt(where + range + " has begin > end");
  if (e.end > buffer_size)
    return Corrupt(where + range + " extend past the end of the " + std::to_string(buffer_size) +
                   "-byte data buffer");
  if (e.end - e.begin != static_cast<uint64_t>(nbytes))
    return Corrupt(where + range + " do not match shape " + ShapeText(e.shape) + " x " + DTypeName(e.dtype) +
                   " = " + std::to_string(nbytes) + " bytes");
  return e;
}

// Compact JSON text of a string (escaped as serde_json / nlohmann do).
Result<std::string> JsonString(const std::string& s, const std::string& what) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    return InvalidArgument(what + " is not valid UTF-8");
  }
}

// Header JSON (unpadded) plus the order in which tensor data follows it.
Result<std::string> BuildHeader(const TensorFile& file) {
  std::string h = "{";
  bool first = true;
  if (!file.metadata.empty()) {
    h += "\"__metadata__\":{";
    bool mfirst = true;
    for (const auto& [k, v] : file.metadata) {
      if (!mfirst) h += ",";
      mfirst = false;
      GP_ASSIGN_OR_RETURN(std::string ks, JsonString(k, "metadata key"));
      GP_ASSIGN_OR_RETURN(std::string vs, JsonString(v, "metadata value for " + Quote(k)));
      h += ks + ":" + vs;
    }
    h += "}";
    first = false;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const Tensor& t : file.tensors) {
    const std::string where = "tensor " + Quote(t.name) + ": ";
    if (t.name == "__metadata__") return InvalidArgument(where + "name is reserved");
    if (!seen.insert(t.name).second) return InvalidArgument(where + "duplicate tensor name");
    const int64_t numel = ShapeNumel(t.shape);
    const int64_t nbytes = ByteSize(numel, t.dtype);
    if (numel < 0 || nbytes < 0) return InvalidArgument(where + "invalid shape " + ShapeText(t.shape));
    if (static_cast<uint64_t>(nbytes) != t.data.size())
      return InvalidArgument(where + "data is " + std::to_string(t.data.size()) + " bytes but shape " +
                             ShapeText(t.shape) + " x " + DTypeName(t.dtype) + " = " + std::to_string(nbytes) +
                             " bytes");
    GP_ASSIGN_OR_RETURN(std::string ns, JsonString(t.name, "tensor name"));
    if (!first) h += ",";
    first = false;
    h += ns + ":{\"dtype\":\"" + DTypeName(t.dtype) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) h += ",";
      h += std::to_string(t.shape[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.data.size()) + "]}";
    offset += t.data.size();
  }
  h += "}";
  while (h.size() % 8 != 0) h += ' ';
  return h;
}

}  // namespace

// ---------------------------------------------------------------- dtypes

const char* DTypeName(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF64: return "F64";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

Result<DType> ParseDType(const std::string& s) {
  static constexpr DType kAll[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64,
                                   DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};
  for (DType d : kAll)
    if (s == DTypeName(d)) return d;
  std::string shown = s.size() > 32 ? s.substr(0, 32) + "..." : s;
  return Corrupt("unknown dtype " + json(shown).dump(-1, ' ', false, json::error_handler_t::replace));
}

size_t DTypeSize(DType d) {
  switch (d) {
    case DType::kF64:
    case DType::kI64: return 8;
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16: return 2;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool: return 1;
  }
  return 1;
}

// ---------------------------------------------------------------- half / bf16

// The conversions live in core (the std-only decoder needs them too).
uint16_t FloatToHalf(float f) { return FloatToHalfBits(f); }
float HalfToFloat(uint16_t h) { return HalfBitsToFloat(h); }
uint16_t FloatToBF16(float f) { return FloatToBF16Bits(f); }
float BF16ToFloat(uint16_t b) { return BF16BitsToFloat(b); }

// ---------------------------------------------------------------- Tensor

int64_t Tensor::numel() const { return ShapeNumel(shape); }

Result<std::vector<float>> Tensor::ToFloat32() const {
  const std::string where = "tensor " + Quote(name) + ": ";
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16 && dtype != DType::kF64)
    return InvalidArgument(where + "cannot convert dtype " + DTypeName(dtype) + " to F32");
  const int64_t n = numel();
  const int64_t nbytes = ByteSize(n, dtype);
  if (n < 0 || nbytes < 0) return InvalidArgument(where + "invalid shape " + ShapeText(shape));
  if (static_cast<uint64_t>(nbytes) != data.size())
    return InvalidArgument(where + "data is " + std::to_string(data.size()) + " bytes but shape " +
                           ShapeText(shape) + " x " + DTypeName(dtype) + " = " + std::to_string(nbytes) + " bytes");
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* p = data.data();
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype) {
      case DType::kF32: out[i] = std::bit_cast<float>(LoadLE32(p + 4 * i)); break;
      case DType::kF16: out[i] = HalfToFloat(LoadLE16(p + 2 * i)); break;
      case DType::kBF16: out[i] = BF16ToFloat(LoadLE16(p + 2 * i)); break;
      case DType::kF64: out[i] = DoubleToFloat(std::bit_cast<double>(LoadLE64(p + 8 * i))); break;
      default: break;
    }
  }
  return out;
}

Tensor Tensor::FromFloat32(std::string name, std::vector<int64_t> shape, std::span<const float> values,
                           DType store_as) {
  if (store_as != DType::kF16 && store_as != DType::kBF16 && store_as != DType::kF64) store_as = DType::kF32;
  Tensor t;
  t.name = std::move(name);
  t.dtype = store_as;
  t.shape = std::move(shape);
  t.data.resize(values.size() * DTypeSize(store_as));
  uint8_t* p = t.data.data();
  for (size_t i = 0; i < values.size(); ++i) {
    switch (store_as) {
      case DType::kF16: StoreLE16(p + 2 * i, FloatToHalf(values[i])); break;
      case DType::kBF16: StoreLE16(p + 2 * i, FloatToBF16(values[i])); break;
      case DType::kF64: StoreLE64(p + 8 * i, std::bit_cast<uint64_t>(static_cast<double>(values[i]))); break;
      default: StoreLE32(p + 4 * i, std::bit_cast<uint32_t>(values[i])); break;
    }
  }
  return t;
}

const Tensor* TensorFile::Find(const std::string& name) const {
  for (const Tensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// ---------------------------------------------------------------- reading

Result<TensorFile> ParseSafetensors(std::span<const uint8_t> bytes, const std::string& origin) {
  if (bytes.size() < 8)
    return Corrupt(origin + ": file is " + std::to_string(bytes.size()) +
                   " bytes, too short for the 8-byte header length");
  const uint64_t header_len = LoadLE64(bytes.data());
  const uint64_t avail = bytes.size() - 8;
  if (header_len > avail)
    return Corrupt(origin + ": header length " + std::to_string(header_len) + " exceeds the " +
                   std::to_string(avail) + " bytes after the length field");
  if (header_len > kMaxHeaderBytes)
    return Corrupt(origin + ": header length " + std::to_string(header_len) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len < 2) return Corrupt(origin + ": header length " + std::to_string(header_len) + " is too short for a JSON object");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<size_t>(header_len));
  const uint64_t buffer_size = avail - header_len;
  const uint8_t* buffer = bytes.data() + 8 + header_len;

  GP_ASSIGN_OR_RETURN(json header, ParseHeaderJson(text, origin));
  if (!header.is_object()) return Corrupt(origin + ": header is not a JSON object");

  TensorFile out;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      const json& m = it.value();
      if (m.is_null()) continue;
      if (!m.is_object()) return Corrupt(origin + ": field '__metadata__' is not a JSON object");
      for (auto mit = m.begin(); mit != m.end(); ++mit) {
        if (!mit.value().is_string())
          return Corrupt(origin + ": field '__metadata__': value for key " + Quote(mit.key()) + " is not a string");
        out.metadata.emplace(mit.key(), mit.value().get<std::string>());
      }
      continue;
    }
    GP_ASSIGN_OR_RETURN(Entry e, ParseEntry(origin, it.key(), it.value(), buffer_size));
    entries.push_back(std::move(e));
  }

  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& prev = entries[i - 1];
    const Entry& cur = entries[i];
    if (cur.begin < prev.end)
      return Corrupt(origin + ": tensor " + Quote(cur.name) + ": data_offsets [" + std::to_string(cur.begin) + ", " +
                     std::to_string(cur.end) + "] overlap tensor " + Quote(prev.name) + " data_offsets [" +
                     std::to_string(prev.begin) + ", " + std::to_string(prev.end) + "]");
  }

  out.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    Tensor t;
    t.name = std::move(e.name);
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.data.assign(buffer + e.begin, buffer + e.end);
    out.tensors.push_back(std::move(t));
  }
  return out;
}

Result<TensorFile> ReadSafetensors(const std::string& path) {
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path));
  return ParseSafetensors(bytes, path);
}

// ---------------------------------------------------------------- writing

Result<std::vector<uint8_t>> SerializeSafetensors(const TensorFile& file) {
  GP_ASSIGN_OR_RETURN(std::string header, BuildHeader(file));
  size_t total = 8 + header.size();
  for (const Tensor& t : file.tensors) total += t.data.size();
  std::vector<uint8_t> out(8);
  out.reserve(total);
  StoreLE64(out.data(), header.size());
  out.insert(out.end(), header.begin(), header.end());
  for (const Tensor& t : file.tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

Status WriteSafetensors(const std::string& path, const TensorFile& file) {
  auto header = BuildHeader(file);
  if (!header.ok()) return Status(header.status().code(), path + ": " + header.status().message());
  AtomicFileWriter w;
  GP_RETURN_IF_ERROR(w.Open(path));
  uint8_t len[8];
  StoreLE64(len, header->size());
  GP_RETURN_IF_ERROR(w.Append(len, sizeof(len)));
  GP_RETURN_IF_ERROR(w.Append(header->data(), header->size()));
  for (const Tensor& t : file.tensors) GP_RETURN_IF_ERROR(w.Append(t.data));
  return w.Commit();
}

}  // namespace golfpack::io
