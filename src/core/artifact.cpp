// The .gpk container, docs/FORMAT.md version 1. Standard library only.
#include "core/artifact.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_set>

#include "core/byte_reader.h"
#include "core/checksum.h"
#include "core/encodings.h"
#include "core/file_util.h"

namespace golfpack::gpk {
namespace {

constexpr uint8_t kMagic[8] = {'G', 'O', 'L', 'F', 'P', 'A', 'C', 'K'};
constexpr uint8_t kEndMagic[4] = {'G', 'P', 'K', 'E'};
constexpr uint8_t kNumCodecs = 5;
constexpr uint8_t kNumDTypes = 3;

std::string Num(uint64_t v) { return std::to_string(v); }
std::string Hex(uint64_t v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint64_t Load64(const uint8_t* p) { return uint64_t{Load32(p)} | (uint64_t{Load32(p + 4)} << 32); }

// Quoted for a one-line message: control bytes and quotes are escaped.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "'";
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
bool ValidUtf8(std::span<const uint8_t> s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// Problem with a string the format would reject, or empty.
std::string StringProblem(std::span<const uint8_t> s) {
  if (s.size() > kMaxStringBytes) return "length " + Num(s.size()) + " exceeds " + Num(kMaxStringBytes) + " bytes";
  if (std::find(s.begin(), s.end(), uint8_t{0}) != s.end()) return "contains a NUL byte";
  if (!ValidUtf8(s)) return "is not valid UTF-8";
  return {};
}
std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Result<std::string> ReadString(ByteReader& r, const std::string& what) {
  const size_t start = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t len, r.Varint(what + " length"));
  if (len > kMaxStringBytes) {
    return r.CorruptAtPosition(start, what, "length " + Num(len) + " exceeds " + Num(kMaxStringBytes) + " bytes");
  }
  GP_ASSIGN_OR_RETURN(auto bytes, r.Bytes(len, what));
  std::string problem = StringProblem(bytes);
  if (!problem.empty()) return r.CorruptAtPosition(start, what, problem);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Reads a count and bounds it by the manifest bytes left after it.
Result<uint64_t> ReadCount(ByteReader& r, const std::string& what) {
  const size_t start = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t n, r.Varint(what));
  if (n > r.remaining())
    return r.CorruptAtPosition(start, what,
                               Num(n) + " exceeds the " + Num(r.remaining()) + " manifest bytes left after it");
  return n;
}

Status Prefixed(const Status& s, const std::string& prefix) { return Status(s.code(), prefix + s.message()); }

// (a * b) / d and (a * b) % d in 128-bit arithmetic, d > 0, quotient < 2^64.
void MulDivMod(uint64_t a, uint64_t b, uint64_t d, uint64_t* q, uint64_t* r) {
  const uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
  const uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  const uint64_t lo = (ll & 0xffffffffu) | (mid << 32);
  const uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  uint64_t quot = 0, rem = 0;
  for (int bit = 127; bit >= 0; --bit) {
    const bool carry = (rem >> 63) != 0;
    const uint64_t next = bit >= 64 ? (hi >> (bit - 64)) & 1 : (lo >> bit) & 1;
    rem = (rem << 1) | next;
    quot <<= 1;
    if (carry || rem >= d) {
      rem -= d;
      quot |= 1;
    }
  }
  *q = quot;
  *r = rem;
}

// Largest-remainder split of `total` bytes in proportion to `weights` (all
// zero counts as all equal); ties go to the earlier entry.
std::vector<uint64_t> SplitBytes(uint64_t total, std::vector<uint64_t> weights) {
  uint64_t sum = 0;
  for (uint64_t w : weights) sum += w;  // <= raw_size, no overflow
  if (sum == 0) {
    std::fill(weights.begin(), weights.end(), 1);
    sum = weights.size();
  }
  std::vector<uint64_t> share(weights.size()), rem(weights.size());
  uint64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    MulDivMod(total, weights[i], sum, &share[i], &rem[i]);
    given += share[i];
  }
  std::vector<size_t> order(weights.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return rem[x] > rem[y]; });
  for (size_t k = 0; given < total; ++k, ++given) ++share[order[k]];
  return share;
}

struct CodecSlots {
  std::mutex mu;
  std::array<std::atomic<const CodecImpl*>, kNumCodecs> slot{};
  std::vector<std::unique_ptr<CodecImpl>> keep;  // never freed: FindCodec pointers stay valid
};
CodecSlots& Codecs() {
  static CodecSlots* slots = new CodecSlots;  // leaked on purpose: usable during static destruction
  return *slots;
}

}  // namespace

const char* CodecName(Codec c) {
  switch (c) {
    case Codec::kNone: return "none";
    case Codec::kZlib: return "zlib";
    case Codec::kZstd: return "zstd";
    case Codec::kXz: return "xz";
    case Codec::kBrotli: return "brotli";
  }
  return "unknown";
}

void RegisterCodec(Codec c, CodecImpl impl) {
  const auto idx = static_cast<uint8_t>(c);
  if (c == Codec::kNone || idx >= kNumCodecs) return;
  CodecSlots& s = Codecs();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!impl.compress && !impl.decompress) {
    s.slot[idx].store(nullptr);
    return;
  }
  s.keep.push_back(std::make_unique<CodecImpl>(std::move(impl)));
  s.slot[idx].store(s.keep.back().get());
}

const CodecImpl* FindCodec(Codec c) {
  const auto idx = static_cast<uint8_t>(c);
  if (c == Codec::kNone || idx >= kNumCodecs) return nullptr;
  return Codecs().slot[idx].load();
}

// ---------------------------------------------------------------- Parse

Result<Artifact> Artifact::Parse(std::span<const uint8_t> bytes, const std::string& origin, const Options& options) {
  const std::string at = origin + ": ";
  const uint64_t size = bytes.size();
  const uint8_t* b = bytes.data();

  // Step 1: size, magic, version, flags.
  if (size < kContainerOverhead)
    return Corrupt(at + "file: " + Num(size) + " bytes is smaller than the 32-byte minimum (truncated?)");
  if (std::memcmp(b, kMagic, 8) != 0) return Corrupt(at + "header: bad magic at offset 0 (not a .gpk file)");
  const uint16_t version = Load16(b + 8);
  if (version != kFormatVersion)
    return Corrupt(at + "header: version " + Num(version) + " at offset 8, this decoder implements version " +
                   Num(kFormatVersion));
  const uint16_t flags = Load16(b + 10);
  if (flags != 0) return Corrupt(at + "header: flags " + Hex(flags, 4) + " at offset 10 has unknown bits");

  // Step 2: end magic and the whole-file hash.
  const uint64_t footer = size - kFooterSize;
  if (std::memcmp(b + size - 4, kEndMagic, 4) != 0)
    return Corrupt(at + "footer: bad end magic at offset " + Num(size - 4) + " (truncated file?)");
  if (options.verify_file_hash) {
    const uint64_t stored = Load64(b + footer);
    const uint64_t computed = Xxh64(bytes.first(footer));
    if (stored != computed)
      return Corrupt(at + "footer: file XXH64 at offset " + Num(footer) + " is " + Hex(stored, 16) + ", computed " +
                     Hex(computed, 16) + " (the file is damaged)");
  }

  // Step 3: manifest_size and the manifest CRC.
  const uint64_t msize = Load32(b + 12);
  if (msize > size - kContainerOverhead)
    return Corrupt(at + "header: manifest_size " + Num(msize) + " at offset 12 exceeds file_size - 32 = " +
                   Num(size - kContainerOverhead));
  const uint64_t crc_at = kFileHeaderSize + msize;
  {
    const uint32_t stored = Load32(b + crc_at);
    const uint32_t computed = Crc32c(bytes.first(crc_at));
    if (stored != computed)
      return Corrupt(at + "manifest: CRC-32C at offset " + Num(crc_at) + " is " + Hex(stored, 8) + ", computed " +
                     Hex(computed, 8) + " (header or manifest damaged)");
  }

  // Step 4: the manifest.
  Artifact a;
  a.bytes_ = bytes;
  a.origin_ = origin;
  a.manifest_size_ = msize;
  const std::string mp = at + "manifest: ";
  ByteReader r(bytes.subspan(kFileHeaderSize, msize), kFileHeaderSize);
  auto fail = [&](const Status& s, const std::string& ctx = "") { return Prefixed(s, mp + ctx); };

  auto meta_count = ReadCount(r, "metadata_count");
  if (!meta_count.ok()) return fail(meta_count.status());
  for (uint64_t i = 0; i < *meta_count; ++i) {
    const std::string ctx = "metadata " + Num(i) + ": ";
    const size_t key_pos = r.position();
    auto key = ReadString(r, "key");
    if (!key.ok()) return fail(key.status(), ctx);
    auto value = ReadString(r, "value");
    if (!value.ok()) return fail(value.status(), ctx + "key " + Quote(*key) + ": ");
    if (!a.metadata_.emplace(*key, *value).second)
      return fail(r.CorruptAtPosition(key_pos, "key", "duplicate key " + Quote(*key)), ctx);
  }
  const uint64_t metadata_bytes = r.position();

  auto section_count = ReadCount(r, "section_count");
  if (!section_count.ok()) return fail(section_count.status());
  a.sections_.reserve(*section_count);
  for (uint64_t i = 0; i < *section_count; ++i) {
    const std::string ctx = "section " + Num(i) + ": ";
    SectionInfo s;
    auto codec = r.U8("codec");
    if (!codec.ok()) return fail(codec.status(), ctx);
    if (*codec >= kNumCodecs)
      return fail(r.CorruptAtPosition(r.position() - 1, "codec", "unknown codec " + Num(*codec)), ctx);
    s.codec = static_cast<Codec>(*codec);
    auto stored = r.Varint("stored_size");
    if (!stored.ok()) return fail(stored.status(), ctx);
    const size_t raw_pos = r.position();
    auto raw = r.Varint("raw_size");
    if (!raw.ok()) return fail(raw.status(), ctx);
    if (s.codec == Codec::kNone && *raw != *stored)
      return fail(r.CorruptAtPosition(raw_pos, "raw_size",
                                      Num(*raw) + " != stored_size " + Num(*stored) + " for codec none"),
                  ctx);
    auto crc = r.U32("crc32c");
    if (!crc.ok()) return fail(crc.status(), ctx);
    s.stored_size = *stored;
    s.raw_size = *raw;
    s.crc32c = *crc;
    a.sections_.push_back(s);
  }
  const uint64_t sections_end = r.position();

  auto tensor_count = ReadCount(r, "tensor_count");
  if (!tensor_count.ok()) return fail(tensor_count.status());
  const uint64_t tensor_count_bytes = r.position() - sections_end;

  std::vector<uint64_t> next_offset(a.sections_.size(), 0);
  std::vector<std::vector<size_t>> section_tensors(a.sections_.size());
  std::unordered_set<std::string> names;
  a.tensors_.reserve(*tensor_count);
  for (uint64_t i = 0; i < *tensor_count; ++i) {
    TensorInfo t;
    const size_t start = r.position();
    t.manifest_offset = r.offset();
    std::string ctx = "tensor " + Num(i) + ": ";
    auto name = ReadString(r, "name");
    if (!name.ok()) return fail(name.status(), ctx);
    t.name = std::move(*name);
    ctx = "tensor " + Num(i) + " " + Quote(t.name) + ": ";
    if (!names.insert(t.name).second) return fail(r.CorruptAtPosition(start, "name", "duplicate tensor name"), ctx);

    auto ndim = r.U8("ndim");
    if (!ndim.ok()) return fail(ndim.status(), ctx);
    if (*ndim > kMaxNdim)
      return fail(r.CorruptAtPosition(r.position() - 1, "ndim", Num(*ndim) + " exceeds " + Num(kMaxNdim)), ctx);
    bool zero = false;
    uint64_t numel = 1;
    for (uint8_t d = 0; d < *ndim; ++d) {
      const std::string what = "dims[" + Num(d) + "]";
      const size_t pos = r.position();
      auto dim = r.Varint(what);
      if (!dim.ok()) return fail(dim.status(), ctx);
      if (*dim > kMaxDimOrNumel)
        return fail(r.CorruptAtPosition(pos, what, Num(*dim) + " exceeds 2^40"), ctx);
      t.shape.push_back(*dim);
      if (*dim == 0) zero = true;
      if (!zero) {
        numel *= *dim;  // both <= 2^40 here, so no uint64 overflow
        if (numel > kMaxDimOrNumel)
          return fail(r.CorruptAtPosition(pos, what, "numel overflows 2^40"), ctx);
      }
    }
    t.numel = zero ? 0 : numel;

    auto dtype = r.U8("dtype");
    if (!dtype.ok()) return fail(dtype.status(), ctx);
    if (*dtype >= kNumDTypes)
      return fail(r.CorruptAtPosition(r.position() - 1, "dtype", "unknown dtype " + Num(*dtype)), ctx);
    t.dtype = static_cast<TargetDType>(*dtype);

    const size_t enc_pos = r.position();
    auto encoding = r.Varint("encoding");
    if (!encoding.ok()) return fail(encoding.status(), ctx);
    const EncodingTraits* enc = *encoding <= UINT32_MAX ? FindEncoding(static_cast<uint32_t>(*encoding)) : nullptr;
    if (enc == nullptr)
      return fail(r.CorruptAtPosition(enc_pos, "encoding", "unknown encoding " + Num(*encoding)), ctx);
    t.encoding = enc->id;

    const size_t sec_pos = r.position();
    auto section = r.Varint("section");
    if (!section.ok()) return fail(section.status(), ctx);
    if (*section >= a.sections_.size())
      return fail(r.CorruptAtPosition(sec_pos, "section",
                                      "index " + Num(*section) + " >= section_count " + Num(a.sections_.size())),
                  ctx);
    t.section = static_cast<uint32_t>(*section);
    const SectionInfo& sec = a.sections_[t.section];

    const size_t off_pos = r.position();
    auto offset = r.Varint("offset");
    if (!offset.ok()) return fail(offset.status(), ctx);
    const size_t len_pos = r.position();
    auto length = r.Varint("length");
    if (!length.ok()) return fail(length.status(), ctx);
    t.offset = *offset;
    t.length = *length;
    auto end = CheckedAdd(t.offset, t.length);
    if (!end || *end > sec.raw_size)
      return fail(r.CorruptAtPosition(off_pos, "payload range",
                                      "offset+length " + (end ? Num(*end) : std::string("overflows")) +
                                          " > section raw_size " + Num(sec.raw_size)),
                  ctx);
    if (t.offset != next_offset[t.section])
      return fail(r.CorruptAtPosition(off_pos, "payload range",
                                      "offset " + Num(t.offset) + " but the previous payload in section " + Num(t.section) +
                                          " ends at " + Num(next_offset[t.section]) +
                                          (t.offset > next_offset[t.section] ? " (gap)" : " (overlap)")),
                  ctx);
    next_offset[t.section] = *end;
    section_tensors[t.section].push_back(static_cast<size_t>(i));

    auto params_size = r.Varint("params_size");
    if (!params_size.ok()) return fail(params_size.status(), ctx);
    auto params = r.Bytes(*params_size, "params");
    if (!params.ok()) return fail(params.status(), ctx);
    t.params.assign(params->begin(), params->end());

    // The length against what the encoding requires (FORMAT.md step 6, done up front).
    auto want = enc->payload_size(t.shape, t.numel, t.params);
    if (!want.ok())
      return fail(r.CorruptAtPosition(enc_pos, "encoding", want.status().message()), ctx);
    if (enc->fixed_rate && *want != t.length)
      return fail(r.CorruptAtPosition(len_pos, "length",
                                      Num(t.length) + " but " + enc->name + " requires " + Num(*want) + " bytes"),
                  ctx);
    if (!enc->fixed_rate && t.length < *want)
      return fail(r.CorruptAtPosition(len_pos, "length",
                                      Num(t.length) + " but " + enc->name + " requires at least " + Num(*want) + " bytes"),
                  ctx);

    a.total_elements_ += t.numel;  // each <= 2^40, count < 2^32: no overflow
    if (a.total_elements_ > options.max_elements)
      return Unsupported(mp + ctx + "the tensors up to this one hold " + Num(a.total_elements_) +
                         " elements, over the decoded-size limit of " + Num(options.max_elements) +
                         " (Artifact::Options::max_elements)");
    t.manifest_bytes = r.position() - start;
    a.tensors_.push_back(std::move(t));
  }
  if (!r.at_end())
    return Corrupt(mp + Num(r.remaining()) + " trailing bytes at offset " + Num(r.offset()) +
                   " after the last tensor entry");

  // Per-section coverage, then the size equation.
  uint64_t stored_total = 0;
  for (size_t s = 0; s < a.sections_.size(); ++s) {
    const SectionInfo& sec = a.sections_[s];
    if (section_tensors[s].empty())
      return Corrupt(mp + "section " + Num(s) + ": no tensor points into it");
    if (next_offset[s] != sec.raw_size)
      return Corrupt(mp + "section " + Num(s) + ": raw_size " + Num(sec.raw_size) + " but its tensors cover " +
                     Num(next_offset[s]) + " bytes");
    auto sum = CheckedAdd(stored_total, sec.stored_size);
    if (!sum) return Corrupt(mp + "section " + Num(s) + ": stored sizes overflow");
    stored_total = *sum;
  }
  auto expected = CheckedAdd(kContainerOverhead + msize, stored_total);
  if (!expected || *expected != size)
    return Corrupt(at + "file: 32 + manifest_size " + Num(msize) + " + section stored sizes " + Num(stored_total) +
                   (expected ? " = " + Num(*expected) : std::string(" overflows")) + ", but the file is " + Num(size) +
                   " bytes");
  uint64_t pos = kFileHeaderSize + msize + 4;
  for (SectionInfo& sec : a.sections_) {
    sec.file_offset = pos;
    pos += sec.stored_size;
  }

  // Byte accounting (FORMAT.md).
  a.accounting_.emplace_back("container", kContainerOverhead);
  a.accounting_.emplace_back("manifest.metadata", metadata_bytes);
  a.accounting_.emplace_back("manifest.sections", sections_end - metadata_bytes);
  a.accounting_.emplace_back("manifest.tensors", tensor_count_bytes);
  for (TensorInfo& t : a.tensors_) t.accounted_bytes = t.manifest_bytes;
  for (size_t s = 0; s < a.sections_.size(); ++s) {
    std::vector<uint64_t> weights;
    for (size_t ti : section_tensors[s]) weights.push_back(a.tensors_[ti].length);
    std::vector<uint64_t> share = SplitBytes(a.sections_[s].stored_size, weights);
    for (size_t k = 0; k < share.size(); ++k) a.tensors_[section_tensors[s][k]].accounted_bytes += share[k];
  }
  for (const TensorInfo& t : a.tensors_) a.accounting_.emplace_back("tensor:" + t.name, t.accounted_bytes);
  return a;
}

std::optional<size_t> Artifact::FindTensor(std::string_view name) const {
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].name == name) return i;
  return std::nullopt;
}

// ---------------------------------------------------------------- decoding

Result<std::span<const uint8_t>> Artifact::RawSection(size_t s, std::vector<uint8_t>& storage) const {
  if (s >= sections_.size())
    return InvalidArgument(origin_ + ": section " + Num(s) + " out of range (" + Num(sections_.size()) + " sections)");
  const SectionInfo& sec = sections_[s];
  const std::string where = origin_ + ": section " + Num(s) + " (" + CodecName(sec.codec) + ", offset " +
                            Num(sec.file_offset) + "): ";
  auto stored = bytes_.subspan(sec.file_offset, sec.stored_size);
  const uint32_t crc = Crc32c(stored);
  if (crc != sec.crc32c)
    return Corrupt(where + "CRC-32C " + Hex(crc, 8) + " != " + Hex(sec.crc32c, 8) +
                   " in the manifest (the section is damaged)");
  if (sec.codec == Codec::kNone) return stored;
  const CodecImpl* impl = FindCodec(sec.codec);
  if (impl == nullptr || !impl->decompress)
    return Unsupported(where + "codec " + CodecName(sec.codec) + " not available in this build");
  auto raw = impl->decompress(stored, sec.raw_size);
  if (!raw.ok()) return Prefixed(raw.status(), where);
  if (raw->size() != sec.raw_size)
    return Corrupt(where + "decompressed to " + Num(raw->size()) + " bytes, expected raw_size " + Num(sec.raw_size));
  storage = std::move(*raw);
  return std::span<const uint8_t>(storage);
}

Result<std::vector<float>> Artifact::DecodeFrom(size_t i, std::span<const uint8_t> raw, bool reference) const {
  const TensorInfo& t = tensors_[i];
  const EncodingTraits* enc = FindEncoding(t.encoding);
  const std::string where = origin_ + ": tensor " + Num(i) + " " + Quote(t.name) + ": ";
  if (enc == nullptr) return Internal(where + "unknown encoding " + Num(t.encoding));  // Parse rejected these
  TensorView view;
  view.shape = t.shape;
  view.numel = t.numel;
  view.params = t.params;
  view.payload = raw.subspan(t.offset, t.length);
  std::vector<float> out(t.numel);
  Status st = (reference ? enc->decode_ref : enc->decode)(view, out);
  if (!st.ok()) return Prefixed(st, where);
  return out;
}

Result<std::vector<uint8_t>> Artifact::SectionBytes(size_t section) const {
  std::vector<uint8_t> storage;
  GP_ASSIGN_OR_RETURN(auto raw, RawSection(section, storage));
  if (raw.data() == storage.data() && raw.size() == storage.size()) return storage;
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

Result<std::vector<float>> Artifact::DecodeTensor(size_t i) const {
  if (i >= tensors_.size())
    return InvalidArgument(origin_ + ": tensor " + Num(i) + " out of range (" + Num(tensors_.size()) + " tensors)");
  std::vector<uint8_t> storage;
  GP_ASSIGN_OR_RETURN(auto raw, RawSection(tensors_[i].section, storage));
  return DecodeFrom(i, raw, false);
}

Result<std::vector<float>> Artifact::DecodeTensorRef(size_t i) const {
  if (i >= tensors_.size())
    return InvalidArgument(origin_ + ": tensor " + Num(i) + " out of range (" + Num(tensors_.size()) + " tensors)");
  std::vector<uint8_t> storage;
  GP_ASSIGN_OR_RETURN(auto raw, RawSection(tensors_[i].section, storage));
  return DecodeFrom(i, raw, true);
}

Result<std::vector<std::vector<float>>> Artifact::DecodeAll() const {
  std::vector<std::vector<float>> out(tensors_.size());
  std::vector<std::vector<size_t>> by_section(sections_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) by_section[tensors_[i].section].push_back(i);
  for (size_t s = 0; s < sections_.size(); ++s) {
    std::vector<uint8_t> storage;
    GP_ASSIGN_OR_RETURN(auto raw, RawSection(s, storage));
    for (size_t i : by_section[s]) {
      GP_ASSIGN_OR_RETURN(out[i], DecodeFrom(i, raw, false));
    }
  }
  return out;
}

// ---------------------------------------------------------------- writing

Result<std::vector<uint8_t>> BuildArtifact(const std::vector<EncodedTensor>& tensors, const WriteOptions& options) {
  const std::string at = "BuildArtifact: ";
  for (const auto& [key, value] : options.metadata) {
    std::string p = StringProblem(AsBytes(key));
    if (!p.empty()) return InvalidArgument(at + "metadata key " + Quote(key) + " " + p);
    p = StringProblem(AsBytes(value));
    if (!p.empty()) return InvalidArgument(at + "metadata value of " + Quote(key) + " " + p);
  }
  std::set<std::string_view> names;
  std::vector<uint64_t> numels(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const EncodedTensor& t = tensors[i];
    const std::string ctx = at + "tensor " + Num(i) + " " + Quote(t.name) + ": ";
    std::string p = StringProblem(AsBytes(t.name));
    if (!p.empty()) return InvalidArgument(ctx + "name " + p);
    if (!names.insert(t.name).second) return InvalidArgument(ctx + "duplicate tensor name");
    if (t.shape.size() > kMaxNdim) return InvalidArgument(ctx + "ndim " + Num(t.shape.size()) + " exceeds 8");
    uint64_t numel = 1;
    bool zero = false;
    for (uint64_t d : t.shape) {
      if (d > kMaxDimOrNumel) return InvalidArgument(ctx + "dim " + Num(d) + " exceeds 2^40");
      if (d == 0) zero = true;
      if (!zero) {
        numel *= d;
        if (numel > kMaxDimOrNumel) return InvalidArgument(ctx + "numel exceeds 2^40");
      }
    }
    numels[i] = zero ? 0 : numel;
    if (static_cast<uint8_t>(t.dtype) >= kNumDTypes)
      return InvalidArgument(ctx + "unknown dtype " + Num(static_cast<uint8_t>(t.dtype)));
    const EncodingTraits* enc = FindEncoding(t.encoding);
    if (enc == nullptr) return InvalidArgument(ctx + "unknown encoding " + Num(t.encoding));
    auto want = enc->payload_size(t.shape, numels[i], t.params);
    if (!want.ok()) return InvalidArgument(ctx + want.status().message());
    if (enc->fixed_rate && *want != t.payload.size())
      return InvalidArgument(ctx + "payload is " + Num(t.payload.size()) + " bytes, " + enc->name + " requires " +
                             Num(*want));
    if (!enc->fixed_rate && t.payload.size() < *want)
      return InvalidArgument(ctx + "payload is " + Num(t.payload.size()) + " bytes, " + enc->name +
                             " requires at least " + Num(*want));
  }

  std::vector<SectionPlan> plans = options.sections;
  if (plans.empty()) {
    for (size_t i = 0; i < tensors.size(); ++i) plans.push_back(SectionPlan{Codec::kNone, -1, {i}});
  }
  std::vector<int> owner(tensors.size(), -1);
  for (size_t s = 0; s < plans.size(); ++s) {
    SectionPlan& p = plans[s];
    if (p.tensors.empty()) return InvalidArgument(at + "section " + Num(s) + " has no tensors");
    if (static_cast<uint8_t>(p.codec) >= kNumCodecs)
      return InvalidArgument(at + "section " + Num(s) + ": unknown codec " + Num(static_cast<uint8_t>(p.codec)));
    for (size_t ti : p.tensors) {
      if (ti >= tensors.size())
        return InvalidArgument(at + "section " + Num(s) + ": tensor index " + Num(ti) + " out of range");
      if (owner[ti] != -1)
        return InvalidArgument(at + "tensor " + Num(ti) + " " + Quote(tensors[ti].name) + " is in sections " +
                               Num(static_cast<uint64_t>(owner[ti])) + " and " + Num(s));
      owner[ti] = static_cast<int>(s);
    }
    std::sort(p.tensors.begin(), p.tensors.end());  // payloads follow manifest order
  }
  for (size_t i = 0; i < tensors.size(); ++i)
    if (owner[i] == -1) return InvalidArgument(at + "tensor " + Num(i) + " " + Quote(tensors[i].name) + " is in no section");
  if (plans.size() > UINT32_MAX) return InvalidArgument(at + "too many sections");

  struct Built {
    Codec codec;
    uint64_t raw_size;
    std::vector<uint8_t> stored;
  };
  std::vector<Built> built;
  std::vector<uint64_t> offsets(tensors.size());
  for (size_t s = 0; s < plans.size(); ++s) {
    const SectionPlan& p = plans[s];
    std::vector<uint8_t> raw;
    for (size_t ti : p.tensors) {
      offsets[ti] = raw.size();
      raw.insert(raw.end(), tensors[ti].payload.begin(), tensors[ti].payload.end());
    }
    Built b{p.codec, raw.size(), {}};
    if (p.codec == Codec::kNone) {
      b.stored = std::move(raw);
    } else {
      const std::string where = at + "section " + Num(s) + " (" + CodecName(p.codec) + "): ";
      const CodecImpl* impl = FindCodec(p.codec);
      if (impl == nullptr || !impl->compress || !impl->decompress)
        return Unsupported(where + "codec " + CodecName(p.codec) + " not available in this build");
      auto stored = impl->compress(raw, p.level);
      if (!stored.ok()) return Prefixed(stored.status(), where);
      auto back = impl->decompress(*stored, raw.size());
      if (!back.ok() || *back != raw)
        return Internal(where + "the codec does not round-trip" + (back.ok() ? "" : ": " + back.status().message()));
      b.stored = std::move(*stored);
    }
    built.push_back(std::move(b));
  }

  ByteWriter m;
  m.Varint(options.metadata.size());
  for (const auto& [key, value] : options.metadata) {
    m.Varint(key.size());
    m.Bytes(AsBytes(key));
    m.Varint(value.size());
    m.Bytes(AsBytes(value));
  }
  m.Varint(built.size());
  for (const Built& b : built) {
    m.U8(static_cast<uint8_t>(b.codec));
    m.Varint(b.stored.size());
    m.Varint(b.raw_size);
    m.U32(Crc32c(b.stored));
  }
  m.Varint(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const EncodedTensor& t = tensors[i];
    m.Varint(t.name.size());
    m.Bytes(AsBytes(t.name));
    m.U8(static_cast<uint8_t>(t.shape.size()));
    for (uint64_t d : t.shape) m.Varint(d);
    m.U8(static_cast<uint8_t>(t.dtype));
    m.Varint(t.encoding);
    m.Varint(static_cast<uint64_t>(owner[i]));
    m.Varint(offsets[i]);
    m.Varint(t.payload.size());
    m.Varint(t.params.size());
    m.Bytes(t.params);
  }
  if (m.size() > UINT32_MAX) return InvalidArgument(at + "manifest is " + Num(m.size()) + " bytes, over the u32 limit");

  uint64_t total = kContainerOverhead + m.size();
  for (const Built& b : built) total += b.stored.size();
  ByteWriter f;
  f.Reserve(static_cast<size_t>(total));
  f.Bytes(kMagic);
  f.U16(kFormatVersion);
  f.U16(0);
  f.U32(static_cast<uint32_t>(m.size()));
  f.Bytes(m.bytes());
  f.U32(Crc32c(f.bytes()));
  for (const Built& b : built) f.Bytes(b.stored);
  f.U64(Xxh64(f.bytes()));
  f.Bytes(kEndMagic);
  std::vector<uint8_t> file = std::move(f).Take();

  Artifact::Options check;
  check.max_elements = UINT64_MAX;
  check.verify_file_hash = false;  // just computed
  auto parsed = Artifact::Parse(file, "BuildArtifact", check);
  if (!parsed.ok()) return Internal("BuildArtifact produced a file its reader rejects: " + parsed.status().message());
  return file;
}

Status WriteArtifact(const std::string& path, const std::vector<EncodedTensor>& tensors, const WriteOptions& options) {
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, BuildArtifact(tensors, options));
  return WriteFileAtomic(path, bytes);
}

}  // namespace golfpack::gpk
