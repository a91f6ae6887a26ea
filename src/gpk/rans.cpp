#include "gpk/rans.h"

#include <string>
#include <utility>

namespace golfpack::gpk {
namespace {

std::string Num(uint64_t v) { return std::to_string(v); }
Status Bad(const std::string& d) { return Corrupt("rANS payload: " + d); }

Result<int> ScaleBits(ByteReader& r, const char* what) {
  const size_t at = r.position();
  GP_ASSIGN_OR_RETURN(uint8_t m, r.U8(what));
  if (m < kRansMinScaleBits || m > kRansMaxScaleBits) return r.CorruptAtPosition(at, what, Num(m) + " outside [10, 15]");
  return int(m);
}
Result<size_t> Alphabet(ByteReader& r, const char* what) {
  const size_t at = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t a, r.Varint(what));
  if (a < 1 || a > kRansMaxAlphabet) return r.CorruptAtPosition(at, what, Num(a) + " outside [1, 4096]");
  return size_t(a);
}

}  // namespace

Result<std::vector<uint32_t>> ParseRansFreqs(ByteReader& r, size_t alphabet, int scale_bits) {
  const size_t start = r.position();
  const char* what = "rANS frequency table";
  const uint64_t total = uint64_t{1} << scale_bits;
  std::vector<uint32_t> f(alphabet, 0);
  uint64_t sum = 0;
  for (size_t s = 0; s < alphabet;) {
    const size_t at = r.position();
    GP_ASSIGN_OR_RETURN(uint64_t v, r.Varint("rANS frequency"));
    if (v == 0) {
      if (s > 0 && f[s - 1] == 0)
        return r.CorruptAtPosition(at, what, "zero run at symbol " + Num(s) + " follows another zero run (runs must be maximal)");
      GP_ASSIGN_OR_RETURN(uint64_t extra, r.Varint("rANS zero run length"));
      if (extra > alphabet - s - 1)
        return r.CorruptAtPosition(at, what, "zero run of " + Num(extra) + "+1 symbols at symbol " + Num(s) +
                                                 " overruns the alphabet of " + Num(alphabet));
      s += size_t(extra) + 1;
      continue;
    }
    if (v > total - sum)
      return r.CorruptAtPosition(at, what, "frequency " + Num(v) + " of symbol " + Num(s) + " takes the sum past 2^" +
                                               Num(scale_bits));
    sum += v;
    f[s++] = uint32_t(v);
  }
  if (sum != total)
    return r.CorruptAtPosition(start, what, "frequencies sum to " + Num(sum) + ", expected 2^" + Num(scale_bits) + " = " +
                                                Num(total));
  return f;
}

std::vector<RansSlot> RansSlots(std::span<const uint32_t> freq, int scale_bits) {
  std::vector<RansSlot> slots(size_t{1} << scale_bits);
  uint32_t cum = 0;
  for (size_t s = 0; s < freq.size(); cum += freq[s++])
    for (uint32_t k = 0; k < freq[s]; ++k) slots[cum + k] = {freq[s], uint16_t(k), uint16_t(s)};
  return slots;  // cum reaches 2^M: the caller checked the sum
}

Result<RansModel> ParseRansOrder0(ByteReader& r) {
  RansModel m;
  GP_ASSIGN_OR_RETURN(m.scale_bits, ScaleBits(r, "rANS table scale_bits"));
  GP_ASSIGN_OR_RETURN(m.alphabet, Alphabet(r, "rANS table alphabet size"));
  GP_ASSIGN_OR_RETURN(auto f, ParseRansFreqs(r, m.alphabet, m.scale_bits));
  m.slots.push_back(RansSlots(f, m.scale_bits));
  m.freq.push_back(std::move(f));
  return m;
}

Result<RansModel> ParseRansContext(ByteReader& r) {
  RansModel m;
  size_t at = r.position();
  GP_ASSIGN_OR_RETURN(uint8_t k, r.U8("ContextRans context count"));
  if (k < 1 || k > kRansMaxContexts) return r.CorruptAtPosition(at, "ContextRans context count", Num(k) + " outside [1, 64]");
  GP_ASSIGN_OR_RETURN(m.scale_bits, ScaleBits(r, "ContextRans scale_bits"));
  GP_ASSIGN_OR_RETURN(m.alphabet, Alphabet(r, "ContextRans alphabet size"));
  at = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t zp, r.Varint("ContextRans zero point"));
  if (zp >= m.alphabet)
    return r.CorruptAtPosition(at, "ContextRans zero point", Num(zp) + " outside alphabet of " + Num(m.alphabet));
  m.zero_point = uint16_t(zp);
  at = r.position();
  GP_ASSIGN_OR_RETURN(uint64_t mask, r.Varint("ContextRans table mask"));
  if (k < 64 && (mask >> k) != 0) return r.CorruptAtPosition(at, "ContextRans table mask", "names contexts beyond " + Num(k));
  m.freq.resize(k);
  m.slots.resize(k);
  for (size_t c = 0; c < k; ++c) {
    if (!((mask >> c) & 1)) continue;
    GP_ASSIGN_OR_RETURN(m.freq[c], ParseRansFreqs(r, m.alphabet, m.scale_bits));
    m.slots[c] = RansSlots(m.freq[c], m.scale_bits);
  }
  return m;
}

Status RansDecodeStream(std::span<const uint8_t> stream, const RansModel& m, size_t n, std::span<uint16_t> out) {
  if (out.size() < n) return InvalidArgument("rANS decode: output holds " + Num(out.size()) + " symbols, need " + Num(n));
  if (m.freq.empty()) return InvalidArgument("rANS decode: empty model");
  const size_t lanes = n < size_t(kRansLanes) ? n : size_t(kRansLanes);
  if (stream.size() < 4 * lanes)
    return Bad("need " + Num(4 * lanes) + " bytes of initial states, have " + Num(stream.size()));
  uint32_t x[kRansLanes];
  for (size_t k = 0; k < size_t(kRansLanes); ++k) {
    if (k >= lanes) {
      x[k] = kRansL;
      continue;
    }
    const uint8_t* b = stream.data() + 4 * k;
    x[k] = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    if (x[k] < kRansL || x[k] >= (kRansL << 8)) return Bad("initial state " + Num(k) + " outside [0x800000, 0x80000000)");
  }
  // By previous symbol: the slots of the table that codes the next one.
  std::vector<const RansSlot*> by_prev(m.alphabet);
  for (size_t p = 0; p < m.alphabet; ++p) {
    const auto& s = m.slots[size_t(m.ContextOf(uint16_t(p)))];
    by_prev[p] = s.empty() ? nullptr : s.data();
  }
  const uint8_t *p = stream.data() + 4 * lanes, *end = stream.data() + stream.size();
  const uint32_t M = uint32_t(m.scale_bits), mask = (1u << M) - 1;
  uint16_t prev = m.zero_point;
  for (size_t i = 0; i < n; ++i) {
    const RansSlot* t = by_prev[prev];
    if (!t) return Bad("symbol " + Num(i) + " falls in context " + Num(uint64_t(m.ContextOf(prev))) + ", which has no table");
    uint32_t& s = x[i % kRansLanes];
    const RansSlot e = t[s & mask];
    out[i] = prev = e.sym;
    s = e.freq * (s >> M) + e.bias;
    if (end - p >= 2) {  // fast path: at most two bytes, no per-byte check
      const uint32_t need = (s < kRansL) + (s < (kRansL >> 8));
      s = (s << (8 * need)) | (((uint32_t{p[0]} << 8) | p[1]) >> (8 * (2 - need)));
      p += need;
    } else {
      while (s < kRansL) {
        if (p == end) return Bad("truncated while decoding symbol " + Num(i) + " of " + Num(n));
        s = (s << 8) | *p++;
      }
    }
  }
  if (p != end) return Bad(Num(uint64_t(end - p)) + " trailing bytes after " + Num(n) + " symbols");
  for (size_t k = 0; k < lanes; ++k)
    if (x[k] != kRansL) return Bad("final state " + Num(k) + " is not 0x800000 (stream corrupt)");
  return Status::Ok();
}

}  // namespace golfpack::gpk
