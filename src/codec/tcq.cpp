#include "codec/tcq.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>

#include "codec/bytes.h"
#include "core/byte_reader.h"
#include "core/checksum.h"
#include "core/rans.h"

namespace golfpack::encode {
namespace {

using detail::FormatDouble;

// ============================================================ shared pieces

Status CheckFinite(std::span<const float> x, const char* who) {
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return InvalidArgument(who, ": sample ", uint64_t(i), " is not finite");
  return Status::Ok();
}

double Mse(std::span<const float> x, std::span<const float> y) {
  if (x.empty()) return 0.0;
  double s = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = double(x[i]) - double(y[i]);
    s += d * d;
  }
  return s / double(x.size());
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1); }

void AppendCrc(ByteWriter& w) { w.U32(Crc32c(std::span<const uint8_t>(w.bytes()))); }

// Checks the trailing CRC and returns the bytes before it.
Result<std::span<const uint8_t>> StripCrc(std::span<const uint8_t> bytes) {
  if (bytes.size() < 5) return Corrupt("tcq: stream of ", uint64_t(bytes.size()), " bytes is too short");
  const std::span<const uint8_t> body = bytes.first(bytes.size() - 4);
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= uint32_t(bytes[body.size() + i]) << (8 * i);
  if (Crc32c(body) != stored) return Corrupt("tcq: CRC-32C mismatch");
  return body;
}

Result<float> ReadF32(ByteReader& r, std::string_view what) {
  GP_ASSIGN_OR_RETURN(uint32_t u, r.U32(what));
  return std::bit_cast<float>(u);
}

// ==================================================================== ECTCQ
//
// Trellis (Ungerboeck's systematic feedback encoder for 1-D signals, in
// observer form). Parity-check polynomials h0, h1 of degree nu = state_bits
// with h0_0 = h0_nu = 1 and h1_0 = h1_nu = 0. A state s holds nu bits:
//
//   z0(s)        = s & 1                          union codebook of the next sample
//   next(s, z1)  = (s >> 1) ^ (z0 ? h0 >> 1 : 0) ^ (z1 ? h1 >> 1 : 0)
//
// Invariant (what makes TCQ work and what the decoder relies on): both
// branches leaving s use the same union A_{z0(s)} (z0 depends on s alone), and
// both branches entering s' come from states with the same z0, namely the top
// bit of s' (h0_nu = 1, h1_nu = 0), with distinct z1, so every state has
// exactly two predecessors, one per subset bit. The walk starts in state 0.
//
// Sample point: j (integer grid index, value j * step). With a = z0(s), the
// sample's union index is i = (j - a) / 2 (j = 2 i + a), and its subset bit is
// z1 = (j mod 4) >> 1 = i & 1: the subsets D_a, D_{a+2} of A_a are the even
// and odd i.

constexpr int kMaxUnionIndex = 2000;  // |i| <= 2000: at most 4001 symbols per stream
constexpr int kMinStateBits = 2, kMaxStateBits = 8;

struct Trellis {
  int states = 0;
  // pred[s'][z1]: the predecessor reaching s' with subset bit z1.
  std::vector<std::array<uint16_t, 2>> pred;
  std::vector<std::array<uint16_t, 2>> next;  // next[s][z1]
};

Trellis MakeTrellis(int state_bits) {
  const TrellisCode code = UngerboeckCode(state_bits);
  Trellis t;
  t.states = 1 << state_bits;
  t.pred.assign(size_t(t.states), {0, 0});
  t.next.assign(size_t(t.states), {0, 0});
  for (int s = 0; s < t.states; ++s) {
    for (int z1 = 0; z1 < 2; ++z1) {
      const uint32_t ns = (uint32_t(s) >> 1) ^ ((s & 1) ? code.h0 >> 1 : 0u) ^ (z1 ? code.h1 >> 1 : 0u);
      t.next[size_t(s)][size_t(z1)] = uint16_t(ns);
      t.pred[ns][size_t(z1)] = uint16_t(s);
    }
  }
  return t;
}

// Code lengths in bits per union index (index i + kMaxUnionIndex) from the
// previous pass's counts; an unseen index costs one bit more than a singleton.
std::vector<double> BitsFromCounts(const std::vector<uint64_t>& counts) {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  const double log2n = std::log2(double(std::max<uint64_t>(n, 1)));
  std::vector<double> bits(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) bits[k] = counts[k] ? log2n - std::log2(double(counts[k])) : log2n + 1.0;
  return bits;
}

inline float GridValue(int j, float step) { return static_cast<float>(j) * step; }

// One Viterbi pass: the union index of every sample (path from state 0,
// free end state) minimising sum (x - y)^2 + lam * bits_a(i).
std::vector<int16_t> EctcqViterbi(std::span<const float> x, const Trellis& tr, float step, double lam,
                                  const std::vector<double> (&bits)[2]) {
  const size_t n = x.size();
  const int S = tr.states;
  const size_t words = size_t((S + 63) / 64);
  const int top_shift = std::countr_zero(unsigned(S)) - 1;
  std::vector<uint64_t> decision(n * words, 0);  // bit s' of step t: which z1 entered s'
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> cost(size_t(S), kInf), ncost(static_cast<size_t>(S), 0.0);
  cost[0] = 0.0;
  // best[t][a][z1]: the point of subset (a, z1) chosen for sample t.
  std::vector<std::array<int16_t, 4>> best(n);

  for (size_t t = 0; t < n; ++t) {
    const double xv = x[t];
    double bc[4];
    for (int a = 0; a < 2; ++a) {
      const double u = (xv / double(step) - a) * 0.5;  // continuous union index
      const std::vector<double>& b = bits[a];
      for (int z1 = 0; z1 < 2; ++z1) {
        // Points of the subset: i with i & 1 == z1, |i| <= kMaxUnionIndex.
        const int lo = ((-kMaxUnionIndex) & 1) == z1 ? -kMaxUnionIndex : -kMaxUnionIndex + 1;
        const int hi = (kMaxUnionIndex & 1) == z1 ? kMaxUnionIndex : kMaxUnionIndex - 1;
        double f = std::floor(u);
        f = std::clamp(f, double(lo) - 2, double(hi) + 2);  // keeps the int conversion in range
        int i0 = int(f);
        if ((i0 & 1) != z1) --i0;
        int bi = 0;
        double bcost = kInf;
        for (int i : {i0, i0 + 2}) {
          i = std::clamp(i, lo, hi);
          const double d = xv - double(GridValue(2 * i + a, step));
          const double c = d * d + lam * b[size_t(i + kMaxUnionIndex)];
          if (c < bcost) bcost = c, bi = i;
        }
        bc[2 * a + z1] = bcost;
        best[t][size_t(2 * a + z1)] = int16_t(bi);
      }
    }
    uint64_t* dec = &decision[t * words];
    for (int s = 0; s < S; ++s) {
      const int a = s >> top_shift;  // top bit of s' = z0 of both its predecessors
      const double c0 = cost[tr.pred[size_t(s)][0]] + bc[2 * a];
      const double c1 = cost[tr.pred[size_t(s)][1]] + bc[2 * a + 1];
      if (c1 < c0) {
        ncost[size_t(s)] = c1;
        dec[s >> 6] |= uint64_t(1) << (s & 63);
      } else {
        ncost[size_t(s)] = c0;
      }
    }
    cost.swap(ncost);
  }

  std::vector<int16_t> idx(n);
  if (n == 0) return idx;
  int s = int(std::min_element(cost.begin(), cost.end()) - cost.begin());
  for (size_t t = n; t-- > 0;) {
    const int z1 = int((decision[t * words + size_t(s >> 6)] >> (s & 63)) & 1);
    const int prev = tr.pred[size_t(s)][size_t(z1)];
    idx[t] = best[t][size_t(2 * (prev & 1) + z1)];
    s = prev;
  }
  return idx;
}

// The rANS table precision with the smallest self-contained stream (priced by
// the model, as ans_grid does), then the stream itself.
Result<std::vector<uint8_t>> CompressBest(std::span<const uint16_t> sym, size_t alphabet) {
  std::vector<uint64_t> counts(alphabet, 0);
  for (uint16_t v : sym) ++counts[v];
  int best_m = -1;
  double best_est = 0;
  Status last = Status::Ok();
  for (int m = kRansMinScaleBits; m <= kRansMaxScaleBits; ++m) {
    auto table = FrequencyTable::FromCounts(counts, m);
    if (!table.ok()) {
      last = table.status();
      continue;
    }
    const double est = double(table->SerializedSize()) + table->CostBits(counts) / 8.0;
    if (best_m < 0 || est < best_est) best_m = m, best_est = est;
  }
  if (best_m < 0) return Internal("tcq: no rANS table precision codes the stream: ", last.message());
  return RansCompress(sym, alphabet, best_m);
}

Result<std::vector<float>> DecodeEctcq(ByteReader& r, size_t n) {
  GP_ASSIGN_OR_RETURN(uint8_t nu, r.U8("ectcq state bits"));
  if (nu < kMinStateBits || nu > kMaxStateBits) return Corrupt("ectcq: state bits ", int(nu), " outside 2..8");
  GP_ASSIGN_OR_RETURN(float step, ReadF32(r, "ectcq step"));
  if (!std::isfinite(step) || !(step > 0)) return Corrupt("ectcq: step is not a positive finite number");
  GP_ASSIGN_OR_RETURN(uint64_t n0, r.Varint("ectcq union-0 count"));
  if (n0 > n) return Corrupt("ectcq: union-0 count ", n0, " exceeds the ", uint64_t(n), " samples");
  const uint64_t count[2] = {n0, uint64_t(n) - n0};
  std::vector<uint16_t> sym[2];
  int64_t imin[2] = {0, 0};
  for (int a = 0; a < 2; ++a) {
    if (count[a] == 0) continue;
    GP_ASSIGN_OR_RETURN(uint64_t zz, r.Varint("ectcq symbol offset"));
    imin[a] = UnZigZag(zz);
    if (imin[a] < -(int64_t(1) << 24) || imin[a] > (int64_t(1) << 24)) return Corrupt("ectcq: symbol offset out of range");
    GP_ASSIGN_OR_RETURN(uint64_t len, r.Varint("ectcq stream length"));
    GP_ASSIGN_OR_RETURN(ByteSpan stream, r.Bytes(len, "ectcq rANS stream"));
    sym[a].resize(size_t(count[a]));
    GP_RETURN_IF_ERROR(RansDecompress(stream, size_t(count[a]), sym[a]));
  }
  if (!r.at_end()) return Corrupt("ectcq: ", uint64_t(r.remaining()), " trailing bytes");

  const Trellis tr = MakeTrellis(nu);
  std::vector<float> out(n);
  size_t pos[2] = {0, 0};
  int s = 0;
  for (size_t t = 0; t < n; ++t) {
    const int a = s & 1;
    if (pos[a] >= sym[a].size()) return Corrupt("ectcq: union ", a, " stream used up at sample ", uint64_t(t));
    const int64_t i = int64_t(sym[a][pos[a]++]) + imin[a];
    const float y = GridValue(int(2 * i + a), step);
    if (!std::isfinite(y)) return Corrupt("ectcq: sample ", uint64_t(t), " decodes to a non-finite value");
    out[t] = y;
    s = tr.next[size_t(s)][size_t(i & 1)];
  }
  if (pos[0] != sym[0].size() || pos[1] != sym[1].size())
    return Corrupt("ectcq: union streams hold more symbols than the trellis walk uses");
  return out;
}

// ================================================================= bitshift
//
// State invariant: the state of sample t is the last L bits written,
//   state_t = ((state_{t-1} << k) | b_t) mod 2^L,
// so state_t's low k bits are the sample's own bits b_t and its high L - k
// bits are state_{t-1}'s low L - k bits. The predecessors of a state s are
// the 2^k states (s >> k) | (h << (L - k)), h = the k bits that drop out.
// The first state of a segment is written whole (L bits), each later sample
// adds k bits; the reconstruction is scale * code[state_t].

constexpr int kMaxBitshiftL = 18;
constexpr uint64_t kMaxTracebackBytes = uint64_t(1) << 27;

uint64_t SplitMix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Standard normal quantile by bisection on erfc (slow but exact to double).
double NormalQuantile(double p) {
  double lo = -40.0, hi = 40.0;
  for (int it = 0; it < 80 && hi - lo > 1e-15; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) lo = mid; else hi = mid;
  }
  return 0.5 * (lo + hi);
}

// code[s] for the 2^L states: the 2^L Gaussian quantiles (r + 1/2) / 2^L,
// scaled to unit mean square, assigned to states by a fixed pseudo-random
// permutation (Fisher-Yates driven by SplitMix64 seeded with L).
const std::vector<float>& BitshiftCode(int L) {
  static std::mutex mu;
  static std::vector<float> cache[kMaxBitshiftL + 1];
  std::lock_guard<std::mutex> lock(mu);
  std::vector<float>& code = cache[L];
  if (!code.empty()) return code;
  const size_t m = size_t(1) << L;
  std::vector<double> q(m);
  for (size_t r = 0; r < m / 2; ++r) {
    q[r] = NormalQuantile((double(r) + 0.5) / double(m));
    q[m - 1 - r] = -q[r];
  }
  double ss = 0;
  for (double v : q) ss += v * v;
  const double norm = 1.0 / std::sqrt(ss / double(m));
  std::vector<uint32_t> perm(m);
  for (size_t i = 0; i < m; ++i) perm[i] = uint32_t(i);
  uint64_t seed = 0x7C0DEull ^ uint64_t(L);
  for (size_t i = m - 1; i > 0; --i) std::swap(perm[i], perm[SplitMix64(seed) % (i + 1)]);
  code.resize(m);
  for (size_t s = 0; s < m; ++s) code[s] = static_cast<float>(q[perm[s]] * norm);
  return code;
}

uint64_t BitshiftPayloadBits(size_t n, int L, int k, uint64_t block) {
  uint64_t bits = 0;
  for (uint64_t start = 0; start < n; start += block) {
    const uint64_t t = std::min<uint64_t>(block, n - start);
    bits += uint64_t(L) + (t - 1) * uint64_t(k);
  }
  return bits;
}

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>* out) : out_(out) {}
  void Put(uint32_t v, int nbits) {  // LSB first
    acc_ |= uint64_t(v) << fill_;
    fill_ += nbits;
    while (fill_ >= 8) {
      out_->push_back(uint8_t(acc_));
      acc_ >>= 8;
      fill_ -= 8;
    }
  }
  void Flush() {
    if (fill_ > 0) out_->push_back(uint8_t(acc_));
    acc_ = 0;
    fill_ = 0;
  }

 private:
  std::vector<uint8_t>* out_;
  uint64_t acc_ = 0;
  int fill_ = 0;
};

class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> in) : in_(in) {}
  uint32_t Get(int nbits) {  // the caller has checked the total length
    while (fill_ < nbits) {
      acc_ |= uint64_t(in_[pos_++]) << fill_;
      fill_ += 8;
    }
    const uint32_t v = uint32_t(acc_ & ((uint64_t(1) << nbits) - 1));
    acc_ >>= nbits;
    fill_ -= nbits;
    return v;
  }
  uint64_t rest() const { return acc_; }  // unread bits of the last byte read

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  uint64_t acc_ = 0;
  int fill_ = 0;
};

struct BitshiftWork {
  std::vector<float> cost, ncost, mins;
  std::vector<int32_t> argi;
  std::vector<uint8_t> arg;  // traceback: arg[t * P + p] = the h chosen for p at step t
};

// Viterbi over one segment; writes the states of the best path to `states`.
// cost_t(s) = min over predecessors + (x_t - y[s])^2, y = scale * code.
template <int K>
void BitshiftViterbiSegment(std::span<const float> x, int L, const std::vector<float>& y, BitshiftWork& w,
                            std::span<uint32_t> states) {
  constexpr int k = std::countr_zero(unsigned(K));
  const size_t M = size_t(1) << L, P = M >> k;
  const size_t T = x.size();
  float* cost = w.cost.data();
  float* ncost = w.ncost.data();
  float* __restrict m = w.mins.data();
  int32_t* __restrict ai = w.argi.data();
  const float* __restrict yv = y.data();
  {
    const float x0 = x[0];
    for (size_t s = 0; s < M; ++s) {
      const float d = x0 - yv[s];
      cost[s] = d * d;
    }
  }
  for (size_t t = 1; t < T; ++t) {
    // mins[p] = min over h of cost[p + h P] (the predecessors of p's
    // successors), argi[p] = that h (first on ties); branch-free with an
    // integer mask so that it vectorises.
    {
      const float* __restrict c0 = cost;
      for (size_t p = 0; p < P; ++p) m[p] = c0[p];
      for (size_t p = 0; p < P; ++p) ai[p] = 0;
    }
    for (int h = 1; h < K; ++h) {
      const float* __restrict c = cost + size_t(h) * P;
      for (size_t p = 0; p < P; ++p) {
        const float cp = c[p], mp = m[p];
        const int32_t lt = -int32_t(cp < mp);
        ai[p] = (ai[p] & ~lt) | (h & lt);
        m[p] = std::min(cp, mp);
      }
    }
    uint8_t* __restrict a = &w.arg[t * P];
    for (size_t p = 0; p < P; ++p) a[p] = uint8_t(ai[p]);
    const float xt = x[t];
    float* __restrict nc = ncost;
    for (size_t p = 0; p < P; ++p) {
      const float mp = m[p];
      for (int b = 0; b < K; ++b) {
        const float d = xt - yv[p * K + size_t(b)];
        nc[p * K + size_t(b)] = mp + d * d;
      }
    }
    std::swap(cost, ncost);
  }
  uint32_t s = uint32_t(std::min_element(cost, cost + M) - cost);
  states[T - 1] = s;
  for (size_t t = T - 1; t > 0; --t) {
    const uint32_t p = s >> k;
    s = p | (uint32_t(w.arg[t * P + p]) << (L - k));
    states[t - 1] = s;
  }
}

Result<std::vector<float>> DecodeBitshift(ByteReader& r, size_t n) {
  GP_ASSIGN_OR_RETURN(uint8_t L, r.U8("bitshift state bits"));
  GP_ASSIGN_OR_RETURN(uint8_t k, r.U8("bitshift bits per sample"));
  if (k < 1 || k > 8 || L <= k || L > kMaxBitshiftL) return Corrupt("bitshift: L = ", int(L), ", k = ", int(k), " out of range");
  GP_ASSIGN_OR_RETURN(uint64_t block, r.Varint("bitshift block"));
  if (block == 0) return Corrupt("bitshift: block is 0");
  GP_ASSIGN_OR_RETURN(float scale, ReadF32(r, "bitshift scale"));
  if (!std::isfinite(scale) || scale < 0) return Corrupt("bitshift: scale is not a finite number >= 0");
  const uint64_t bits = BitshiftPayloadBits(n, L, k, block);
  const uint64_t bytes = (bits + 7) / 8;
  if (r.remaining() != bytes)
    return Corrupt("bitshift: payload is ", uint64_t(r.remaining()), " bytes, ", uint64_t(n), " samples need ", bytes);
  GP_ASSIGN_OR_RETURN(ByteSpan payload, r.Bytes(bytes, "bitshift payload"));
  const std::vector<float>& code = BitshiftCode(L);
  const uint32_t mask = (uint32_t(1) << L) - 1;
  std::vector<float> out(n);
  BitReader br(payload);
  for (uint64_t start = 0; start < n; start += block) {
    const uint64_t T = std::min<uint64_t>(block, n - start);
    uint32_t s = br.Get(L);
    out[start] = scale * code[s];
    for (uint64_t t = 1; t < T; ++t) {
      s = ((s << k) | br.Get(k)) & mask;
      out[start + t] = scale * code[s];
    }
  }
  if (br.rest() != 0) return Corrupt("bitshift: nonzero padding bits");
  return out;
}

}  // namespace

// ======================================================================= API

TrellisCode UngerboeckCode(int state_bits) {
  // Ungerboeck's 1-D (amplitude modulation) codes, octal, nu = 2..8.
  static constexpr TrellisCode kCodes[] = {
      {05, 02}, {013, 04}, {023, 04}, {045, 010}, {0103, 024}, {0235, 0126}, {0515, 0362},
  };
  return kCodes[std::clamp(state_bits, kMinStateBits, kMaxStateBits) - kMinStateBits];
}

Status EctcqSpec::Validate() const {
  if (state_bits < kMinStateBits || state_bits > kMaxStateBits)
    return InvalidArgument("ectcq: state_bits ", state_bits, " outside 2..8");
  if (!std::isfinite(step) || !(step > 0) || step > 1e30) return InvalidArgument("ectcq: step must be in (0, 1e30]");
  if (!std::isfinite(lambda) || lambda < 0) return InvalidArgument("ectcq: lambda must be finite and >= 0");
  if (iterations < 1 || iterations > 100) return InvalidArgument("ectcq: iterations ", iterations, " outside 1..100");
  return Status::Ok();
}

std::string EctcqSpec::ToString() const {
  return "ectcq:s" + std::to_string(state_bits) + ":d" + FormatDouble(step) + ":l" + FormatDouble(lambda);
}

Status BitshiftSpec::Validate() const {
  if (k < 1 || k > 8) return InvalidArgument("bitshift: k ", k, " outside 1..8");
  if (state_bits <= k || state_bits > kMaxBitshiftL)
    return InvalidArgument("bitshift: state_bits ", state_bits, " outside k+1..", kMaxBitshiftL);
  if (block == 0) return InvalidArgument("bitshift: block must be >= 1");
  if (uint64_t(block) << (state_bits - k) > kMaxTracebackBytes)
    return InvalidArgument("bitshift: block * 2^(L-k) exceeds 2^27 traceback bytes; use a smaller block");
  if (!std::isfinite(gain) || !(gain > 0)) return InvalidArgument("bitshift: gain must be positive and finite");
  return Status::Ok();
}

std::string BitshiftSpec::ToString() const {
  return "bitshift:L" + std::to_string(state_bits) + ":k" + std::to_string(k) + ":b" + std::to_string(block);
}

Result<TcqEncoded> EncodeEctcq(std::span<const float> x, const EctcqSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckFinite(x, "ectcq"));
  const float step = static_cast<float>(spec.step);
  if (!(step > 0) || !std::isfinite(step)) return InvalidArgument("ectcq: step is not representable as f32");
  const Trellis tr = MakeTrellis(spec.state_bits);

  // Pass 1: nearest points (lambda 0); later passes price each union index
  // with the code lengths of the pass before.
  const size_t span_i = 2 * kMaxUnionIndex + 1;
  std::vector<double> bits[2] = {std::vector<double>(span_i, 0.0), std::vector<double>(span_i, 0.0)};
  std::vector<int16_t> idx;
  const int passes = spec.lambda > 0 ? spec.iterations : 1;
  const double lam = spec.lambda * double(step) * double(step);
  for (int pass = 0; pass < passes; ++pass) {
    idx = EctcqViterbi(x, tr, step, pass == 0 ? 0.0 : lam, bits);
    if (pass + 1 == passes) break;
    std::vector<uint64_t> counts[2] = {std::vector<uint64_t>(span_i, 0), std::vector<uint64_t>(span_i, 0)};
    int s = 0;
    for (int16_t i : idx) {
      ++counts[s & 1][size_t(i + kMaxUnionIndex)];
      s = tr.next[size_t(s)][size_t(i & 1)];
    }
    for (int a = 0; a < 2; ++a) bits[a] = BitsFromCounts(counts[a]);
  }

  // Walk the path: reconstruction and the two union streams.
  TcqEncoded enc;
  enc.recon.resize(x.size());
  std::vector<int> per_union[2];
  int s = 0;
  for (size_t t = 0; t < x.size(); ++t) {
    const int a = s & 1, i = idx[t];
    enc.recon[t] = GridValue(2 * i + a, step);
    per_union[a].push_back(i);
    s = tr.next[size_t(s)][size_t(i & 1)];
  }
  enc.mse = Mse(x, enc.recon);

  ByteWriter w;
  w.U8(kTcqKindEntropyCoded);
  w.Varint(x.size());
  w.U8(uint8_t(spec.state_bits));
  w.F32(step);
  w.Varint(per_union[0].size());
  double ideal_bits = 0;
  for (int a = 0; a < 2; ++a) {
    const std::vector<int>& v = per_union[a];
    if (v.empty()) continue;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    const int imin = *lo;
    const size_t alphabet = size_t(*hi - imin + 1);
    std::vector<uint16_t> sym(v.size());
    std::vector<uint64_t> counts(alphabet, 0);
    for (size_t t = 0; t < v.size(); ++t) ++counts[sym[t] = uint16_t(v[t] - imin)];
    for (uint64_t c : counts)
      if (c) ideal_bits += double(c) * std::log2(double(v.size()) / double(c));
    GP_ASSIGN_OR_RETURN(std::vector<uint8_t> stream, CompressBest(sym, alphabet));
    w.Varint(ZigZag(imin));
    w.Varint(stream.size());
    w.Bytes(stream);
  }
  AppendCrc(w);
  enc.bytes = std::move(w).Take();
  enc.entropy_bits = x.empty() ? 0.0 : ideal_bits / double(x.size());
  return enc;
}

Result<TcqEncoded> EncodeBitshift(std::span<const float> x, const BitshiftSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  GP_RETURN_IF_ERROR(CheckFinite(x, "bitshift"));
  const int L = spec.state_bits, k = spec.k;
  double ss = 0;
  for (float v : x) ss += double(v) * double(v);
  const double rms = x.empty() ? 0.0 : std::sqrt(ss / double(x.size()));
  const float scale = static_cast<float>(spec.gain * rms * std::sqrt(1.0 - std::exp2(-2.0 * k)));
  if (!std::isfinite(scale)) return InvalidArgument("bitshift: scale overflows f32");
  const std::vector<float>& code = BitshiftCode(L);
  const size_t M = size_t(1) << L;
  std::vector<float> y(M);
  for (size_t s = 0; s < M; ++s) y[s] = scale * code[s];

  const size_t T = std::min<size_t>(spec.block, std::max<size_t>(x.size(), 1));
  BitshiftWork work;
  work.cost.resize(M);
  work.ncost.resize(M);
  work.mins.resize(M >> k);
  work.argi.resize(M >> k);
  work.arg.resize(T * (M >> k));
  std::vector<uint32_t> states(T);

  TcqEncoded enc;
  enc.recon.resize(x.size());
  ByteWriter w;
  w.U8(kTcqKindBitshift);
  w.Varint(x.size());
  w.U8(uint8_t(L));
  w.U8(uint8_t(k));
  w.Varint(spec.block);
  w.F32(scale);
  std::vector<uint8_t> payload;
  BitWriter bw(&payload);
  for (size_t start = 0; start < x.size(); start += spec.block) {
    const size_t len = std::min<size_t>(spec.block, x.size() - start);
    const std::span<const float> seg = x.subspan(start, len);
    const std::span<uint32_t> st(states.data(), len);
    switch (k) {
      case 1: BitshiftViterbiSegment<2>(seg, L, y, work, st); break;
      case 2: BitshiftViterbiSegment<4>(seg, L, y, work, st); break;
      case 3: BitshiftViterbiSegment<8>(seg, L, y, work, st); break;
      case 4: BitshiftViterbiSegment<16>(seg, L, y, work, st); break;
      case 5: BitshiftViterbiSegment<32>(seg, L, y, work, st); break;
      case 6: BitshiftViterbiSegment<64>(seg, L, y, work, st); break;
      case 7: BitshiftViterbiSegment<128>(seg, L, y, work, st); break;
      default: BitshiftViterbiSegment<256>(seg, L, y, work, st); break;
    }
    bw.Put(st[0], L);
    enc.recon[start] = y[st[0]];
    for (size_t t = 1; t < len; ++t) {
      bw.Put(st[t] & ((uint32_t(1) << k) - 1), k);
      enc.recon[start + t] = y[st[t]];
    }
  }
  bw.Flush();
  const uint64_t bits = BitshiftPayloadBits(x.size(), L, k, spec.block);
  if (payload.size() != (bits + 7) / 8) return Internal("bitshift: payload size disagrees with its bit count");
  w.Bytes(payload);
  AppendCrc(w);
  enc.bytes = std::move(w).Take();
  enc.mse = Mse(x, enc.recon);
  enc.entropy_bits = x.empty() ? 0.0 : double(bits) / double(x.size());
  return enc;
}

Result<std::vector<float>> TcqDecode(std::span<const uint8_t> bytes, size_t n) {
  GP_ASSIGN_OR_RETURN(std::span<const uint8_t> body, StripCrc(bytes));
  ByteReader r(body);
  GP_ASSIGN_OR_RETURN(uint8_t kind, r.U8("tcq kind"));
  GP_ASSIGN_OR_RETURN(uint64_t count, r.Varint("tcq sample count"));
  if (count != n) return Corrupt("tcq: the stream holds ", count, " samples, not ", uint64_t(n));
  switch (kind) {
    case kTcqKindEntropyCoded: return DecodeEctcq(r, n);
    case kTcqKindBitshift: return DecodeBitshift(r, n);
    default: return Corrupt("tcq: unknown kind ", int(kind));
  }
}

}  // namespace golfpack::encode
