// The .gpk container reader, docs/FORMAT.md versions 1 and 2.
#include "gpk/artifact.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "gpk/bytes.h"
#include "gpk/checksum.h"

namespace golfpack::gpk {
namespace {

constexpr uint8_t kMagic[8] = {'G', 'O', 'L', 'F', 'P', 'A', 'C', 'K'}, kEndMagic[4] = {'G', 'P', 'K', 'E'};
constexpr uint8_t kNumDTypes = 3;

std::string Num(uint64_t v) { return std::to_string(v); }
uint64_t Load(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Quoted for a one-line message; control bytes become '?'.
std::string Quote(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return "'" + out + "'";
}

Result<std::string> ReadString(ByteReader& r, const std::string& what) {
  const size_t start = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t len, r.Varint(what + " length"));
  if (len > kMaxStringBytes) return r.CorruptAtPosition(start, what, "length " + Num(len) + " exceeds 65535 bytes");
  GP_ASSIGN_OR_RETURN(auto b, r.Bytes(len, what));
  if (std::find(b.begin(), b.end(), uint8_t{0}) != b.end()) return r.CorruptAtPosition(start, what, "contains a NUL byte");
  if (!ValidUtf8({reinterpret_cast<const char*>(b.data()), b.size()})) return r.CorruptAtPosition(start, what, "is not valid UTF-8");
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// A count, bounded by the manifest bytes left after it (every entry takes >= 1).
Result<uint64_t> ReadCount(ByteReader& r, const std::string& what) {
  const size_t start = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t n, r.Varint(what));
  if (n > r.remaining())
    return r.CorruptAtPosition(start, what, Num(n) + " exceeds the " + Num(r.remaining()) + " manifest bytes left after it");
  return n;
}

Status Prefixed(const Status& s, const std::string& prefix) { return Status(s.code(), prefix + s.message()); }

struct Slots {
  std::mutex mu;
  std::array<std::atomic<const Decompressor*>, kNumCodecs> slot{};
  std::vector<std::unique_ptr<Decompressor>> keep;  // never freed: pointers stay valid
};
Slots& Decompressors() {
  static Slots* s = new Slots;  // leaked on purpose: usable during static destruction
  return *s;
}

// Reads section, offset, length and params of a payload entry; checks the
// range against the section and the manifest-order layout.
Status ReadPayload(ByteReader& r, PayloadInfo& p, const std::vector<SectionInfo>& sections,
                   std::vector<uint64_t>& next, std::vector<std::vector<uint64_t>>& weights, size_t* len_pos) {
  const size_t sec_pos = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t section, r.Varint("section"));
  if (section >= sections.size())
    return r.CorruptAtPosition(sec_pos, "section", "index " + Num(section) + " >= section_count " + Num(sections.size()));
  p.section = uint32_t(section);
  const size_t off_pos = r.position();
  GP_ASSIGN_OR_RETURN(p.offset, r.Varint("offset"));
  *len_pos = r.position();
  GP_ASSIGN_OR_RETURN(p.length, r.Varint("length"));
  auto end = CheckedAdd(p.offset, p.length);
  if (!end || *end > sections[section].raw_size)
    return r.CorruptAtPosition(off_pos, "payload range",
                               "offset+length " + (end ? Num(*end) : std::string("overflows")) +
                                   " > section raw_size " + Num(sections[section].raw_size));
  if (p.offset != next[section])
    return r.CorruptAtPosition(off_pos, "payload range",
                               "offset " + Num(p.offset) + " but the previous payload in section " + Num(section) +
                                   " ends at " + Num(next[section]) + (p.offset > next[section] ? " (gap)" : " (overlap)"));
  next[section] = *end;
  weights[section].push_back(p.length);
  GP_ASSIGN_OR_RETURN(uint64_t params_size, r.Varint("params_size"));
  GP_ASSIGN_OR_RETURN(auto params, r.Bytes(params_size, "params"));
  p.params.assign(params.begin(), params.end());
  return Status::Ok();
}

}  // namespace

const char* CodecName(Codec c) {
  static const char* const kNames[] = {"none", "zlib", "zstd", "xz", "brotli"};
  return uint8_t(c) < kNumCodecs ? kNames[uint8_t(c)] : "unknown";
}

void RegisterDecompressor(Codec c, Decompressor d) {
  const auto i = uint8_t(c);
  if (c == Codec::kNone || i >= kNumCodecs) return;
  Slots& s = Decompressors();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!d) return s.slot[i].store(nullptr);
  s.keep.push_back(std::make_unique<Decompressor>(std::move(d)));
  s.slot[i].store(s.keep.back().get());
}

const Decompressor* FindDecompressor(Codec c) {
  const auto i = uint8_t(c);
  return c == Codec::kNone || i >= kNumCodecs ? nullptr : Decompressors().slot[i].load();
}

Result<Artifact> Artifact::Parse(std::span<const uint8_t> bytes, const std::string& origin, const Options& options) {
  const std::string at = origin + ": ";
  const uint64_t size = bytes.size();
  const uint8_t* b = bytes.data();

  // Step 1: size, magic, version, flags.
  if (size < kContainerOverhead)
    return Corrupt(at + "file: " + Num(size) + " bytes is smaller than the 32-byte minimum (truncated?)");
  if (std::memcmp(b, kMagic, 8) != 0) return Corrupt(at + "header: bad magic at offset 0 (not a .gpk file)");
  Artifact a;
  a.version_ = uint16_t(Load(b + 8, 2));
  if (a.version_ < 1 || a.version_ > kFormatVersion)
    return Corrupt(at + "header: version " + Num(a.version_) + " at offset 8, this decoder implements versions 1 to " +
                   Num(kFormatVersion));
  const uint64_t flags = Load(b + 10, 2);
  if (flags != 0) return Corrupt(at + "header: flags " + Num(flags) + " at offset 10 has unknown bits");

  // Step 2: end magic and the whole-file hash.
  const uint64_t footer = size - kFooterSize;
  if (std::memcmp(b + size - 4, kEndMagic, 4) != 0)
    return Corrupt(at + "footer: bad end magic at offset " + Num(size - 4) + " (truncated file?)");
  if (options.verify_file_hash) {
    const uint64_t stored = Load(b + footer, 8), computed = Xxh64(bytes.first(footer));
    if (stored != computed)
      return Corrupt(at + "footer: file XXH64 at offset " + Num(footer) + " is " + Num(stored) + ", computed " +
                     Num(computed) + " (the file is damaged)");
  }

  // Step 3: manifest_size and the manifest CRC.
  const uint64_t msize = Load(b + 12, 4);
  if (msize > size - kContainerOverhead)
    return Corrupt(at + "header: manifest_size " + Num(msize) + " at offset 12 exceeds file_size - 32 = " +
                   Num(size - kContainerOverhead));
  const uint64_t crc_at = kFileHeaderSize + msize;
  const uint32_t mcrc = uint32_t(Load(b + crc_at, 4)), mcomputed = Crc32c(bytes.first(crc_at));
  if (mcrc != mcomputed)
    return Corrupt(at + "manifest: CRC-32C at offset " + Num(crc_at) + " is " + Num(mcrc) + ", computed " +
                   Num(mcomputed) + " (header or manifest damaged)");

  // Step 4: the manifest.
  a.bytes_ = bytes;
  a.origin_ = origin;
  a.manifest_size_ = msize;
  const std::string mp = at + "manifest: ";
  ByteReader r(bytes.subspan(kFileHeaderSize, msize), kFileHeaderSize);
  std::string ctx;  // "tensor 3 'w': ", prefixed to every rejection
  auto fail = [&](const Status& s) { return Prefixed(s, mp + ctx); };
  auto bad = [&](size_t pos, std::string_view what, const std::string& d) { return fail(r.CorruptAtPosition(pos, what, d)); };
#define GP_TRY(lhs, expr)                                                                   \
  auto GP_CONCAT(t_, __LINE__) = (expr);                                                    \
  if (!GP_CONCAT(t_, __LINE__).ok()) return fail(GP_CONCAT(t_, __LINE__).status());         \
  lhs = std::move(GP_CONCAT(t_, __LINE__)).value()

  GP_TRY(uint64_t meta_count, ReadCount(r, "metadata_count"));
  for (uint64_t i = 0; i < meta_count; ++i) {
    ctx = "metadata " + Num(i) + ": ";
    const size_t key_pos = r.position();
    GP_TRY(std::string key, ReadString(r, "key"));
    ctx += "key " + Quote(key) + ": ";
    GP_TRY(std::string value, ReadString(r, "value"));
    ctx = "metadata " + Num(i) + ": ";
    if (!a.metadata_.emplace(key, value).second)
      return bad(key_pos, "key", "duplicate key " + Quote(key));
  }
  const uint64_t metadata_bytes = r.position();

  ctx.clear();
  GP_TRY(uint64_t section_count, ReadCount(r, "section_count"));
  for (uint64_t i = 0; i < section_count; ++i) {
    ctx = "section " + Num(i) + ": ";
    SectionInfo s;
    GP_TRY(uint8_t codec, r.U8("codec"));
    if (codec >= kNumCodecs) return bad(r.position() - 1, "codec", "unknown codec " + Num(codec));
    s.codec = Codec(codec);
    GP_TRY(s.stored_size, r.Varint("stored_size"));
    const size_t raw_pos = r.position();
    GP_TRY(s.raw_size, r.Varint("raw_size"));
    if (s.codec == Codec::kNone && s.raw_size != s.stored_size)
      return bad(raw_pos, "raw_size", Num(s.raw_size) + " != stored_size " + Num(s.stored_size) +
                                                               " for codec none");
    GP_TRY(s.crc32c, r.U32("crc32c"));
    a.sections_.push_back(s);
  }
  const uint64_t sections_end = r.position();

  std::vector<uint64_t> next(section_count, 0);
  std::vector<std::vector<uint64_t>> weights(section_count);  // payload lengths per section, in order
  std::vector<bool> used;
  size_t len_pos = 0;
  if (a.version_ >= 2) {  // shared objects
    ctx.clear();
    GP_TRY(uint64_t object_count, ReadCount(r, "object_count"));
    std::unordered_set<std::string> names;
    for (uint64_t i = 0; i < object_count; ++i) {
      ObjectInfo o;
      const size_t start = r.position();
      o.manifest_offset = r.offset();
      ctx = "object " + Num(i) + ": ";
      GP_TRY(o.name, ReadString(r, "name"));
      ctx = "object " + Num(i) + " " + Quote(o.name) + ": ";
      if (!names.insert(o.name).second) return bad(start, "name", "duplicate object name");
      const size_t kind_pos = r.position();
      GP_TRY(uint64_t kind, r.Varint("kind"));
      if (kind >= kNumObjectKinds) return bad(kind_pos, "kind", "unknown object kind " + Num(kind));
      o.kind = uint32_t(kind);
      Status st = ReadPayload(r, o, a.sections_, next, weights, &len_pos);
      if (!st.ok()) return fail(st);
      // kind 0, f32_values: no params, a whole number of f32.
      if (!o.params.empty() || o.length % 4 != 0)
        return bad(kind_pos, "kind", "f32_values needs params_size 0 and a length divisible by 4");
      o.manifest_bytes = r.position() - start;
      a.objects_.push_back(std::move(o));
    }
    used.assign(object_count, false);
  }
  const uint64_t objects_end = r.position();

  ctx.clear();
  GP_TRY(uint64_t tensor_count, ReadCount(r, "tensor_count"));
  const uint64_t tensor_count_bytes = r.position() - objects_end;
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo t;
    const size_t start = r.position();
    t.manifest_offset = r.offset();
    ctx = "tensor " + Num(i) + ": ";
    GP_TRY(t.name, ReadString(r, "name"));
    ctx = "tensor " + Num(i) + " " + Quote(t.name) + ": ";
    if (!names.insert(t.name).second) return bad(start, "name", "duplicate tensor name");
    GP_TRY(uint8_t ndim, r.U8("ndim"));
    if (ndim > kMaxNdim) return bad(r.position() - 1, "ndim", Num(ndim) + " exceeds 8");
    bool zero = false;
    uint64_t numel = 1;
    for (uint8_t d = 0; d < ndim; ++d) {
      const std::string what = "dims[" + Num(d) + "]";
      const size_t pos = r.position();
      GP_TRY(uint64_t dim, r.Varint(what));
      if (dim > kMaxDimOrNumel) return bad(pos, what, Num(dim) + " exceeds 2^40");
      t.shape.push_back(dim);
      zero = zero || dim == 0;
      if (!zero && (numel *= dim) > kMaxDimOrNumel)  // both <= 2^40: no overflow
        return bad(pos, what, "numel overflows 2^40");
    }
    t.numel = zero ? 0 : numel;
    GP_TRY(uint8_t dtype, r.U8("dtype"));
    if (dtype >= kNumDTypes) return bad(r.position() - 1, "dtype", "unknown dtype " + Num(dtype));
    t.dtype = TargetDType(dtype);
    const size_t enc_pos = r.position();
    GP_TRY(uint64_t encoding, r.Varint("encoding"));
    const EncodingTraits* enc = encoding <= UINT32_MAX ? FindEncoding(uint32_t(encoding)) : nullptr;
    if (enc == nullptr) return bad(enc_pos, "encoding", "unknown encoding " + Num(encoding));
    t.encoding = enc->id;
    Status st = ReadPayload(r, t, a.sections_, next, weights, &len_pos);
    if (!st.ok()) return fail(st);

    // The length against what the encoding requires (step 6, done up front).
    auto want = enc->payload_size(t.shape, t.numel, t.params);
    if (!want.ok()) return bad(enc_pos, "encoding", want.status().message());
    if (enc->fixed_rate ? *want != t.length : t.length < *want)
      return bad(len_pos, "length", Num(t.length) + " but " + enc->name + " requires " +
                                                             (enc->fixed_rate ? "" : "at least ") + Num(*want) + " bytes");
    if (a.version_ >= 2) {
      const size_t refs_pos = r.position();
      GP_TRY(uint64_t ref_count, ReadCount(r, "ref_count"));
      if (ref_count != enc->refs)
        return bad(refs_pos, "ref_count", Num(ref_count) + " but " + enc->name + " takes " + Num(enc->refs));
      for (uint64_t k = 0; k < ref_count; ++k) {
        const size_t pos = r.position();
        GP_TRY(uint64_t ref, r.Varint("ref"));
        if (ref >= a.objects_.size())
          return bad(pos, "ref", "object " + Num(ref) + " >= object_count " + Num(a.objects_.size()));
        t.refs.push_back(uint32_t(ref));
        used[ref] = true;
      }
    } else if (enc->refs != 0) {
      return bad(enc_pos, "encoding", std::string(enc->name) + " needs shared objects (version 2)");
    }
    a.total_elements_ += t.numel;  // each <= 2^40, count < 2^32: no overflow
    if (a.total_elements_ > options.max_elements)
      return Unsupported(mp + ctx + "the tensors up to this one hold " + Num(a.total_elements_) +
                         " elements, over the decoded-size limit of " + Num(options.max_elements) +
                         " (Artifact::Options::max_elements)");
    t.manifest_bytes = r.position() - start;
    a.tensors_.push_back(std::move(t));
  }
#undef GP_TRY
  if (!r.at_end())
    return Corrupt(mp + Num(r.remaining()) + " trailing bytes at offset " + Num(r.offset()) + " after the last tensor entry");
  for (size_t k = 0; k < used.size(); ++k)
    if (!used[k]) return Corrupt(mp + "object " + Num(k) + " " + Quote(a.objects_[k].name) + ": no tensor references it");

  // Per-section coverage, then the size equation.
  uint64_t stored_total = 0;
  for (size_t s = 0; s < a.sections_.size(); ++s) {
    const SectionInfo& sec = a.sections_[s];
    if (weights[s].empty()) return Corrupt(mp + "section " + Num(s) + ": no tensor points into it");
    if (next[s] != sec.raw_size)
      return Corrupt(mp + "section " + Num(s) + ": raw_size " + Num(sec.raw_size) + " but its tensors cover " +
                     Num(next[s]) + " bytes");
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
  for (SectionInfo& sec : a.sections_) sec.file_offset = pos, pos += sec.stored_size;

  a.parts_ = {metadata_bytes, sections_end - metadata_bytes, objects_end - sections_end, tensor_count_bytes};
  for (const ObjectInfo& o : a.objects_) a.parts_.objects -= o.manifest_bytes;
  return a;
}

std::optional<size_t> Artifact::FindTensor(std::string_view name) const {
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].name == name) return i;
  return std::nullopt;
}

Result<std::span<const uint8_t>> Artifact::RawSection(size_t s, std::vector<uint8_t>& storage) const {
  if (s >= sections_.size()) return InvalidArgument(origin_ + ": section " + Num(s) + " out of range");
  const SectionInfo& sec = sections_[s];
  const std::string where = origin_ + ": section " + Num(s) + " (" + CodecName(sec.codec) + ", offset " +
                            Num(sec.file_offset) + "): ";
  auto stored = bytes_.subspan(sec.file_offset, sec.stored_size);
  const uint32_t crc = Crc32c(stored);
  if (crc != sec.crc32c)
    return Corrupt(where + "CRC-32C " + Num(crc) + " != " + Num(sec.crc32c) + " in the manifest (the section is damaged)");
  if (sec.codec == Codec::kNone) return stored;
  const Decompressor* d = FindDecompressor(sec.codec);
  if (d == nullptr) return Unsupported(where + "codec " + CodecName(sec.codec) + " not available in this build");
  auto raw = (*d)(stored, sec.raw_size);
  if (!raw.ok()) return Prefixed(raw.status(), where);
  if (raw->size() != sec.raw_size)
    return Corrupt(where + "decompressed to " + Num(raw->size()) + " bytes, expected raw_size " + Num(sec.raw_size));
  storage = std::move(*raw);
  return std::span<const uint8_t>(storage);
}

Result<std::vector<float>> Artifact::DecodeWith(size_t i, const std::vector<std::span<const uint8_t>>& raw,
                                                DecodeFn fn) const {
  const TensorInfo& t = tensors_[i];
  std::vector<ObjectView> objects;
  for (uint32_t o : t.refs) {
    const ObjectInfo& ob = objects_[o];
    objects.push_back({ob.kind, ob.params, raw[ob.section].subspan(ob.offset, ob.length)});
  }
  const TensorView view{t.shape, t.numel, t.params, raw[t.section].subspan(t.offset, t.length), objects};
  std::vector<float> out(t.numel);
  Status st = fn ? fn(t.encoding, view, out) : FindEncoding(t.encoding)->decode(view, out);
  if (!st.ok()) return Prefixed(st, origin_ + ": tensor " + Num(i) + " " + Quote(t.name) + ": ");
  return out;
}

Result<std::vector<uint8_t>> Artifact::SectionBytes(size_t section) const {
  std::vector<uint8_t> storage;
  GP_ASSIGN_OR_RETURN(auto raw, RawSection(section, storage));
  if (raw.data() == storage.data()) return storage;
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

Result<std::vector<float>> Artifact::DecodeTensor(size_t i, DecodeFn fn) const {
  if (i >= tensors_.size()) return InvalidArgument(origin_ + ": tensor " + Num(i) + " out of range");
  std::vector<std::vector<uint8_t>> storage(sections_.size());
  std::vector<std::span<const uint8_t>> raw(sections_.size());
  std::vector<uint32_t> need = {tensors_[i].section};
  for (uint32_t o : tensors_[i].refs) need.push_back(objects_[o].section);
  for (uint32_t s : need) {
    if (raw[s].empty()) {
      GP_ASSIGN_OR_RETURN(raw[s], RawSection(s, storage[s]));
    }
  }
  return DecodeWith(i, raw, fn);
}

Result<std::vector<std::vector<float>>> Artifact::DecodeAll() const {
  std::vector<std::vector<uint8_t>> storage(sections_.size());
  std::vector<std::span<const uint8_t>> raw(sections_.size());
  for (size_t s = 0; s < sections_.size(); ++s) {
    GP_ASSIGN_OR_RETURN(raw[s], RawSection(s, storage[s]));
  }
  std::vector<std::vector<float>> out(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GP_ASSIGN_OR_RETURN(out[i], DecodeWith(i, raw, nullptr));
  }
  return out;
}

}  // namespace golfpack::gpk
