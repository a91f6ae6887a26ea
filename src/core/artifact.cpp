// The .gpk writer, docs/FORMAT.md versions 1 to 3. Standard library only.
#include "core/artifact.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "core/byte_reader.h"
#include "core/checksum.h"
#include "core/encodings.h"
#include "core/file_util.h"

namespace golfpack::gpk {
namespace {

constexpr uint8_t kMagic[8] = {'G', 'O', 'L', 'F', 'P', 'A', 'C', 'K'};
constexpr uint8_t kEndMagic[4] = {'G', 'P', 'K', 'E'};
constexpr uint8_t kNumDTypes = 3;

std::string Num(uint64_t v) { return std::to_string(v); }
std::string Quote(std::string_view s) {
  std::string q = "'";
  q.append(s).push_back('\'');
  return q;
}

// Problem with a string the format would reject, or empty.
std::string StringProblem(std::string_view s) {
  if (s.size() > kMaxStringBytes) return "length " + Num(s.size()) + " exceeds " + Num(kMaxStringBytes) + " bytes";
  if (s.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (!ValidUtf8(s)) return "is not valid UTF-8";
  return {};
}
std::span<const uint8_t> AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
Status Prefixed(const Status& s, const std::string& prefix) { return Status(s.code(), prefix + s.message()); }

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

void RegisterCodec(Codec c, CodecImpl impl) {
  const auto idx = static_cast<uint8_t>(c);
  if (c == Codec::kNone || idx >= kNumCodecs) return;
  CodecSlots& s = Codecs();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!impl.compress && !impl.decompress) {
    s.slot[idx].store(nullptr);
    RegisterDecompressor(c, nullptr);
    return;
  }
  RegisterDecompressor(c, impl.decompress);
  s.keep.push_back(std::make_unique<CodecImpl>(std::move(impl)));
  s.slot[idx].store(s.keep.back().get());
}

const CodecImpl* FindCodec(Codec c) {
  const auto idx = static_cast<uint8_t>(c);
  if (c == Codec::kNone || idx >= kNumCodecs) return nullptr;
  return Codecs().slot[idx].load();
}

Result<std::vector<float>> DecodeTensorRef(const Artifact& a, size_t i) { return a.DecodeTensor(i, DecodeRef); }

// Chunk p (p = 0 .. s-1) holds the bytes at positions p, p + s, p + 2s, ...
std::vector<uint8_t> ShuffleBytes(std::span<const uint8_t> raw, size_t stride) {
  const size_t s = std::max<size_t>(stride, 1);
  std::vector<uint8_t> out;
  out.reserve(raw.size());
  for (size_t p = 0; p < s; ++p)
    for (size_t i = p; i < raw.size(); i += s) out.push_back(raw[i]);
  return out;
}

std::vector<uint8_t> UnshuffleBytes(std::span<const uint8_t> shuffled, size_t stride) {
  const size_t s = std::max<size_t>(stride, 1);
  std::vector<uint8_t> out(shuffled.size());
  size_t k = 0;
  for (size_t p = 0; p < s; ++p)
    for (size_t i = p; i < out.size(); i += s) out[i] = shuffled[k++];
  return out;
}

std::optional<size_t> FindTensor(const Artifact& a, std::string_view name) {
  for (size_t i = 0; i < a.tensors().size(); ++i)
    if (a.tensors()[i].name == name) return i;
  return std::nullopt;
}

namespace {

// floor(a * b / d) and the remainder, in 128-bit arithmetic (d > 0).
void MulDivMod(uint64_t a, uint64_t b, uint64_t d, uint64_t* q, uint64_t* r) {
  const uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
  const uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  const uint64_t lo = (ll & 0xffffffffu) | (mid << 32), hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  uint64_t quot = 0, rem = 0;
  for (int bit = 127; bit >= 0; --bit) {
    const bool carry = (rem >> 63) != 0;
    rem = (rem << 1) | (bit >= 64 ? (hi >> (bit - 64)) & 1 : (lo >> bit) & 1);
    quot <<= 1;
    if (carry || rem >= d) rem -= d, quot |= 1;
  }
  *q = quot, *r = rem;
}

// Largest-remainder split of `total` in proportion to `weights` (all zero
// counts as all equal); ties go to the earlier entry.
std::vector<uint64_t> SplitBytes(uint64_t total, std::vector<uint64_t> weights) {
  uint64_t sum = 0;
  for (uint64_t w : weights) sum += w;
  if (sum == 0) std::fill(weights.begin(), weights.end(), 1), sum = weights.size();
  std::vector<uint64_t> share(weights.size()), rem(weights.size());
  uint64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) MulDivMod(total, weights[i], sum, &share[i], &rem[i]), given += share[i];
  std::vector<size_t> order(weights.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return rem[x] > rem[y]; });
  for (size_t k = 0; given < total; ++k, ++given) ++share[order[k]];
  return share;
}

}  // namespace

ByteAccount AccountBytes(const Artifact& a) {
  ByteAccount out;
  // Manifest bytes outside the entries; varints are minimal, so their sizes follow from the values.
  uint64_t metadata = VarintSize(a.metadata().size()), sections = VarintSize(a.sections().size());
  for (const auto& [k, v] : a.metadata()) metadata += VarintSize(k.size()) + k.size() + VarintSize(v.size()) + v.size();
  for (const SectionInfo& s : a.sections()) sections += 1 + VarintSize(s.stored_size) + VarintSize(s.raw_size) + 4;
  out.parts = {{"container", kContainerOverhead}, {"manifest.metadata", metadata}, {"manifest.sections", sections}};
  if (a.version() >= 2) out.parts.emplace_back("manifest.objects", VarintSize(a.objects().size()));
  out.parts.emplace_back("manifest.tensors", VarintSize(a.tensors().size()));
  // Payloads in manifest order (objects, then tensors) share out their sections.
  std::vector<const PayloadInfo*> order;
  for (const auto& o : a.objects()) order.push_back(&o);
  for (const auto& t : a.tensors()) order.push_back(&t);
  std::vector<std::vector<uint64_t>> weights(a.sections().size()), share(a.sections().size());
  for (const PayloadInfo* x : order) weights[x->section].push_back(x->length);
  for (size_t s = 0; s < share.size(); ++s) share[s] = SplitBytes(a.sections()[s].stored_size, weights[s]);
  std::vector<size_t> k(share.size(), 0);
  std::vector<uint64_t> bytes;
  for (const PayloadInfo* x : order) bytes.push_back(x->manifest_bytes + share[x->section][k[x->section]++]);
  out.objects.assign(bytes.begin(), bytes.begin() + long(a.objects().size()));
  out.tensors.assign(bytes.begin() + long(a.objects().size()), bytes.end());
  for (size_t i = 0; i < out.objects.size(); ++i) out.parts.emplace_back("object:" + a.objects()[i].name, out.objects[i]);
  for (size_t i = 0; i < out.tensors.size(); ++i) out.parts.emplace_back("tensor:" + a.tensors()[i].name, out.tensors[i]);
  return out;
}

Result<std::vector<uint8_t>> BuildArtifact(const std::vector<EncodedTensor>& tensors, const WriteOptions& options) {
  const std::string at = "BuildArtifact: ";
  for (const auto& [key, value] : options.metadata) {
    std::string p = StringProblem(key);
    if (!p.empty()) return InvalidArgument(at + "metadata key " + Quote(key) + " " + p);
    p = StringProblem(value);
    if (!p.empty()) return InvalidArgument(at + "metadata value of " + Quote(key) + " " + p);
  }
  const std::vector<EncodedObject>& objects = options.objects;
  std::set<std::string_view> names, object_names;
  std::vector<bool> referenced(objects.size(), false);
  std::vector<uint64_t> numels(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const EncodedTensor& t = tensors[i];
    const std::string ctx = at + "tensor " + Num(i) + " " + Quote(t.name) + ": ";
    std::string p = StringProblem(t.name);
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
    if (t.refs.size() != enc->refs)
      return InvalidArgument(ctx + Num(t.refs.size()) + " object refs, " + enc->name + " takes " + Num(enc->refs));
    for (uint32_t r : t.refs) {
      if (r >= objects.size()) return InvalidArgument(ctx + "ref " + Num(r) + " >= object count " + Num(objects.size()));
      referenced[r] = true;
    }
  }
  for (size_t k = 0; k < objects.size(); ++k) {
    const EncodedObject& o = objects[k];
    const std::string ctx = at + "object " + Num(k) + " " + Quote(o.name) + ": ";
    std::string p = StringProblem(o.name);
    if (!p.empty()) return InvalidArgument(ctx + "name " + p);
    if (!object_names.insert(o.name).second) return InvalidArgument(ctx + "duplicate object name");
    if (o.kind >= kNumObjectKinds) return InvalidArgument(ctx + "unknown kind " + Num(o.kind));
    if (o.payload.size() % 4 != 0) return InvalidArgument(ctx + "f32_values payload is not a whole number of f32");
    if (!referenced[k]) return InvalidArgument(ctx + "no tensor references it");
  }

  std::vector<SectionPlan> plans = options.sections;
  if (plans.empty()) {
    for (size_t k = 0; k < objects.size(); ++k) plans.push_back(SectionPlan{Codec::kNone, -1, {}, {k}});
    for (size_t i = 0; i < tensors.size(); ++i) plans.push_back(SectionPlan{Codec::kNone, -1, {i}, {}});
  }
  // owner[x]: the section of payload x, objects first then tensors (manifest order).
  const size_t n_obj = objects.size();
  std::vector<int64_t> owner(n_obj + tensors.size(), -1);
  auto name_of = [&](size_t x) { return x < n_obj ? "object " + Quote(objects[x].name) : "tensor " + Quote(tensors[x - n_obj].name); };
  for (size_t s = 0; s < plans.size(); ++s) {
    SectionPlan& p = plans[s];
    if (p.tensors.empty() && p.objects.empty()) return InvalidArgument(at + "section " + Num(s) + " has no payloads");
    if (static_cast<uint8_t>(p.codec) >= kNumCodecs)
      return InvalidArgument(at + "section " + Num(s) + ": unknown codec " + Num(static_cast<uint8_t>(p.codec)));
    if (p.shuffle == 1 || p.shuffle > 15)
      return InvalidArgument(at + "section " + Num(s) + ": shuffle stride " + Num(p.shuffle) + " is not 0 or 2..15");
    std::vector<size_t> xs;
    for (size_t k : p.objects) {
      if (k >= n_obj) return InvalidArgument(at + "section " + Num(s) + ": object index " + Num(k) + " out of range");
      xs.push_back(k);
    }
    for (size_t ti : p.tensors) {
      if (ti >= tensors.size()) return InvalidArgument(at + "section " + Num(s) + ": tensor index " + Num(ti) + " out of range");
      xs.push_back(n_obj + ti);
    }
    for (size_t x : xs) {
      if (owner[x] != -1)
        return InvalidArgument(at + name_of(x) + " is in sections " + Num(uint64_t(owner[x])) + " and " + Num(s));
      owner[x] = int64_t(s);
    }
  }
  for (size_t x = 0; x < owner.size(); ++x)
    if (owner[x] == -1) return InvalidArgument(at + name_of(x) + " is in no section");
  if (plans.size() > UINT32_MAX) return InvalidArgument(at + "too many sections");
  auto payload_of = [&](size_t x) -> const std::vector<uint8_t>& {
    return x < n_obj ? objects[x].payload : tensors[x - n_obj].payload;
  };

  struct Built {
    Codec codec;
    uint8_t shuffle;
    uint64_t raw_size;
    std::vector<uint8_t> stored;
  };
  std::vector<Built> built;
  std::vector<std::vector<uint8_t>> raws(plans.size());
  std::vector<uint64_t> offsets(owner.size());
  for (size_t x = 0; x < owner.size(); ++x) {  // manifest order within each section
    auto& raw = raws[size_t(owner[x])];
    offsets[x] = raw.size();
    raw.insert(raw.end(), payload_of(x).begin(), payload_of(x).end());
  }
  for (size_t s = 0; s < plans.size(); ++s) {
    const SectionPlan& p = plans[s];
    std::vector<uint8_t>& raw = raws[s];
    Built b{p.codec, p.shuffle, raw.size(), {}};
    if (p.shuffle) raw = ShuffleBytes(raw, p.shuffle);  // what the codec sees and the reader unshuffles
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
  const bool shuffled = std::any_of(plans.begin(), plans.end(), [](const SectionPlan& p) { return p.shuffle != 0; });
  const uint16_t version = shuffled ? 3 : objects.empty() ? 1 : 2;

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
    m.U8(static_cast<uint8_t>(static_cast<uint8_t>(b.codec) | b.shuffle << 4));
    m.Varint(b.stored.size());
    m.Varint(b.raw_size);
    m.U32(Crc32c(b.stored));
  }
  if (version >= 2) {
    m.Varint(n_obj);
    for (size_t k = 0; k < n_obj; ++k) {
      const EncodedObject& o = objects[k];
      m.Varint(o.name.size());
      m.Bytes(AsBytes(o.name));
      m.Varint(o.kind);
      m.Varint(uint64_t(owner[k]));
      m.Varint(offsets[k]);
      m.Varint(o.payload.size());
      m.Varint(0);  // params_size: f32_values has none
    }
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
    m.Varint(uint64_t(owner[n_obj + i]));
    m.Varint(offsets[n_obj + i]);
    m.Varint(t.payload.size());
    m.Varint(t.params.size());
    m.Bytes(t.params);
    if (version >= 2) {
      m.Varint(t.refs.size());
      for (uint32_t r : t.refs) m.Varint(r);
    }
  }
  if (m.size() > UINT32_MAX) return InvalidArgument(at + "manifest is " + Num(m.size()) + " bytes, over the u32 limit");

  uint64_t total = kContainerOverhead + m.size();
  for (const Built& b : built) total += b.stored.size();
  ByteWriter f;
  f.Reserve(static_cast<size_t>(total));
  f.Bytes(kMagic);
  f.U16(version);
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
