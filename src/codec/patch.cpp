// Encoding 10 `patch`, the writer's side (codec/patch.h, FORMAT.md "10: patch").
#include "codec/patch.h"

#include <Eigen/Dense>
#include <string>

#include "codec/lowrank.h"
#include "core/byte_reader.h"

namespace golfpack::encode {
namespace {

// The values block is a lowrank factor block with group 0: n x m values.
LowRankSpec BlockSpec(const PatchSpec& s) {
  LowRankSpec b;
  b.rank = 1;
  b.bits = s.bits;
  b.group = 0;
  return b;
}
// n x m of the values block for `count` units.
std::pair<uint64_t, uint64_t> BlockDims(const PatchSpec& s, uint64_t count, uint64_t len) {
  return s.unit == gpk::kPatchElement ? std::pair<uint64_t, uint64_t>{1, count} : std::pair<uint64_t, uint64_t>{count, len};
}

Status CheckSpec(const PatchSpec& s) {
  if (s.unit > gpk::kPatchRow) return InvalidArgument("patch unit " + std::to_string(int(s.unit)) + " is not 0..3");
  if (s.unit == gpk::kPatchBlock && s.block < 1) return InvalidArgument("patch block " + std::to_string(s.block) + " must be >= 1");
  if (s.bits != 16 && (s.bits < 2 || s.bits > 8))
    return InvalidArgument("patch bits " + std::to_string(s.bits) + " must be 2..8 or 16");
  return Status::Ok();
}

gpk::PatchParams ParamsOf(uint32_t inner_encoding, std::span<const uint8_t> inner_params, uint64_t inner_payload,
                          const PatchSpec& s, uint64_t count, int rice_k) {
  gpk::PatchParams p;
  p.inner = inner_encoding;
  p.inner_params.assign(inner_params.begin(), inner_params.end());
  p.inner_payload = inner_payload;
  p.unit = s.unit;
  p.block = s.unit == gpk::kPatchBlock ? static_cast<uint64_t>(s.block) : 0;
  p.bits = static_cast<uint8_t>(s.bits);
  p.rice_k = static_cast<uint8_t>(rice_k);
  p.count = count;
  return p;
}

}  // namespace

std::string PatchSpec::ToString() const {
  std::string u = unit == gpk::kPatchElement ? "e"
                  : unit == gpk::kPatchBlock ? "k" + std::to_string(block)
                  : unit == gpk::kPatchColumn ? "c"
                                              : "r";
  return u + ":b" + std::to_string(bits);
}

Result<PatchSpec> PatchSpec::Parse(std::string_view text) {
  PatchSpec s;
  const auto bad = [&](const std::string& why) {
    return InvalidArgument("patch spec '" + std::string(text) + "': " + why + " (like e:b8, k16:b4, c:b8, r:b16)");
  };
  const size_t colon = text.find(':');
  const std::string_view u = text.substr(0, colon);
  if (u == "e") s.unit = gpk::kPatchElement;
  else if (u == "c") s.unit = gpk::kPatchColumn;
  else if (u == "r") s.unit = gpk::kPatchRow;
  else if (u.size() > 1 && u[0] == 'k') {
    s.unit = gpk::kPatchBlock;
    try {
      size_t used = 0;
      s.block = std::stoi(std::string(u.substr(1)), &used);
      if (used != u.size() - 1) return bad("bad block length");
    } catch (...) {
      return bad("bad block length");
    }
  } else {
    return bad("unknown unit '" + std::string(u) + "'");
  }
  if (colon != std::string_view::npos) {
    const std::string_view b = text.substr(colon + 1);
    if (b.size() < 2 || b[0] != 'b') return bad("expected b<bits> after ':'");
    try {
      size_t used = 0;
      s.bits = std::stoi(std::string(b.substr(1)), &used);
      if (used != b.size() - 1) return bad("bad bits");
    } catch (...) {
      return bad("bad bits");
    }
  }
  Status st = CheckSpec(s);
  if (!st.ok()) return bad(st.message());
  return s;
}

uint64_t PatchUnitCount(const PatchSpec& s, uint64_t rows, uint64_t cols) {
  switch (s.unit) {
    case gpk::kPatchElement: return rows * cols;
    case gpk::kPatchBlock: return rows * cols / static_cast<uint64_t>(s.block);
    case gpk::kPatchColumn: return cols;
    default: return rows;
  }
}

uint64_t PatchUnitLen(const PatchSpec& s, uint64_t rows, uint64_t cols) {
  switch (s.unit) {
    case gpk::kPatchElement: return 1;
    case gpk::kPatchBlock: return static_cast<uint64_t>(s.block);
    case gpk::kPatchColumn: return rows;
    default: return cols;
  }
}

std::vector<float> QuantizePatchValues(const PatchValues& v, const PatchSpec& s, uint64_t len) {
  const auto [n, m] = BlockDims(s, v.units.size(), len);
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(
      v.values.data(), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(m));
  const QuantizedBlock q = QuantizeBlock(x, BlockSpec(s));
  std::vector<float> out(v.values.size());
  for (uint64_t i = 0; i < n; ++i)
    for (uint64_t j = 0; j < m; ++j)
      out[i * m + j] = q.values(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
  return out;
}

RiceChoice BestRice(std::span<const uint64_t> units) {
  RiceChoice best{0, UINT64_MAX};
  for (int k = 0; k <= 40; ++k) {
    uint64_t bits = 0, prev = 0;
    bool over = false;
    for (size_t i = 0; i < units.size() && !over; ++i) {
      const uint64_t gap = i == 0 ? units[0] : units[i] - prev - 1;
      prev = units[i];
      bits += (gap >> k) + 1 + static_cast<uint64_t>(k);
      over = bits >= best.bits;
    }
    if (!over) best = {k, bits};
  }
  return best;
}

PatchBytes PatchBytesOf(uint32_t inner_encoding, std::span<const uint8_t> inner_params, uint64_t inner_payload,
                        const PatchValues& v, const PatchSpec& s, uint64_t len) {
  const RiceChoice rice = BestRice(v.units);
  const auto [n, m] = BlockDims(s, v.units.size(), len);
  PatchBytes out;
  out.payload = inner_payload + BlockBytes(n, m, BlockSpec(s)) + (rice.bits + 7) / 8;
  out.params = ParamsOf(inner_encoding, inner_params, inner_payload, s, v.units.size(), rice.k).Serialize().size();
  return out;
}

Result<gpk::EncodedTensor> EncodePatch(const gpk::EncodedTensor& inner, const PatchValues& v, const PatchSpec& s) {
  const std::string where = "tensor '" + inner.name + "': patch: ";
  Status st = CheckSpec(s);
  if (!st.ok()) return InvalidArgument(where + st.message());
  if (inner.shape.size() != 2) return InvalidArgument(where + "needs a 2-D tensor, got ndim " + std::to_string(inner.shape.size()));
  const gpk::EncodingTraits* enc = gpk::FindEncoding(inner.encoding);
  if (enc == nullptr || inner.encoding == gpk::kPatch || enc->refs != 0 || !inner.refs.empty())
    return InvalidArgument(where + "inner encoding " + std::to_string(inner.encoding) +
                           " must be a known encoding other than patch that takes no shared objects");
  const uint64_t rows = inner.shape[0], cols = inner.shape[1];
  if (s.unit == gpk::kPatchBlock && cols % static_cast<uint64_t>(s.block) != 0)
    return InvalidArgument(where + "block " + std::to_string(s.block) + " does not divide cols " + std::to_string(cols));
  const uint64_t units = PatchUnitCount(s, rows, cols), len = PatchUnitLen(s, rows, cols);
  if (v.units.empty()) return InvalidArgument(where + "no units to patch");
  for (size_t i = 0; i < v.units.size(); ++i)
    if (v.units[i] >= units || (i > 0 && v.units[i] <= v.units[i - 1]))
      return InvalidArgument(where + "units must increase and be < " + std::to_string(units) + " (unit " +
                             std::to_string(i) + " is " + std::to_string(v.units[i]) + ")");
  if (v.values.size() != v.units.size() * len)
    return InvalidArgument(where + std::to_string(v.values.size()) + " values for " + std::to_string(v.units.size()) +
                           " units of " + std::to_string(len));
  for (float x : v.values)
    if (!std::isfinite(x)) return InvalidArgument(where + "non-finite correction");
  const RiceChoice rice = BestRice(v.units);
  gpk::EncodedTensor out;
  out.name = inner.name;
  out.shape = inner.shape;
  out.dtype = inner.dtype;
  out.encoding = gpk::kPatch;
  out.params = ParamsOf(inner.encoding, inner.params, inner.payload.size(), s, v.units.size(), rice.k).Serialize();
  out.payload = inner.payload;
  const auto [n, m] = BlockDims(s, v.units.size(), len);
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(
      v.values.data(), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(m));
  const QuantizedBlock q = QuantizeBlock(x, BlockSpec(s));
  out.payload.insert(out.payload.end(), q.bytes.begin(), q.bytes.end());
  // Positions: Rice-coded gaps, LSB-first.
  std::vector<uint8_t> bits((rice.bits + 7) / 8, 0);
  uint64_t at = 0, prev = 0;
  auto put = [&](unsigned b) {
    if (b) bits[at / 8] |= static_cast<uint8_t>(1u << (at % 8));
    ++at;
  };
  for (size_t i = 0; i < v.units.size(); ++i) {
    const uint64_t gap = i == 0 ? v.units[0] : v.units[i] - prev - 1;
    prev = v.units[i];
    for (uint64_t j = 0; j < (gap >> rice.k); ++j) put(1);
    put(0);
    for (int j = 0; j < rice.k; ++j) put((gap >> j) & 1);
  }
  out.payload.insert(out.payload.end(), bits.begin(), bits.end());
  return out;
}

}  // namespace golfpack::encode
