// Decoders of docs/FORMAT.md "Encodings". Each trusts only what the container
// validated and checks its own view first (CheckView).
#include "gpk/encodings.h"

#include <array>
#include <bit>
#include <cstring>
#include <string>

#include "gpk/bytes.h"
#include "gpk/half.h"
#include "gpk/rans.h"

namespace golfpack::gpk {
namespace {

uint16_t Load16(const uint8_t* p) { return uint16_t(LoadLE(p, 2)); }
uint32_t Load32(const uint8_t* p) { return uint32_t(LoadLE(p, 4)); }
float LoadF32(const uint8_t* p) { return std::bit_cast<float>(Load32(p)); }
float LoadScale(const uint8_t* p, uint8_t dtype) {
  return dtype == 1 ? LoadF32(p) : dtype == 0 ? HalfBitsToFloat(Load16(p)) : BF16BitsToFloat(Load16(p));
}
std::string Num(uint64_t v) { return std::to_string(v); }

Status NoParams(const char* name, std::span<const uint8_t> params) {
  if (!params.empty()) return Corrupt(std::string(name) + ": params_size " + Num(params.size()) + ", expected 0");
  return Status::Ok();
}
Result<uint64_t> Times(const char* name, uint64_t numel, uint64_t k, uint64_t plus, std::span<const uint8_t> params) {
  GP_RETURN_IF_ERROR(NoParams(name, params));
  auto n = CheckedMul(numel, k);
  if (n) n = CheckedAdd(*n, plus);
  if (!n) return Corrupt(std::string(name) + ": payload size overflows");
  return *n;
}

// ---- 0..4: raw and Parameter Golf int8

Result<uint64_t> RawF32Size(std::span<const uint64_t>, uint64_t n, std::span<const uint8_t> p) { return Times("raw_f32", n, 4, 0, p); }
Result<uint64_t> RawF16Size(std::span<const uint64_t>, uint64_t n, std::span<const uint8_t> p) { return Times("raw_f16", n, 2, 0, p); }
Result<uint64_t> RawBF16Size(std::span<const uint64_t>, uint64_t n, std::span<const uint8_t> p) { return Times("raw_bf16", n, 2, 0, p); }
Result<uint64_t> PgTensorSize(std::span<const uint64_t>, uint64_t n, std::span<const uint8_t> p) { return Times("pg_int8_tensor", n, 1, 4, p); }
Result<uint64_t> PgRowSize(std::span<const uint64_t> shape, uint64_t n, std::span<const uint8_t> p) {
  if (shape.empty() || shape[0] == 0)
    return Corrupt("pg_int8_row: needs ndim >= 1 and rows >= 1, got ndim " + Num(shape.size()) +
                   (shape.empty() ? std::string() : ", rows " + Num(shape[0])));
  return Times("pg_int8_row", shape[0], 2, n, p);
}

Status RawF32Decode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kRawF32), t, out));
  if constexpr (std::endian::native == std::endian::little) {
    if (!out.empty()) std::memcpy(out.data(), t.payload.data(), out.size() * 4);
  } else {
    for (size_t i = 0; i < out.size(); ++i) out[i] = LoadF32(&t.payload[4 * i]);
  }
  return Status::Ok();
}
template <uint32_t Id>
Status Raw16Decode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(Id), t, out));
  for (size_t i = 0; i < out.size(); ++i) out[i] = LoadScale(&t.payload[2 * i], Id == kRawF16 ? 0 : 2);
  return Status::Ok();
}
Status PgRowDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kPgInt8Row), t, out));
  const uint64_t rows = Rows(t.shape), cols = Cols(t.shape, t.numel);
  const auto* q = reinterpret_cast<const int8_t*>(t.payload.data() + 2 * rows);
  for (uint64_t r = 0; r < rows; ++r) {
    const float s = HalfBitsToFloat(Load16(&t.payload[2 * r]));
    for (uint64_t c = 0; c < cols; ++c) out[r * cols + c] = float(q[r * cols + c]) * s;
  }
  return Status::Ok();
}
Status PgTensorDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kPgInt8Tensor), t, out));
  const float s = LoadF32(t.payload.data());
  const auto* q = reinterpret_cast<const int8_t*>(t.payload.data() + 4);
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(q[i]) * s;
  return Status::Ok();
}

// ---- grids (5 uniform, 7 ans_grid, 8 codebook): scales first, one per row or group

struct Grid {
  uint64_t cols = 0, group = 0, n_scales = 0, scale_bytes = 0, body = 0;  // body: code bytes after the scales
  uint8_t dtype = 0;
};
Result<Grid> GridOf(const char* what, std::span<const uint64_t> shape, uint64_t numel, uint32_t group_size,
                    uint8_t dtype, uint64_t code_bits) {
  if (shape.empty()) return Corrupt(std::string(what) + ": needs ndim >= 1, got a 0-d tensor");
  Grid g;
  g.dtype = dtype;
  g.cols = Cols(shape, numel);
  if (group_size != 0 && g.cols % group_size != 0)
    return Corrupt(std::string(what) + ": group_size " + Num(group_size) + " does not divide cols " + Num(g.cols));
  g.group = group_size ? group_size : g.cols;
  auto ns = CheckedMul(Rows(shape), group_size ? g.cols / group_size : 1);
  auto sb = ns ? CheckedMul(*ns, ScaleBytes(dtype)) : std::nullopt;
  auto bits = CheckedMul(numel, code_bits);
  if (!sb || !bits) return Corrupt(std::string(what) + ": scale count overflows");
  g.n_scales = *ns;
  g.scale_bytes = *sb;
  g.body = *bits / 8 + (*bits % 8 != 0);
  if (!CheckedAdd(g.scale_bytes, g.body)) return Corrupt(std::string(what) + ": payload size overflows");
  return g;
}
// out[i] = level(code i) * scale of its group; codes(i) yields code i.
template <class Level>
void Dequant(const Grid& g, const uint8_t* scales, std::span<float> out, Level level) {
  const uint64_t sb = ScaleBytes(g.dtype);
  for (uint64_t s = 0, i = 0; s < g.n_scales; ++s) {
    const float scale = LoadScale(scales + s * sb, g.dtype);
    for (uint64_t c = 0; c < g.group; ++c, ++i) out[i] = level(i) * scale;
  }
}
// LSB-first unpacking of numel codes of `bits` bits; padding must be zero and
// no code may equal `reserved` (uniform reserves 2^bits - 1; -1: none).
Status Unpack(std::span<const uint8_t> codes, uint64_t numel, unsigned bits, int64_t reserved, std::vector<uint16_t>& v,
              const char* what) {
  v.resize(numel);
  uint64_t acc = 0;
  unsigned have = 0;
  size_t pos = 0;
  for (uint64_t i = 0; i < numel; ++i) {
    while (have <= 56 && pos < codes.size()) acc |= uint64_t{codes[pos++]} << have, have += 8;
    v[i] = uint16_t(acc & ((1u << bits) - 1));
    if (v[i] == reserved)
      return Corrupt(std::string(what) + ": packed value " + Num(v[i]) + " of element " + Num(i) +
                     " is the reserved value 2^bits - 1");
    acc >>= bits;
    have -= bits;
  }
  while (pos < codes.size()) acc |= codes[pos++];
  if (acc != 0) return Corrupt(std::string(what) + ": nonzero padding bits after the last packed code");
  return Status::Ok();
}

Result<Grid> UniformGrid(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_ASSIGN_OR_RETURN(UniformParams p, UniformParams::Parse(params));
  return GridOf("uniform", shape, numel, p.group_size, p.scale_dtype, p.packing ? p.bits : 8);
}
Result<uint64_t> UniformSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_ASSIGN_OR_RETURN(Grid g, UniformGrid(shape, numel, params));
  return g.scale_bytes + g.body;
}
Status UniformDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kUniform), t, out));
  GP_ASSIGN_OR_RETURN(Grid g, UniformGrid(t.shape, t.numel, t.params));
  const UniformParams p = *UniformParams::Parse(t.params);
  const int maxc = p.max_code();
  const uint8_t* codes = t.payload.data() + g.scale_bytes;
  if (p.packing == 0) {
    const auto* q = reinterpret_cast<const int8_t*>(codes);
    for (uint64_t i = 0; i < t.numel; ++i)
      if (q[i] > maxc || q[i] < -maxc)
        return Corrupt("uniform: code " + std::to_string(q[i]) + " of element " + Num(i) + " is outside [-" +
                       Num(maxc) + ", " + Num(maxc) + "]");
    Dequant(g, t.payload.data(), out, [q](uint64_t i) { return float(q[i]); });
    return Status::Ok();
  }
  std::vector<uint16_t> v;
  GP_RETURN_IF_ERROR(Unpack(t.payload.subspan(g.scale_bytes), t.numel, p.bits, (1 << p.bits) - 1, v, "uniform"));
  Dequant(g, t.payload.data(), out, [&](uint64_t i) { return float(int(v[i]) - maxc); });
  return Status::Ok();
}

Result<uint64_t> ConstSize(std::span<const uint64_t>, uint64_t, std::span<const uint8_t> params) {
  if (params.size() != 4) return Corrupt("const: params_size " + Num(params.size()) + ", expected 4");
  return uint64_t{0};
}
Status ConstDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kConst), t, out));
  for (float& x : out) x = LoadF32(t.params.data());
  return Status::Ok();
}

// ans_grid: the smallest stream header is 4 bytes (model 0) or 5 (model 1), then the states.
Result<uint64_t> AnsGridSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_ASSIGN_OR_RETURN(AnsGridParams p, AnsGridParams::Parse(params));
  GP_ASSIGN_OR_RETURN(Grid g, GridOf("ans_grid", shape, numel, p.group_size, p.scale_dtype, 0));
  auto min = CheckedAdd(g.scale_bytes, (p.model ? 5 : 4) + 4 * (numel < 4 ? numel : 4));
  if (!min) return Corrupt("ans_grid: payload size overflows");
  return *min;
}
Status AnsGridDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kAnsGrid), t, out));
  const AnsGridParams p = *AnsGridParams::Parse(t.params);
  GP_ASSIGN_OR_RETURN(Grid g, GridOf("ans_grid", t.shape, t.numel, p.group_size, p.scale_dtype, 0));
  ByteReader r(t.payload.subspan(g.scale_bytes), g.scale_bytes);  // errors name payload offsets
  auto m = p.model ? ParseRansContext(r) : ParseRansOrder0(r);
  if (!m.ok()) return Corrupt("ans_grid: " + m.status().message());
  if (m->alphabet % 2 == 0)
    return Corrupt("ans_grid: rANS alphabet size " + Num(m->alphabet) + " is even, must be odd");
  const uint16_t z = uint16_t((m->alphabet - 1) / 2);
  if (p.model && m->zero_point != z)
    return Corrupt("ans_grid: context model zero_point " + Num(m->zero_point) + ", expected (alphabet - 1) / 2 = " + Num(z));
  std::vector<uint16_t> sym(t.numel);
  Status st = RansDecodeStream(t.payload.subspan(g.scale_bytes + r.position()), *m, t.numel, sym);
  if (!st.ok()) return Corrupt("ans_grid: " + st.message());
  Dequant(g, t.payload.data(), out, [&](uint64_t i) { return float(int(sym[i]) - z); });
  return Status::Ok();
}

Result<uint64_t> CodebookSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  GP_ASSIGN_OR_RETURN(CodebookParams p, CodebookParams::Parse(params));
  GP_ASSIGN_OR_RETURN(Grid g, GridOf("codebook", shape, numel, p.group_size, p.scale_dtype, p.bits));
  return g.scale_bytes + g.body;
}
Status CodebookDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kCodebook), t, out));
  const CodebookParams p = *CodebookParams::Parse(t.params);
  GP_ASSIGN_OR_RETURN(Grid g, GridOf("codebook", t.shape, t.numel, p.group_size, p.scale_dtype, p.bits));
  const ObjectView& cb = t.objects[0];
  if (cb.kind != kObjF32Values || cb.data.size() != (size_t{4} << p.bits))
    return Corrupt("codebook: object must be f32_values with 2^" + Num(p.bits) + " levels, got kind " + Num(cb.kind) +
                   " with " + Num(cb.data.size()) + " bytes");
  std::vector<uint16_t> v;
  GP_RETURN_IF_ERROR(Unpack(t.payload.subspan(g.scale_bytes), t.numel, p.bits, -1, v, "codebook"));
  Dequant(g, t.payload.data(), out, [&](uint64_t i) { return LoadF32(&cb.data[4 * v[i]]); });
  return Status::Ok();
}

// ---- 9 lowrank: inner payload, then factors A^T [rank x rows] and B [rank x cols]

// Scales per row of an n x m factor block (none for f16 values); its bytes.
uint64_t Spr(uint64_t m, const LowRankParams& p) {
  const uint64_t g = p.group ? p.group : m;
  return p.bits > 8 || !g ? 0 : m / g + (m % g != 0);
}
uint64_t Block(uint64_t n, uint64_t m, const LowRankParams& p) { return 2 * n * Spr(m, p) + (n * m * p.bits + 7) / 8; }
Result<uint64_t> LowRankSize(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  if (shape.size() != 2) return Corrupt("lowrank: needs ndim 2, got " + Num(shape.size()));
  GP_ASSIGN_OR_RETURN(LowRankParams p, LowRankParams::Parse(params));
  const EncodingTraits& e = *FindEncoding(p.inner);
  auto in = e.payload_size(shape, numel, p.inner_params);
  if (!in.ok()) return Corrupt("lowrank: inner " + in.status().message());
  if (e.fixed_rate ? *in != p.inner_payload : *in > p.inner_payload)
    return Corrupt("lowrank: inner_payload_size " + Num(p.inner_payload) + ", " + e.name + " needs " + Num(*in));
  auto n = CheckedAdd(p.inner_payload, Block(p.rank, shape[0], p) + Block(p.rank, shape[1], p));  // dims <= 2^40
  if (!n) return Corrupt("lowrank: payload size overflows");
  return *n;
}
// v = the n x m block at pl: f16 values, or f16 scales then packed codes.
Status Factor(std::span<const uint8_t> pl, uint64_t n, uint64_t m, const LowRankParams& p, std::vector<float>& v,
              const char* what) {
  const uint64_t s = Spr(m, p), g = p.group ? p.group : m, b = p.bits;
  std::vector<uint16_t> u;
  GP_RETURN_IF_ERROR(Unpack(pl.subspan(2 * n * s), n * m, b, b > 8 ? -1 : (1 << b) - 1, u, what));
  v.resize(n * m);
  for (uint64_t i = 0; i < n * m; ++i)
    v[i] = b > 8 ? HalfBitsToFloat(u[i])
                 : HalfBitsToFloat(Load16(&pl[2 * (i / m * s + i % m / g)])) * float(int(u[i]) + 1 - (1 << (b - 1)));
  return Status::Ok();
}
Status LowRankDecode(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kLowRank), t, out));
  const LowRankParams p = *LowRankParams::Parse(t.params);
  const uint64_t rows = t.shape[0], cols = t.shape[1], r = p.rank, na = Block(r, rows, p);
  Status st = FindEncoding(p.inner)->decode({t.shape, t.numel, p.inner_params, t.payload.first(p.inner_payload)}, out);
  if (!st.ok()) return Status(st.code(), "lowrank: inner " + st.message());
  std::vector<float> a, b;
  GP_RETURN_IF_ERROR(Factor(t.payload.subspan(p.inner_payload, na), r, rows, p, a, "lowrank: A"));
  GP_RETURN_IF_ERROR(Factor(t.payload.subspan(p.inner_payload + na), r, cols, p, b, "lowrank: B"));
  for (uint64_t i = 0; i < rows; ++i)
    for (uint64_t j = 0; j < cols; ++j) {
      double x = out[i * cols + j];
      for (uint64_t k = 0; k < r; ++k) x += double(a[k * rows + i]) * b[k * cols + j];  // exact products
      out[i * cols + j] = float(x);
    }
  return Status::Ok();
}

// Append-only: the index is the id.
constexpr std::array<EncodingTraits, 10> kRegistry = {{
    {kRawF32, "raw_f32", true, 0, RawF32Size, RawF32Decode},
    {kRawF16, "raw_f16", true, 0, RawF16Size, Raw16Decode<kRawF16>},
    {kRawBF16, "raw_bf16", true, 0, RawBF16Size, Raw16Decode<kRawBF16>},
    {kPgInt8Row, "pg_int8_row", true, 0, PgRowSize, PgRowDecode},
    {kPgInt8Tensor, "pg_int8_tensor", true, 0, PgTensorSize, PgTensorDecode},
    {kUniform, "uniform", true, 0, UniformSize, UniformDecode},
    {kConst, "const", true, 0, ConstSize, ConstDecode},
    {kAnsGrid, "ans_grid", false, 0, AnsGridSize, AnsGridDecode},
    {kCodebook, "codebook", true, 1, CodebookSize, CodebookDecode},
    {kLowRank, "lowrank", true, 0, LowRankSize, LowRankDecode},
}};

}  // namespace

const EncodingTraits* FindEncoding(uint32_t id) { return id < kRegistry.size() ? &kRegistry[id] : nullptr; }
std::span<const EncodingTraits> AllEncodings() { return kRegistry; }

Status CheckView(const EncodingTraits& e, const TensorView& t, std::span<float> out) {
  if (out.size() != t.numel)
    return Internal(std::string(e.name) + ": output has " + Num(out.size()) + " floats for numel " + Num(t.numel));
  if (t.objects.size() != e.refs)
    return Internal(std::string(e.name) + ": " + Num(t.objects.size()) + " objects, needs " + Num(e.refs));
  GP_ASSIGN_OR_RETURN(uint64_t want, e.payload_size(t.shape, t.numel, t.params));
  if (e.fixed_rate ? want != t.payload.size() : want > t.payload.size())
    return Corrupt(std::string(e.name) + ": payload is " + Num(t.payload.size()) + " bytes, encoding requires " +
                   (e.fixed_rate ? "" : "at least ") + Num(want));
  return Status::Ok();
}

Result<UniformParams> UniformParams::Parse(std::span<const uint8_t> b) {
  if (b.size() != 7) return Corrupt("uniform: params_size " + Num(b.size()) + ", expected 7");
  UniformParams p{b[0], b[1], b[2], Load32(&b[3])};
  if (p.bits < 2 || p.bits > 8) return Corrupt("uniform: bits " + Num(p.bits) + " outside [2, 8]");
  if (p.packing > 1) return Corrupt("uniform: unknown packing " + Num(p.packing));
  if (p.scale_dtype > 2) return Corrupt("uniform: unknown scale_dtype " + Num(p.scale_dtype));
  return p;
}

Result<AnsGridParams> AnsGridParams::Parse(std::span<const uint8_t> b) {
  if (b.size() != 6) return Corrupt("ans_grid: params_size " + Num(b.size()) + ", expected 6");
  AnsGridParams p{b[0], Load32(&b[1]), b[5]};
  if (p.scale_dtype > 2) return Corrupt("ans_grid: unknown scale_dtype " + Num(p.scale_dtype));
  if (p.model > 1) return Corrupt("ans_grid: unknown model " + Num(p.model));
  return p;
}

Result<CodebookParams> CodebookParams::Parse(std::span<const uint8_t> b) {
  if (b.size() != 6) return Corrupt("codebook: params_size " + Num(b.size()) + ", expected 6");
  CodebookParams p{b[0], b[1], Load32(&b[2])};
  if (p.bits < 1 || p.bits > 8) return Corrupt("codebook: bits " + Num(p.bits) + " outside [1, 8]");
  if (p.scale_dtype > 2) return Corrupt("codebook: unknown scale_dtype " + Num(p.scale_dtype));
  return p;
}

Result<LowRankParams> LowRankParams::Parse(std::span<const uint8_t> b) {
  ByteReader r(b);
  LowRankParams p;
  GP_ASSIGN_OR_RETURN(uint64_t inner, r.Varint("lowrank inner_encoding"));
  GP_ASSIGN_OR_RETURN(uint64_t n, r.Varint("lowrank inner_params_size"));
  GP_ASSIGN_OR_RETURN(auto ip, r.Bytes(n, "lowrank inner params"));
  GP_ASSIGN_OR_RETURN(p.inner_payload, r.Varint("lowrank inner_payload_size"));
  GP_ASSIGN_OR_RETURN(p.rank, r.U8("lowrank rank"));
  GP_ASSIGN_OR_RETURN(p.bits, r.U8("lowrank bits"));
  GP_ASSIGN_OR_RETURN(p.group, r.Varint("lowrank group"));
  const EncodingTraits* e = inner == kLowRank || inner > UINT32_MAX ? nullptr : FindEncoding(uint32_t(inner));
  if (!e || e->refs) return Corrupt("lowrank: inner_encoding " + Num(inner) + " is unknown, 9 or takes refs");
  p.inner = uint32_t(inner);
  p.inner_params.assign(ip.begin(), ip.end());
  if (!r.at_end()) return Corrupt("lowrank: " + Num(r.remaining()) + " trailing params bytes");
  if (!p.rank) return Corrupt("lowrank: rank 0");
  if (p.bits != 16 && (p.bits < 2 || p.bits > 8)) return Corrupt("lowrank: bits " + Num(p.bits) + " not 2..8 or 16");
  if (p.bits == 16 && p.group) return Corrupt("lowrank: group " + Num(p.group) + " with bits 16");
  return p;
}

uint64_t Rows(std::span<const uint64_t> shape) { return shape.empty() ? 1 : shape[0]; }
uint64_t Cols(std::span<const uint64_t> shape, uint64_t numel) {
  if (shape.empty()) return 1;
  return shape[0] == 0 ? 0 : numel / shape[0];
}

}  // namespace golfpack::gpk
