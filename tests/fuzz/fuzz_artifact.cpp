// libFuzzer harness for the .gpk reader (docs/FORMAT.md).
// Any input must either be rejected (kCorrupt, or kUnsupported for the
// decoded-size limit / a codec this build lacks) or parse into an artifact
// whose byte accounting adds up to the file size and whose every tensor
// decodes identically through the fast and the reference decoders. A file
// that parses with the whole-file hash also parses without it (same result),
// and a fully decodable artifact rebuilt with BuildArtifact (same codecs and
// shuffle strides) parses back to the same tensors, and to the same file size
// when the rebuilt version has the same layout.
//
// Random mutations almost never keep the XXH64 / CRC-32C fields right, which
// would stop the fuzzer at step 2 of the checks. So each input is tried twice:
// as given, and with every checksum recomputed (section CRCs located by a
// lenient walk of the manifest), which lets mutations reach the manifest
// bounds, the section coverage rules and the decoders.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/checksum.h"
#include "core/encodings.h"
#include "fuzz_common.h"

namespace {

using namespace golfpack;
using namespace golfpack::gpk;

void Check(bool cond) {
  if (!cond) std::abort();
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

constexpr uint64_t kMaxElements = uint64_t{1} << 20;  // keeps allocations small

bool SameInfo(const Artifact& x, const Artifact& y) {
  if (x.tensors().size() != y.tensors().size() || x.sections().size() != y.sections().size()) return false;
  for (size_t i = 0; i < x.tensors().size(); ++i) {
    const TensorInfo &a = x.tensors()[i], &b = y.tensors()[i];
    if (a.name != b.name || a.shape != b.shape || a.numel != b.numel || a.dtype != b.dtype ||
        a.encoding != b.encoding || a.section != b.section || a.offset != b.offset || a.length != b.length ||
        a.params != b.params || a.refs != b.refs)
      return false;
  }
  for (size_t s = 0; s < x.sections().size(); ++s)
    if (x.sections()[s].codec != y.sections()[s].codec || x.sections()[s].shuffle != y.sections()[s].shuffle ||
        x.sections()[s].raw_size != y.sections()[s].raw_size)
      return false;
  if (x.objects().size() != y.objects().size()) return false;
  for (size_t k = 0; k < x.objects().size(); ++k) {
    const ObjectInfo &a = x.objects()[k], &b = y.objects()[k];
    if (a.name != b.name || a.kind != b.kind || a.section != b.section || a.offset != b.offset || a.length != b.length)
      return false;
  }
  return x.metadata() == y.metadata();
}

void Store32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Recomputes section CRCs, the manifest CRC and the file hash in place, as far
// as the layout can be followed. Returns false if nothing could be fixed.
bool FixChecksums(std::vector<uint8_t>& b) {
  if (b.size() < 32) return false;
  const uint64_t msize = uint64_t{b[12]} | uint64_t{b[13]} << 8 | uint64_t{b[14]} << 16 | uint64_t{b[15]} << 24;
  if (msize > b.size() - 32) return false;
  ByteReader r(std::span<const uint8_t>(b).subspan(16, msize));
  [&] {
    auto meta = r.Varint("m");
    if (!meta.ok()) return;
    for (uint64_t i = 0; i < *meta; ++i)
      for (int k = 0; k < 2; ++k) {
        auto len = r.Varint("l");
        if (!len.ok() || !r.Bytes(*len, "s").ok()) return;
      }
    auto count = r.Varint("c");
    if (!count.ok()) return;
    uint64_t pos = 20 + msize;
    const uint64_t data_end = b.size() - 12;
    for (uint64_t i = 0; i < *count; ++i) {
      auto codec = r.U8("codec");
      auto stored = codec.ok() ? r.Varint("stored") : Result<uint64_t>(Corrupt(""));
      auto raw = stored.ok() ? r.Varint("raw") : Result<uint64_t>(Corrupt(""));
      if (!raw.ok() || r.remaining() < 4) return;
      uint32_t crc = 0;
      if (pos <= data_end && *stored <= data_end - pos) crc = Crc32c(std::span<const uint8_t>(b).subspan(pos, *stored));
      Store32(b.data() + 16 + r.position(), crc);
      (void)r.Bytes(4, "crc");
      if (*stored > data_end) return;
      pos += *stored;
    }
  }();
  Store32(b.data() + 16 + msize, Crc32c(std::span<const uint8_t>(b).first(16 + msize)));
  const uint64_t h = Xxh64(std::span<const uint8_t>(b).first(b.size() - 12));
  for (int i = 0; i < 8; ++i) b[b.size() - 12 + i] = static_cast<uint8_t>(h >> (8 * i));
  return true;
}

void FuzzOne(std::span<const uint8_t> in);

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  golfpack::fuzz::RegisterFuzzCodecs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  FuzzOne(in);
  std::vector<uint8_t> fixed(in.begin(), in.end());
  if (FixChecksums(fixed) && !std::equal(fixed.begin(), fixed.end(), in.begin())) FuzzOne(fixed);
  return 0;
}

namespace {

void FuzzOne(std::span<const uint8_t> in) {
  const size_t size = in.size();
  Artifact::Options hashed, fast;
  hashed.max_elements = fast.max_elements = kMaxElements;
  fast.verify_file_hash = false;
  auto with_hash = Artifact::Parse(in, "fuzz", hashed);
  auto parsed = Artifact::Parse(in, "fuzz", fast);
  for (const auto* r : {&with_hash, &parsed}) {
    if (!r->ok()) {
      const StatusCode c = r->status().code();
      Check(c == StatusCode::kCorrupt || c == StatusCode::kUnsupported);
      Check(r->status().message().rfind("fuzz: ", 0) == 0);
      Check(r->status().message().find('\n') == std::string::npos);
    }
  }
  if (with_hash.ok()) Check(parsed.ok() && SameInfo(*with_hash, *parsed));
  if (!parsed.ok()) return;
  const Artifact& a = *parsed;

  uint64_t total = 0;
  const auto parts = gpk::AccountBytes(a).parts;
  for (const auto& [name, n] : parts) total += n;
  Check(total == size);
  Check(parts.size() == (a.version() >= 2 ? 5 : 4) + a.objects().size() + a.tensors().size());

  bool all_ok = true;
  std::vector<std::vector<float>> values;
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    auto f = a.DecodeTensor(i);
    auto r = gpk::DecodeTensorRef(a, i);
    Check(f.ok() == r.ok());
    if (!f.ok()) {
      Check(f.status().code() == r.status().code() && f.status().message() == r.status().message());
      Check(f.status().code() == StatusCode::kCorrupt || f.status().code() == StatusCode::kUnsupported);
      all_ok = false;
      continue;
    }
    Check(f->size() == a.tensors()[i].numel);
    Check(SameBits(*f, *r));
    values.push_back(std::move(*f));
  }
  auto all = a.DecodeAll();
  Check(all.ok() == all_ok);
  if (!all_ok) return;
  for (size_t i = 0; i < values.size(); ++i) Check(SameBits((*all)[i], values[i]));

  // Rebuild from the parsed pieces: the writer accepts it, and it reads back the same.
  std::vector<EncodedTensor> ts;
  WriteOptions o;
  o.metadata = a.metadata();
  bool shuffled = false;
  for (const SectionInfo& s : a.sections()) {
    o.sections.push_back({s.codec, -1, {}, {}, s.shuffle});
    shuffled |= s.shuffle != 0;
  }
  for (size_t k = 0; k < a.objects().size(); ++k) {  // version 2: shared objects, in order
    const ObjectInfo& ob = a.objects()[k];
    auto raw = a.SectionBytes(ob.section);
    Check(raw.ok());
    EncodedObject e;
    e.name = ob.name;
    e.kind = ob.kind;
    e.payload.assign(raw->begin() + static_cast<long>(ob.offset), raw->begin() + static_cast<long>(ob.offset + ob.length));
    o.objects.push_back(std::move(e));
    o.sections[ob.section].objects.push_back(k);
  }
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorInfo& t = a.tensors()[i];
    auto raw = a.SectionBytes(t.section);
    Check(raw.ok());
    EncodedTensor e;
    e.name = t.name;
    e.shape = t.shape;
    e.dtype = t.dtype;
    e.encoding = t.encoding;
    e.params = t.params;
    e.refs = t.refs;
    e.payload.assign(raw->begin() + static_cast<long>(t.offset), raw->begin() + static_cast<long>(t.offset + t.length));
    ts.push_back(std::move(e));
    o.sections[t.section].tensors.push_back(i);
  }
  auto rebuilt = BuildArtifact(ts, o);
  Check(rebuilt.ok());
  auto again = Artifact::Parse(*rebuilt, "fuzz-rebuilt", hashed);
  Check(again.ok() && SameInfo(a, *again));
  // The writer writes the lowest version the file needs (3 shuffled, 2 with
  // objects, else 1). Versions 2 and 3 share a layout; version 1 lacks the
  // object and ref counts, so a version-2 or -3 file that needs only version 1
  // comes back a few bytes shorter.
  Check(again->version() == (shuffled ? 3 : a.objects().empty() ? 1 : 2));
  if ((again->version() >= 2) == (a.version() >= 2)) Check(rebuilt->size() == size);
  for (size_t i = 0; i < values.size(); ++i) {
    auto d = again->DecodeTensor(i);
    Check(d.ok() && SameBits(*d, values[i]));
  }
}

}  // namespace
