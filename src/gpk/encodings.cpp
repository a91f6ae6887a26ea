// Decoders of docs/FORMAT.md "Encodings". Each trusts only what the container
// validated, and runs after its own CheckView (see Row).
#include "gpk/encodings.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "gpk/half.h"
#include "gpk/rans.h"

namespace golfpack::gpk {
namespace {

using Out = std::span<float>;

uint16_t Load16(const uint8_t* p) { return uint16_t(LoadLE(p, 2)); }
uint32_t Load32(const uint8_t* p) { return uint32_t(LoadLE(p, 4)); }
float LoadF32(const uint8_t* p) { return std::bit_cast<float>(Load32(p)); }
// scale_dtype d: 0 f16, 1 f32, 2 bf16.
float LoadScale(const uint8_t* p, uint8_t d) {
  return d == 1 ? LoadF32(p) : d ? BF16BitsToFloat(Load16(p)) : HalfBitsToFloat(Load16(p));
}

Status ParamsSize(const char* name, ByteSpan p, size_t n) {
  return p.size() == n ? Status::Ok() : Corrupt(name, ": params_size ", p.size(), ", expected ", n);
}

// ---- 0..4 raw and Parameter Golf int8, 6 const: np params bytes, numel * k + plus payload bytes

Result<uint64_t> Times(const char* name, uint64_t numel, uint64_t k, uint64_t plus, ByteSpan params, size_t np = 0) {
  GP_RETURN_IF_ERROR(ParamsSize(name, params, np));
  auto n = CheckedMul(numel, k);
  if (n) n = CheckedAdd(*n, plus);
  if (!n) return Corrupt(name, ": payload size overflows");
  return *n;
}
template <uint32_t Id, uint64_t K, uint64_t Plus = 0, size_t NP = 0>
Result<uint64_t> FlatSize(Dims, uint64_t n, ByteSpan p) { return Times(FindEncoding(Id)->name, n, K, Plus, p, NP); }
Result<uint64_t> PgRowSize(Dims s, uint64_t n, ByteSpan p) {
  if (s.empty() || !s[0])
    return Corrupt("pg_int8_row: needs ndim >= 1 and rows >= 1, got ndim ", s.size(), s.empty() ? "" : Str(", rows ", s[0]));
  return Times("pg_int8_row", s[0], 2, n, p);
}

// raw_f32, raw_f16, raw_bf16: the values as scale_dtype D stores them.
template <uint8_t D>
Status RawDecode(const TensorView& t, Out out) {
  if constexpr (D == 1 && std::endian::native == std::endian::little) {
    if (!out.empty()) std::memcpy(out.data(), t.payload.data(), out.size() * 4);
  } else {
    for (size_t i = 0; i < out.size(); ++i) out[i] = LoadScale(&t.payload[ScaleBytes(D) * i], D);
  }
  return Status::Ok();
}
Status PgRowDecode(const TensorView& t, Out out) {
  const uint64_t rows = t.shape[0], cols = t.numel / rows;
  const auto* q = reinterpret_cast<const int8_t*>(t.payload.data() + 2 * rows);
  for (uint64_t r = 0; r < rows; ++r) {
    const float s = HalfBitsToFloat(Load16(&t.payload[2 * r]));
    for (uint64_t c = 0; c < cols; ++c) out[r * cols + c] = float(q[r * cols + c]) * s;
  }
  return Status::Ok();
}
Status PgTensorDecode(const TensorView& t, Out out) {
  const float s = LoadF32(t.payload.data());
  const auto* q = reinterpret_cast<const int8_t*>(t.payload.data() + 4);
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(q[i]) * s;
  return Status::Ok();
}

// ---- grids (5 uniform, 7 ans_grid, 8 codebook): scales, one per row or group, then the codes

struct Grid {
  uint64_t group, n_scales, scale_bytes, body;  // body: the packed code bytes
  uint8_t dtype;
};
uint64_t CodeBits(const UniformParams& p) { return p.packing ? p.bits : 8; }
uint64_t CodeBits(const CodebookParams& p) { return p.bits; }
uint64_t CodeBits(const AnsGridParams&) { return 0; }  // rANS-coded: not packed
// Parses p from `params`, then lays out the grid; `what` names the errors.
template <class P>
Result<Grid> GridOf(const char* what, Dims shape, uint64_t numel, ByteSpan params, P& p) {
  GP_ASSIGN_OR_RETURN(p, P::Parse(params));
  if (shape.empty()) return Corrupt(what, ": needs ndim >= 1, got a 0-d tensor");
  const uint64_t cols = Cols(shape, numel), gs = p.group_size;
  if (gs && cols % gs) return Corrupt(what, ": group_size ", gs, " does not divide cols ", cols);
  auto ns = CheckedMul(Rows(shape), gs ? cols / gs : 1);
  auto sb = ns ? CheckedMul(*ns, ScaleBytes(p.scale_dtype)) : std::nullopt;
  auto bits = CheckedMul(numel, CodeBits(p));
  if (!sb || !bits) return Corrupt(what, ": scale count overflows");
  const Grid g{gs ? gs : cols, *ns, *sb, *bits / 8 + (*bits % 8 != 0), p.scale_dtype};
  if (!CheckedAdd(g.scale_bytes, g.body)) return Corrupt(what, ": payload size overflows");
  return g;
}
// out[i] = level(i) * the scale of its group.
template <class Level>
void Dequant(const Grid& g, const uint8_t* scales, Out out, Level level) {
  for (uint64_t s = 0, i = 0; s < g.n_scales; ++s) {
    const float scale = LoadScale(scales + s * ScaleBytes(g.dtype), g.dtype);
    for (uint64_t c = 0; c < g.group; ++c, ++i) out[i] = level(i) * scale;
  }
}
// LSB-first unpacking of numel codes of `bits` bits; padding must be zero and
// no code may equal `reserved` (-1: none).
Status Unpack(ByteSpan codes, uint64_t numel, unsigned bits, int64_t reserved, std::vector<uint16_t>& v, const char* what) {
  v.resize(numel);
  uint64_t acc = 0;
  unsigned have = 0;
  size_t pos = 0;
  for (uint64_t i = 0; i < numel; ++i) {
    while (have <= 56 && pos < codes.size()) acc |= uint64_t{codes[pos++]} << have, have += 8;
    v[i] = uint16_t(acc & ((1u << bits) - 1));
    if (v[i] == reserved)
      return Corrupt(what, ": packed value ", v[i], " of element ", i, " is the reserved value 2^bits - 1");
    acc >>= bits;
    have -= bits;
  }
  while (pos < codes.size()) acc |= codes[pos++];
  if (acc) return Corrupt(what, ": nonzero padding bits after the last packed code");
  return Status::Ok();
}

// uniform, codebook: the scales and the packed codes.
template <uint32_t Id, class P>
Result<uint64_t> GridSize(Dims s, uint64_t n, ByteSpan b) {
  P p;
  GP_ASSIGN_OR_RETURN(Grid g, GridOf(FindEncoding(Id)->name, s, n, b, p));
  return g.scale_bytes + g.body;
}
Status UniformDecode(const TensorView& t, Out out) {
  UniformParams p;
  const Grid g = *GridOf("uniform", t.shape, t.numel, t.params, p);
  const int maxc = p.max_code();
  const ByteSpan codes = t.payload.subspan(g.scale_bytes);
  if (!p.packing) {
    const auto* q = reinterpret_cast<const int8_t*>(codes.data());
    for (uint64_t i = 0; i < t.numel; ++i)
      if (q[i] > maxc || q[i] < -maxc)
        return Corrupt("uniform: code ", q[i], " of element ", i, " is outside [-", maxc, ", ", maxc, "]");
    Dequant(g, t.payload.data(), out, [q](uint64_t i) { return float(q[i]); });
    return Status::Ok();
  }
  std::vector<uint16_t> v;
  GP_RETURN_IF_ERROR(Unpack(codes, t.numel, p.bits, (1 << p.bits) - 1, v, "uniform"));
  Dequant(g, t.payload.data(), out, [&](uint64_t i) { return float(int(v[i]) - maxc); });
  return Status::Ok();
}

Status ConstDecode(const TensorView& t, Out out) {
  for (float& x : out) x = LoadF32(t.params.data());
  return Status::Ok();
}

// ans_grid: at least the scales and, for models 0, 1, 9, a 4- or 5-byte stream header and the states.
Result<uint64_t> AnsGridSize(Dims s, uint64_t n, ByteSpan b) {
  AnsGridParams p;
  GP_ASSIGN_OR_RETURN(Grid g, GridOf("ans_grid", s, n, b, p));
  if (b.size() > 6 && (!p.carry || p.group_size || p.carry > g.scale_bytes || Rows(s) > 8192))
    return Corrupt("ans_grid: bad carry ", p.carry);
  auto min = CheckedAdd(g.scale_bytes - p.carry, p.model > 1 && p.model != 9 ? 2 : (p.model ? 5 : 4) + 4 * (n < 4 ? n : 4));
  if (!min) return Corrupt("ans_grid: payload size overflows");
  return *min;
}
// n symbols of one stream (r reads b) with an odd alphabet A; z = (A - 1) / 2. Model 9: column classes.
// seg: a segmented stream of k contexts, symbol i in context seg[i].
Status OddStream(ByteReader& r, ByteSpan b, int model, uint64_t n, uint64_t cols, std::vector<uint16_t>& sym, int& z,
                 const std::vector<uint16_t>* seg = 0, size_t k = 0) {
  auto m = ParseRansModel(r, model != 0);
  if (!m.ok()) return Corrupt("ans_grid: ", m.status().message());
  if (m->alphabet % 2 == 0) return Corrupt("ans_grid: rANS alphabet size ", m->alphabet, " is even, must be odd");
  z = int(m->alphabet / 2);
  if (model && m->zero_point != z)
    return Corrupt("ans_grid: context model zero_point ", m->zero_point, ", expected (alphabet - 1) / 2 = ", z);
  if (model == 9) {
    const size_t k = m->freq.size(), bits = std::bit_width(k) - 1;
    if (k < 2 || k > 16 || k != size_t{1} << bits) return Corrupt("ans_grid: ", k, " column classes");
    GP_ASSIGN_OR_RETURN(ByteSpan c, r.Bytes((cols * bits + 7) / 8, "column classes"));
    GP_RETURN_IF_ERROR(Unpack(c, cols, unsigned(bits), -1, m->cls, "column classes"));
  }
  if (seg) {
    if (m->freq.size() != k) return Corrupt("ans_grid: ", m->freq.size(), " contexts, K is ", k);
    m->cls = *seg;
  }
  sym.resize(n);
  const Status st = RansDecodeStream(b.subspan(r.position()), *m, n, sym);
  return st.ok() ? st : Corrupt("ans_grid: ", st.message());
}
// Row-order carry: the rank of the stored row order among the orders of the
// rows sorted by code c (m columns) gives the first `carry` scale bytes (of sc).
Status Carry(const Grid& g, uint64_t carry, const float* c, uint64_t m, std::vector<uint8_t>& sc) {
  const uint64_t n = g.n_scales, w = ScaleBytes(g.dtype);
  std::vector<uint32_t> o(n), k(n), x;
  for (uint32_t i = 0; i < n; ++i) o[i] = i;
  std::stable_sort(o.begin(), o.end(), [&](uint64_t a, uint64_t b) {
    return std::lexicographical_compare(c + a * m, c + a * m + m, c + b * m, c + b * m + m);
  });
  for (uint32_t i = 0; i < n; ++i) k[o[i]] = i;
  for (uint64_t r = 0; r < n; ++r) {
    uint64_t d = 0;  // X = X * (n - r) + d_r
    for (uint64_t s = r + 1; s < n; ++s) d += k[s] < k[r];
    for (uint32_t& v : x) d += uint64_t{v} * (n - r), v = uint32_t(d), d >>= 32;
    if (d) x.push_back(uint32_t(d));
  }
  std::vector<uint8_t> s(carry + 4 * x.size());
  for (uint64_t i = 0; i < 4 * x.size(); ++i) s[i] = uint8_t(x[i / 4] >> i % 4 * 8);
  if (size_t(std::count(s.begin() + carry, s.end(), 0)) < 4 * x.size()) return Corrupt("ans_grid: row order over carry");
  s.resize(carry);
  s.insert(s.end(), sc.begin(), sc.end());
  sc.resize(n * w);
  for (uint64_t r = 0; r < n; ++r) std::memcpy(&sc[r * w], &s[k[r] * w], w);
  return Status::Ok();
}
Status AnsGridDecode(const TensorView& t, Out out) {
  AnsGridParams p;
  const Grid g = *GridOf("ans_grid", t.shape, t.numel, t.params, p);
  const uint64_t sb = g.scale_bytes - p.carry, rows = Rows(t.shape), cols = Cols(t.shape, t.numel);
  const ByteSpan b = t.payload.subspan(sb);
  ByteReader r(b, sb);  // errors name payload offsets
  std::vector<uint16_t> sym[2];
  std::vector<float> j(t.numel);
  std::vector<uint8_t> sc(t.payload.begin(), t.payload.begin() + sb);
  int z[2] = {};
  if (p.model < 2 || p.model == 9) {
    GP_RETURN_IF_ERROR(OddStream(r, b, p.model, t.numel, cols, sym[0], z[0]));
    for (uint64_t i = 0; i < t.numel; ++i) j[i] = float(sym[0][i] - z[0]);
  } else {
    // A trellis: [u8 K, classes,] n1 per class, size0, the streams of unions 0 and 1 (models 2..8:
    // K = 1). e[a][k]: where union a's segment k starts; q: its next symbol.
    const bool cc = p.model > 9;
    uint64_t K = 1, e[2][17] = {}, q[2][17], n[2] = {};
    std::vector<uint16_t> cls(cols), seg[2];
    if (cc) {
      GP_ASSIGN_OR_RETURN(K, r.U8("ans_grid K"));
      const unsigned bits = std::bit_width(K) - 1;
      if (K < 2 || K > 16 || K != 1u << bits) return Corrupt("ans_grid: ", K, " column classes");
      GP_ASSIGN_OR_RETURN(ByteSpan c, r.Bytes((cols * bits + 7) / 8, "column classes"));
      GP_RETURN_IF_ERROR(Unpack(c, cols, bits, -1, cls, "column classes"));
    }
    for (uint64_t k = 0; k < K; ++k) {
      const uint64_t all = rows * uint64_t(std::count(cls.begin(), cls.end(), k));
      GP_ASSIGN_OR_RETURN(uint64_t n1, r.Varint("ans_grid n1"));
      if (n1 > all) return Corrupt("ans_grid: n1 ", n1, " over ", all);
      for (int a = 0; a < 2; ++a) n[a] += a ? n1 : all - n1, e[a][k + 1] = n[a], seg[a].resize(cc ? n[a] : 0, uint16_t(k));
    }
    GP_ASSIGN_OR_RETURN(uint64_t size0, r.Varint("ans_grid size0"));
    for (int a = 0; a < 2; ++a) {
      GP_ASSIGN_OR_RETURN(ByteSpan u, r.Bytes(a ? r.remaining() : size0, "ans_grid union 0"));
      ByteReader ur(u, sb + r.start());
      if (!n[a] != u.empty()) return Corrupt("ans_grid: union ", a, " has ", n[a], " symbols in ", u.size(), " bytes");
      if (n[a]) GP_RETURN_IF_ERROR(OddStream(ur, u, cc, n[a], 0, sym[a], z[a], cc ? &seg[a] : nullptr, K));
    }
    // Every row walks from state 0, the rows in lockstep (column-major symbol order): state s
    // takes union a = s & 1 (from the segment of the column's class), and the parity of its union
    // index v moves it. A walk that does not run short reads every symbol.
    const uint32_t h0 = kTrellis[p.model - 2 - 8 * cc][0] >> 1, h1 = kTrellis[p.model - 2 - 8 * cc][1] >> 1;
    std::vector<uint32_t> s(rows);
    std::memcpy(q, e, sizeof q);
    for (uint64_t c = 0; c < cols; ++c)
      for (uint64_t i = 0; i < rows; ++i) {
        const unsigned a = s[i] & 1;
        uint64_t& k = q[a][cls[c]];
        if (k == e[a][cls[c] + 1]) return Corrupt("ans_grid: the trellis runs out of union ", a);
        const int v = sym[a][k++] - z[a];
        j[i * cols + c] = float(2 * v + int(a));
        s[i] = s[i] >> 1 ^ (a ? h0 : 0) ^ (v & 1 ? h1 : 0);
      }
  }
  if (p.carry) GP_RETURN_IF_ERROR(Carry(g, p.carry, j.data(), cols, sc));
  Dequant(g, sc.data(), out, [&](uint64_t i) { return j[i]; });
  return Status::Ok();
}

Status CodebookDecode(const TensorView& t, Out out) {
  CodebookParams p;
  const Grid g = *GridOf("codebook", t.shape, t.numel, t.params, p);
  const ObjectView& cb = t.objects[0];
  if (cb.kind != kObjF32Values || cb.data.size() != (size_t{4} << p.bits))
    return Corrupt("codebook: object must be f32_values with 2^", p.bits, " levels, got kind ", cb.kind, " with ",
                   cb.data.size(), " bytes");
  std::vector<uint16_t> v;
  GP_RETURN_IF_ERROR(Unpack(t.payload.subspan(g.scale_bytes), t.numel, p.bits, -1, v, "codebook"));
  Dequant(g, t.payload.data(), out, [&](uint64_t i) { return LoadF32(&cb.data[4 * v[i]]); });
  return Status::Ok();
}

// ---- 9 lowrank: inner payload, then factors A^T [rank x rows] and B [rank x cols]

// Scales per row of an n x m block of `bits`-bit values (none for f16); its bytes.
uint64_t Spr(uint64_t m, uint64_t bits, uint64_t group) {
  const uint64_t g = group ? group : m;
  return bits > 8 || !g ? 0 : m / g + (m % g != 0);
}
uint64_t Block(uint64_t n, uint64_t m, uint64_t bits, uint64_t group) {
  return 2 * n * Spr(m, bits, group) + (n * m * bits + 7) / 8;
}
// The inner payload's size rule and decoding (lowrank, patch).
Status InnerSize(const char* name, Dims shape, uint64_t numel, const InnerParams& p) {
  if (shape.size() != 2) return Corrupt(name, ": needs ndim 2, got ", shape.size());
  const EncodingTraits& e = *FindEncoding(p.inner);
  auto in = e.payload_size(shape, numel, p.inner_params);
  if (!in.ok()) return Corrupt(name, ": inner ", in.status().message());
  if (e.fixed_rate ? *in != p.inner_payload : *in > p.inner_payload)
    return Corrupt(name, ": inner_payload_size ", p.inner_payload, ", ", e.name, " needs ", *in);
  return Status::Ok();
}
Status InnerDecode(const char* name, const TensorView& t, const InnerParams& p, Out out) {
  Status st = FindEncoding(p.inner)->decode({t.shape, t.numel, p.inner_params, t.payload.first(p.inner_payload)}, out);
  return st.ok() ? st : Status(st.code(), Str(name, ": inner ", st.message()));
}
Result<uint64_t> LowRankSize(Dims s, uint64_t numel, ByteSpan params) {
  GP_ASSIGN_OR_RETURN(LowRankParams p, LowRankParams::Parse(params));
  GP_RETURN_IF_ERROR(InnerSize("lowrank", s, numel, p));
  auto n = CheckedAdd(p.inner_payload, Block(p.rank, s[0], p.bits, p.group) + Block(p.rank, s[1], p.bits, p.group));
  if (!n) return Corrupt("lowrank: payload size overflows");  // dims <= 2^40
  return *n;
}
// v = the n x m block at pl: f16 values, or f16 scales then packed codes.
Status Factor(ByteSpan pl, uint64_t n, uint64_t m, uint64_t b, uint64_t group, std::vector<float>& v, const char* what) {
  const uint64_t s = Spr(m, b, group), g = group ? group : m;
  std::vector<uint16_t> u;
  GP_RETURN_IF_ERROR(Unpack(pl.subspan(2 * n * s), n * m, unsigned(b), b > 8 ? -1 : (1 << b) - 1, u, what));
  v.resize(n * m);
  for (uint64_t i = 0; i < n * m; ++i)
    v[i] = b > 8 ? HalfBitsToFloat(u[i])
                 : HalfBitsToFloat(Load16(&pl[2 * (i / m * s + i % m / g)])) * float(int(u[i]) + 1 - (1 << (b - 1)));
  return Status::Ok();
}
Status LowRankDecode(const TensorView& t, Out out) {
  const LowRankParams p = *LowRankParams::Parse(t.params);
  const uint64_t rows = t.shape[0], cols = t.shape[1], r = p.rank, na = Block(r, rows, p.bits, p.group);
  GP_RETURN_IF_ERROR(InnerDecode("lowrank", t, p, out));
  std::vector<float> a, b;
  GP_RETURN_IF_ERROR(Factor(t.payload.subspan(p.inner_payload, na), r, rows, p.bits, p.group, a, "lowrank: A"));
  GP_RETURN_IF_ERROR(Factor(t.payload.subspan(p.inner_payload + na), r, cols, p.bits, p.group, b, "lowrank: B"));
  for (uint64_t i = 0; i < rows; ++i)
    for (uint64_t j = 0; j < cols; ++j) {
      double x = out[i * cols + j];
      for (uint64_t k = 0; k < r; ++k) x += double(a[k * rows + i]) * b[k * cols + j];  // exact products
      out[i * cols + j] = float(x);
    }
  return Status::Ok();
}

// ---- 10 patch: inner payload, values (a lowrank-style block), Rice-coded unit gaps

// Units in the tensor, elements per unit, and the values block's n x m and bytes.
struct PatchShape {
  uint64_t units, len, n, m, values;
};
PatchShape ShapeOf(const PatchParams& p, uint64_t rows, uint64_t cols) {
  const uint64_t u = p.unit == kPatchColumn ? cols : p.unit == kPatchRow ? rows : rows * cols / (p.block ? p.block : 1);
  const uint64_t len = p.unit == kPatchColumn ? rows : p.unit == kPatchRow ? cols : p.block ? p.block : 1;
  const uint64_t n = p.unit ? p.count : 1, m = p.unit ? len : p.count;
  return {u, len, n, m, Block(n, m, p.bits, 0)};
}
Result<uint64_t> PatchSize(Dims s, uint64_t numel, ByteSpan params) {
  GP_ASSIGN_OR_RETURN(PatchParams p, PatchParams::Parse(params));
  GP_RETURN_IF_ERROR(InnerSize("patch", s, numel, p));
  if (p.unit == kPatchBlock && s[1] % p.block) return Corrupt("patch: block ", p.block, " does not divide cols ", s[1]);
  const PatchShape ps = ShapeOf(p, s[0], s[1]);
  if (p.count > ps.units) return Corrupt("patch: count ", p.count, " exceeds the ", ps.units, " units");
  auto n = CheckedAdd(p.inner_payload, ps.values + (p.count * (p.rice_k + 1) + 7) / 8);
  if (!n) return Corrupt("patch: payload size overflows");
  return *n;
}
Status PatchDecode(const TensorView& t, Out out) {
  const PatchParams p = *PatchParams::Parse(t.params);
  const uint64_t cols = t.shape[1];
  const PatchShape s = ShapeOf(p, t.shape[0], cols);
  GP_RETURN_IF_ERROR(InnerDecode("patch", t, p, out));
  std::vector<float> v;
  GP_RETURN_IF_ERROR(Factor(t.payload.subspan(p.inner_payload, s.values), s.n, s.m, p.bits, 0, v, "patch: values"));
  // Positions: an LSB-first bit stream that ends in its last byte.
  const auto g = t.payload.subspan(p.inner_payload + s.values);
  uint64_t bit = 0, u = 0;
  auto next = [&]() { return bit < 8 * g.size() ? (g[bit / 8] >> (bit++ % 8)) & 1 : 2; };
  for (uint64_t i = 0; i < p.count; ++i) {
    uint64_t q = 0, r = 0, b;
    while ((b = next()) == 1) ++q;
    for (unsigned k = 0; k < p.rice_k && b < 2; ++k)
      if ((b = next()) < 2) r |= b << k;
    if (b > 1) return Corrupt("patch: positions end inside gap ", i);
    const uint64_t gap = q > s.units >> p.rice_k ? s.units : q << p.rice_k | r;  // no overflow: units <= 2^40
    u += (i ? 1 : 0) + gap;
    if (gap >= s.units || u >= s.units) return Corrupt("patch: unit of gap ", i, " is past the ", s.units, " units");
    for (uint64_t e = 0; e < s.len; ++e)
      out[p.unit == kPatchColumn ? e * cols + u : u * s.len + e] += v[p.unit ? i * s.len + e : i];
  }
  if ((bit + 7) / 8 != g.size()) return Corrupt("patch: ", g.size() - (bit + 7) / 8, " bytes after the positions");
  while (bit % 8)
    if (next()) return Corrupt("patch: nonzero padding bits after the positions");
  return Status::Ok();
}

// A registry row; its decoder runs after CheckView.
template <uint32_t Id, auto Size, auto Decode>
constexpr EncodingTraits Row(const char* name, bool fixed_rate, uint32_t refs = 0) {
  return {Id, name, fixed_rate, refs, Size, [](const TensorView& t, Out out) {
            const Status st = CheckView(*FindEncoding(Id), t, out);
            return st.ok() ? Decode(t, out) : st;
          }};
}
// Append-only: the index is the id.
constexpr std::array kRegistry = {
    Row<kRawF32, FlatSize<kRawF32, 4>, RawDecode<1>>("raw_f32", true),
    Row<kRawF16, FlatSize<kRawF16, 2>, RawDecode<0>>("raw_f16", true),
    Row<kRawBF16, FlatSize<kRawBF16, 2>, RawDecode<2>>("raw_bf16", true),
    Row<kPgInt8Row, PgRowSize, PgRowDecode>("pg_int8_row", true),
    Row<kPgInt8Tensor, FlatSize<kPgInt8Tensor, 1, 4>, PgTensorDecode>("pg_int8_tensor", true),
    Row<kUniform, GridSize<kUniform, UniformParams>, UniformDecode>("uniform", true),
    Row<kConst, FlatSize<kConst, 0, 0, 4>, ConstDecode>("const", true),
    Row<kAnsGrid, AnsGridSize, AnsGridDecode>("ans_grid", false),
    Row<kCodebook, GridSize<kCodebook, CodebookParams>, CodebookDecode>("codebook", true, 1),
    Row<kLowRank, LowRankSize, LowRankDecode>("lowrank", true),
    Row<kPatch, PatchSize, PatchDecode>("patch", false),
};

}  // namespace

const EncodingTraits* FindEncoding(uint32_t id) { return id < kRegistry.size() ? &kRegistry[id] : nullptr; }
std::span<const EncodingTraits> AllEncodings() { return kRegistry; }

Status CheckView(const EncodingTraits& e, const TensorView& t, Out out) {
  if (out.size() != t.numel) return Internal(e.name, ": output has ", out.size(), " floats for numel ", t.numel);
  if (t.objects.size() != e.refs) return Internal(e.name, ": ", t.objects.size(), " objects, needs ", e.refs);
  GP_ASSIGN_OR_RETURN(uint64_t want, e.payload_size(t.shape, t.numel, t.params));
  if (e.fixed_rate ? want != t.payload.size() : want > t.payload.size())
    return Corrupt(e.name, ": payload is ", t.payload.size(), " bytes, encoding requires ", e.fixed_rate ? "" : "at least ", want);
  return Status::Ok();
}

Result<UniformParams> UniformParams::Parse(ByteSpan b) {
  GP_RETURN_IF_ERROR(ParamsSize("uniform", b, 7));
  UniformParams p{b[0], b[1], b[2], Load32(&b[3])};
  if (p.bits < 2 || p.bits > 8) return Corrupt("uniform: bits ", p.bits, " outside [2, 8]");
  if (p.packing > 1) return Corrupt("uniform: unknown packing ", p.packing);
  if (p.scale_dtype > 2) return Corrupt("uniform: unknown scale_dtype ", p.scale_dtype);
  return p;
}

Result<AnsGridParams> AnsGridParams::Parse(ByteSpan b) {
  const bool c = b.size() == 8 && b[5] > 127;  // row-order carry
  if (!c) GP_RETURN_IF_ERROR(ParamsSize("ans_grid", b, 6));
  AnsGridParams p{b[0], Load32(&b[1]), uint8_t(b[5] & (c ? 127 : 255)), uint16_t(c ? Load16(&b[6]) : 0)};
  if (p.scale_dtype > 2) return Corrupt("ans_grid: unknown scale_dtype ", p.scale_dtype);
  if (p.model > 16) return Corrupt("ans_grid: unknown model ", p.model);
  return p;
}

Result<CodebookParams> CodebookParams::Parse(ByteSpan b) {
  GP_RETURN_IF_ERROR(ParamsSize("codebook", b, 6));
  CodebookParams p{b[0], b[1], Load32(&b[2])};
  if (p.bits < 1 || p.bits > 8) return Corrupt("codebook: bits ", p.bits, " outside [1, 8]");
  if (p.scale_dtype > 2) return Corrupt("codebook: unknown scale_dtype ", p.scale_dtype);
  return p;
}

// The inner-encoding header of lowrank and patch (`self`) params.
Status ParseInner(ByteReader& r, InnerParams& p, uint32_t self) {
  const char* s = FindEncoding(self)->name;
  GP_ASSIGN_OR_RETURN(uint64_t inner, r.Varint(Str(s, " inner_encoding")));
  GP_ASSIGN_OR_RETURN(uint64_t n, r.Varint(Str(s, " inner_params_size")));
  GP_ASSIGN_OR_RETURN(auto ip, r.Bytes(n, Str(s, " inner params")));
  GP_ASSIGN_OR_RETURN(p.inner_payload, r.Varint(Str(s, " inner_payload_size")));
  const EncodingTraits* e = inner >= kPatch || inner == self ? nullptr : FindEncoding(uint32_t(inner));
  if (!e || e->refs) return Corrupt(s, ": inner_encoding ", inner, " is unknown, ", self == kPatch ? "10" : "9 or 10", " or takes refs");
  p.inner = uint32_t(inner);
  p.inner_params.assign(ip.begin(), ip.end());
  return Status::Ok();
}

Result<LowRankParams> LowRankParams::Parse(ByteSpan b) {
  ByteReader r(b);
  LowRankParams p;
  GP_RETURN_IF_ERROR(ParseInner(r, p, kLowRank));
  GP_ASSIGN_OR_RETURN(p.rank, r.U8("lowrank rank"));
  GP_ASSIGN_OR_RETURN(p.bits, r.U8("lowrank bits"));
  GP_ASSIGN_OR_RETURN(p.group, r.Varint("lowrank group"));
  if (!r.at_end()) return Corrupt("lowrank: ", r.remaining(), " trailing params bytes");
  if (!p.rank) return Corrupt("lowrank: rank 0");
  if (p.bits != 16 && (p.bits < 2 || p.bits > 8)) return Corrupt("lowrank: bits ", p.bits, " not 2..8 or 16");
  if (p.bits == 16 && p.group) return Corrupt("lowrank: group ", p.group, " with bits 16");
  return p;
}

Result<PatchParams> PatchParams::Parse(ByteSpan b) {
  ByteReader r(b);
  PatchParams p;
  GP_RETURN_IF_ERROR(ParseInner(r, p, kPatch));
  GP_ASSIGN_OR_RETURN(p.unit, r.U8("patch unit"));
  GP_ASSIGN_OR_RETURN(p.block, r.Varint("patch block"));
  GP_ASSIGN_OR_RETURN(p.bits, r.U8("patch bits"));
  GP_ASSIGN_OR_RETURN(p.rice_k, r.U8("patch rice_k"));
  GP_ASSIGN_OR_RETURN(p.count, r.Varint("patch count"));
  if (!r.at_end()) return Corrupt("patch: ", r.remaining(), " trailing params bytes");
  if (p.unit > kPatchRow) return Corrupt("patch: unknown unit ", p.unit);
  if ((p.unit == kPatchBlock) != (p.block != 0)) return Corrupt("patch: block ", p.block, " with unit ", p.unit);
  if (p.bits != 16 && (p.bits < 2 || p.bits > 8)) return Corrupt("patch: bits ", p.bits, " not 2..8 or 16");
  if (p.rice_k > 40) return Corrupt("patch: rice_k ", p.rice_k, " > 40");
  if (!p.count) return Corrupt("patch: count 0");
  return p;
}

uint64_t Rows(Dims shape) { return shape.empty() ? 1 : shape[0]; }
uint64_t Cols(Dims shape, uint64_t numel) { return shape.empty() ? 1 : shape[0] ? numel / shape[0] : 0; }

}  // namespace golfpack::gpk
