// The encoding registry of docs/FORMAT.md ("Encodings"). Every decoder here
// trusts only what the container validated: out.size() == numel and
// payload.size() == payload_size(shape, numel, params). Each encoding has a
// fast decoder and a plainly written reference decoder (the test oracle);
// both return the same values bit for bit and the same error for bad codes.
#include "core/encodings.h"

#include <array>
#include <bit>
#include <limits>
#include <cstring>
#include <string>

#include "core/byte_reader.h"
#include "core/half.h"
#include "core/rans.h"

namespace golfpack::gpk {
namespace {

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
float LoadF32(const uint8_t* p) { return std::bit_cast<float>(Load32(p)); }

std::string Num(uint64_t v) { return std::to_string(v); }

Status NoParams(const char* name, std::span<const uint8_t> params) {
  if (!params.empty())
    return Corrupt(std::string(name) + ": params_size " + Num(params.size()) + ", expected 0");
  return Status::Ok();
}

// The decoders' contract, checked cheaply so a misuse is an error, not a bad read.
Status CheckView(const EncodingTraits& e, const TensorView& t, std::span<float> out) {
  if (out.size() != t.numel)
    return Internal(std::string(e.name) + ": output has " + Num(out.size()) + " floats for numel " + Num(t.numel));
  auto want = e.payload_size(t.shape, t.numel, t.params);
  if (!want.ok()) return want.status();
  if (e.fixed_rate ? *want != t.payload.size() : *want > t.payload.size())
    return Corrupt(std::string(e.name) + ": payload is " + Num(t.payload.size()) + " bytes, encoding requires " +
                   (e.fixed_rate ? "" : "at least ") + Num(*want));
  return Status::Ok();
}

const EncodingTraits& Traits(uint32_t id);

// ---------------------------------------------------------------- 0..2 raw

Result<uint64_t> RawF32Size(std::span<const uint64_t>, uint64_t numel, std::span<const uint8_t> params) {
  GP_RETURN_IF_ERROR(NoParams("raw_f32", params));
  auto n = CheckedMul(numel, 4);
  if (!n) return Corrupt("raw_f32: payload size overflows");
  return *n;
}
Result<uint64_t> Raw16Size(const char* name, uint64_t numel, std::span<const uint8_t> params) {
  GP_RETURN_IF_ERROR(NoParams(name, params));
  auto n = CheckedMul(numel, 2);
  if (!n) return Corrupt(std::string(name) + ": payload size overflows");
  return *n;
}
Result<uint64_t> RawF16Size(std::span<const uint64_t>, uint64_t numel, std::span<const uint8_t> params) {
  return Raw16Size("raw_f16", numel, params);
}
Result<uint64_t> RawBF16Size(std::span<const uint64_t>, uint64_t numel, std::span<const uint8_t> params) {
  return Raw16Size("raw_bf16", numel, params);
}

Status RawF32Decode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kRawF32), t, out));
  if constexpr (std::endian::native == std::endian::little) {
    if (!out.empty()) std::memcpy(out.data(), t.payload.data(), out.size() * 4);
  } else {
    for (size_t i = 0; i < out.size(); ++i) out[i] = LoadF32(t.payload.data() + 4 * i);
  }
  return Status::Ok();
}
Status RawF32Ref(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kRawF32), t, out));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = &t.payload[4 * i];
    uint32_t bits = 0;
    for (int b = 3; b >= 0; --b) bits = (bits << 8) | p[b];
    out[i] = std::bit_cast<float>(bits);
  }
  return Status::Ok();
}

Status RawF16Decode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kRawF16), t, out));
  const uint8_t* p = t.payload.data();
  for (size_t i = 0; i < out.size(); ++i) out[i] = HalfBitsToFloat(Load16(p + 2 * i));
  return Status::Ok();
}
// Reference binary16 -> f32 by the textbook formula (-1)^s * 2^(e-15) * (1 + m/1024).
float HalfRef(uint16_t h) {
  const bool neg = (h & 0x8000u) != 0;
  const int e = (h >> 10) & 0x1f;
  const int m = h & 0x3ff;
  float mag;
  if (e == 31) {
    if (m == 0) {
      mag = std::numeric_limits<float>::infinity();
    } else {
      // NaN: keep the payload bits as the conversion does.
      return std::bit_cast<float>((neg ? 0x80000000u : 0u) | 0x7f800000u | (static_cast<uint32_t>(m) << 13));
    }
  } else if (e == 0) {
    mag = static_cast<float>(m) * 0x1p-24f;  // exact
  } else {
    mag = (1.0f + static_cast<float>(m) * 0x1p-10f) * static_cast<float>(e >= 15 ? (1u << (e - 15)) : 1u) /
          static_cast<float>(e < 15 ? (1u << (15 - e)) : 1u);  // exact: powers of two
  }
  return neg ? -mag : mag;
}
Status RawF16Ref(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kRawF16), t, out));
  for (size_t i = 0; i < out.size(); ++i) out[i] = HalfRef(static_cast<uint16_t>(t.payload[2 * i] | t.payload[2 * i + 1] << 8));
  return Status::Ok();
}

Status RawBF16Decode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kRawBF16), t, out));
  const uint8_t* p = t.payload.data();
  for (size_t i = 0; i < out.size(); ++i) out[i] = BF16BitsToFloat(Load16(p + 2 * i));
  return Status::Ok();
}
float BF16Ref(uint16_t b) {
  uint32_t bits = 0;
  bits |= static_cast<uint32_t>(b) << 16;  // bf16 is the top half of an f32
  return std::bit_cast<float>(bits);
}
Status RawBF16Ref(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kRawBF16), t, out));
  for (size_t i = 0; i < out.size(); ++i) out[i] = BF16Ref(static_cast<uint16_t>(t.payload[2 * i] | t.payload[2 * i + 1] << 8));
  return Status::Ok();
}

// ---------------------------------------------------------------- 3, 4: Parameter Golf int8

Result<uint64_t> PgRowSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_RETURN_IF_ERROR(NoParams("pg_int8_row", params));
  if (shape.empty() || shape[0] == 0)
    return Corrupt("pg_int8_row: needs ndim >= 1 and rows >= 1, got ndim " + Num(shape.size()) +
                   (shape.empty() ? std::string() : ", rows " + Num(shape[0])));
  auto s = CheckedMul(shape[0], 2);
  auto n = s ? CheckedAdd(*s, numel) : std::nullopt;
  if (!n) return Corrupt("pg_int8_row: payload size overflows");
  return *n;
}
Status PgRowDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kPgInt8Row), t, out));
  const uint64_t rows = Rows(t.shape), cols = Cols(t.shape, t.numel);
  const uint8_t* scales = t.payload.data();
  const auto* q = reinterpret_cast<const int8_t*>(t.payload.data() + 2 * rows);
  float* o = out.data();
  for (uint64_t r = 0; r < rows; ++r) {
    const float s = HalfBitsToFloat(Load16(scales + 2 * r));
    const int8_t* qr = q + r * cols;
    float* orow = o + r * cols;
    for (uint64_t c = 0; c < cols; ++c) orow[c] = static_cast<float>(qr[c]) * s;
  }
  return Status::Ok();
}
Status PgRowRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kPgInt8Row), t, out));
  const uint64_t rows = t.shape[0];
  const uint64_t cols = t.numel / rows;
  for (uint64_t i = 0; i < t.numel; ++i) {
    const uint64_t r = i / cols;
    const float scale = HalfRef(static_cast<uint16_t>(t.payload[2 * r] | t.payload[2 * r + 1] << 8));
    const auto q = static_cast<int8_t>(t.payload[2 * rows + i]);
    out[i] = static_cast<float>(q) * scale;
  }
  return Status::Ok();
}

Result<uint64_t> PgTensorSize(std::span<const uint64_t>, uint64_t numel, std::span<const uint8_t> params) {
  GP_RETURN_IF_ERROR(NoParams("pg_int8_tensor", params));
  auto n = CheckedAdd(numel, 4);
  if (!n) return Corrupt("pg_int8_tensor: payload size overflows");
  return *n;
}
Status PgTensorDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kPgInt8Tensor), t, out));
  const float s = LoadF32(t.payload.data());
  const auto* q = reinterpret_cast<const int8_t*>(t.payload.data() + 4);
  float* o = out.data();
  for (size_t i = 0; i < out.size(); ++i) o[i] = static_cast<float>(q[i]) * s;
  return Status::Ok();
}
Status PgTensorRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kPgInt8Tensor), t, out));
  uint32_t bits = 0;
  for (int b = 3; b >= 0; --b) bits = (bits << 8) | t.payload[static_cast<size_t>(b)];
  const float scale = std::bit_cast<float>(bits);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(static_cast<int8_t>(t.payload[4 + i])) * scale;
  return Status::Ok();
}

// ---------------------------------------------------------------- 5: uniform

uint64_t ScaleBytes(uint8_t scale_dtype) { return scale_dtype == 1 ? 4 : 2; }

// Rows, columns and scales of a per-row / per-group grid (uniform, ans_grid).
struct GridLayout {
  uint64_t rows = 0, cols = 0, groups_per_row = 1, group = 0, n_scales = 0, scale_bytes = 0;
};

Status FillGridLayout(const char* what, std::span<const uint64_t> shape, uint64_t numel, uint32_t group_size,
                      uint8_t scale_dtype, GridLayout* L) {
  if (shape.empty()) return Corrupt(std::string(what) + ": needs ndim >= 1, got a 0-d tensor");
  L->rows = Rows(shape);
  L->cols = Cols(shape, numel);
  if (group_size != 0 && L->cols % group_size != 0)
    return Corrupt(std::string(what) + ": group_size " + Num(group_size) + " does not divide cols " + Num(L->cols));
  L->groups_per_row = group_size ? L->cols / group_size : 1;
  L->group = group_size ? group_size : L->cols;
  auto ns = CheckedMul(L->rows, L->groups_per_row);
  auto sb = ns ? CheckedMul(*ns, ScaleBytes(scale_dtype)) : std::nullopt;
  if (!sb) return Corrupt(std::string(what) + ": scale count overflows");
  L->n_scales = *ns;
  L->scale_bytes = *sb;
  return Status::Ok();
}

struct UniformLayout : GridLayout {
  UniformParams p;
  uint64_t code_bytes = 0;
};

Result<UniformLayout> UniformLayoutOf(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  UniformLayout L;
  GP_ASSIGN_OR_RETURN(L.p, UniformParams::Parse(params));
  GP_RETURN_IF_ERROR(FillGridLayout("uniform", shape, numel, L.p.group_size, L.p.scale_dtype, &L));
  if (L.p.packing == 0) {
    L.code_bytes = numel;
  } else {
    auto bits = CheckedMul(numel, L.p.bits);
    if (!bits) return Corrupt("uniform: code size overflows");
    L.code_bytes = *bits / 8 + (*bits % 8 != 0);
  }
  if (!CheckedAdd(L.scale_bytes, L.code_bytes)) return Corrupt("uniform: payload size overflows");
  return L;
}

Result<uint64_t> UniformSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_ASSIGN_OR_RETURN(UniformLayout L, UniformLayoutOf(shape, numel, params));
  return L.scale_bytes + L.code_bytes;
}

Status BadCode(uint64_t element, int64_t value, const UniformLayout& L) {
  if (L.p.packing == 0)
    return Corrupt("uniform: code " + std::to_string(value) + " of element " + Num(element) + " is outside [-" +
                   std::to_string(L.p.max_code()) + ", " + std::to_string(L.p.max_code()) + "]");
  return Corrupt("uniform: packed value " + std::to_string(value) + " of element " + Num(element) +
                 " is the reserved value 2^bits - 1");
}
Status BadPadding() { return Corrupt("uniform: nonzero padding bits after the last packed code"); }

float LoadScale(const uint8_t* p, uint8_t dtype) {
  switch (dtype) {
    case 0: return HalfBitsToFloat(Load16(p));
    case 1: return LoadF32(p);
    default: return BF16BitsToFloat(Load16(p));
  }
}

Status UniformDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kUniform), t, out));
  GP_ASSIGN_OR_RETURN(UniformLayout L, UniformLayoutOf(t.shape, t.numel, t.params));
  const uint8_t* scales = t.payload.data();
  const uint8_t* codes = t.payload.data() + L.scale_bytes;
  const uint64_t sbytes = ScaleBytes(L.p.scale_dtype);
  const int maxc = L.p.max_code();
  float* o = out.data();
  if (L.p.packing == 0) {
    const auto* q = reinterpret_cast<const int8_t*>(codes);
    int bad = 0;
    uint64_t i = 0;
    for (uint64_t s = 0; s < L.n_scales; ++s) {
      const float scale = LoadScale(scales + s * sbytes, L.p.scale_dtype);
      for (uint64_t c = 0; c < L.group; ++c, ++i) {
        const int v = q[i];
        bad |= (v > maxc) | (v < -maxc);
        o[i] = static_cast<float>(v) * scale;
      }
    }
    if (bad) {
      for (uint64_t k = 0; k < t.numel; ++k)
        if (q[k] > maxc || q[k] < -maxc) return BadCode(k, q[k], L);
    }
    return Status::Ok();
  }
  // packing 1: LSB-first bit stream through a 64-bit accumulator.
  const unsigned bits = L.p.bits;
  const uint32_t mask = (1u << bits) - 1;
  uint64_t acc = 0;
  unsigned have = 0;
  size_t pos = 0;
  uint64_t i = 0;
  for (uint64_t s = 0; s < L.n_scales; ++s) {
    const float scale = LoadScale(scales + s * sbytes, L.p.scale_dtype);
    for (uint64_t c = 0; c < L.group; ++c, ++i) {
      if (have < bits) {
        while (have <= 56 && pos < L.code_bytes) {
          acc |= uint64_t{codes[pos++]} << have;
          have += 8;
        }
      }
      const auto v = static_cast<uint32_t>(acc & mask);
      acc >>= bits;
      have -= bits;
      if (v == mask) return BadCode(i, v, L);
      o[i] = static_cast<float>(static_cast<int>(v) - maxc) * scale;
    }
  }
  // Whatever is left in the accumulator (and the stream) is padding.
  if (acc != 0 || pos != L.code_bytes) {
    for (; pos < L.code_bytes; ++pos) acc |= codes[pos];
    if (acc != 0) return BadPadding();
  }
  return Status::Ok();
}

Status UniformRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kUniform), t, out));
  GP_ASSIGN_OR_RETURN(UniformLayout L, UniformLayoutOf(t.shape, t.numel, t.params));
  const int maxc = L.p.max_code();
  const uint64_t sbytes = ScaleBytes(L.p.scale_dtype);
  for (uint64_t i = 0; i < t.numel; ++i) {
    const uint64_t r = i / L.cols, c = i % L.cols;
    const uint64_t g = L.p.group_size ? c / L.p.group_size : 0;
    const uint8_t* sp = &t.payload[(r * L.groups_per_row + g) * sbytes];
    float scale;
    if (L.p.scale_dtype == 0) {
      scale = HalfRef(static_cast<uint16_t>(sp[0] | sp[1] << 8));
    } else if (L.p.scale_dtype == 2) {
      scale = BF16Ref(static_cast<uint16_t>(sp[0] | sp[1] << 8));
    } else {
      scale = std::bit_cast<float>(uint32_t{sp[0]} | uint32_t{sp[1]} << 8 | uint32_t{sp[2]} << 16 |
                                   uint32_t{sp[3]} << 24);
    }
    int code;
    if (L.p.packing == 0) {
      code = static_cast<int8_t>(t.payload[L.scale_bytes + i]);
      if (code > maxc || code < -maxc) return BadCode(i, code, L);
    } else {
      int v = 0;
      for (unsigned b = 0; b < L.p.bits; ++b) {
        const uint64_t bit = i * L.p.bits + b;
        const int set = (t.payload[L.scale_bytes + bit / 8] >> (bit % 8)) & 1;
        v |= set << b;
      }
      if (v == (1 << L.p.bits) - 1) return BadCode(i, v, L);
      code = v - maxc;
    }
    out[i] = static_cast<float>(code) * scale;
  }
  if (L.p.packing == 1) {
    for (uint64_t bit = t.numel * L.p.bits; bit < L.code_bytes * 8; ++bit)
      if ((t.payload[L.scale_bytes + bit / 8] >> (bit % 8)) & 1) return BadPadding();
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- 6: const

Result<uint64_t> ConstSize(std::span<const uint64_t>, uint64_t, std::span<const uint8_t> params) {
  if (params.size() != 4) return Corrupt("const: params_size " + Num(params.size()) + ", expected 4");
  return uint64_t{0};
}
Status ConstDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kConst), t, out));
  const float v = LoadF32(t.params.data());
  for (float& x : out) x = v;
  return Status::Ok();
}
Status ConstRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kConst), t, out));
  uint32_t bits = 0;
  for (int b = 3; b >= 0; --b) bits = (bits << 8) | t.params[static_cast<size_t>(b)];
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::bit_cast<float>(bits);
  return Status::Ok();
}

// ---------------------------------------------------------------- 7: ans_grid

struct AnsLayout : GridLayout {
  AnsGridParams p;
  uint64_t min_payload = 0;
};

// Smallest self-contained stream header: model 0 is u8 scale_bits, varint
// alphabet (>= 1 byte) and a table body (>= 2 bytes: the frequencies sum to
// 2^M >= 1024, so one of them is >= 128 or there are >= 9 of them); model 1
// is u8 K, u8 M, varint alphabet, varint zero_point, varint mask.
constexpr uint64_t kAnsMinHeader[2] = {4, 5};

Result<AnsLayout> AnsLayoutOf(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  AnsLayout L;
  GP_ASSIGN_OR_RETURN(L.p, AnsGridParams::Parse(params));
  GP_RETURN_IF_ERROR(FillGridLayout("ans_grid", shape, numel, L.p.group_size, L.p.scale_dtype, &L));
  const uint64_t states = 4 * (numel < kRansInterleave ? numel : kRansInterleave);
  auto min = CheckedAdd(L.scale_bytes, kAnsMinHeader[L.p.model] + states);
  if (!min) return Corrupt("ans_grid: payload size overflows");
  L.min_payload = *min;
  return L;
}

Result<uint64_t> AnsGridMinSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_ASSIGN_OR_RETURN(AnsLayout L, AnsLayoutOf(shape, numel, params));
  return L.min_payload;
}

Status AnsAlphabetCheck(size_t alphabet) {
  if (alphabet % 2 == 0)
    return Corrupt("ans_grid: rANS alphabet size " + Num(alphabet) + " is even (codes are symmetric: it must be odd)");
  return Status::Ok();
}

Status AnsZeroPointCheck(const ContextRansModel& m) {
  GP_RETURN_IF_ERROR(AnsAlphabetCheck(m.alphabet_size()));
  const uint64_t z = (m.alphabet_size() - 1) / 2;
  if (m.zero_point() != z)
    return Corrupt("ans_grid: context model zero_point " + Num(m.zero_point()) + ", expected (alphabet - 1) / 2 = " +
                   Num(z));
  return Status::Ok();
}

// Parses the stream header and decodes numel symbols; *z = (alphabet - 1) / 2.
Status AnsDecodeSymbols(const AnsLayout& L, const TensorView& t, bool reference, std::vector<uint16_t>& sym,
                        int* z) {
  const std::span<const uint8_t> stream = t.payload.subspan(L.scale_bytes);
  ByteReader r(stream, L.scale_bytes);  // errors report payload offsets
  sym.resize(t.numel);
  Status st;
  auto prefixed = [](const Status& s) { return Corrupt("ans_grid: " + s.message()); };
  if (L.p.model == 0) {
    auto parsed = FrequencyTable::Parse(r);
    if (!parsed.ok()) return prefixed(parsed.status());
    const FrequencyTable& table = *parsed;
    GP_RETURN_IF_ERROR(AnsAlphabetCheck(table.alphabet_size()));
    *z = static_cast<int>((table.alphabet_size() - 1) / 2);
    const auto rest = stream.subspan(r.position());
    st = reference ? RansDecodeRef(rest, table, t.numel, sym) : RansDecode(rest, table, t.numel, sym);
  } else {
    auto parsed = ContextRansModel::Parse(r);
    if (!parsed.ok()) return prefixed(parsed.status());
    const ContextRansModel& model = *parsed;
    GP_RETURN_IF_ERROR(AnsZeroPointCheck(model));
    *z = model.zero_point();
    const auto rest = stream.subspan(r.position());
    st = reference ? ContextRansDecodeRef(rest, model, t.numel, sym)
                   : ContextRansDecode(rest, model, t.numel, sym);
  }
  if (!st.ok()) return prefixed(st);
  return Status::Ok();
}

Status AnsGridDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kAnsGrid), t, out));
  GP_ASSIGN_OR_RETURN(AnsLayout L, AnsLayoutOf(t.shape, t.numel, t.params));
  std::vector<uint16_t> sym;
  int z = 0;
  GP_RETURN_IF_ERROR(AnsDecodeSymbols(L, t, false, sym, &z));
  const uint8_t* scales = t.payload.data();
  const uint64_t sbytes = ScaleBytes(L.p.scale_dtype);
  const uint16_t* q = sym.data();
  float* o = out.data();
  uint64_t i = 0;
  for (uint64_t s = 0; s < L.n_scales; ++s) {
    const float scale = LoadScale(scales + s * sbytes, L.p.scale_dtype);
    for (uint64_t c = 0; c < L.group; ++c, ++i) o[i] = static_cast<float>(static_cast<int>(q[i]) - z) * scale;
  }
  return Status::Ok();
}

Status AnsGridRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(Traits(kAnsGrid), t, out));
  GP_ASSIGN_OR_RETURN(AnsLayout L, AnsLayoutOf(t.shape, t.numel, t.params));
  std::vector<uint16_t> sym;
  int z = 0;
  GP_RETURN_IF_ERROR(AnsDecodeSymbols(L, t, true, sym, &z));
  const uint64_t sbytes = ScaleBytes(L.p.scale_dtype);
  for (uint64_t i = 0; i < t.numel; ++i) {
    const uint64_t r = i / L.cols, c = i % L.cols;
    const uint64_t g = L.p.group_size ? c / L.p.group_size : 0;
    const uint8_t* sp = &t.payload[(r * L.groups_per_row + g) * sbytes];
    float scale;
    if (L.p.scale_dtype == 0) {
      scale = HalfRef(static_cast<uint16_t>(sp[0] | sp[1] << 8));
    } else if (L.p.scale_dtype == 2) {
      scale = BF16Ref(static_cast<uint16_t>(sp[0] | sp[1] << 8));
    } else {
      scale = std::bit_cast<float>(uint32_t{sp[0]} | uint32_t{sp[1]} << 8 | uint32_t{sp[2]} << 16 |
                                   uint32_t{sp[3]} << 24);
    }
    const int code = static_cast<int>(sym[i]) - z;
    out[i] = static_cast<float>(code) * scale;
  }
  return Status::Ok();
}

// Append-only: the index is the id.
constexpr std::array<EncodingTraits, 8> kRegistry = {{
    {kRawF32, "raw_f32", true, RawF32Size, RawF32Decode, RawF32Ref},
    {kRawF16, "raw_f16", true, RawF16Size, RawF16Decode, RawF16Ref},
    {kRawBF16, "raw_bf16", true, RawBF16Size, RawBF16Decode, RawBF16Ref},
    {kPgInt8Row, "pg_int8_row", true, PgRowSize, PgRowDecode, PgRowRef},
    {kPgInt8Tensor, "pg_int8_tensor", true, PgTensorSize, PgTensorDecode, PgTensorRef},
    {kUniform, "uniform", true, UniformSize, UniformDecode, UniformRef},
    {kConst, "const", true, ConstSize, ConstDecode, ConstRef},
    {kAnsGrid, "ans_grid", false, AnsGridMinSize, AnsGridDecode, AnsGridRef},
}};

const EncodingTraits& Traits(uint32_t id) { return kRegistry[id]; }

}  // namespace

const EncodingTraits* FindEncoding(uint32_t id) { return id < kRegistry.size() ? &kRegistry[id] : nullptr; }
std::span<const EncodingTraits> AllEncodings() { return kRegistry; }

std::vector<uint8_t> UniformParams::Serialize() const {
  ByteWriter w;
  w.U8(bits);
  w.U8(packing);
  w.U8(scale_dtype);
  w.U32(group_size);
  return std::move(w).Take();
}

Result<UniformParams> UniformParams::Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() != 7) return Corrupt("uniform: params_size " + Num(bytes.size()) + ", expected 7");
  UniformParams p;
  p.bits = bytes[0];
  p.packing = bytes[1];
  p.scale_dtype = bytes[2];
  p.group_size = Load32(bytes.data() + 3);
  if (p.bits < 2 || p.bits > 8) return Corrupt("uniform: bits " + Num(p.bits) + " outside [2, 8]");
  if (p.packing > 1) return Corrupt("uniform: unknown packing " + Num(p.packing));
  if (p.scale_dtype > 2) return Corrupt("uniform: unknown scale_dtype " + Num(p.scale_dtype));
  return p;
}

std::vector<uint8_t> AnsGridParams::Serialize() const {
  ByteWriter w;
  w.U8(scale_dtype);
  w.U32(group_size);
  w.U8(model);
  return std::move(w).Take();
}

Result<AnsGridParams> AnsGridParams::Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() != 6) return Corrupt("ans_grid: params_size " + Num(bytes.size()) + ", expected 6");
  AnsGridParams p;
  p.scale_dtype = bytes[0];
  p.group_size = Load32(bytes.data() + 1);
  p.model = bytes[5];
  if (p.scale_dtype > 2) return Corrupt("ans_grid: unknown scale_dtype " + Num(p.scale_dtype));
  if (p.model > 1) return Corrupt("ans_grid: unknown model " + Num(p.model));
  return p;
}

uint64_t Rows(std::span<const uint64_t> shape) { return shape.empty() ? 1 : shape[0]; }
uint64_t Cols(std::span<const uint64_t> shape, uint64_t numel) {
  if (shape.empty()) return 1;
  return shape[0] == 0 ? 0 : numel / shape[0];
}

}  // namespace golfpack::gpk
