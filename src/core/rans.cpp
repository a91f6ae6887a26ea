#include "core/rans.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <queue>
#include <string>
#include <utility>

namespace golfpack {

// ---- FrequencyTable ------------------------------------------------------------

namespace {

Status CheckScaleBits(int scale_bits) {
  if (scale_bits < kRansMinScaleBits || scale_bits > kRansMaxScaleBits) {
    return InvalidArgument("rANS scale_bits " + std::to_string(scale_bits) + " outside [" +
                           std::to_string(kRansMinScaleBits) + ", " +
                           std::to_string(kRansMaxScaleBits) + "]");
  }
  return Status::Ok();
}

Status CheckAlphabet(size_t alphabet_size) {
  if (alphabet_size < 1 || alphabet_size > kRansMaxAlphabet) {
    return InvalidArgument("rANS alphabet size " + std::to_string(alphabet_size) + " outside [1, " +
                           std::to_string(kRansMaxAlphabet) + "]");
  }
  return Status::Ok();
}

// Walks the body encoding of `freqs`: calls put(value) for each varint.
template <class Put>
void WalkBody(const std::vector<uint32_t>& freqs, Put put) {
  size_t s = 0;
  while (s < freqs.size()) {
    if (freqs[s] != 0) {
      put(freqs[s]);
      ++s;
      continue;
    }
    size_t run = 1;
    while (s + run < freqs.size() && freqs[s + run] == 0) ++run;
    put(0);
    put(run - 1);
    s += run;
  }
}

}  // namespace

Result<FrequencyTable> FrequencyTable::Build(std::vector<uint32_t> freqs, int scale_bits) {
  GP_RETURN_IF_ERROR(CheckScaleBits(scale_bits));
  GP_RETURN_IF_ERROR(CheckAlphabet(freqs.size()));
  const uint32_t total = 1u << scale_bits;
  uint64_t sum = 0;
  for (uint32_t f : freqs) sum += f;  // <= 4096 * 2^32: no overflow
  if (sum != total) {
    return InvalidArgument("rANS frequencies sum to " + std::to_string(sum) + ", expected 2^" +
                           std::to_string(scale_bits) + " = " + std::to_string(total));
  }

  FrequencyTable t;
  t.scale_bits_ = scale_bits;
  t.freq_ = std::move(freqs);
  const size_t a = t.freq_.size();
  t.cum_.resize(a + 1);
  t.cum_[0] = 0;
  for (size_t s = 0; s < a; ++s) t.cum_[s + 1] = t.cum_[s] + t.freq_[s];

  t.enc_.resize(a);
  for (size_t s = 0; s < a; ++s) {
    const uint32_t freq = t.freq_[s], start = t.cum_[s];
    EncSymbol& e = t.enc_[s];
    if (freq == 0) {
      e = EncSymbol{0, 0, 0, 0, 0};  // x_max == 0 marks "not codable"
      continue;
    }
    // Encoding x -> (x / freq) * 2^M + x % freq + start, with the division
    // done as q = mul_hi(x, rcp_freq) >> rcp_shift (Alverson; exact for
    // x < 2^31, which the state invariant guarantees) and then
    //   x_new = x + bias + q * cmpl_freq.
    e.x_max = ((kRansL >> scale_bits) << 8) * freq;  // <= 2^31
    e.cmpl_freq = total - freq;
    if (freq < 2) {
      // rcp = 2^32 - 1 gives q = x - 1 for x >= 1; bias absorbs the -1.
      e.rcp_freq = ~0u;
      e.rcp_shift = 0;
      e.bias = start + total - 1;
    } else {
      uint32_t shift = 0;
      while (freq > (1u << shift)) ++shift;  // ceil(log2(freq))
      e.rcp_freq = static_cast<uint32_t>(((uint64_t{1} << (shift + 31)) + freq - 1) / freq);
      e.rcp_shift = shift - 1;
      e.bias = start;
    }
  }

  size_t body = 0;
  WalkBody(t.freq_, [&](uint64_t v) { body += VarintSize(v); });
  t.body_size_ = body;
  return t;
}

Result<FrequencyTable> FrequencyTable::FromFreqs(std::span<const uint32_t> freqs, int scale_bits) {
  GP_RETURN_IF_ERROR(CheckScaleBits(scale_bits));
  for (size_t s = 0; s < freqs.size(); ++s) {
    if (freqs[s] > (1u << scale_bits)) {
      return InvalidArgument("rANS frequency " + std::to_string(freqs[s]) + " of symbol " +
                             std::to_string(s) + " exceeds 2^" + std::to_string(scale_bits));
    }
  }
  return Build(std::vector<uint32_t>(freqs.begin(), freqs.end()), scale_bits);
}

Result<FrequencyTable> FrequencyTable::FromCounts(std::span<const uint64_t> counts, int scale_bits) {
  GP_RETURN_IF_ERROR(CheckScaleBits(scale_bits));
  GP_RETURN_IF_ERROR(CheckAlphabet(counts.size()));
  const uint32_t total_freq = 1u << scale_bits;
  const size_t a = counts.size();

  uint64_t total = 0;
  size_t present = 0;
  for (uint64_t c : counts) {
    auto sum = CheckedAdd(total, c);
    if (!sum) return InvalidArgument("rANS symbol counts overflow uint64");
    total = *sum;
    present += c > 0;
  }
  if (total == 0) return InvalidArgument("rANS symbol counts are all zero");
  if (present > total_freq) {
    return InvalidArgument(std::to_string(present) + " distinct symbols do not fit in 2^" +
                           std::to_string(scale_bits) + " rANS slots");
  }

  // Start from proportional rounding, every present symbol at least 1.
  std::vector<uint32_t> f(a, 0);
  int64_t sum = 0;
  const double scale = static_cast<double>(total_freq) / static_cast<double>(total);
  for (size_t s = 0; s < a; ++s) {
    if (counts[s] == 0) continue;
    double ideal = static_cast<double>(counts[s]) * scale;
    auto q = static_cast<uint32_t>(std::min<double>(std::llround(ideal), total_freq));
    f[s] = std::max<uint32_t>(q, 1);
    sum += f[s];
  }

  // Cost of symbol s at freq f is counts[s] * -log2(f): convex in f, so the
  // optimum under sum(f) == 2^M is reached by greedy unit moves and then
  // swaps while the best +1 gains more than the cheapest -1 loses.
  auto gain = [&](size_t s) {  // bits saved by f[s] + 1
    return static_cast<double>(counts[s]) * std::log2((f[s] + 1.0) / f[s]);
  };
  auto loss = [&](size_t s) {  // bits lost by f[s] - 1 (f[s] >= 2)
    return static_cast<double>(counts[s]) * std::log2(f[s] / (f[s] - 1.0));
  };
  struct Item {
    double key;
    uint32_t sym, version;
  };
  auto less_key = [](const Item& x, const Item& y) { return x.key < y.key; };
  auto greater_key = [](const Item& x, const Item& y) { return x.key > y.key; };
  std::priority_queue<Item, std::vector<Item>, decltype(less_key)> inc(less_key);         // max gain
  std::priority_queue<Item, std::vector<Item>, decltype(greater_key)> dec(greater_key);  // min loss
  std::vector<uint32_t> version(a, 0);
  auto push = [&](size_t s) {
    inc.push(Item{gain(s), static_cast<uint32_t>(s), version[s]});
    if (f[s] >= 2) dec.push(Item{loss(s), static_cast<uint32_t>(s), version[s]});
  };
  auto top_valid = [&](auto& heap) -> const Item* {
    while (!heap.empty() && heap.top().version != version[heap.top().sym]) heap.pop();
    return heap.empty() ? nullptr : &heap.top();
  };
  auto change = [&](size_t s, int delta) {
    f[s] = static_cast<uint32_t>(static_cast<int64_t>(f[s]) + delta);
    sum += delta;
    ++version[s];
    push(s);
  };
  for (size_t s = 0; s < a; ++s)
    if (counts[s]) push(s);

  while (sum < total_freq) change(top_valid(inc)->sym, +1);
  while (sum > total_freq) {
    const Item* d = top_valid(dec);  // exists: sum > 2^M >= present
    if (!d) return Internal("rANS quantiser: nothing left to decrement");
    change(d->sym, -1);
  }
  for (int iter = 0; iter < (1 << 20); ++iter) {
    const Item* i = top_valid(inc);
    const Item* d = top_valid(dec);
    if (!i || !d || i->sym == d->sym) break;  // same symbol: gain < loss by convexity
    if (!(i->key > d->key * (1 + 1e-12) + 1e-9)) break;
    uint32_t up = i->sym, down = d->sym;
    change(up, +1);
    change(down, -1);
  }
  return Build(std::move(f), scale_bits);
}

size_t FrequencyTable::HeaderSize() const { return 1 + VarintSize(freq_.size()); }

void FrequencyTable::SerializeBody(ByteWriter& w) const {
  WalkBody(freq_, [&](uint64_t v) { w.Varint(v); });
}

void FrequencyTable::Serialize(ByteWriter& w) const {
  w.U8(static_cast<uint8_t>(scale_bits_));
  w.Varint(freq_.size());
  SerializeBody(w);
}

std::vector<uint8_t> FrequencyTable::Serialize() const {
  ByteWriter w;
  w.Reserve(SerializedSize());
  Serialize(w);
  return std::move(w).Take();
}

Result<FrequencyTable> FrequencyTable::ParseBody(ByteReader& reader, size_t alphabet_size, int scale_bits) {
  if (!CheckScaleBits(scale_bits).ok() || !CheckAlphabet(alphabet_size).ok())
    return reader.CorruptAtPosition(reader.position(), "rANS frequency table",
                                    "bad scale_bits " + std::to_string(scale_bits) + " or alphabet size " +
                                        std::to_string(alphabet_size));
  GP_ASSIGN_OR_RETURN(std::vector<uint32_t> freqs, gpk::ParseRansFreqs(reader, alphabet_size, scale_bits));
  return Build(std::move(freqs), scale_bits);
}

Result<FrequencyTable> FrequencyTable::Parse(ByteReader& reader) {
  GP_ASSIGN_OR_RETURN(gpk::RansModel m, gpk::ParseRansModel(reader, false));
  return Build(std::move(m.freq[0]), m.scale_bits);
}

gpk::RansModel FrequencyTable::DecodeModel(std::span<const FrequencyTable* const> tables, uint16_t zero_point) {
  gpk::RansModel m;
  m.zero_point = zero_point;
  for (const FrequencyTable* t : tables) {
    m.freq.push_back(t ? t->freq_ : std::vector<uint32_t>{});
    m.slots.push_back(t ? gpk::RansSlots(t->freq_, t->scale_bits_) : std::vector<gpk::RansSlot>{});
    if (t) m.scale_bits = t->scale_bits_, m.alphabet = t->freq_.size();
  }
  return m;
}

double FrequencyTable::CostBits(std::span<const uint64_t> counts) const {
  double bits = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    if (counts[s] == 0) continue;
    if (s >= freq_.size() || freq_[s] == 0) return std::numeric_limits<double>::infinity();
    bits += static_cast<double>(counts[s]) * (scale_bits_ - std::log2(static_cast<double>(freq_[s])));
  }
  return bits;
}

// ---- Coder kernels --------------------------------------------------------------

namespace rans_internal {

constexpr size_t kN = kRansInterleave;

struct Codec {
  using EncSymbol = FrequencyTable::EncSymbol;

  static const EncSymbol* Enc(const FrequencyTable& t) { return t.enc_.data(); }
  static const std::vector<uint32_t>& Cum(const FrequencyTable& t) { return t.cum_; }
  static const std::vector<uint32_t>& Freq(const FrequencyTable& t) { return t.freq_; }
};

using EncSymbol = Codec::EncSymbol;

struct WriteSink {  // bytes are produced last-first, so the buffer fills backwards
  uint8_t* p;
  void Put(uint8_t b) { *--p = b; }
};
struct CountSink {
  size_t n = 0;
  void Put(uint8_t) { ++n; }
};

// Encoder step for one symbol. Precondition (state invariant): x in [L, L << 8).
template <class Sink>
inline void PutSymbol(uint32_t& x, Sink& sink, const EncSymbol& s) {
  // Renormalise: emit low bytes until x < x_max = (L >> M << 8) * freq. Then
  // x / freq < L >> M << 8, so the coded state below is < L << 8. Since x was
  // >= L before, at most 2 bytes go out (x_max >= 2^16 for M <= 15).
  uint32_t x_max = s.x_max;
  while (x >= x_max) {
    sink.Put(static_cast<uint8_t>(x));
    x >>= 8;
  }
  // x = C(s, x) = (x / freq) * 2^M + x % freq + cum. Every renormalised x
  // that reaches here is >= x_max >> 8 = (L >> M) * freq (or x was already
  // >= L), so x / freq >= L >> M and the result is >= L.
  uint32_t q = static_cast<uint32_t>((static_cast<uint64_t>(x) * s.rcp_freq) >> 32) >> s.rcp_shift;
  x = x + s.bias + q * s.cmpl_freq;
  // Postcondition: x in [L, L << 8).
}

// select(i) -> EncSymbol table for symbol i. Symbols are validated by caller.
template <class Sink, class Select>
void EncodeCore(std::span<const uint16_t> sym, Select select, Sink& sink, uint32_t st[kN]) {
  for (size_t k = 0; k < kN; ++k) st[k] = kRansL;
  size_t i = sym.size();
  // The decoder runs forwards, so the encoder runs backwards: the tail that
  // does not fill a whole group first, then whole groups, last state first.
  while (i % kN) {
    --i;
    PutSymbol(st[i % kN], sink, select(i)[sym[i]]);
  }
  while (i) {
    i -= kN;
    for (size_t k = kN; k-- > 0;) PutSymbol(st[k], sink, select(i + k)[sym[i + k]]);
  }
}

// Encodes into the tail of *out, then moves the payload down behind the
// states. Max 2 bytes per symbol + 4 per state.
template <class Select>
Status EncodeAppend(std::span<const uint16_t> sym, Select select, std::vector<uint8_t>* out) {
  const size_t n = sym.size();
  const size_t num_states = std::min(n, kN);
  auto max_bytes = CheckedMul(n, 2);
  if (!max_bytes || *max_bytes > (SIZE_MAX >> 1)) return InvalidArgument("rANS input too large");
  const size_t old = out->size();
  out->resize(old + 4 * num_states + static_cast<size_t>(*max_bytes));
  uint8_t* end = out->data() + out->size();
  WriteSink sink{end};
  uint32_t st[kN];
  EncodeCore(sym, select, sink, st);
  const size_t nbytes = static_cast<size_t>(end - sink.p);
  uint8_t* dst = out->data() + old;
  for (size_t k = 0; k < num_states; ++k)
    for (int b = 0; b < 4; ++b) dst[4 * k + b] = static_cast<uint8_t>(st[k] >> (8 * b));
  std::memmove(dst + 4 * num_states, sink.p, nbytes);
  out->resize(old + 4 * num_states + nbytes);
  return Status::Ok();
}

template <class Select>
size_t EncodedSize(std::span<const uint16_t> sym, Select select) {
  CountSink sink;
  uint32_t st[kN];
  EncodeCore(sym, select, sink, st);
  return 4 * std::min(sym.size(), kN) + sink.n;
}

// ---- decoding ----

Status PayloadError(const std::string& detail) { return Corrupt("rANS payload: " + detail); }

Status TruncatedError(size_t i, size_t n) {
  return PayloadError("truncated while decoding symbol " + std::to_string(i) + " of " +
                      std::to_string(n));
}

Status NoTableError(size_t i, int ctx) {
  return PayloadError("symbol " + std::to_string(i) + " falls in context " + std::to_string(ctx) +
                      ", which has no table");
}

Status CheckOutput(size_t n, std::span<uint16_t> out) {
  if (out.size() < n) {
    return InvalidArgument("rANS decode: output holds " + std::to_string(out.size()) +
                           " symbols, need " + std::to_string(n));
  }
  return Status::Ok();
}

// Reads the S = min(n, kN) initial states; unused states are set to L.
Status ReadStates(std::span<const uint8_t> stream, size_t n, uint32_t st[kN], const uint8_t** p) {
  const size_t num_states = std::min(n, kN);
  if (stream.size() < 4 * num_states) {
    return PayloadError("need " + std::to_string(4 * num_states) + " bytes of initial states, have " +
                        std::to_string(stream.size()));
  }
  for (size_t k = 0; k < kN; ++k) st[k] = kRansL;
  for (size_t k = 0; k < num_states; ++k) {
    const uint8_t* b = stream.data() + 4 * k;
    uint32_t x = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    // The invariant every decoder step relies on: x in [L, L << 8).
    if (x < kRansL || x >= (kRansL << 8)) {
      return PayloadError("initial state " + std::to_string(k) + " outside [0x800000, 0x80000000)");
    }
    st[k] = x;
  }
  *p = stream.data() + 4 * num_states;
  return Status::Ok();
}

Status CheckFinal(const uint32_t st[kN], size_t n, const uint8_t* p, const uint8_t* end) {
  if (p != end) {
    return PayloadError(std::to_string(end - p) + " trailing bytes after " + std::to_string(n) +
                        " symbols");
  }
  for (size_t k = 0; k < std::min(n, kN); ++k) {
    if (st[k] != kRansL) {
      return PayloadError("final state " + std::to_string(k) + " is not 0x800000 (stream corrupt)");
    }
  }
  return Status::Ok();
}

// Reference decoder: one symbol at a time, binary search, every read checked.
// select(i, prev) -> const FrequencyTable* or nullptr; ctx(i, prev) names its context.
template <class Select, class Ctx>
Status DecodeRef(std::span<const uint8_t> stream, size_t n, uint16_t* out, uint32_t scale_bits,
                 uint16_t prev, Select select, Ctx ctx) {
  uint32_t st[kN];
  const uint8_t* p = nullptr;
  GP_RETURN_IF_ERROR(ReadStates(stream, n, st, &p));
  const uint8_t* const end = stream.data() + stream.size();
  const uint32_t mask = (1u << scale_bits) - 1;
  for (size_t i = 0; i < n; ++i) {
    const FrequencyTable* t = select(i, prev);
    if (!t) return NoTableError(i, ctx(i, prev));
    const auto& cum = Codec::Cum(*t);
    const auto& freq = Codec::Freq(*t);
    uint32_t x = st[i % kN];
    const uint32_t slot = x & mask;
    // Last symbol s with cum[s] <= slot; it has freq > 0 since cum[s+1] > slot.
    const size_t s = static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), slot) - cum.begin()) - 1;
    out[i] = prev = static_cast<uint16_t>(s);
    x = freq[s] * (x >> scale_bits) + slot - cum[s];
    while (x < kRansL) {
      if (p == end) return TruncatedError(i, n);
      x = (x << 8) | *p++;
    }
    st[i % kN] = x;
  }
  return CheckFinal(st, n, p, end);
}

}  // namespace rans_internal

// ---- Order-0 API ------------------------------------------------------------------

namespace {

using rans_internal::Codec;

Status CheckSymbols(std::span<const uint16_t> symbols, const FrequencyTable& table) {
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (table.freq(symbols[i]) == 0) {
      return InvalidArgument("rANS encode: symbol " + std::to_string(symbols[i]) + " at index " +
                             std::to_string(i) + " has frequency 0 (alphabet size " +
                             std::to_string(table.alphabet_size()) + ")");
    }
  }
  return Status::Ok();
}

Status CheckTable(const FrequencyTable& table) {
  if (table.alphabet_size() == 0) return InvalidArgument("rANS: empty frequency table");
  return Status::Ok();
}

}  // namespace

Status RansEncodeAppend(std::span<const uint16_t> symbols, const FrequencyTable& table,
                        std::vector<uint8_t>* out) {
  if (symbols.empty()) return Status::Ok();
  GP_RETURN_IF_ERROR(CheckTable(table));
  GP_RETURN_IF_ERROR(CheckSymbols(symbols, table));
  const auto* enc = Codec::Enc(table);
  return rans_internal::EncodeAppend(symbols, [enc](size_t) { return enc; }, out);
}

Result<std::vector<uint8_t>> RansEncode(std::span<const uint16_t> symbols, const FrequencyTable& table) {
  std::vector<uint8_t> out;
  GP_RETURN_IF_ERROR(RansEncodeAppend(symbols, table, &out));
  return out;
}

Result<size_t> RansEncodedSize(std::span<const uint16_t> symbols, const FrequencyTable& table) {
  if (symbols.empty()) return size_t{0};
  GP_RETURN_IF_ERROR(CheckTable(table));
  GP_RETURN_IF_ERROR(CheckSymbols(symbols, table));
  const auto* enc = Codec::Enc(table);
  return rans_internal::EncodedSize(symbols, [enc](size_t) { return enc; });
}

Status RansDecode(std::span<const uint8_t> stream, const FrequencyTable& table, size_t num_symbols,
                  std::span<uint16_t> out) {
  GP_RETURN_IF_ERROR(CheckTable(table));
  const FrequencyTable* t = &table;
  return gpk::RansDecodeStream(stream, FrequencyTable::DecodeModel({&t, 1}, 0), num_symbols, out);
}

Status RansDecodeRef(std::span<const uint8_t> stream, const FrequencyTable& table, size_t num_symbols,
                     std::span<uint16_t> out) {
  GP_RETURN_IF_ERROR(rans_internal::CheckOutput(num_symbols, out));
  GP_RETURN_IF_ERROR(CheckTable(table));
  return rans_internal::DecodeRef(
      stream, num_symbols, out.data(), static_cast<uint32_t>(table.scale_bits()), 0,
      [&table](size_t, uint16_t) { return &table; }, [](size_t, uint16_t) { return 0; });
}

namespace {

Result<FrequencyTable> TableFor(std::span<const uint16_t> symbols, size_t alphabet_size, int scale_bits) {
  GP_RETURN_IF_ERROR(CheckAlphabet(alphabet_size));
  std::vector<uint64_t> counts(alphabet_size, 0);
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (symbols[i] >= alphabet_size) {
      return InvalidArgument("rANS: symbol " + std::to_string(symbols[i]) + " at index " +
                             std::to_string(i) + " outside alphabet of " + std::to_string(alphabet_size));
    }
    ++counts[symbols[i]];
  }
  if (symbols.empty()) counts[0] = 1;  // any valid table codes zero symbols
  return FrequencyTable::FromCounts(counts, scale_bits);
}

}  // namespace

Result<std::vector<uint8_t>> RansCompress(std::span<const uint16_t> symbols, size_t alphabet_size,
                                          int scale_bits) {
  GP_ASSIGN_OR_RETURN(FrequencyTable table, TableFor(symbols, alphabet_size, scale_bits));
  ByteWriter w;
  table.Serialize(w);
  std::vector<uint8_t> out = std::move(w).Take();
  GP_RETURN_IF_ERROR(RansEncodeAppend(symbols, table, &out));
  return out;
}

Result<size_t> RansCompressedSize(std::span<const uint16_t> symbols, size_t alphabet_size, int scale_bits) {
  GP_ASSIGN_OR_RETURN(FrequencyTable table, TableFor(symbols, alphabet_size, scale_bits));
  GP_ASSIGN_OR_RETURN(size_t payload, RansEncodedSize(symbols, table));
  return table.SerializedSize() + payload;
}

Status RansDecompress(std::span<const uint8_t> stream, size_t num_symbols, std::span<uint16_t> out) {
  ByteReader r(stream);
  GP_ASSIGN_OR_RETURN(FrequencyTable table, FrequencyTable::Parse(r));
  return RansDecode(stream.subspan(r.position()), table, num_symbols, out);
}

// ---- ContextRans --------------------------------------------------------------------

Result<ContextRansModel> ContextRansModel::Build(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                 uint16_t zero_point, int num_contexts, int scale_bits) {
  GP_RETURN_IF_ERROR(CheckScaleBits(scale_bits));
  GP_RETURN_IF_ERROR(CheckAlphabet(alphabet_size));
  if (num_contexts < 1 || num_contexts > kMaxContexts) {
    return InvalidArgument("ContextRans: num_contexts " + std::to_string(num_contexts) + " outside [1, " +
                           std::to_string(kMaxContexts) + "]");
  }
  if (zero_point >= alphabet_size) {
    return InvalidArgument("ContextRans: zero_point " + std::to_string(zero_point) +
                           " outside alphabet of " + std::to_string(alphabet_size));
  }
  ContextRansModel m;
  m.scale_bits_ = scale_bits;
  m.alphabet_size_ = alphabet_size;
  m.zero_point_ = zero_point;
  m.tables_.resize(static_cast<size_t>(num_contexts));

  std::vector<std::vector<uint64_t>> counts(static_cast<size_t>(num_contexts));
  uint16_t prev = zero_point;
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (symbols[i] >= alphabet_size) {
      return InvalidArgument("ContextRans: symbol " + std::to_string(symbols[i]) + " at index " +
                             std::to_string(i) + " outside alphabet of " + std::to_string(alphabet_size));
    }
    auto& c = counts[static_cast<size_t>(m.ContextOf(prev))];
    if (c.empty()) c.assign(alphabet_size, 0);
    ++c[symbols[i]];
    prev = symbols[i];
  }
  GP_RETURN_IF_ERROR(m.TablesFromCounts(counts));
  return m;
}

Status ContextRansModel::TablesFromCounts(const std::vector<std::vector<uint64_t>>& counts) {
  tables_.assign(counts.size(), std::nullopt);
  for (size_t ctx = 0; ctx < counts.size(); ++ctx) {
    if (counts[ctx].empty()) continue;
    GP_ASSIGN_OR_RETURN(FrequencyTable t, FrequencyTable::FromCounts(counts[ctx], scale_bits_));
    tables_[ctx] = std::move(t);
  }
  return Status::Ok();
}

namespace {
uint64_t PresenceMask(const std::vector<std::optional<FrequencyTable>>& tables) {
  uint64_t mask = 0;
  for (size_t c = 0; c < tables.size(); ++c)
    if (tables[c]) mask |= uint64_t{1} << c;
  return mask;
}
}  // namespace

size_t ContextRansModel::SerializedSize() const {
  size_t n = 2 + VarintSize(alphabet_size_) + VarintSize(zero_point_) + VarintSize(PresenceMask(tables_));
  for (const auto& t : tables_)
    if (t) n += t->BodySize();
  return n;
}

void ContextRansModel::Serialize(ByteWriter& w) const {
  w.U8(static_cast<uint8_t>(tables_.size()));
  w.U8(static_cast<uint8_t>(scale_bits_));
  w.Varint(alphabet_size_);
  w.Varint(zero_point_);
  w.Varint(PresenceMask(tables_));
  for (const auto& t : tables_)
    if (t) t->SerializeBody(w);
}

Result<ContextRansModel> ContextRansModel::Parse(ByteReader& reader) {
  GP_ASSIGN_OR_RETURN(gpk::RansModel g, gpk::ParseRansModel(reader, true));
  ContextRansModel m;
  m.scale_bits_ = g.scale_bits;
  m.alphabet_size_ = g.alphabet;
  m.zero_point_ = g.zero_point;
  m.tables_.resize(g.freq.size());
  for (size_t c = 0; c < g.freq.size(); ++c) {
    if (g.freq[c].empty()) continue;
    GP_ASSIGN_OR_RETURN(FrequencyTable t, FrequencyTable::FromFreqs(g.freq[c], g.scale_bits));
    m.tables_[c] = std::move(t);
  }
  return m;
}

namespace {

// Per-context encoder tables, indexed by context; nullptr = no table.
std::vector<const Codec::EncSymbol*> EncTables(const ContextRansModel& model) {
  std::vector<const Codec::EncSymbol*> enc(static_cast<size_t>(model.num_contexts()), nullptr);
  for (int c = 0; c < model.num_contexts(); ++c)
    if (const FrequencyTable* t = model.table(c)) enc[static_cast<size_t>(c)] = Codec::Enc(*t);
  return enc;
}

Status CheckContextSymbols(std::span<const uint16_t> symbols, const ContextRansModel& model) {
  if (model.num_contexts() == 0) return InvalidArgument("ContextRans: empty model");
  uint16_t prev = model.zero_point();
  for (size_t i = 0; i < symbols.size(); ++i) {
    const int ctx = model.ContextOf(prev);
    const FrequencyTable* t = model.table(ctx);
    if (!t || t->freq(symbols[i]) == 0) {
      return InvalidArgument("ContextRans encode: symbol " + std::to_string(symbols[i]) + " at index " +
                             std::to_string(i) + " has frequency 0 in context " + std::to_string(ctx));
    }
    prev = symbols[i];
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint8_t>> ContextRansEncode(std::span<const uint16_t> symbols,
                                               const ContextRansModel& model) {
  std::vector<uint8_t> out;
  if (symbols.empty()) return out;
  GP_RETURN_IF_ERROR(CheckContextSymbols(symbols, model));
  const auto enc = EncTables(model);
  const uint16_t zp = model.zero_point();
  auto select = [&](size_t i) { return enc[static_cast<size_t>(model.ContextOf(i ? symbols[i - 1] : zp))]; };
  GP_RETURN_IF_ERROR(rans_internal::EncodeAppend(symbols, select, &out));
  return out;
}

Result<size_t> ContextRansEncodedSize(std::span<const uint16_t> symbols, const ContextRansModel& model) {
  if (symbols.empty()) return size_t{0};
  GP_RETURN_IF_ERROR(CheckContextSymbols(symbols, model));
  const auto enc = EncTables(model);
  const uint16_t zp = model.zero_point();
  auto select = [&](size_t i) { return enc[static_cast<size_t>(model.ContextOf(i ? symbols[i - 1] : zp))]; };
  return rans_internal::EncodedSize(symbols, select);
}

Status ContextRansDecode(std::span<const uint8_t> stream, const ContextRansModel& model, size_t num_symbols,
                         std::span<uint16_t> out) {
  if (model.num_contexts() == 0) return InvalidArgument("ContextRans: empty model");
  std::vector<const FrequencyTable*> tables;
  for (int c = 0; c < model.num_contexts(); ++c) tables.push_back(model.table(c));
  return gpk::RansDecodeStream(stream, FrequencyTable::DecodeModel(tables, model.zero_point()), num_symbols, out);
}

Status ContextRansDecodeRef(std::span<const uint8_t> stream, const ContextRansModel& model,
                            size_t num_symbols, std::span<uint16_t> out) {
  GP_RETURN_IF_ERROR(rans_internal::CheckOutput(num_symbols, out));
  if (model.num_contexts() == 0) return InvalidArgument("ContextRans: empty model");
  return rans_internal::DecodeRef(
      stream, num_symbols, out.data(), static_cast<uint32_t>(model.scale_bits()), model.zero_point(),
      [&model](size_t, uint16_t prev) { return model.table(model.ContextOf(prev)); },
      [&model](size_t, uint16_t prev) { return model.ContextOf(prev); });
}

Result<std::vector<uint8_t>> ContextRansCompress(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                 uint16_t zero_point, int num_contexts, int scale_bits) {
  GP_ASSIGN_OR_RETURN(ContextRansModel model,
                      ContextRansModel::Build(symbols, alphabet_size, zero_point, num_contexts, scale_bits));
  ByteWriter w;
  model.Serialize(w);
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> payload, ContextRansEncode(symbols, model));
  w.Bytes(payload);
  return std::move(w).Take();
}

Result<size_t> ContextRansCompressedSize(std::span<const uint16_t> symbols, size_t alphabet_size,
                                         uint16_t zero_point, int num_contexts, int scale_bits) {
  GP_ASSIGN_OR_RETURN(ContextRansModel model,
                      ContextRansModel::Build(symbols, alphabet_size, zero_point, num_contexts, scale_bits));
  GP_ASSIGN_OR_RETURN(size_t payload, ContextRansEncodedSize(symbols, model));
  return model.SerializedSize() + payload;
}

Status ContextRansDecompress(std::span<const uint8_t> stream, size_t num_symbols, std::span<uint16_t> out) {
  ByteReader r(stream);
  GP_ASSIGN_OR_RETURN(ContextRansModel model, ContextRansModel::Parse(r));
  return ContextRansDecode(stream.subspan(r.position()), model, num_symbols, out);
}

// ---- Column classes (ans_grid model 9) ------------------------------------------------

namespace {

Status CheckClasses(size_t n, std::span<const uint8_t> col_class, int num_classes) {
  if (col_class.empty()) return InvalidArgument("ColumnRans: no column classes");
  if (n % col_class.size())
    return InvalidArgument("ColumnRans: " + std::to_string(n) + " symbols are not whole rows of " +
                           std::to_string(col_class.size()) + " columns");
  for (size_t c = 0; c < col_class.size(); ++c)
    if (col_class[c] >= num_classes)
      return InvalidArgument("ColumnRans: column " + std::to_string(c) + " has class " + std::to_string(col_class[c]) +
                             ", there are " + std::to_string(num_classes));
  return Status::Ok();
}

}  // namespace

Result<ContextRansModel> ContextRansModel::BuildByColumn(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                         uint16_t zero_point, int num_classes,
                                                         std::span<const uint8_t> col_class, int scale_bits) {
  GP_RETURN_IF_ERROR(CheckScaleBits(scale_bits));
  GP_RETURN_IF_ERROR(CheckAlphabet(alphabet_size));
  if (num_classes < 1 || num_classes > kMaxContexts || zero_point >= alphabet_size)
    return InvalidArgument("ColumnRans: " + std::to_string(num_classes) + " classes or zero_point " +
                           std::to_string(zero_point) + " out of range");
  GP_RETURN_IF_ERROR(CheckClasses(symbols.size(), col_class, num_classes));
  std::vector<std::vector<uint64_t>> counts(static_cast<size_t>(num_classes));
  for (size_t i = 0, c = 0; i < symbols.size(); ++i, c = c + 1 == col_class.size() ? 0 : c + 1) {
    if (symbols[i] >= alphabet_size)
      return InvalidArgument("ColumnRans: symbol " + std::to_string(symbols[i]) + " at index " + std::to_string(i) +
                             " outside alphabet of " + std::to_string(alphabet_size));
    auto& k = counts[col_class[c]];
    if (k.empty()) k.assign(alphabet_size, 0);
    ++k[symbols[i]];
  }
  ContextRansModel m;
  m.scale_bits_ = scale_bits;
  m.alphabet_size_ = alphabet_size;
  m.zero_point_ = zero_point;
  GP_RETURN_IF_ERROR(m.TablesFromCounts(counts));
  return m;
}

namespace {

Status CheckColumnSymbols(std::span<const uint16_t> symbols, const ContextRansModel& model,
                          std::span<const uint8_t> col_class) {
  GP_RETURN_IF_ERROR(CheckClasses(symbols.size(), col_class, model.num_contexts()));
  for (size_t i = 0; i < symbols.size(); ++i) {
    const int k = col_class[i % col_class.size()];
    const FrequencyTable* t = model.table(k);
    if (!t || t->freq(symbols[i]) == 0)
      return InvalidArgument("ColumnRans encode: symbol " + std::to_string(symbols[i]) + " at index " +
                             std::to_string(i) + " has frequency 0 in class " + std::to_string(k));
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint8_t>> ColumnRansEncode(std::span<const uint16_t> symbols, const ContextRansModel& model,
                                              std::span<const uint8_t> col_class) {
  std::vector<uint8_t> out;
  if (symbols.empty()) return out;
  GP_RETURN_IF_ERROR(CheckColumnSymbols(symbols, model, col_class));
  const auto enc = EncTables(model);
  auto select = [&](size_t i) { return enc[col_class[i % col_class.size()]]; };
  GP_RETURN_IF_ERROR(rans_internal::EncodeAppend(symbols, select, &out));
  return out;
}

Result<size_t> ColumnRansEncodedSize(std::span<const uint16_t> symbols, const ContextRansModel& model,
                                     std::span<const uint8_t> col_class) {
  if (symbols.empty()) return size_t{0};
  GP_RETURN_IF_ERROR(CheckColumnSymbols(symbols, model, col_class));
  const auto enc = EncTables(model);
  auto select = [&](size_t i) { return enc[col_class[i % col_class.size()]]; };
  return rans_internal::EncodedSize(symbols, select);
}

Status ColumnRansDecode(std::span<const uint8_t> stream, const ContextRansModel& model,
                        std::span<const uint8_t> col_class, size_t num_symbols, std::span<uint16_t> out) {
  GP_RETURN_IF_ERROR(CheckClasses(num_symbols, col_class, model.num_contexts()));
  std::vector<const FrequencyTable*> tables;
  for (int c = 0; c < model.num_contexts(); ++c) tables.push_back(model.table(c));
  gpk::RansModel m = FrequencyTable::DecodeModel(tables, model.zero_point());
  m.cls.assign(col_class.begin(), col_class.end());
  return gpk::RansDecodeStream(stream, m, num_symbols, out);
}

Status ColumnRansDecodeRef(std::span<const uint8_t> stream, const ContextRansModel& model,
                           std::span<const uint8_t> col_class, size_t num_symbols, std::span<uint16_t> out) {
  GP_RETURN_IF_ERROR(rans_internal::CheckOutput(num_symbols, out));
  GP_RETURN_IF_ERROR(CheckClasses(num_symbols, col_class, model.num_contexts()));
  const size_t cols = col_class.size();
  return rans_internal::DecodeRef(
      stream, num_symbols, out.data(), static_cast<uint32_t>(model.scale_bits()), model.zero_point(),
      [&](size_t i, uint16_t) { return model.table(col_class[i % cols]); },
      [&](size_t i, uint16_t) { return int(col_class[i % cols]); });
}

size_t ColumnClassBytes(size_t cols, int num_classes) {
  return (cols * static_cast<size_t>(std::bit_width(static_cast<unsigned>(num_classes)) - 1) + 7) / 8;
}

Result<std::vector<uint8_t>> ColumnRansCompress(std::span<const uint16_t> symbols, size_t alphabet_size,
                                                uint16_t zero_point, int num_classes,
                                                std::span<const uint8_t> col_class, int scale_bits) {
  if (num_classes < 2 || num_classes > 16 || std::popcount(static_cast<unsigned>(num_classes)) != 1)
    return InvalidArgument("ColumnRans: " + std::to_string(num_classes) + " classes, must be 2, 4, 8 or 16");
  GP_ASSIGN_OR_RETURN(ContextRansModel model, ContextRansModel::BuildByColumn(symbols, alphabet_size, zero_point,
                                                                              num_classes, col_class, scale_bits));
  ByteWriter w;
  model.Serialize(w);
  const int bits = std::bit_width(static_cast<unsigned>(num_classes)) - 1;
  std::vector<uint8_t> packed(ColumnClassBytes(col_class.size(), num_classes), 0);
  for (size_t c = 0; c < col_class.size(); ++c)
    for (int b = 0; b < bits; ++b)
      if ((col_class[c] >> b) & 1) packed[(c * bits + b) / 8] |= uint8_t(1u << ((c * bits + b) % 8));
  w.Bytes(packed);
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> payload, ColumnRansEncode(symbols, model, col_class));
  w.Bytes(payload);
  return std::move(w).Take();
}

Result<size_t> ColumnRansCompressedSize(std::span<const uint16_t> symbols, size_t alphabet_size, uint16_t zero_point,
                                        int num_classes, std::span<const uint8_t> col_class, int scale_bits) {
  GP_ASSIGN_OR_RETURN(ContextRansModel model, ContextRansModel::BuildByColumn(symbols, alphabet_size, zero_point,
                                                                              num_classes, col_class, scale_bits));
  GP_ASSIGN_OR_RETURN(size_t payload, ColumnRansEncodedSize(symbols, model, col_class));
  return model.SerializedSize() + ColumnClassBytes(col_class.size(), num_classes) + payload;
}

Status ColumnRansDecompress(std::span<const uint8_t> stream, size_t cols, size_t num_symbols, std::span<uint16_t> out,
                            bool reference) {
  ByteReader r(stream);
  GP_ASSIGN_OR_RETURN(ContextRansModel model, ContextRansModel::Parse(r));
  const int k = model.num_contexts();
  if (k < 2 || k > 16 || std::popcount(static_cast<unsigned>(k)) != 1)
    return Corrupt("ColumnRans: " + std::to_string(k) + " column classes, must be 2, 4, 8 or 16");
  const int bits = std::bit_width(static_cast<unsigned>(k)) - 1;
  GP_ASSIGN_OR_RETURN(auto packed, r.Bytes(ColumnClassBytes(cols, k), "column classes"));
  std::vector<uint8_t> cls(cols);
  for (size_t c = 0; c < cols; ++c)
    for (int b = 0; b < bits; ++b) cls[c] |= uint8_t(((packed[(c * bits + b) / 8] >> ((c * bits + b) % 8)) & 1) << b);
  if (const size_t used = cols * bits; used % 8 && packed.back() >> (used % 8))
    return Corrupt("ColumnRans: nonzero padding bits after the column classes");
  const auto rest = stream.subspan(r.position());
  return reference ? ColumnRansDecodeRef(rest, model, cls, num_symbols, out)
                   : ColumnRansDecode(rest, model, cls, num_symbols, out);
}

}  // namespace golfpack
