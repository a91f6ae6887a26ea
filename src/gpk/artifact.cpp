// The .gpk container reader, docs/FORMAT.md versions 1 to 3.
#include "gpk/artifact.h"

#include <cstring>
#include <mutex>
#include <unordered_set>

namespace golfpack::gpk {
namespace {

// 'name', control bytes as '?'.
std::string Quote(std::string s) {
  for (char& c : s) if (uint8_t(c) < 0x20 || c == 0x7f) c = '?';
  return "'" + s + "'";
}

Result<std::string> ReadString(ByteReader& r, const std::string& what) {
  const size_t at = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t len, r.Varint(what + " length"));
  if (len > kMaxStringBytes) return r.CorruptAtPosition(at, what, "length ", len, " exceeds 65535 bytes");
  GP_ASSIGN_OR_RETURN(auto b, r.Bytes(len, what));
  std::string s(b.begin(), b.end());
  if (s.find('\0') != s.npos) return r.CorruptAtPosition(at, what, "contains a NUL byte");
  if (!ValidUtf8(s)) return r.CorruptAtPosition(at, what, "is not valid UTF-8");
  return s;
}

// A count, bounded by the manifest bytes left after it.
Result<uint64_t> ReadCount(ByteReader& r, const char* what) {
  GP_ASSIGN_OR_RETURN(uint64_t n, r.Varint(what));
  if (n > r.remaining())
    return r.CorruptAtPosition(r.start(), what, n, " exceeds the ", r.remaining(), " manifest bytes left after it");
  return n;
}

// A copy of codec c's decompressor, first set to *set if given. Leaked: usable in static destructors.
Decompressor FindDecompressor(Codec c, const Decompressor* set = nullptr) {
  static auto* mu = new std::mutex;
  static auto* d = new Decompressor[kNumCodecs];
  std::lock_guard lock(*mu);
  if (set) d[uint8_t(c)] = *set;
  return d[uint8_t(c)];
}

}  // namespace

const char* CodecName(Codec c) {
  static const char* const kNames[] = {"none", "zlib", "zstd", "xz", "brotli"};
  return uint8_t(c) < kNumCodecs ? kNames[uint8_t(c)] : "unknown";
}

void RegisterDecompressor(Codec c, Decompressor d) {
  if (c != Codec::kNone && uint8_t(c) < kNumCodecs) FindDecompressor(c, &d);
}

Result<Artifact> Artifact::Parse(ByteSpan bytes, const std::string& origin, const Options& options) {
  std::string ctx;
  auto a = Read(bytes, options, ctx);
  if (!a.ok()) return Status(a.status().code(), origin + ": " + ctx + a.status().message());
  a->origin_ = origin;
  return a;
}

// FORMAT.md "Checks, in the order a decoder applies them", steps 1 to 4.
Result<Artifact> Artifact::Read(ByteSpan bytes, const Options& options, std::string& ctx) {
  const uint64_t size = bytes.size();
  const uint8_t* b = bytes.data();
  if (size < kContainerOverhead) return Corrupt("file: ", size, " bytes, under the 32-byte minimum (truncated?)");
  if (std::memcmp(b, "GOLFPACK", 8)) return Corrupt("header: bad magic at offset 0 (not a .gpk file)");
  Artifact a;
  a.bytes_ = bytes;
  a.version_ = uint16_t(LoadLE(b + 8, 2));
  if (a.version_ < 1 || a.version_ > kFormatVersion)
    return Corrupt("header: version ", a.version_, " at offset 8 is not in [1, ", kFormatVersion, "]");
  if (const uint64_t flags = LoadLE(b + 10, 2)) return Corrupt("header: flags ", flags, " at offset 10 has unknown bits");
  const uint64_t footer = size - 12;  // u64 file_xxh64, "GPKE"
  if (std::memcmp(b + footer + 8, "GPKE", 4))
    return Corrupt("footer: bad end magic at offset ", footer + 8, " (truncated file?)");
  const uint64_t hash = LoadLE(b + footer, 8), computed = options.verify_file_hash ? Xxh64(bytes.first(footer)) : hash;
  if (hash != computed)
    return Corrupt("footer: file XXH64 at offset ", footer, " is ", hash, ", computed ", computed, " (damaged)");
  const uint64_t msize = LoadLE(b + 12, 4), crc_at = 16 + msize;
  if (msize > size - 32)
    return Corrupt("header: manifest_size ", msize, " at offset 12 exceeds file_size - 32 = ", size - 32);
  const uint64_t crc = LoadLE(b + crc_at, 4), crc_computed = Crc32c(bytes.first(crc_at));
  if (crc != crc_computed)
    return Corrupt("manifest: CRC-32C at offset ", crc_at, " is ", crc, ", computed ", crc_computed);
  a.manifest_size_ = msize;

  ByteReader r(bytes.subspan(16, msize), 16);
  auto bad = [&r](size_t pos, std::string_view what, const auto&... d) { return r.CorruptAtPosition(pos, what, d...); };
  auto part = [&ctx](const auto&... p) { ctx = Str("manifest: ", p...); };  // the part being read
  part();
  GP_ASSIGN_OR_RETURN(uint64_t meta_count, ReadCount(r, "metadata_count"));
  for (uint64_t i = 0; i < meta_count; ++i) {
    part("metadata ", i, ": ");
    const size_t at = r.position();
    GP_ASSIGN_OR_RETURN(std::string key, ReadString(r, "key"));
    if (a.metadata_.count(key)) return bad(at, "key", "duplicate key ", Quote(key));
    ctx += "key " + Quote(key) + ": ";
    GP_ASSIGN_OR_RETURN(a.metadata_[key], ReadString(r, "value"));
  }

  part();
  GP_ASSIGN_OR_RETURN(uint64_t section_count, ReadCount(r, "section_count"));
  for (uint64_t i = 0; i < section_count; ++i) {
    part("section ", i, ": ");
    auto& s = a.sections_.emplace_back();
    GP_ASSIGN_OR_RETURN(uint8_t codec, r.U8("codec"));
    s.shuffle = codec >> 4;
    if (s.shuffle && a.version_ < 3) return bad(r.start(), "codec", "shuffle stride ", s.shuffle, " needs version 3");
    if (codec % 16 >= kNumCodecs) return bad(r.start(), "codec", "unknown codec ", codec % 16);
    if (s.shuffle == 1) return bad(r.start(), "codec", "shuffle stride 1 (0 or 2 to 15)");
    s.codec = Codec(codec % 16);
    GP_ASSIGN_OR_RETURN(s.stored_size, r.Varint("stored_size"));
    GP_ASSIGN_OR_RETURN(s.raw_size, r.Varint("raw_size"));
    if (s.codec == Codec::kNone && s.raw_size != s.stored_size)
      return bad(r.start(), "raw_size", s.raw_size, " != stored_size ", s.stored_size, " for codec none");
    GP_ASSIGN_OR_RETURN(s.crc32c, r.U32("crc32c"));
  }

  // Per section: where the last payload ends, and how many there are.
  std::vector<uint64_t> next(section_count), payloads(section_count);
  size_t len_pos = 0;
  std::unordered_set<std::string> names;  // "<kind> <name>": a name space per kind
  auto read_name = [&](PayloadInfo& p, const char* kind, uint64_t i) -> Status {
    const size_t at = r.position();
    p.manifest_offset = r.offset();
    part(kind, " ", i, ": ");
    GP_ASSIGN_OR_RETURN(p.name, ReadString(r, "name"));
    part(kind, " ", i, " ", Quote(p.name), ": ");
    if (!names.insert(Str(kind, " ", p.name)).second) return bad(at, "name", "duplicate ", kind, " name");
    return Status::Ok();
  };
  // Section, offset, length, params; the range continues its section.
  auto read_payload = [&](PayloadInfo& p) -> Status {
    GP_ASSIGN_OR_RETURN(uint64_t s, r.Varint("section"));
    if (s >= section_count) return bad(r.start(), "section", "index ", s, " >= section_count ", section_count);
    p.section = uint32_t(s);
    GP_ASSIGN_OR_RETURN(p.offset, r.Varint("offset"));
    const size_t off_pos = r.start();
    GP_ASSIGN_OR_RETURN(p.length, r.Varint("length"));
    len_pos = r.start();
    const auto end = CheckedAdd(p.offset, p.length);
    const uint64_t raw = a.sections_[s].raw_size;
    if (!end || *end > raw)
      return bad(off_pos, "payload range", "offset+length ", end ? Str(*end) : "overflows", " > section raw_size ", raw);
    if (p.offset != next[s])
      return bad(off_pos, "payload range", "offset ", p.offset, " but the previous payload in section ", s, " ends at ",
                 next[s], p.offset > next[s] ? " (gap)" : " (overlap)");
    next[s] = *end;
    ++payloads[s];
    GP_ASSIGN_OR_RETURN(uint64_t params_size, r.Varint("params_size"));
    GP_ASSIGN_OR_RETURN(auto params, r.Bytes(params_size, "params"));
    p.params.assign(params.begin(), params.end());
    return Status::Ok();
  };

  std::vector<bool> used;  // per object: a tensor references it
  if (a.version_ >= 2) {
    part();
    GP_ASSIGN_OR_RETURN(uint64_t object_count, ReadCount(r, "object_count"));
    for (uint64_t i = 0; i < object_count; ++i) {
      auto& o = a.objects_.emplace_back();
      GP_RETURN_IF_ERROR(read_name(o, "object", i));
      GP_ASSIGN_OR_RETURN(uint64_t kind, r.Varint("kind"));
      const size_t kind_pos = r.start();
      if (kind >= kNumObjectKinds) return bad(kind_pos, "kind", "unknown object kind ", kind);
      o.kind = uint32_t(kind);
      GP_RETURN_IF_ERROR(read_payload(o));
      if (!o.params.empty() || o.length % 4)  // f32_values
        return bad(kind_pos, "kind", "f32_values needs params_size 0 and a length divisible by 4");
      o.manifest_bytes = r.offset() - o.manifest_offset;
    }
    used.assign(object_count, false);
  }

  part();
  GP_ASSIGN_OR_RETURN(uint64_t tensor_count, ReadCount(r, "tensor_count"));
  uint64_t total = 0;  // elements
  for (uint64_t i = 0; i < tensor_count; ++i) {
    auto& t = a.tensors_.emplace_back();
    GP_RETURN_IF_ERROR(read_name(t, "tensor", i));
    GP_ASSIGN_OR_RETURN(uint8_t ndim, r.U8("ndim"));
    if (ndim > kMaxNdim) return bad(r.start(), "ndim", ndim, " exceeds 8");
    t.numel = 1;
    for (uint8_t d = 0; d < ndim; ++d) {
      const std::string what = Str("dims[", d, "]");
      GP_ASSIGN_OR_RETURN(uint64_t dim, r.Varint(what));
      if (dim > kMaxDimOrNumel) return bad(r.start(), what, dim, " exceeds 2^40");
      if (t.numel && dim > kMaxDimOrNumel / t.numel) return bad(r.start(), what, "numel overflows 2^40");
      t.numel *= dim;
      t.shape.push_back(dim);
    }
    GP_ASSIGN_OR_RETURN(uint8_t dtype, r.U8("dtype"));
    if (dtype > 2) return bad(r.start(), "dtype", "unknown dtype ", dtype);
    t.dtype = TargetDType(dtype);
    GP_ASSIGN_OR_RETURN(uint64_t encoding, r.Varint("encoding"));
    const size_t enc_pos = r.start();
    const EncodingTraits* enc = encoding <= UINT32_MAX ? FindEncoding(uint32_t(encoding)) : nullptr;
    if (!enc) return bad(enc_pos, "encoding", "unknown encoding ", encoding);
    t.encoding = enc->id;
    GP_RETURN_IF_ERROR(read_payload(t));
    auto want = enc->payload_size(t.shape, t.numel, t.params);
    if (!want.ok()) return bad(enc_pos, "encoding", want.status().message());
    if (enc->fixed_rate ? *want != t.length : t.length < *want)
      return bad(len_pos, "length", t.length, " but ", enc->name, " requires ", enc->fixed_rate ? "" : "at least ", *want,
                 " bytes");
    if (a.version_ >= 2) {
      GP_ASSIGN_OR_RETURN(uint64_t ref_count, ReadCount(r, "ref_count"));
      if (ref_count != enc->refs) return bad(r.start(), "ref_count", ref_count, " but ", enc->name, " takes ", enc->refs);
      for (uint64_t k = 0; k < ref_count; ++k) {
        GP_ASSIGN_OR_RETURN(uint64_t ref, r.Varint("ref"));
        if (ref >= a.objects_.size()) return bad(r.start(), "ref", "object ", ref, " >= object_count ", a.objects_.size());
        t.refs.push_back(uint32_t(ref));
        used[ref] = true;
      }
    } else if (enc->refs) {
      return bad(enc_pos, "encoding", enc->name, " needs shared objects (version 2)");
    }
    total += t.numel;  // each <= 2^40, count < 2^32: no overflow
    if (total > options.max_elements)
      return Unsupported(total, " elements so far, over the decoded-size limit max_elements = ", options.max_elements);
    t.manifest_bytes = r.offset() - t.manifest_offset;
  }

  part();
  if (!r.at_end()) return Corrupt(r.remaining(), " trailing bytes at offset ", r.offset(), " after the last tensor entry");
  for (size_t k = 0; k < used.size(); ++k)
    if (!used[k]) return Corrupt("object ", k, " ", Quote(a.objects_[k].name), ": no tensor references it");
  uint64_t stored = 0;
  for (size_t s = 0; s < section_count; ++s) {
    auto& sec = a.sections_[s];
    part("section ", s, ": ");
    if (!payloads[s]) return Corrupt("no tensor points into it");
    if (next[s] != sec.raw_size) return Corrupt("raw_size ", sec.raw_size, " but its tensors cover ", next[s], " bytes");
    sec.file_offset = 20 + msize + stored;  // valid once the size equation below holds
    auto sum = CheckedAdd(stored, sec.stored_size);
    if (!sum) return Corrupt("stored sizes overflow");
    stored = *sum;
  }
  ctx.clear();
  auto expected = CheckedAdd(32 + msize, stored);
  if (!expected || *expected != size)
    return Corrupt("file: 32 + manifest_size ", msize, " + section stored sizes ", stored,
                   expected ? Str(" = ", *expected) : " overflows", ", but the file is ", size, " bytes");
  return a;
}

Result<ByteSpan> Artifact::RawSection(size_t s, std::vector<uint8_t>& storage) const {
  if (s >= sections_.size()) return InvalidArgument(origin_, ": section ", s, " out of range");
  auto& sec = sections_[s];
  const std::string where = Str(origin_, ": section ", s, " (", CodecName(sec.codec), ", offset ", sec.file_offset, "): ");
  auto stored = bytes_.subspan(sec.file_offset, sec.stored_size);
  if (const uint32_t crc = Crc32c(stored); crc != sec.crc32c)
    return Corrupt(where, "CRC-32C ", crc, " != ", sec.crc32c, " in the manifest (the section is damaged)");
  if (sec.codec != Codec::kNone) {
    auto d = FindDecompressor(sec.codec);
    if (!d) return Unsupported(where, "codec ", CodecName(sec.codec), " not available in this build");
    auto raw = d(stored, sec.raw_size);
    if (!raw.ok()) return Status(raw.status().code(), where + raw.status().message());
    if (raw->size() != sec.raw_size)
      return Corrupt(where, "decompressed to ", raw->size(), " bytes, expected raw_size ", sec.raw_size);
    stored = storage = std::move(*raw);
  }
  if (const size_t k = sec.shuffle) {  // raw[j*k + p] = stored[off_p + j]
    std::vector<uint8_t> raw(stored.size());
    for (size_t i = 0, p = 0; p < k; ++p)
      for (size_t j = p; j < raw.size(); j += k) raw[j] = stored[i++];
    stored = storage = std::move(raw);
  }
  return stored;
}

Result<std::vector<uint8_t>> Artifact::SectionBytes(size_t section) const {
  std::vector<uint8_t> storage;
  GP_ASSIGN_OR_RETURN(auto raw, RawSection(section, storage));
  if (raw.data() != storage.data()) storage.assign(raw.begin(), raw.end());
  return storage;
}

Result<std::vector<float>> Artifact::DecodeTensor(size_t i, DecodeFn fn) const {
  if (i >= tensors_.size()) return InvalidArgument(origin_, ": tensor ", i, " out of range");
  GP_ASSIGN_OR_RETURN(auto out, Decode(i, i + 1, fn));
  return std::move(out[0]);
}

Result<std::vector<std::vector<float>>> Artifact::Decode(size_t begin, size_t end, DecodeFn fn) const {
  std::vector<std::vector<uint8_t>> storage(sections_.size());
  std::vector<std::optional<ByteSpan>> raw(sections_.size());
  auto bytes = [&](const PayloadInfo& p) -> Result<ByteSpan> {
    if (!raw[p.section]) {
      GP_ASSIGN_OR_RETURN(raw[p.section], RawSection(p.section, storage[p.section]));
    }
    return raw[p.section]->subspan(p.offset, p.length);
  };
  std::vector<std::vector<float>> out;
  for (size_t i = begin; i < end; ++i) {
    auto& t = tensors_[i];
    std::vector<ObjectView> objects;
    for (uint32_t o : t.refs) {
      GP_ASSIGN_OR_RETURN(auto data, bytes(objects_[o]));
      objects.push_back({objects_[o].kind, objects_[o].params, data});
    }
    GP_ASSIGN_OR_RETURN(auto payload, bytes(t));
    const TensorView view{t.shape, t.numel, t.params, payload, objects};
    std::vector<float>& v = out.emplace_back(t.numel);
    Status st = fn ? fn(t.encoding, view, v) : FindEncoding(t.encoding)->decode(view, v);
    if (!st.ok()) return Status(st.code(), Str(origin_, ": tensor ", i, " ", Quote(t.name), ": ", st.message()));
  }
  return out;
}

}  // namespace golfpack::gpk
