#include "gpk/rans.h"

namespace golfpack::gpk {
namespace {

Status Bad(const auto&... d) { return Corrupt("rANS payload: ", d...); }

// A u8 (scale_bits) or varint (alphabet size) that must lie in [lo, hi].
Result<uint64_t> InRange(ByteReader& r, const std::string& what, bool u8, uint64_t lo, uint64_t hi) {
  uint64_t v = 0;
  if (u8) {
    GP_ASSIGN_OR_RETURN(v, r.U8(what));
  } else {
    GP_ASSIGN_OR_RETURN(v, r.Varint(what));
  }
  if (v < lo || v > hi) return r.CorruptAtPosition(r.start(), what, v, " outside [", lo, ", ", hi, "]");
  return v;
}

}  // namespace

Result<RansModel> ParseRansModel(ByteReader& r, bool ctx) {
  const std::string w = ctx ? "ContextRans " : "rANS table ";
  RansModel m;
  uint64_t k = 1, mask = 1;
  if (ctx) {
    GP_ASSIGN_OR_RETURN(k, InRange(r, w + "context count", true, 1, 64));
  }
  GP_ASSIGN_OR_RETURN(m.scale_bits, InRange(r, w + "scale_bits", true, 10, 15));
  GP_ASSIGN_OR_RETURN(m.alphabet, InRange(r, w + "alphabet size", false, 1, 4096));
  if (ctx) {
    GP_ASSIGN_OR_RETURN(m.zero_point, InRange(r, w + "zero point", false, 0, m.alphabet - 1));
    GP_ASSIGN_OR_RETURN(mask, r.Varint(w + "table mask"));
    if (k < 64 && mask >> k) return r.CorruptAtPosition(r.start(), w + "table mask", "names contexts beyond ", k);
  }
  m.freq.resize(k);
  m.slots.resize(k);
  for (size_t c = 0; c < k; ++c) {
    if (!((mask >> c) & 1)) continue;
    GP_ASSIGN_OR_RETURN(m.freq[c], ParseRansFreqs(r, m.alphabet, m.scale_bits));
    m.slots[c] = RansSlots(m.freq[c], m.scale_bits);
  }
  return m;
}

Result<std::vector<uint32_t>> ParseRansFreqs(ByteReader& r, size_t alphabet, int scale_bits) {
  const size_t start = r.position();
  auto bad = [&r](size_t at, const auto&... d) { return r.CorruptAtPosition(at, "rANS frequency table", d...); };
  const uint64_t total = uint64_t{1} << scale_bits;
  std::vector<uint32_t> f(alphabet);
  uint64_t sum = 0;
  for (size_t s = 0; s < alphabet;) {
    const size_t at = r.position();
    GP_ASSIGN_OR_RETURN(uint64_t v, r.Varint("rANS frequency"));
    if (v == 0) {
      if (s > 0 && f[s - 1] == 0)
        return bad(at, "zero run at symbol ", s, " follows another zero run (runs must be maximal)");
      GP_ASSIGN_OR_RETURN(uint64_t extra, r.Varint("rANS zero run length"));
      if (extra > alphabet - s - 1)
        return bad(at, "zero run of ", extra, "+1 symbols at symbol ", s, " overruns the alphabet of ", alphabet);
      s += size_t(extra) + 1;
      continue;
    }
    if (v > total - sum) return bad(at, "frequency ", v, " of symbol ", s, " takes the sum past 2^", scale_bits);
    sum += v;
    f[s++] = uint32_t(v);
  }
  if (sum != total) return bad(start, "frequencies sum to ", sum, ", expected 2^", scale_bits, " = ", total);
  return f;
}

std::vector<RansSlot> RansSlots(std::span<const uint32_t> freq, int scale_bits) {
  std::vector<RansSlot> slots(size_t{1} << scale_bits);
  uint32_t cum = 0;
  for (size_t s = 0; s < freq.size(); cum += freq[s++])
    for (uint32_t k = 0; k < freq[s]; ++k) slots[cum + k] = {freq[s], uint16_t(k), uint16_t(s)};
  return slots;  // cum reaches 2^M: the caller checked the sum
}

Status RansDecodeStream(ByteSpan stream, const RansModel& m, size_t n, std::span<uint16_t> out) {
  if (out.size() < n) return InvalidArgument("rANS decode: output holds ", out.size(), " symbols, need ", n);
  if (m.freq.empty()) return InvalidArgument("rANS decode: empty model");
  const size_t lanes = n < kRansLanes ? n : kRansLanes;
  if (stream.size() < 4 * lanes) return Bad("need ", 4 * lanes, " bytes of initial states, have ", stream.size());
  uint32_t x[kRansLanes] = {kRansL, kRansL, kRansL, kRansL};
  for (size_t k = 0; k < lanes; ++k) {
    x[k] = uint32_t(LoadLE(&stream[4 * k], 4));
    if (x[k] < kRansL || x[k] >= (kRansL << 8)) return Bad("initial state ", k, " outside [0x800000, 0x80000000)");
  }
  const uint8_t *p = stream.data() + 4 * lanes, *end = stream.data() + stream.size();
  const uint32_t M = uint32_t(m.scale_bits), mask = (1u << M) - 1;
  uint16_t prev = m.zero_point;
  std::vector<const RansSlot*> tab;
  for (auto& s : m.slots) tab.push_back(s.empty() ? nullptr : s.data());
  for (size_t i = 0, j = 0; i < n; ++i) {
    const size_t c = m.cls.empty() ? m.ContextOf(prev) : m.cls[j];
    j = j + 1 < m.cls.size() ? j + 1 : 0;
    const RansSlot* t = tab[c];
    if (!t) return Bad("symbol ", i, " falls in context ", c, ", which has no table");
    uint32_t& s = x[i % kRansLanes];
    const RansSlot e = t[s & mask];
    out[i] = prev = e.sym;
    s = e.freq * (s >> M) + e.bias;  // >= 2^8: at most two bytes renormalise
    if (end - p >= 2) {  // fast path: no per-byte check
      const uint32_t need = (s < kRansL) + (s < (kRansL >> 8));
      s = (s << (8 * need)) | (((uint32_t{p[0]} << 8) | p[1]) >> (8 * (2 - need)));
      p += need;
    } else {
      while (s < kRansL) {
        if (p == end) return Bad("truncated while decoding symbol ", i, " of ", n);
        s = (s << 8) | *p++;
      }
    }
  }
  if (p != end) return Bad(end - p, " trailing bytes after ", n, " symbols");
  for (size_t k = 0; k < lanes; ++k)
    if (x[k] != kRansL) return Bad("final state ", k, " is not 0x800000 (stream corrupt)");
  return Status::Ok();
}

}  // namespace golfpack::gpk
