// libFuzzer harness for the safetensors reader: any input must either parse
// into tensors whose data sizes agree with their shapes, or be rejected with
// kCorrupt; it must never crash, hang, or allocate beyond what the input justifies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace golfpack;
  auto parsed = io::ParseSafetensors(std::span<const uint8_t>(data, size), "fuzz");
  if (!parsed.ok()) {
    if (parsed.status().code() != StatusCode::kCorrupt) std::abort();
    return 0;
  }
  for (const io::Tensor& t : parsed->tensors) {
    const int64_t n = t.numel();
    if (n < 0 || static_cast<uint64_t>(n) * io::DTypeSize(t.dtype) != t.data.size()) std::abort();
    auto f = t.ToFloat32();
    const bool is_float = t.dtype == io::DType::kF32 || t.dtype == io::DType::kF16 ||
                          t.dtype == io::DType::kBF16 || t.dtype == io::DType::kF64;
    if (f.ok() != is_float) std::abort();
    if (f.ok() && f->size() != static_cast<size_t>(n)) std::abort();
  }
  // A parsed file must serialize and parse back to the same tensors.
  auto bytes = io::SerializeSafetensors(*parsed);
  if (!bytes.ok()) {
    // Only reachable for names/metadata the writer refuses (e.g. invalid UTF-8,
    // which the JSON parser already rejects), so treat it as a bug.
    std::abort();
  }
  auto again = io::ParseSafetensors(*bytes, "fuzz-roundtrip");
  if (!again.ok() || again->tensors.size() != parsed->tensors.size()) std::abort();
  for (size_t i = 0; i < again->tensors.size(); ++i) {
    if (again->tensors[i].data != parsed->tensors[i].data || again->tensors[i].shape != parsed->tensors[i].shape ||
        again->tensors[i].dtype != parsed->tensors[i].dtype || again->tensors[i].name != parsed->tensors[i].name)
      std::abort();
  }
  if (again->metadata != parsed->metadata) std::abort();
  return 0;
}
