// The scalar reference decoders (`_ref`): the test oracles of the counted
// decoder's encodings (gpk/encodings.cpp). Plainly written, element by
// element; they return the same values bit for bit and reject the same codes.
#include "core/encodings.h"

#include <algorithm>
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

// ---------------------------------------------------------------- 0..2 raw

Status RawF32Ref(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kRawF32), t, out));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = &t.payload[4 * i];
    uint32_t bits = 0;
    for (int b = 3; b >= 0; --b) bits = (bits << 8) | p[b];
    out[i] = std::bit_cast<float>(bits);
  }
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
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kRawF16), t, out));
  for (size_t i = 0; i < out.size(); ++i) out[i] = HalfRef(static_cast<uint16_t>(t.payload[2 * i] | t.payload[2 * i + 1] << 8));
  return Status::Ok();
}

float BF16Ref(uint16_t b) {
  uint32_t bits = 0;
  bits |= static_cast<uint32_t>(b) << 16;  // bf16 is the top half of an f32
  return std::bit_cast<float>(bits);
}
Status RawBF16Ref(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kRawBF16), t, out));
  for (size_t i = 0; i < out.size(); ++i) out[i] = BF16Ref(static_cast<uint16_t>(t.payload[2 * i] | t.payload[2 * i + 1] << 8));
  return Status::Ok();
}

// ---------------------------------------------------------------- 3, 4: Parameter Golf int8

Status PgRowRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kPgInt8Row), t, out));
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

Status PgTensorRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kPgInt8Tensor), t, out));
  uint32_t bits = 0;
  for (int b = 3; b >= 0; --b) bits = (bits << 8) | t.payload[static_cast<size_t>(b)];
  const float scale = std::bit_cast<float>(bits);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(static_cast<int8_t>(t.payload[4 + i])) * scale;
  return Status::Ok();
}

// ---------------------------------------------------------------- 5: uniform

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

Status BadCode(uint64_t element, int64_t value, const UniformLayout& L) {
  if (L.p.packing == 0)
    return Corrupt("uniform: code " + std::to_string(value) + " of element " + Num(element) + " is outside [-" +
                   std::to_string(L.p.max_code()) + ", " + std::to_string(L.p.max_code()) + "]");
  return Corrupt("uniform: packed value " + std::to_string(value) + " of element " + Num(element) +
                 " is the reserved value 2^bits - 1");
}
Status BadPadding() { return Corrupt("uniform: nonzero padding bits after the last packed code"); }


Status UniformRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kUniform), t, out));
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

Status ConstRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kConst), t, out));
  uint32_t bits = 0;
  for (int b = 3; b >= 0; --b) bits = (bits << 8) | t.params[static_cast<size_t>(b)];
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::bit_cast<float>(bits);
  return Status::Ok();
}

// ---------------------------------------------------------------- 7: ans_grid

struct AnsLayout : GridLayout {
  AnsGridParams p;
  uint64_t min_payload = 0;
  uint64_t stored = 0;  // scale bytes in the payload: scale_bytes less the row-order carry
};

// Smallest self-contained stream header: model 0 is u8 scale_bits, varint
// alphabet (>= 1 byte) and a table body (>= 2 bytes: the frequencies sum to
// 2^M >= 1024, so one of them is >= 128 or there are >= 9 of them); model 1
// is u8 K, u8 M, varint alphabet, varint zero_point, varint mask (model 9
// has the same header, then the column classes).
constexpr uint64_t kAnsMinHeader[2] = {4, 5};

Result<AnsLayout> AnsLayoutOf(std::span<const uint64_t> shape, uint64_t numel, std::span<const uint8_t> params) {
  AnsLayout L;
  GP_ASSIGN_OR_RETURN(L.p, AnsGridParams::Parse(params));
  GP_RETURN_IF_ERROR(FillGridLayout("ans_grid", shape, numel, L.p.group_size, L.p.scale_dtype, &L));
  const uint64_t states = 4 * (numel < kRansInterleave ? numel : kRansInterleave);
  if (params.size() > 6 && (!L.p.carry || L.p.group_size || L.p.carry > L.scale_bytes || L.rows > 8192))
    return Corrupt("ans_grid: bad carry " + Num(L.p.carry));
  L.stored = L.scale_bytes - L.p.carry;
  // Models 2..8 and 10..16 (a trellis): at least two varints, the union streams' sizes follow from the data.
  auto min = CheckedAdd(L.stored, L.p.model >= 2 && L.p.model != 9 ? 2 : kAnsMinHeader[L.p.model ? 1 : 0] + states);
  if (!min) return Corrupt("ans_grid: payload size overflows");
  L.min_payload = *min;
  return L;
}

Status AnsAlphabetCheck(size_t alphabet) {
  if (alphabet % 2 == 0)
    return Corrupt("ans_grid: rANS alphabet size " + Num(alphabet) + " is even, must be odd");
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
Status AnsDecodeSymbols(const AnsLayout& L, const TensorView& t, std::vector<uint16_t>& sym,
                        int* z) {
  const std::span<const uint8_t> stream = t.payload.subspan(L.stored);
  ByteReader r(stream, L.stored);  // errors report payload offsets
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
    st = RansDecodeRef(rest, table, t.numel, sym);
  } else {
    auto parsed = ContextRansModel::Parse(r);
    if (!parsed.ok()) return prefixed(parsed.status());
    const ContextRansModel& model = *parsed;
    GP_RETURN_IF_ERROR(AnsZeroPointCheck(model));
    *z = model.zero_point();
    const auto rest = stream.subspan(r.position());
    st = L.p.model == 9 ? ColumnRansDecompress(stream, L.cols, t.numel, sym, /*reference=*/true)
                        : ContextRansDecodeRef(rest, model, t.numel, sym);
  }
  if (!st.ok()) return prefixed(st);
  return Status::Ok();
}

// Models 2..8 and 10..16: the grid index of every element from the two union
// streams, walking each row's trellis from state 0, the rows in lockstep. The
// next state is written in shift-register form: shift right, then add h0 and
// h1 (without their constant terms) for the union bit and the subset bit.
// Models 10..16 read each union's symbols from the segment of the column's
// class; models 2..8 are read here as one class holding every column.
Status TrellisCodesRef(const AnsLayout& L, const TensorView& t, std::vector<int>& code) {
  ByteReader r(t.payload.subspan(L.stored), L.stored);
  const bool with_classes = L.p.model >= 10;
  const int v = with_classes ? L.p.model - 8 : L.p.model;
  int num_classes = 1;
  std::vector<uint8_t> col_class(L.cols, 0);
  if (with_classes) {
    GP_ASSIGN_OR_RETURN(uint8_t k, r.U8("ans_grid K"));
    if (k != 2 && k != 4 && k != 8 && k != 16) return Corrupt("ans_grid: " + Num(k) + " column classes");
    num_classes = k;
    const int bits = k == 2 ? 1 : k == 4 ? 2 : k == 8 ? 3 : 4;
    GP_ASSIGN_OR_RETURN(auto packed, r.Bytes(ColumnClassBytes(L.cols, k), "column classes"));
    for (uint64_t c = 0; c < L.cols; ++c)
      for (int b = 0; b < bits; ++b) {
        const uint64_t bit = c * uint64_t(bits) + uint64_t(b);
        if ((packed[bit / 8] >> (bit % 8)) & 1) col_class[c] |= uint8_t(1u << b);
      }
    for (uint64_t bit = L.cols * uint64_t(bits); bit < 8 * packed.size(); ++bit)
      if ((packed[bit / 8] >> (bit % 8)) & 1) return Corrupt("column classes: nonzero padding bits after the last packed code");
  }
  // count[a][k]: the symbols of union a whose column has class k.
  std::vector<uint64_t> count[2] = {std::vector<uint64_t>(num_classes), std::vector<uint64_t>(num_classes)};
  uint64_t total[2] = {0, 0};
  for (int k = 0; k < num_classes; ++k) {
    const uint64_t elements = L.rows * uint64_t(std::count(col_class.begin(), col_class.end(), uint8_t(k)));
    GP_ASSIGN_OR_RETURN(uint64_t n1, r.Varint("ans_grid n1"));
    if (n1 > elements) return Corrupt("ans_grid: n1 " + Num(n1) + " over " + Num(elements));  // the elements of class k
    count[0][k] = elements - n1, count[1][k] = n1;
    total[0] += elements - n1, total[1] += n1;
  }
  GP_ASSIGN_OR_RETURN(uint64_t size0, r.Varint("ans_grid size0"));
  const size_t start = L.stored + r.position();
  GP_RETURN_IF_ERROR(r.Bytes(size0, "ans_grid union 0").status());  // size0 within the payload
  const std::span<const uint8_t> stream[2] = {t.payload.subspan(start, size0), t.payload.subspan(start + size0)};
  std::vector<uint16_t> sym[2];
  int zero[2] = {0, 0};
  for (int a = 0; a < 2; ++a) {
    if (total[a] == 0 || stream[a].empty()) {
      if (total[a] != 0 || !stream[a].empty())
        return Corrupt("ans_grid: union " + Num(a) + " has " + Num(total[a]) + " symbols in " + Num(stream[a].size()) + " bytes");
      continue;
    }
    ByteReader sr(stream[a], start + (a ? size0 : 0));  // errors name payload offsets
    sym[a].resize(total[a]);
    Status st;
    if (with_classes) {
      auto model = ContextRansModel::Parse(sr);
      if (!model.ok()) return Corrupt("ans_grid: " + model.status().message());
      GP_RETURN_IF_ERROR(AnsZeroPointCheck(*model));
      if (model->num_contexts() != num_classes)
        return Corrupt("ans_grid: " + Num(model->num_contexts()) + " contexts, K is " + Num(num_classes));
      zero[a] = model->zero_point();
      std::vector<uint8_t> segment;  // the context of every symbol: its segment's class
      for (int k = 0; k < num_classes; ++k) segment.insert(segment.end(), count[a][k], uint8_t(k));
      st = ColumnRansDecodeRef(stream[a].subspan(sr.position()), *model, segment, total[a], sym[a]);
    } else {
      auto table = FrequencyTable::Parse(sr);
      if (!table.ok()) return Corrupt("ans_grid: " + table.status().message());
      GP_RETURN_IF_ERROR(AnsAlphabetCheck(table->alphabet_size()));
      zero[a] = static_cast<int>((table->alphabet_size() - 1) / 2);
      st = RansDecodeRef(stream[a].subspan(sr.position()), *table, total[a], sym[a]);
    }
    if (!st.ok()) return Corrupt("ans_grid: " + st.message());
  }
  // next[a][k]: the next unread symbol of union a's segment k; end[a][k]: one past its last.
  std::vector<uint64_t> next[2], end[2];
  for (int a = 0; a < 2; ++a) {
    uint64_t at = 0;
    for (int k = 0; k < num_classes; ++k) next[a].push_back(at), at += count[a][k], end[a].push_back(at);
  }
  const uint32_t h0 = kTrellis[v - 2][0], h1 = kTrellis[v - 2][1];
  std::vector<uint32_t> state(L.rows, 0);
  code.assign(t.numel, 0);
  for (uint64_t c = 0; c < L.cols; ++c) {
    const int k = col_class[c];
    for (uint64_t row = 0; row < L.rows; ++row) {
      const int a = static_cast<int>(state[row] % 2);
      if (next[a][k] >= end[a][k]) return Corrupt("ans_grid: the trellis runs out of union " + Num(a));
      const int x = static_cast<int>(sym[a][next[a][k]++]) - zero[a];
      code[row * L.cols + c] = 2 * x + a;
      const bool z1 = (x % 2) != 0;
      state[row] = (state[row] >> 1) ^ (a ? (h0 >> 1) : 0u) ^ (z1 ? (h1 >> 1) : 0u);
    }
  }
  for (int a = 0; a < 2; ++a)
    for (int k = 0; k < num_classes; ++k)
      if (next[a][k] != end[a][k]) return Corrupt("ans_grid: union symbols left over after the trellis");
  return Status::Ok();
}

// The row-order carry (FORMAT.md), written for clarity rather than speed:
// rank[r] counts the rows that sort before row r, X = sum d_r (rows-1-r)! is
// built in base-256 digits, and its B bytes followed by the stored scale bytes
// are the scales in sorted order. `scales` holds the stored bytes and
// receives the scales in row order.
template <class Code>
Status CarryScalesRef(const AnsLayout& L, Code code, std::vector<uint8_t>& scales) {
  const uint64_t n = L.rows, cols = L.cols, w = L.scale_bytes / n;
  auto before = [&](uint64_t a, uint64_t b) {
    for (uint64_t c = 0; c < cols; ++c)
      if (code(a * cols + c) != code(b * cols + c)) return code(a * cols + c) < code(b * cols + c);
    return a < b;
  };
  std::vector<uint64_t> rank(n, 0);
  for (uint64_t r = 0; r < n; ++r)
    for (uint64_t s = 0; s < n; ++s)
      if (s != r && before(s, r)) ++rank[r];
  std::vector<uint64_t> x;  // base-256 digits, least significant first
  for (uint64_t r = 0; r < n; ++r) {
    uint64_t carry = 0;  // the Lehmer digit d_r first
    for (uint64_t s = r + 1; s < n; ++s)
      if (rank[s] < rank[r]) ++carry;
    for (uint64_t& digit : x) {
      const uint64_t v = digit * (n - r) + carry;
      digit = v % 256;
      carry = v / 256;
    }
    for (; carry; carry /= 256) x.push_back(carry % 256);
  }
  if (x.size() > L.p.carry)
    return Corrupt("ans_grid: row order over carry");
  std::vector<uint8_t> sorted(L.p.carry, 0);
  for (size_t i = 0; i < x.size(); ++i) sorted[i] = static_cast<uint8_t>(x[i]);
  sorted.insert(sorted.end(), scales.begin(), scales.end());
  scales.assign(L.scale_bytes, 0);
  for (uint64_t r = 0; r < n; ++r)
    for (uint64_t b = 0; b < w; ++b) scales[r * w + b] = sorted[rank[r] * w + b];
  return Status::Ok();
}

Status AnsGridRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kAnsGrid), t, out));
  GP_ASSIGN_OR_RETURN(AnsLayout L, AnsLayoutOf(t.shape, t.numel, t.params));
  std::vector<uint16_t> sym;
  int z = 0;
  std::vector<int> trellis;
  if (L.p.model >= 2 && L.p.model != 9) {
    GP_RETURN_IF_ERROR(TrellisCodesRef(L, t, trellis));
  } else {
    GP_RETURN_IF_ERROR(AnsDecodeSymbols(L, t, sym, &z));
  }
  const uint64_t sbytes = ScaleBytes(L.p.scale_dtype);
  auto code_of = [&](uint64_t i) { return L.p.model >= 2 && L.p.model != 9 ? trellis[i] : static_cast<int>(sym[i]) - z; };
  std::vector<uint8_t> scales(t.payload.begin(), t.payload.begin() + static_cast<std::ptrdiff_t>(L.stored));
  if (L.p.carry) GP_RETURN_IF_ERROR(CarryScalesRef(L, code_of, scales));
  for (uint64_t i = 0; i < t.numel; ++i) {
    const uint64_t r = i / L.cols, c = i % L.cols;
    const uint64_t g = L.p.group_size ? c / L.p.group_size : 0;
    const uint8_t* sp = &scales[(r * L.groups_per_row + g) * sbytes];
    float scale;
    if (L.p.scale_dtype == 0) {
      scale = HalfRef(static_cast<uint16_t>(sp[0] | sp[1] << 8));
    } else if (L.p.scale_dtype == 2) {
      scale = BF16Ref(static_cast<uint16_t>(sp[0] | sp[1] << 8));
    } else {
      scale = std::bit_cast<float>(uint32_t{sp[0]} | uint32_t{sp[1]} << 8 | uint32_t{sp[2]} << 16 |
                                   uint32_t{sp[3]} << 24);
    }
    out[i] = static_cast<float>(code_of(i)) * scale;
  }
  return Status::Ok();
}


// Codebook: one scalar level per code, levels in the referenced f32_values object.
Status CodebookRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kCodebook), t, out));
  GP_ASSIGN_OR_RETURN(CodebookParams p, CodebookParams::Parse(t.params));
  GridLayout L;
  GP_RETURN_IF_ERROR(FillGridLayout("codebook", t.shape, t.numel, p.group_size, p.scale_dtype, &L));
  const ObjectView& cb = t.objects[0];
  if (cb.kind != kObjF32Values || cb.data.size() != (size_t{4} << p.bits))
    return Corrupt("codebook: object must be f32_values with 2^" + Num(p.bits) + " levels");
  const uint64_t sbytes = ScaleBytes(p.scale_dtype);
  for (uint64_t i = 0; i < t.numel; ++i) {
    const uint64_t r = i / L.cols, c = i % L.cols, g = p.group_size ? c / p.group_size : 0;
    const uint8_t* sp = &t.payload[(r * L.groups_per_row + g) * sbytes];
    const float scale = p.scale_dtype == 1 ? LoadF32(sp) : p.scale_dtype == 0 ? HalfRef(Load16(sp)) : BF16Ref(Load16(sp));
    uint32_t code = 0;
    for (unsigned b = 0; b < p.bits; ++b) {
      const uint64_t bit = i * p.bits + b;
      code |= uint32_t((t.payload[L.scale_bytes + bit / 8] >> (bit % 8)) & 1) << b;
    }
    out[i] = LoadF32(&cb.data[4 * code]) * scale;
  }
  const uint64_t code_bytes = (t.numel * p.bits + 7) / 8;
  for (uint64_t bit = t.numel * p.bits; bit < code_bytes * 8; ++bit)
    if ((t.payload[L.scale_bytes + bit / 8] >> (bit % 8)) & 1)
      return Corrupt("codebook: nonzero padding bits after the last packed code");
  return Status::Ok();
}

// ---------------------------------------------------------------- 9: lowrank

// Reads one factor block of n x m values starting at payload byte `at`
// (FORMAT.md "9: lowrank"), bit by bit; advances `at` past it.
Status LowRankBlockRef(const TensorView& t, uint64_t* at, uint64_t n, uint64_t m, const LowRankParams& p,
                       std::vector<float>& v, const std::string& what) {
  v.assign(n * m, 0.0f);
  if (p.bits == 16) {
    for (uint64_t i = 0; i < n * m; ++i) v[i] = HalfRef(Load16(&t.payload[*at + 2 * i]));
    *at += 2 * n * m;
    return Status::Ok();
  }
  const uint64_t group = p.group != 0 ? p.group : m;
  const uint64_t scales_per_row = m == 0 ? 0 : m / group + (m % group != 0 ? 1 : 0);  // ceil; group may be huge
  const uint64_t codes_at = *at + 2 * n * scales_per_row;
  const int max_code = (1 << (p.bits - 1)) - 1;
  for (uint64_t i = 0; i < n; ++i) {
    for (uint64_t j = 0; j < m; ++j) {
      const float scale = HalfRef(Load16(&t.payload[*at + 2 * (i * scales_per_row + j / group)]));
      const uint64_t e = i * m + j;
      int u = 0;
      for (unsigned b = 0; b < p.bits; ++b) {
        const uint64_t bit = e * p.bits + b;
        u |= ((t.payload[codes_at + bit / 8] >> (bit % 8)) & 1) << b;
      }
      if (u == (1 << p.bits) - 1)
        return Corrupt(what + ": packed value " + Num(u) + " of element " + Num(e) + " is the reserved value 2^bits - 1");
      v[e] = scale * static_cast<float>(u - max_code);
    }
  }
  const uint64_t code_bytes = (n * m * p.bits + 7) / 8;
  for (uint64_t bit = n * m * p.bits; bit < code_bytes * 8; ++bit)
    if ((t.payload[codes_at + bit / 8] >> (bit % 8)) & 1)
      return Corrupt(what + ": nonzero padding bits after the last packed code");
  *at = codes_at + code_bytes;
  return Status::Ok();
}

// The inner encoding's reference decoder, then out += A * B in double, k ascending.
Status LowRankRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kLowRank), t, out));
  GP_ASSIGN_OR_RETURN(LowRankParams p, LowRankParams::Parse(t.params));
  const uint64_t rows = t.shape[0], cols = t.shape[1], rank = p.rank;
  TensorView inner{t.shape, t.numel, p.inner_params, t.payload.subspan(0, p.inner_payload)};
  Status st = DecodeRef(p.inner, inner, out);
  if (!st.ok()) return Status(st.code(), "lowrank: inner " + st.message());
  std::vector<float> a, b;
  uint64_t at = p.inner_payload;
  GP_RETURN_IF_ERROR(LowRankBlockRef(t, &at, rank, rows, p, a, "lowrank: A"));  // stored as A^T
  GP_RETURN_IF_ERROR(LowRankBlockRef(t, &at, rank, cols, p, b, "lowrank: B"));
  for (uint64_t i = 0; i < rows; ++i) {
    for (uint64_t j = 0; j < cols; ++j) {
      double sum = static_cast<double>(out[i * cols + j]);
      for (uint64_t k = 0; k < rank; ++k) {
        const double product = static_cast<double>(a[k * rows + i]) * static_cast<double>(b[k * cols + j]);  // exact
        sum = sum + product;
      }
      out[i * cols + j] = static_cast<float>(sum);
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- 10: patch

// The inner encoding's reference decoder, then each stored unit's values
// added in f32 (FORMAT.md "10: patch"); the gaps are read bit by bit.
Status PatchRef(const TensorView& t, std::span<float> out) {
  GP_RETURN_IF_ERROR(CheckView(*FindEncoding(kPatch), t, out));
  GP_ASSIGN_OR_RETURN(PatchParams p, PatchParams::Parse(t.params));
  const uint64_t rows = t.shape[0], cols = t.shape[1];
  uint64_t units = 0, len = 0;
  switch (p.unit) {
    case kPatchElement: units = rows * cols, len = 1; break;
    case kPatchBlock: units = rows * cols / p.block, len = p.block; break;
    case kPatchColumn: units = cols, len = rows; break;
    default: units = rows, len = cols; break;
  }
  TensorView inner{t.shape, t.numel, p.inner_params, t.payload.subspan(0, p.inner_payload)};
  Status st = DecodeRef(p.inner, inner, out);
  if (!st.ok()) return Status(st.code(), "patch: inner " + st.message());
  LowRankParams block;  // the values are a lowrank-style block with group 0
  block.bits = p.bits;
  block.group = 0;
  const bool per_unit = p.unit != kPatchElement;
  std::vector<float> v;
  uint64_t at = p.inner_payload;
  GP_RETURN_IF_ERROR(LowRankBlockRef(t, &at, per_unit ? p.count : 1, per_unit ? len : p.count, block, v, "patch: values"));
  const uint64_t end_bit = (t.payload.size() - at) * 8;
  uint64_t bit = 0;
  auto read = [&](int* b) {
    if (bit >= end_bit) return false;
    *b = (t.payload[at + bit / 8] >> (bit % 8)) & 1;
    ++bit;
    return true;
  };
  uint64_t unit = 0;
  for (uint64_t i = 0; i < p.count; ++i) {
    uint64_t q = 0, r = 0;
    int b = 0;
    for (;;) {
      if (!read(&b)) return Corrupt("patch: positions end inside gap " + Num(i));
      if (b == 0) break;
      ++q;
    }
    for (unsigned k = 0; k < p.rice_k; ++k) {
      if (!read(&b)) return Corrupt("patch: positions end inside gap " + Num(i));
      r |= uint64_t(b) << k;
    }
    // gap = q * 2^k + r, compared without overflow.
    const bool too_big = q > (units >> p.rice_k);
    const uint64_t gap = too_big ? units : (q << p.rice_k) + r;
    unit = i == 0 ? gap : unit + 1 + gap;
    if (gap >= units || unit >= units) return Corrupt("patch: unit of gap " + Num(i) + " is past the " + Num(units) + " units");
    for (uint64_t e = 0; e < len; ++e) {
      uint64_t pos = 0;
      switch (p.unit) {
        case kPatchElement: pos = unit; break;
        case kPatchBlock: pos = unit * p.block + e; break;
        case kPatchColumn: pos = e * cols + unit; break;
        default: pos = unit * cols + e; break;
      }
      const float value = per_unit ? v[i * len + e] : v[i];
      out[pos] = out[pos] + value;
    }
  }
  const uint64_t used = (bit + 7) / 8;
  if (used != t.payload.size() - at) return Corrupt("patch: " + Num(t.payload.size() - at - used) + " bytes after the positions");
  for (; bit % 8 != 0; ++bit)
    if ((t.payload[at + bit / 8] >> (bit % 8)) & 1) return Corrupt("patch: nonzero padding bits after the positions");
  return Status::Ok();
}

using RefFn = Status (*)(const TensorView&, std::span<float>);
// Indexed by encoding id, as the registry.
constexpr RefFn kRefs[] = {RawF32Ref, RawF16Ref, RawBF16Ref, PgRowRef, PgTensorRef, UniformRef, ConstRef, AnsGridRef, CodebookRef,
                           LowRankRef, PatchRef};

}  // namespace

// Params serialisation (the writer's half; parsing is the decoder's).
std::vector<uint8_t> UniformParams::Serialize() const {
  ByteWriter w;
  w.U8(bits), w.U8(packing), w.U8(scale_dtype), w.U32(group_size);
  return std::move(w).Take();
}
std::vector<uint8_t> AnsGridParams::Serialize() const {
  ByteWriter w;
  w.U8(scale_dtype), w.U32(group_size), w.U8(carry ? model | 128 : model);
  if (carry) w.U16(carry);
  return std::move(w).Take();
}
std::vector<uint8_t> CodebookParams::Serialize() const {
  ByteWriter w;
  w.U8(bits), w.U8(scale_dtype), w.U32(group_size);
  return std::move(w).Take();
}

std::vector<uint8_t> LowRankParams::Serialize() const {
  ByteWriter w;
  w.Varint(inner), w.Varint(inner_params.size()), w.Bytes(inner_params), w.Varint(inner_payload);
  w.U8(rank), w.U8(bits), w.Varint(group);
  return std::move(w).Take();
}

std::vector<uint8_t> PatchParams::Serialize() const {
  ByteWriter w;
  w.Varint(inner), w.Varint(inner_params.size()), w.Bytes(inner_params), w.Varint(inner_payload);
  w.U8(unit), w.Varint(block), w.U8(bits), w.U8(rice_k), w.Varint(count);
  return std::move(w).Take();
}

Result<std::vector<int32_t>> AnsGridCodesRef(const TensorView& t, std::vector<uint8_t>* stored_scales) {
  GP_ASSIGN_OR_RETURN(AnsLayout L, AnsLayoutOf(t.shape, t.numel, t.params));
  if (t.payload.size() < L.min_payload) return Corrupt("ans_grid: payload shorter than its minimum");
  std::vector<int32_t> codes(t.numel);
  if (L.p.model >= 2 && L.p.model != 9) {
    std::vector<int> trellis;
    GP_RETURN_IF_ERROR(TrellisCodesRef(L, t, trellis));
    codes.assign(trellis.begin(), trellis.end());
  } else {
    std::vector<uint16_t> sym;
    int z = 0;
    GP_RETURN_IF_ERROR(AnsDecodeSymbols(L, t, sym, &z));
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<int32_t>(sym[i]) - z;
  }
  if (stored_scales) stored_scales->assign(t.payload.begin(), t.payload.begin() + static_cast<std::ptrdiff_t>(L.stored));
  return codes;
}

Status DecodeRef(uint32_t encoding, const TensorView& t, std::span<float> out) {
  if (encoding >= std::size(kRefs)) return Unsupported("no reference decoder for encoding " + Num(encoding));
  return kRefs[encoding](t, out);
}

}  // namespace golfpack::gpk
